"""`POST /cds-services/{id}/feedback`: what clinicians did with our cards (CDS Hooks 2.0).

Feedback is accepted only for cards this service issued — from this service id, to the same
authenticated client — so nobody can skew the override statistics a clinical lead reads with
made-up card ids or another hospital's cards; an unknown card is 404 without saying which
condition failed. A request is all or nothing: one bad item refuses the whole batch, so a client
never has to guess which items were kept. Resending the same feedback is harmless: it is stored
once (the spec expects clients to send feedback more than once).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response
from sqlalchemy.exc import SQLAlchemyError

from service import advice
from service.hooks import audit, auth
from service.hooks.errors import ApiError
from service.hooks.http import json_response, parse_body
from service.hooks.models import Feedback, FeedbackRequest
from service.hooks.services import SERVICES
from service.store import CardOrigin, FeedbackRecord

blueprint = Blueprint("cds_feedback", __name__)
auth.protect(blueprint)

MAX_ITEMS = 500
# One card is shown once; a clinician accepts or overrides it, and a client may resend that.
# More records than this for one card is not feedback but noise (issue 21: 509 overrides were
# filed for 21 cards), and it would skew the override statistics a clinical lead reads.
MAX_PER_CARD = 10


@blueprint.post("/cds-services/<service_id>/feedback")
def receive(service_id: str) -> Response:
    if service_id not in SERVICES:
        raise ApiError(404, f"No CDS service {service_id[:100]!r}; see GET /cds-services.")
    body = parse_body(FeedbackRequest)
    if len(body.feedback) > MAX_ITEMS:
        raise ApiError(413, f"At most {MAX_ITEMS} feedback items per request.")
    principal = auth.current_principal()
    store = audit.store()
    records = []
    per_card: dict[str, int] = {}
    try:
        for i, item in enumerate(body.feedback):
            origin = store.find_card(item.card)
            # the same client and, for a client serving several tenants, the same tenant: a
            # card issued to one hospital is not another's to rate (issue 21)
            if (origin is None or origin.service_id != service_id
                    or (principal is not None and (origin.iss != principal.iss
                                                   or origin.tenant != principal.tenant))):
                raise ApiError(404, f"feedback[{i}].card: no card {item.card[:100]!r} was issued "
                                    "by this service to this client.")
            per_card[item.card] = per_card.get(item.card, origin.feedback_count) + 1
            if per_card[item.card] > MAX_PER_CARD:
                raise ApiError(409, f"feedback[{i}].card: {item.card[:100]!r} already has "
                                    f"{MAX_PER_CARD} feedback records; no more are taken.")
            records.append(_record(i, item, origin, service_id, principal))
        new = store.record_feedback(records)
    except SQLAlchemyError:
        raise ApiError(503, "The service cannot record feedback right now; retry later.",
                       headers={"Retry-After": "5"}) from None
    return json_response({"stored": new, "duplicates": len(records) - new})


def _record(i: int, item: Feedback, origin: CardOrigin, service_id: str,
            principal: auth.Principal | None) -> FeedbackRecord:
    at = _timestamp(i, item.outcomeTimestamp)
    accepted = tuple(s.id for s in item.acceptedSuggestions or [])
    if item.outcome == "overridden" and accepted:
        raise ApiError(400, f"feedback[{i}]: acceptedSuggestions contradict an overridden outcome.")
    unknown = sorted(set(accepted) - origin.suggestion_uuids)
    if unknown:
        raise ApiError(400, f"feedback[{i}].acceptedSuggestions: {unknown[0][:100]!r} is not a "
                            "suggestion of that card.")
    reason = item.overrideReason.reason if item.overrideReason else None
    if item.overrideReason and item.outcome != "overridden":
        raise ApiError(400, f"feedback[{i}]: overrideReason only goes with an overridden outcome.")
    return FeedbackRecord(
        call_id=origin.call_id, service_id=service_id,
        iss=principal.iss if principal else None, card_uuid=item.card,
        recommendation_id=origin.recommendation_id, outcome=item.outcome,
        accepted_suggestions=accepted,
        reason_system=reason.system if reason else None,
        reason_code=reason.code if reason else None,
        reason_display=(reason.display or advice.override_display(reason.system, reason.code))
        if reason else None,
        user_comment=item.overrideReason.userComment if item.overrideReason else None,
        outcome_at=at,
    )


def _timestamp(i: int, value: str) -> datetime:
    """RFC 3339 date-time with an offset, as the spec requires for outcomeTimestamp."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        raise ApiError(400, f"feedback[{i}].outcomeTimestamp: not an RFC 3339 date-time with a "
                            "time zone (e.g. 2021-12-11T10:05:31Z).")
    return parsed
