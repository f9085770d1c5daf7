"""JSON in and out through orjson: hook bodies carry whole patient records, and parsing them is
the largest fixed cost of a call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


class FileProblem(ValueError):
    """A JSON file that cannot be used, said in a few words ("no such file", "not JSON (...)")
    for the caller to prefix with what the file is."""


def read_file(path: Path) -> Any:
    """A JSON file an operator named (a registry page, the site's trials)."""
    try:
        return loads(path.read_bytes())
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except IsADirectoryError:
        raise FileProblem("is a folder, not a file") from None
    except OSError as exc:
        raise FileProblem(f"cannot read ({exc.strerror})") from None
    except JSONDecodeError as exc:
        raise FileProblem(f"not JSON ({exc})") from None
