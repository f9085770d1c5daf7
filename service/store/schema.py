"""Tables of the audit store and the steps that create or upgrade them.

Hand-written, numbered migrations instead of Alembic: the schema is small, and start-up must be
able to upgrade it with nothing but the service installed. Every replica runs `upgrade()` at
start-up; a database lock (PostgreSQL advisory lock, SQLite `BEGIN IMMEDIATE`) makes the replicas
take turns, so each step runs exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    insert,
    inspect,
    select,
    text,
    update,
)


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, whatever the backend (SQLite has no time zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the audit store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()

schema_version = Table(
    "lcds_schema_version", metadata,
    Column("version", Integer, nullable=False),
)

# JWT ids already used, per issuer, kept until the token could no longer be accepted anyway.
seen_jti = Table(
    "lcds_seen_jti", metadata,
    Column("iss", String(512), primary_key=True),
    Column("jti", String(256), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False, index=True),
)

# One row per attempted hook call, successful or not. No prefetch data, no tokens.
hook_call = Table(
    "lcds_hook_call", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime, nullable=False, index=True),
    Column("request_id", String(64), nullable=False),
    Column("service_id", String(128)),
    Column("hook", String(128)),
    Column("hook_instance", String(256)),
    Column("iss", String(512)),
    Column("tenant", String(256)),
    Column("jti", String(256)),
    Column("patient_key", String(64), index=True),
    Column("status", Integer, nullable=False),
    Column("latency_ms", Integer, nullable=False),
    # The catalogue's knowledge_version the call was answered with (`_v3`): which knowledge a
    # clinician saw. NULL on rows written before the column existed.
    Column("knowledge_version", String(32)),
)

# Cards as issued: the uuid feedback will quote, and the catalogue id it came from.
issued_card = Table(
    "lcds_issued_card", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("lcds_hook_call.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("card_uuid", String(256), index=True),
    # Not indexed (see `_v2`): only the audit report groups by it.
    Column("recommendation_id", String(256)),
    Column("suggestion_uuids", Text, nullable=False),  # JSON array
)

feedback = Table(
    "lcds_feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", Integer, ForeignKey("lcds_hook_call.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("dedup_key", String(64), nullable=False, unique=True),
    Column("received_at", UtcDateTime, nullable=False),
    Column("service_id", String(128), nullable=False),
    Column("iss", String(512)),
    Column("card_uuid", String(256), nullable=False),
    Column("recommendation_id", String(256), index=True),
    Column("outcome", String(16), nullable=False),
    Column("accepted_suggestions", Text, nullable=False),  # JSON array of suggestion uuids
    Column("reason_system", Text),
    Column("reason_code", Text),
    Column("reason_display", Text),
    Column("user_comment", Text),
    Column("outcome_at", UtcDateTime, nullable=False),
)

Index("lcds_hook_call_service_time", hook_call.c.service_id, hook_call.c.received_at)

# The trial registry (issue 23): every replica reads the same one. One row per study, as the
# pre-screen reads it (JSON of service.trials.model.RegistryTrial), replaced as a whole.
trial = Table(
    "lcds_trial", metadata,
    Column("nct", String(16), primary_key=True),
    Column("record", Text, nullable=False),
)

# One row (id 1): which import the trial rows are, so a running service sees a new one.
trial_registry = Table(
    "lcds_trial_registry", metadata,
    Column("id", Integer, primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("refreshed_at", UtcDateTime, nullable=False),
    Column("source", Text, nullable=False),
    Column("trials", Integer, nullable=False),
)


def _v1(conn: Connection) -> None:
    for table in (seen_jti, hook_call, issued_card, feedback):
        table.create(conn, checkfirst=True)


def _v2(conn: Connection) -> None:
    """Every call writes a card row per recommendation, and an index on its id put each of them
    on a different page of that index: several pages more to write per call, for a column only
    the offline audit report reads (it scans)."""
    conn.execute(text("DROP INDEX IF EXISTS ix_lcds_issued_card_recommendation_id"))


def _v3(conn: Connection) -> None:
    """The knowledge version on each call (issue 20). A database created by this release got
    the column from `_v1` (which creates the tables as declared now); an older one is altered.
    ADD COLUMN of a nullable column is one statement on both SQLite and PostgreSQL and leaves
    earlier rows NULL: their version was not recorded, and is not invented."""
    columns = {c["name"] for c in inspect(conn).get_columns(hook_call.name)}
    if "knowledge_version" not in columns:
        conn.execute(text(f"ALTER TABLE {hook_call.name} ADD COLUMN knowledge_version "
                          "VARCHAR(32)"))


def _v4(conn: Connection) -> None:
    """The trial registry's tables (issue 23)."""
    for table in (trial, trial_registry):
        table.create(conn, checkfirst=True)


# Append, never edit: step n upgrades a database at version n-1 to version n.
MIGRATIONS: list[Callable[[Connection], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)
_PG_LOCK = 0x1E0CD5  # advisory lock id, any constant unique to this application


class SchemaTooNew(RuntimeError):
    """The database was upgraded by a newer release; running older code against it is unsafe."""


def upgrade(conn: Connection) -> int:
    """Bring the schema to `SCHEMA_VERSION` inside the caller's transaction; returns the version
    found before (0 for a new database)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK})
    schema_version.create(conn, checkfirst=True)
    found = conn.execute(select(schema_version.c.version)).scalar()
    current = int(found or 0)
    if current > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"audit database schema is version {current}, this release knows up to "
            f"{SCHEMA_VERSION}: upgrade leukemia-cds"
        )
    for step in MIGRATIONS[current:]:
        step(conn)
    if found is None:
        conn.execute(insert(schema_version).values(version=SCHEMA_VERSION))
    elif current != SCHEMA_VERSION:
        conn.execute(update(schema_version).values(version=SCHEMA_VERSION))
    return current
