"""Every non-2xx answer is a FHIR OperationOutcome with a diagnostic an integrator can act on.

Handlers here turn our own `ApiError`s, Werkzeug's HTTP errors (404, 405, 413…) and anything
unexpected into that shape, so a client never sees an HTML page or a stack trace.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from service import jsonio

log = logging.getLogger(__name__)

# HTTP status -> FHIR IssueType (http://hl7.org/fhir/issue-type)
_ISSUE_TYPE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    412: "incomplete",
    413: "too-long",
    415: "not-supported",
    429: "throttled",
    500: "exception",
    503: "transient",
}


class ApiError(Exception):
    """An error whose message is safe to show the caller."""

    def __init__(
        self, status: int, diagnostics: str, *, details: list[str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.status = status
        self.diagnostics = diagnostics
        self.details = details or []
        self.headers = headers or {}


def operation_outcome(status: int, diagnostics: str, details: list[str] | None = None) -> dict:
    code = _ISSUE_TYPE.get(status, "processing" if status < 500 else "exception")
    issues: list[dict[str, Any]] = [
        {"severity": "error", "code": code, "diagnostics": diagnostics}
    ]
    issues += [{"severity": "error", "code": code, "diagnostics": d} for d in details or []]
    return {"resourceType": "OperationOutcome", "issue": issues}


def error_response(
    status: int, diagnostics: str, details: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = Response(
        jsonio.dumps(operation_outcome(status, diagnostics, details)),
        status=status,
        mimetype="application/json",
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


_HTTP_MESSAGES = {
    404: "No such endpoint. Discovery is at GET /cds-services.",
    405: "Method not allowed here.",
    413: "Request body is larger than the configured limit (LEUKEMIA_CDS_MAX_BODY_BYTES).",
}


def install(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError) -> Response:
        return error_response(err.status, err.diagnostics, err.details, err.headers)

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        headers = {}
        if status == 405 and err.get_response().headers.get("Allow"):
            headers["Allow"] = err.get_response().headers["Allow"]
            message = f"Method not allowed here; allowed: {headers['Allow']}."
        else:
            message = _HTTP_MESSAGES.get(status, err.name)
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        # The traceback goes to the server log only; the caller gets a stable, bland message.
        log.exception("unhandled error", extra={"error_type": type(err).__name__})
        return error_response(500, "Internal error; the service log has the details.")
