"""The gunicorn worker the service runs: gthread, with each request read in full first.

gunicorn's gthread worker hands a connection to a thread as soon as its first bytes arrive,
and the thread then reads the rest of the request with blocking calls: eight clients sending a
header line every 2 s held every thread, and /healthz went unanswered (issue 21). Here the
worker's event loop (the one that already waits on idle connections) reads each request's
headers and body without blocking, and a thread gets the connection only when the whole request
is in memory. A request whose headers are not complete within `header_timeout` or whose body is
not complete within `body_timeout` is answered 408 and closed, by the loop, with no thread ever
involved; a body announced larger than the limit is answered 413 the same way, unread, headers
over 64 KiB 431, and a chunked body 411 (every CDS client sends a Content-Length; following
chunks here would be a second HTTP parser to get right).

gevent workers were measured as the alternative: they also survive slow clients, but cost about
a quarter of the throughput on this service (monkey-patched locks) and kept a long tail at 64
connections (new connections waited for a whole round of busy greenlets before being read).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import struct
import time
from functools import partial
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

HEAD_END = b"\r\n\r\n"
HEAD_MAX = 64 * 1024  # past this without a blank line: the parser answers the error itself
CHUNK = 64 * 1024


class _Reading:
    """A connection's request being gathered by the event loop."""

    __slots__ = ("body_deadline", "buffer", "head_deadline", "registered", "want")

    def __init__(self, head_deadline: float, buffer: bytes = b"") -> None:
        self.buffer = bytearray(buffer)
        self.head_deadline = head_deadline
        self.body_deadline = 0.0  # set once the headers are in
        self.want: int | None = None  # the whole request's length, once the headers are in
        self.registered = False  # waiting in the poller for more bytes


class Worker(ThreadWorker):  # type: ignore[misc]
    """Settings come from gunicorn's config: `keepalive` is also the header timeout; the body
    timeout and size limit from the environment the service reads (`service.config`)."""

    def init_process(self) -> None:
        from service.config import Settings

        settings = Settings.from_env()
        self.header_timeout = float(settings.header_timeout_s)
        self.body_timeout = float(settings.body_timeout_s)
        self.max_body = settings.max_body_bytes
        self.reading: dict[Any, _Reading] = {}
        super().init_process()

    # --- every path to a thread goes through here ---------------------------------------------

    def enqueue_req(self, conn: Any) -> None:
        if getattr(conn, "ready", False) or self.cfg.is_ssl:
            conn.ready = False
            super().enqueue_req(conn)
            return
        leftover = b""
        if conn.parser is not None:  # kept alive: bytes already read past the last request
            leftover = conn.parser.unreader.buf.getvalue()
            conn.parser.unreader.buf.seek(0)
            conn.parser.unreader.buf.truncate()
        state = _Reading(time.monotonic() + self.header_timeout, leftover)
        self.reading[conn] = state
        if not self._progress(conn, state):
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ,
                                 partial(self._on_readable, conn))
            state.registered = True

    def _on_readable(self, conn: Any, _sock: Any) -> None:
        state = self.reading.get(conn)
        if state is None:
            return
        while True:
            try:
                data = conn.sock.recv(CHUNK)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self._drop(conn)
                return
            if not data:  # the client went away before its request was complete
                self._drop(conn)
                return
            state.buffer += data
            if len(data) < CHUNK:
                break
        self._progress(conn, state)

    def _progress(self, conn: Any, state: _Reading) -> bool:
        """Hand the connection to a thread if its request is complete (True), or answer it
        from here (True); False while more is needed."""
        buffer = state.buffer
        if state.want is None:
            end = buffer.find(HEAD_END)
            if end < 0:
                if len(buffer) > HEAD_MAX:
                    self._unregister(state, conn)
                    self._answer(conn, 431, "Request Header Fields Too Large",
                                 f"The request line and headers exceed {HEAD_MAX} bytes.")
                    return True
                return False
            length, chunked = _framing(bytes(buffer[:end]))
            head = end + len(HEAD_END)
            if chunked:  # every CDS client sends a length; reading chunks here is not worth it
                self._unregister(state, conn)
                self._answer(conn, 411, "Length Required",
                             "Send the request body with a Content-Length, not chunked.")
                return True
            if length is not None and length > self.max_body:
                self._unregister(state, conn)
                self._answer(conn, 413, "Payload Too Large",
                             "Request body is larger than the configured limit "
                             "(LEUKEMIA_CDS_MAX_BODY_BYTES).")
                return True
            state.want = head + (length or 0)
            state.body_deadline = time.monotonic() + self.body_timeout
            if b"100-continue" in bytes(buffer[:end]).lower() and len(buffer) == head:
                _send_quietly(conn.sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        return self._hand_over(conn, state) if len(buffer) >= state.want else False

    def _hand_over(self, conn: Any, state: _Reading) -> bool:
        del self.reading[conn]
        if state.registered:  # out of the poller before a thread may use the socket
            self.poller.unregister(conn.sock)
            state.registered = False
        conn.prebuffer = state.buffer
        conn.data_ready = True
        conn.ready = True
        self.enqueue_req(conn)
        return True

    def handle(self, conn: Any) -> Any:
        """In the thread: the request is in memory; the parser reads it from there."""
        pre = getattr(conn, "prebuffer", None)
        if pre:
            conn.prebuffer = None
            conn.sock.setblocking(True)
            conn.init()
            if conn.parser is not None:
                conn.parser.unreader.unread(pre)
            # a client that stops reading its answer cannot hold the thread either
            timeout = struct.pack("ll", int(self.body_timeout), 0)
            conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeout)
        return super().handle(conn)

    # --- deadlines ----------------------------------------------------------------------------

    def murder_pending(self) -> None:
        super().murder_pending()
        now = time.monotonic()
        for conn, state in list(self.reading.items()):
            late = (now > state.head_deadline if state.want is None
                    else now > state.body_deadline)
            if late:
                with_body = state.want is not None
                self._unregister(state, conn)
                self._answer(conn, 408, "Request Timeout",
                             f"The request {'body' if with_body else 'headers'} did not arrive "
                             f"within {self.body_timeout if with_body else self.header_timeout:g}"
                             " s.")

    def _answer(self, conn: Any, status: int, reason: str, diagnostics: str) -> None:
        """An error answered by the event loop itself, then the connection closed."""
        from service import jsonio
        from service.hooks.errors import operation_outcome

        self.reading.pop(conn, None)
        body = jsonio.dumps(operation_outcome(status, diagnostics))
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        _send_quietly(conn.sock, head + body)
        self.log.info("request refused by the reading loop: %s %s", status, reason)
        self.nr_conns -= 1
        conn.close()

    def _drop(self, conn: Any) -> None:
        state = self.reading.pop(conn, None)
        if state is not None:
            self._unregister(state, conn)
        self.nr_conns -= 1
        conn.close()

    def _unregister(self, state: _Reading, conn: Any) -> None:
        if state.registered:
            state.registered = False
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)


def _framing(head: bytes) -> tuple[int | None, bool]:
    """(Content-Length, chunked) from a request's header block; malformed values are left to
    gunicorn's parser, which answers them (length None: read no body here)."""
    length: int | None = None
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            try:
                length = int(value.strip())
            except ValueError:
                return None, False
            if length < 0:
                return None, False
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    return (None, True) if chunked else (length, False)


def _send_quietly(sock: Any, data: bytes) -> None:
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EPIPE, errno.ECONNRESET, errno.EWOULDBLOCK):
            raise
