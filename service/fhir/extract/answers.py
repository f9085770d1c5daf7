"""A coded or textual answer, matched against the answers its concept allows.

The simple, marker and MRD readers all take answers such as "positive" or "detected" this way;
shared, so that a lab's code or wording means the same thing whichever reader meets it.
"""

from __future__ import annotations

from typing import Any

from service.fhir.extract.collector import Collector
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.values import Unreadable


def read_answer(col: Collector, value: Any, vkey: str, allowed: frozenset[str]) -> str | Unreadable:
    """A coded or textual answer restricted to the concept's allowed answers."""
    if vkey == "valueCodeableConcept":
        hits = {m.concept for m in col.term.match_codings(codings(value)) if m.concept in allowed}
        if not hits:
            text = cc_text(value)
            hits = set(col.term.match_answer_text(text, allowed)) if text else set()
    elif vkey == "valueString" and isinstance(value, str):
        hits = set(col.term.match_answer_text(value, allowed))
    else:
        return Unreadable(f"expected a coded value, got {vkey}", str(value)[:80])
    if len(hits) == 1:
        return hits.pop()
    raw = cc_raw(value) if vkey == "valueCodeableConcept" else value  # for the reason only
    if not hits:
        return Unreadable(f"value {raw!r} is not one of {', '.join(sorted(allowed))}", raw)
    return Unreadable(f"value {raw!r} is ambiguous ({', '.join(sorted(hits))})", raw)
