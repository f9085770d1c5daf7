"""JSON in and out through orjson: hook bodies carry whole patient records, and parsing them is
the largest fixed cost of a call."""

from __future__ import annotations

from typing import Any

import orjson

JSONDecodeError = orjson.JSONDecodeError


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)
