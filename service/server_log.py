"""gunicorn's own log lines, with what a client sent scrubbed out.

gunicorn logs a malformed request with the offending bytes ("Invalid request from ip=...:
Invalid HTTP Header: 'Authorization Bearer eyJ...'"): a client's broken header line put a whole
JWT in the log (issue 21). Every gunicorn line passes through here first: bearer values and
anything shaped like a JWT are replaced, control characters escaped, and a line is cut at
`LINE_MAX` characters. The service's own lines never carry request bytes (service.logs).
"""

from __future__ import annotations

import re
import sys
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

LINE_MAX = 300
_SECRET = re.compile(r"(?i)(bearer|basic)(\s+|%20|\\x20)[^\s'\"]+"
                     r"|eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def scrub(text: str) -> str:
    text = _SECRET.sub(lambda m: f"{m.group(1)} [redacted]" if m.group(1) else "[token]",
                       text)
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return text if len(text) <= LINE_MAX else text[: LINE_MAX - 1] + "…"


def _scrubbed(msg: Any, args: tuple[Any, ...]) -> str:
    try:
        text = str(msg) % args if args else str(msg)
    except (TypeError, ValueError):
        text = " ".join(str(x) for x in (msg, *args))
    return scrub(text)


class Logger(GunicornLogger):  # type: ignore[misc]
    def critical(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().critical(_scrubbed(msg, args), **kwargs)

    def error(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().error(_scrubbed(msg, args), **kwargs)

    def warning(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().warning(_scrubbed(msg, args), **kwargs)

    def info(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().info(_scrubbed(msg, args), **kwargs)

    def debug(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().debug(_scrubbed(msg, args), **kwargs)

    def exception(self, msg: Any, *args: Any, **kwargs: Any) -> None:
        """The exception's type and its scrubbed message, not its traceback: an exception
        raised by gunicorn's parser carries the request's bytes in its text and arguments."""
        kind, value, _ = sys.exc_info()
        cause = f" ({kind.__name__}: {value})" if kind is not None else ""
        kwargs.pop("exc_info", None)
        super().error(_scrubbed(msg, args) + scrub(cause), **kwargs)

    def log(self, lvl: Any, msg: Any, *args: Any, **kwargs: Any) -> None:
        super().log(lvl, _scrubbed(msg, args), **kwargs)
