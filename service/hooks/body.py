"""Read each request's whole body before the application runs, within a deadline.

Under gunicorn's gevent workers, a client that trickles its body holds a greenlet while this
reads, never the worker: other requests go on. The deadline (`LEUKEMIA_CDS_BODY_TIMEOUT_S`)
bounds how long a body may take; past it the client gets 408 and the connection is closed, so
no handler ever waits on a client's network. A body announced larger than the limit is not
read at all (Flask answers 413 from the Content-Length); a chunked one is read only up to the
limit plus one byte, for the same answer.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from service import jsonio
from service.hooks.errors import operation_outcome

log = logging.getLogger(__name__)
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
CHUNK = 64 * 1024


class BodyTimeout(Exception):
    """The client did not send its whole body in time."""


def _green() -> bool:
    """Whether sockets are gevent's (gunicorn's gevent workers patch them): only then can a
    deadline interrupt a read without threads."""
    try:
        from gevent import monkey
    except ImportError:  # pragma: no cover - gevent is a dependency
        return False
    return bool(monkey.is_module_patched("socket"))


@contextlib.contextmanager
def _deadline(seconds: float) -> Iterator[None]:
    if not _green():
        yield  # a test client's body is in memory; nothing to wait for
        return
    import gevent

    with gevent.Timeout(seconds, BodyTimeout):
        yield


class BufferedBody:
    """WSGI middleware: the whole body in memory, read within `timeout_s`, before `app`."""

    def __init__(self, app: WSGIApp, *, max_bytes: int, timeout_s: float) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> Iterable[bytes]:
        chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
        if chunked:
            want = self.max_bytes + 1
        else:
            try:
                want = int(environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                want = 0  # Werkzeug answers a malformed length itself
            if want <= 0 or want > self.max_bytes:
                return self.app(environ, start_response)
        try:
            with _deadline(self.timeout_s):
                body = _read(environ["wsgi.input"], want)
        except BodyTimeout:
            log.warning("request body not received in time", extra={
                "event": "body_timeout", "timeout_s": self.timeout_s,
                "path": environ.get("PATH_INFO", "")[:200]})
            return _answer(start_response, 408, "Request Timeout",
                           f"The request body did not arrive within {self.timeout_s:g} s "
                           "(LEUKEMIA_CDS_BODY_TIMEOUT_S).")
        except (OSError, ValueError):
            return _answer(start_response, 400, "Bad Request",
                           "The connection ended before the request body was complete.")
        if not chunked and len(body) < want:
            return _answer(start_response, 400, "Bad Request",
                           "The connection ended before the request body was complete.")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input_terminated"] = True
        return self.app(environ, start_response)


def _read(stream: Any, want: int) -> bytes:
    parts: list[bytes] = []
    left = want
    while left > 0:
        chunk = stream.read(min(CHUNK, left))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _answer(start_response: Callable[..., Any], status: int, reason: str,
            diagnostics: str) -> list[bytes]:
    body = jsonio.dumps(operation_outcome(status, diagnostics))
    start_response(f"{status} {reason}", [
        ("Content-Type", "application/json"), ("Content-Length", str(len(body))),
        ("Connection", "close")])
    return [body]
