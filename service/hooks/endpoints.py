"""CDS Hooks HTTP endpoints: discovery and invocation.

The invocation path reads top to bottom: authenticate the client → parse the body → check the
hook and its context → gather prefetch → hand the resolved call to `advice.advise` → record the
call → serialise the cards. Every invocation is audited, refused ones included (`audit`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app

from service import advice, logs, metrics
from service.hooks import audit, auth, prefetch
from service.hooks.errors import ApiError
from service.hooks.http import json_response, parse_body, settings, validate
from service.hooks.models import CONTEXT_MODELS, CdsResponse, Discovery, HookRequest
from service.hooks.services import PREFETCH, SERVICES

blueprint = Blueprint("cds_hooks", __name__)
audit.install(blueprint, "cds_hooks.invoke")  # first: refused calls are audited too
auth.protect(blueprint, claim_with_audit="cds_hooks.invoke")  # one commit per call


@blueprint.get("/cds-services")
def discovery() -> Response:
    version = advice.knowledge_version(current_app)
    body = Discovery(services=[s.describe(version) for s in SERVICES.values()])
    return json_response(body.to_json())


@blueprint.post("/cds-services/<service_id>")
def invoke(service_id: str) -> Response:
    service = SERVICES.get(service_id)
    if service is None:
        raise ApiError(404, f"No CDS service {service_id!r}; see GET /cds-services.")
    hook_request = parse_body(HookRequest)
    logs.note_hook_instance(hook_request.hookInstance)
    audit.note_call(hook_request.hook, hook_request.hookInstance)
    if hook_request.hook != service.hook:
        raise ApiError(
            400,
            f"Service {service_id!r} answers the {service.hook!r} hook, "
            f"not {hook_request.hook!r}.",
        )
    context = validate(CONTEXT_MODELS[service.hook], hook_request.context, "context")
    audit.note_patient(context.patientId)
    gathered = prefetch.gather(hook_request, PREFETCH, settings(),
                               before_fetch=auth.claim_before_fetch)
    call = advice.HookCall(
        service_id=service.id,
        hook=service.hook,
        hook_instance=hook_request.hookInstance,
        context=context,
        resources=gathered.resources,
        now=datetime.now(UTC),
    )
    cards = advice.advise(call)
    audit.commit(cards)
    metrics.count_cards(service.hook, cards)
    return json_response(CdsResponse(cards=cards).to_json())
