"""The raw FHIR JSON as sent, read without building a model.

Most resources in a chart are ones the contract does not cover, so extraction classifies them on
their plain JSON and only validates what it will read (see ``validation``). These helpers are
that cheap first look. They take whatever shape the EHR sends: a wrong shape reads as absent,
never as an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any


def codings(cc: Any) -> list[Mapping[str, Any]]:
    if isinstance(cc, dict):
        listed = cc.get("coding")
        if isinstance(listed, list):
            return [c for c in listed if isinstance(c, dict)]
    return []


def cc_text(cc: Any) -> str:
    if not isinstance(cc, dict):
        return ""
    text = cc.get("text")
    if isinstance(text, str) and text.strip():
        return text.strip()
    for c in codings(cc):
        if isinstance(c.get("display"), str):
            return c["display"]
    return ""


def cc_raw(cc: Any) -> str:
    """The coded value as sent, for provenance: 'system|code' of the first coding, or text."""
    for c in codings(cc):
        if c.get("code") is not None:
            return f"{c.get('system', '')}|{c.get('code')}".lstrip("|")
    return cc_text(cc)


def raw_value(value: Any, vkey: str) -> str:
    if vkey == "valueCodeableConcept":
        return cc_raw(value)
    if vkey == "valueQuantity" and isinstance(value, dict):
        unit = value.get("unit") or value.get("code") or ""
        return f"{value.get('comparator', '')}{value.get('value')} {unit}".strip()
    return str(value)


def value_key(node: Mapping[str, Any]) -> str | None:
    """The element holding an Observation's (or a component's) value: 'valueQuantity', ..."""
    for key in node:
        if key.startswith("value") and key[5:6].isupper():
            return key
    return None


def resource_ref(resource: Mapping[str, Any], index: int) -> str:
    rid = resource.get("id")
    rtype = resource.get("resourceType", "?")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid else f"{rtype}/(no id, item {index})"


_REFERENCE_ID: dict[str, re.Pattern[str]] = {}


def reference_id(reference: Any, resource_type: str) -> str | None:
    """'Patient/1', 'http://x/fhir/Patient/1', 'Patient/1/_history/2' → '1'."""
    if not isinstance(reference, str):
        return None
    pattern = _REFERENCE_ID.get(resource_type)
    if pattern is None:  # compiled once per type: re's own cache lookup showed in profiles
        pattern = _REFERENCE_ID[resource_type] = re.compile(
            rf"(?:^|/){resource_type}/([^/]+)(?:/_history/[^/]+)?$"
        )
    m = pattern.search(reference)
    return m.group(1) if m else None


def iter_resources(items: Iterable[Any]) -> Iterator[tuple[Any, str | None]]:
    """Yield (resource, fullUrl) from resources and Bundles (nested once), contained excluded."""
    for item in items:
        if isinstance(item, dict) and item.get("resourceType") == "Bundle":
            entries = item.get("entry") or []
            if not isinstance(entries, list):  # reported as "not a FHIR resource", not raised
                yield entries, None
                continue
            for entry in entries:
                if not isinstance(entry, dict):
                    yield entry, None
                    continue
                res = entry.get("resource")
                full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
                if isinstance(res, dict) and res.get("resourceType") == "Bundle":
                    yield from iter_resources([res])
                elif res is not None:
                    yield res, full_url
        else:
            yield item, None

