"""PHI-safe structured logs: one JSON object per line, built from an allow-list of fields.

Hook bodies carry whole patient records and bearer tokens. A log line is copied to places a
patient never agreed to (log shippers, support tickets), so the formatter does not serialise
"whatever was attached to the record": it emits only the fields named in `_FIELDS`, whose values
our own code sets, and for exceptions only the type and the stack frames — never the exception
message, which may quote a patient identifier or a token. Libraries that log URLs with patient
ids at DEBUG (urllib3) are held at WARNING whatever the configured level.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import IO, Any

from flask import Flask, Response, g, has_request_context, request

from service import jsonio
from service.hooks.services import SERVICES

log = logging.getLogger("leukemia_cds.request")

# Fields a record may carry into the output, with the type each must have. Anything else that
# code attaches through `extra=` is dropped.
_FIELDS: dict[str, type | tuple[type, ...]] = {
    "event": str,
    "request_id": str,
    "hook_instance": str,
    "service_id": str,
    "route": str,
    "method": str,
    "status": int,
    "latency_ms": (int, float),
    "reason": str,
    "iss": str,
    "error_type": str,
    "auth": str,
    "count": int,
}
_QUIET_LIBRARIES = ("urllib3", "requests", "responses", "werkzeug", "sqlalchemy")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_MESSAGE_MAX = 300


def safe_hook_instance(value: object) -> str:
    """The hookInstance as logged: the spec makes it a UUID, so anything else is not echoed."""
    if isinstance(value, str) and _UUID.match(value):
        return value.lower()
    return "<not-a-uuid>"


class _RequestFields(logging.Filter):
    """Stamp every record made while serving a request with its request id and hookInstance."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            state = g.get("lcds_log")
            if state is not None:
                record.__dict__.setdefault("request_id", state["request_id"])
                if "hook_instance" in state:
                    record.__dict__.setdefault("hook_instance", state["hook_instance"])
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": _message(record),
        }
        for name, kind in _FIELDS.items():
            value = record.__dict__.get(name)
            if isinstance(value, kind) and not isinstance(value, bool):
                out[name] = value[:200] if isinstance(value, str) else value
        if record.exc_info and record.exc_info[0] is not None:
            out["error_type"] = record.exc_info[0].__name__
            out["stack"] = [
                f"{frame.filename}:{frame.lineno} in {frame.name}"
                for frame in traceback.extract_tb(record.exc_info[2])
            ][-15:]
        return jsonio.dumps(out).decode()


def _message(record: logging.LogRecord) -> str:
    """The message template only: `%`-arguments are where foreign data would come in."""
    text = str(record.msg) if record.args else record.getMessage()
    return text[:_MESSAGE_MAX]


def configure(level: str = "INFO", stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger through one JSON handler on `stream` (stderr by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_RequestFields())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler


def install(app: Flask) -> None:
    """A request id on every request (echoed as X-Request-ID) and one summary line per request.

    The id is always our own: echoing a client-chosen value would let any text into the log.
    """

    @app.before_request
    def _start() -> None:
        g.lcds_log = {"request_id": uuid.uuid4().hex, "started": time.perf_counter()}

    @app.after_request
    def _finish(response: Response) -> Response:
        state = g.get("lcds_log")
        if state is None:  # a request that failed before our before_request ran
            return response
        response.headers["X-Request-ID"] = state["request_id"]
        extra: dict[str, Any] = {
            "event": "request",
            "method": request.method,
            "status": response.status_code,
            "latency_ms": round((time.perf_counter() - state["started"]) * 1000, 1),
        }
        if request.url_rule is not None:
            extra["route"] = request.url_rule.rule
            service_id = (request.view_args or {}).get("service_id")
            if service_id in SERVICES:
                extra["service_id"] = service_id
        log.info("request", extra=extra)
        return response


def note_hook_instance(value: object) -> None:
    """Attach the (UUID-checked) hookInstance to the rest of this request's log lines."""
    state = g.get("lcds_log")
    if state is not None:
        state["hook_instance"] = safe_hook_instance(value)
