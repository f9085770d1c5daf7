"""CDS Hooks HTTP endpoints: discovery and invocation.

The invocation path reads top to bottom: authenticate the client → parse the body → check the
hook and its context → gather prefetch → hand the resolved call to `advice.advise` → record the
call → serialise the cards. Every invocation is audited, refused ones included (`audit`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError

from service import advice, jsonio, logs, metrics
from service.config import Settings
from service.hooks import audit, auth, prefetch
from service.hooks.errors import ApiError
from service.hooks.models import CONTEXT_MODELS, CdsResponse, Discovery, HookRequest
from service.hooks.services import PREFETCH, SERVICES

blueprint = Blueprint("cds_hooks", __name__)
audit.install(blueprint, "cds_hooks.invoke")  # first: refused calls are audited too
auth.protect(blueprint, claim_with_audit="cds_hooks.invoke")  # one commit per call
M = TypeVar("M", bound=BaseModel)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(jsonio.dumps(body), status=status, mimetype="application/json")


def settings() -> Settings:
    return current_app.config["LEUKEMIA_CDS_SETTINGS"]


@blueprint.get("/cds-services")
def discovery() -> Response:
    body = Discovery(services=[s.describe() for s in SERVICES.values()])
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
                               before_fetch=auth.refuse_known_replay)
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


def parse_body(model: type[M]) -> M:
    """Parse the request body as JSON into `model`, or raise a 400 that says what is wrong."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise ApiError(400, "Request body is empty; a JSON object is required.")
    try:
        data = jsonio.loads(raw)
    except jsonio.JSONDecodeError as exc:
        raise ApiError(400, f"Request body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    return validate(model, data, "")


def validate(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, where) for error in exc.errors()[:20]]
        raise ApiError(400, "Request does not follow CDS Hooks 2.0: " + problems[0],
                       details=problems[1:]) from None


def _describe(error: Any, where: str) -> str:
    path = ".".join(str(p) for p in ((where,) if where else ()) + tuple(error["loc"]))
    return f"{path or 'body'}: {error['msg']}"
