"""Measurable residual disease from an Observation: a fraction, a detection call, a method.

A negative MRD reads as a response to treatment, so a result that cannot be read is never taken
as negative: it is reported as unreadable MRD and, as a tombstone on the collector, keeps older
results from standing in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from service.facts import Provenance
from service.fhir.extract.answers import read_answer
from service.fhir.extract.collector import Collector, MrdCand
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.values import ParsedMrd, Unreadable, parse_mrd_quantity, parse_mrd_text


def read_mrd(
    col: Collector,
    node: Mapping[str, Any],
    obs: Mapping[str, Any],
    concept: str,
    prov: Callable[[str], Provenance],
    unreadable: Callable[..., None],
    vkey: str | None,
) -> None:
    value = node.get(vkey) if vkey else None
    parsed: ParsedMrd | Unreadable
    if vkey == "valueQuantity":
        parsed = parse_mrd_quantity(value)
    elif vkey == "valueString":
        parsed = parse_mrd_text(value, col.term.detection_phrases())
    elif vkey == "valueCodeableConcept":
        answer = read_answer(col, value, vkey, col.term.concept(concept).answers)
        if isinstance(answer, Unreadable):
            parsed = answer
        else:
            parsed = ParsedMrd(None, None, answer == "detected", cc_raw(value))
    elif vkey is None:
        absent = cc_text(node.get("dataAbsentReason"))
        parsed = Unreadable("no value" + (f" (dataAbsentReason: {absent})" if absent else ""), "")
    else:
        parsed = Unreadable(f"{vkey} is not an MRD value", str(value)[:80])
    if isinstance(parsed, Unreadable):
        unreadable(
            f"{parsed.reason}"
            + (f" ({parsed.raw})" if parsed.raw else "")
            + "; not read as negative",
            "unreadable-mrd",
        )
        return
    method = _mrd_method(col, obs.get("method"))
    col.mrd.append(MrdCand(parsed, method, prov(parsed.raw)))


def _mrd_method(col: Collector, method: Any) -> str | None:
    allowed = frozenset({"flow-cytometry", "pcr", "ngs"})
    hits = {m.concept for m in col.term.match_codings(codings(method)) if m.concept in allowed}
    if not hits:
        text = cc_text(method)
        if text:
            hits = set(col.term.match_answer_text(text, allowed))
            if not hits:  # "MRD by multiparameter flow cytometry (8-colour)"
                norm = f" {text.lower()} "
                for code in allowed:
                    for syn in col.term.concept(code).synonyms:
                        if f" {syn} " in norm or f"({syn})" in norm:
                            hits.add(code)
    return hits.pop() if len(hits) == 1 else None
