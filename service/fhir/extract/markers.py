"""Immunophenotype markers (CD19, CD22, ...) from a marker Observation or a narrative.

Labs report a marker as a percentage, a coded call, shorthand such as "CD19+", an interpretation
code, or a sentence naming several markers; each form has its own ways to be ambiguous. A marker
left unstated or unclear is unknown, never negative: a negative would steer the rules as surely
as a positive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from service.facts import MARKERS, Provenance
from service.fhir.extract.answers import read_answer
from service.fhir.extract.collector import Collector, MarkerCand
from service.fhir.extract.raw import codings, raw_value
from service.fhir.values import Unreadable, parse_percent_quantity, parse_percent_text

_INTERPRETATION_CALL = {
    "positive": "positive",
    "dim": "dim",
    "negative": "negative",
    "detected": "positive",
    "not-detected": "negative",
}  # answer concepts (v3 POS / NEG / DET / ND map onto them in the ValueSets) → marker call


def _interpretation_call(col: Collector, node: Mapping[str, Any]) -> str | None:
    """The explicit call in Observation.interpretation, if it names exactly one."""
    calls: set[str] = set()
    for cc in node.get("interpretation") or []:
        for m in col.term.match_codings(codings(cc)):
            call = _INTERPRETATION_CALL.get(m.concept)
            if call:
                calls.add(call)
    return calls.pop() if len(calls) == 1 else None


def read_marker(
    col: Collector,
    node: Mapping[str, Any],
    marker: str,
    ref: str,
    prov: Callable[[str], Provenance],
    unreadable: Callable[..., None],
    vkey: str | None,
) -> None:
    # The candidate is built once there is something to keep: its Provenance is a pydantic
    # model, not free, and most early returns keep nothing.
    percent: float | None = None
    comparator: str | None = None
    call: str | None = None
    unit: str | None = None
    value: Any = node.get(vkey) if vkey else None
    interp = _interpretation_call(col, node)
    raw = ""
    if vkey == "valueQuantity" or (
        vkey == "valueString" and isinstance(value, str) and "%" in value
    ):
        parsed = (
            parse_percent_quantity(value) if vkey == "valueQuantity" else parse_percent_text(value)
        )
        if isinstance(parsed, Unreadable):
            unreadable(f"{parsed.reason} ({parsed.raw})")
            if interp is None:
                return
        else:
            percent, comparator, raw = parsed.value, parsed.comparator, parsed.raw
            unit = (value.get("unit") or value.get("code")) if vkey == "valueQuantity" else "%"
    elif vkey == "valueString" and isinstance(value, str):
        # "positive" / "dim", or the lab's shorthand for this marker such as "CD19+"
        answer = read_answer(col, value, vkey, col.term.concept(marker).answers)
        listed = parse_immunophenotype(value).get(marker)
        if isinstance(answer, str):
            call, raw = answer, value
        elif (
            listed is not None and listed[0] is not None and len(parse_immunophenotype(value)) == 1
        ):
            call, raw = listed[0], value
        else:
            unreadable(f"{value!r} is neither a percentage nor positive / dim / negative")
            if interp is None:
                return
    elif vkey == "valueCodeableConcept":
        answer = read_answer(col, value, vkey, col.term.concept(marker).answers)
        if isinstance(answer, Unreadable):
            unreadable(answer.reason)
            if interp is None:
                return
        else:
            call, raw = answer, raw_value(value, vkey)
    elif vkey is not None:
        unreadable(f"expected valueQuantity or valueCodeableConcept, got {vkey}")
        if interp is None:
            return
    if interp is not None:
        if call is not None and call != interp:
            unreadable(f"coded value {call} contradicts interpretation {interp}")
            return
        call = call or interp
        raw = f"{raw} (interpretation {interp})".strip()
    if percent is None and call is None:
        if vkey is None:
            col.finding("missing-value", ref, f"{marker.upper()}: no value", marker)
        return
    col.markers[marker].append(
        MarkerCand(source=prov(raw), percent=percent, comparator=comparator, call=call, unit=unit)
    )


_NARRATIVE_TOKEN = re.compile(
    r"\b(?P<m>cd\s?(?P<n>\d{1,3}))\b\s*(?:"
    r"[-:=]?\s*(?P<word>positive|pos|negative|neg|dim|weak|bright)\b"  # before the bare sign:
    r"|(?P<sign>\+\+|\+|-|−|–|\(\+\)|\(-\))"  # "CD20-positive" is not "CD20-"
    r"|[:=]?\s*\(?\s*(?P<pct>\d{1,3}(?:\.\d+)?)\s*%)?",
    re.IGNORECASE,
)


def parse_immunophenotype(text: str) -> dict[str, tuple[str | None, float | None, str]]:
    """Markers named in a narrative immunophenotype → (call, percent, token).

    Only markers that are named *with* an expression are returned; an unlisted marker, or a
    marker named without a sign, word or percentage, is unknown — never negative.
    """
    out: dict[str, tuple[str | None, float | None, str]] = {}
    ambiguous: set[str] = set()
    for m in _NARRATIVE_TOKEN.finditer(text):
        name = f"cd{int(m.group('n'))}"
        if name not in MARKERS:
            continue
        sign, word, pct = m.group("sign"), m.group("word"), m.group("pct")
        call: str | None = None
        percent: float | None = None
        if sign:
            call = "positive" if "+" in sign else "negative"
        elif word:
            w = word.lower()
            call = {
                "positive": "positive",
                "pos": "positive",
                "bright": "positive",
                "negative": "negative",
                "neg": "negative",
            }.get(w, "dim")
        elif pct:
            percent = float(pct)
            if percent > 100:
                continue
        else:
            continue
        entry = (call, percent, m.group(0).strip())
        if name in out and out[name][:2] != entry[:2]:
            ambiguous.add(name)
        out[name] = entry
    for name in ambiguous:
        out.pop(name, None)
    return out


def read_narrative(
    col: Collector,
    node: Mapping[str, Any],
    ref: str,
    prov: Callable[[str], Provenance],
    unreadable: Callable[..., None],
    vkey: str | None,
) -> None:
    value = node.get(vkey) if vkey else None
    if vkey != "valueString" or not isinstance(value, str):
        unreadable(f"expected a narrative valueString, got {vkey}")
        return
    parsed = parse_immunophenotype(value)
    for marker, (call, percent, token) in parsed.items():
        source = prov(token)
        col.markers[marker].append(
            MarkerCand(
                source=source.model_copy(update={"recognised_by": "text-match"}),
                percent=percent,
                call=call,
                unit="%" if percent is not None else None,
            )
        )
