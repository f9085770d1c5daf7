"""One audit record per attempted hook call, written whatever the outcome.

A record starts when a request reaches `POST /cds-services/{id}` (before authentication, so
refused calls are on file too) and is filled in as the call proceeds: the authenticated client,
the hook and hookInstance, a pseudonymous patient key, the cards issued. A successful call is
written before its cards are returned — if it cannot be written the cards are withheld (503), as
a card the service cannot later account for must not reach a clinician. The same transaction
records the call's token id (see `auth`), so a replayed token — earlier or concurrently used —
is refused (401) here, at commit, and its cards withheld. Failed calls are written after the
error response is built, best effort. Never stored: bodies, prefetch, tokens.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from service import advice
from service.hooks.auth import current_principal, refuse
from service.hooks.errors import ApiError
from service.hooks.models import Card
from service.hooks.services import SERVICES
from service.store import CallRecord, IssuedCard, Pseudonymizer, Replayed, Store

log = logging.getLogger(__name__)

STORE = "leukemia_cds.store"
PSEUDONYMIZER = "leukemia_cds.pseudonymizer"


@dataclass
class _Draft:
    received_at: datetime
    started: float
    service_id: str | None
    hook: str | None = None
    hook_instance: str | None = None
    patient_key: str | None = None
    cards: list[IssuedCard] = field(default_factory=list)
    written: bool = False


def store() -> Store:
    return current_app.extensions[STORE]


def install(blueprint: Blueprint, endpoint: str) -> None:
    """Audit every request to `endpoint` of `blueprint`. Register before authentication."""

    @blueprint.before_request
    def _open() -> None:
        if request.endpoint != endpoint:
            return
        service_id = (request.view_args or {}).get("service_id")
        g.lcds_audit = _Draft(
            received_at=datetime.now(UTC), started=time.perf_counter(),
            service_id=service_id if service_id in SERVICES else None,
        )

    @blueprint.after_request
    def _close(response: Response) -> Response:
        draft: _Draft | None = g.get("lcds_audit")
        if draft is not None and not draft.written:
            try:
                _write(draft, response.status_code)
            except SQLAlchemyError:
                log.exception("audit record not written", extra={"event": "audit_error",
                                                                 "status": response.status_code})
        return response


def note_call(hook: str, hook_instance: str) -> None:
    draft: _Draft | None = g.get("lcds_audit")
    if draft is not None:
        draft.hook = hook[:128]
        draft.hook_instance = hook_instance[:256]


def note_patient(patient_id: str) -> None:
    draft: _Draft | None = g.get("lcds_audit")
    if draft is not None:
        pseudonymizer: Pseudonymizer = current_app.extensions[PSEUDONYMIZER]
        draft.patient_key = pseudonymizer.patient_key(patient_id)


def issued(card: Card) -> IssuedCard:
    """What the store keeps of a card: its uuid, catalogue id and suggestion uuids."""
    rec_id = card.recommendation().get("id")
    return IssuedCard(
        card_uuid=card.uuid,
        recommendation_id=rec_id if isinstance(rec_id, str) else None,
        suggestion_uuids=tuple(s.uuid for s in card.suggestions or [] if s.uuid),
    )


def commit(cards: list[Card]) -> None:
    """Write the record of a successful call, or refuse to answer (503)."""
    draft: _Draft | None = g.get("lcds_audit")
    if draft is None:
        return
    draft.cards = [issued(card) for card in cards]
    try:
        _write(draft, 200)
    except Replayed:
        draft.cards, draft.written = [], False  # `_close` records the refusal
        raise refuse("jti replayed") from None
    except SQLAlchemyError:
        log.exception("audit record not written; cards withheld", extra={"event": "audit_error"})
        raise ApiError(503, "The service cannot record this call right now, so it gives no "
                            "advice; retry later.", headers={"Retry-After": "5"}) from None


def _knowledge_version() -> str | None:
    """The knowledge the service answers with: what a hospital needs to say which knowledge a
    clinician saw (refused calls carry it too: the version that was running)."""
    advisor = current_app.extensions.get(advice.EXTENSION)
    return advisor.renderer.cat.knowledge_version if advisor is not None else None


def _write(draft: _Draft, status: int) -> None:
    principal = current_principal()
    draft.written = True  # never twice, even if this attempt fails
    record = CallRecord(
        received_at=draft.received_at,
        request_id=(g.get("lcds_log") or {}).get("request_id", "-"),
        status=status,
        latency_ms=round((time.perf_counter() - draft.started) * 1000),
        service_id=draft.service_id,
        hook=draft.hook,
        hook_instance=draft.hook_instance,
        iss=principal.iss if principal else None,
        tenant=principal.tenant if principal else None,
        jti=principal.jti if principal else None,
        patient_key=draft.patient_key,
        knowledge_version=_knowledge_version(),
        cards=draft.cards,
    )
    claim = principal.claim() if principal else None
    try:
        store().record_call(record, claim)
    except Replayed:
        if status == 200:
            raise
        # An error answer is already on its way; keep its record, without the used token id.
        log.warning("token id replayed on a failed call", extra={"event": "auth_refused",
                                                                 "status": status})
        store().record_call(record)
