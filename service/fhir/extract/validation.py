"""Is a resource valid FHIR R4? Asked of every resource the contract recognises, answered once.

Validation with ``fhir.resources.R4B`` is by far the most expensive step of extraction, and the
same chart is opened again and again, so answers are kept in one process-wide memo. It is a unit
of its own because the memo, its lock and its size bound are state every request shares, with
one owner: the readers only ask ``validation_error``.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson
from fhir.resources.R4B import get_fhir_model_class

_MODELS: dict[str, Any] = {}


def _model(resource_type: str) -> Any:
    model = _MODELS.get(resource_type)
    if model is None:
        model = _MODELS[resource_type] = get_fhir_model_class(resource_type)
    return model


_VALIDATION_CACHE_SIZE = 4096
_validation_cache: OrderedDict[tuple[str, bytes], str | None] = OrderedDict()
_validation_lock = threading.Lock()
_MISSING: Any = object()


def _validate_now(resource_type: str, res: Any) -> str | None:
    try:
        _model(resource_type).model_validate(res)
    except Exception as exc:  # any validation failure is the EHR's data, never ours to raise
        lines = str(exc).splitlines()
        detail = "; ".join(line.strip() for line in lines[1:3]) if len(lines) > 1 else str(exc)
        return detail[:300]
    return None


def validation_error(res: Mapping[str, Any]) -> str | None:
    """Why ``res`` fails R4 validation (None when valid).

    Results are cached: the same chart is opened again and again, and validation is by far the
    most expensive step of extraction. The key is a digest of the canonical JSON, so the cache
    holds no patient data beyond the (rare) validation messages.
    """
    rtype = str(res.get("resourceType"))
    try:
        canonical = orjson.dumps(res, option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError):
        return _validate_now(rtype, res)
    # SHA-256 rather than BLAKE2b: collision-resistant too, and faster (OpenSSL, CPU support).
    key = (rtype, hashlib.sha256(canonical).digest())
    with _validation_lock:
        cached = _validation_cache.get(key, _MISSING)
        if cached is not _MISSING:
            _validation_cache.move_to_end(key)
            return cached
    error = _validate_now(rtype, res)
    with _validation_lock:
        _validation_cache[key] = error
        if len(_validation_cache) > _VALIDATION_CACHE_SIZE:
            _validation_cache.popitem(last=False)
    return error
