"""Audit, feedback and JWT replay store (SQLAlchemy; SQLite by default, PostgreSQL by URL)."""

from service.store.pseudonym import Pseudonymizer, load_or_create_key
from service.store.store import (
    CallRecord,
    CardOrigin,
    FeedbackRecord,
    IssuedCard,
    RecommendationSummary,
    Replayed,
    Store,
    StoreError,
    TokenClaim,
    database_exists,
    database_url,
)

__all__ = [
    "CallRecord",
    "CardOrigin",
    "FeedbackRecord",
    "IssuedCard",
    "Pseudonymizer",
    "RecommendationSummary",
    "Replayed",
    "Store",
    "StoreError",
    "TokenClaim",
    "database_exists",
    "database_url",
    "load_or_create_key",
]
