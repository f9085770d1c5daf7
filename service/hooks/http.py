"""The HTTP plumbing every CDS Hooks route shares: JSON out, a validated model in, the settings.

Kept apart from the routes so that `feedback` and the sandbox views can use it without importing
`endpoints`, whose import registers the invocation routes and pulls in the clinical layers
(`advice`); the route modules then depend on this one, never on each other.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError

from service import jsonio
from service.config import Settings
from service.hooks.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    """A JSON answer serialised through `jsonio` (orjson), like every body the service reads."""
    return Response(jsonio.dumps(body), status=status, mimetype="application/json")


def settings() -> Settings:
    """The running app's settings, as `create_app` stored them."""
    return current_app.config["LEUKEMIA_CDS_SETTINGS"]


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
    """`data` as `model`, or a 400 naming the first problems by their path under `where`, so
    the integrator can find the field without reading the specification."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(error, where) for error in exc.errors()[:20]]
        raise ApiError(400, "Request does not follow CDS Hooks 2.0: " + problems[0],
                       details=problems[1:]) from None


def _describe(error: Any, where: str) -> str:
    path = ".".join(str(p) for p in ((where,) if where else ()) + tuple(error["loc"]))
    return f"{path or 'body'}: {error['msg']}"
