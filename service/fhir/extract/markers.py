"""Immunophenotype markers (CD19, CD22, ...) from a marker Observation or a narrative.

Labs report a marker as a percentage, a coded call, shorthand such as "CD19+", an interpretation
code, or a sentence naming several markers; each form has its own ways to be ambiguous. A marker
left unstated or unclear is unknown, never negative: a negative would steer the rules as surely
as a positive.

Two readings are deliberately weaker than the rest:

- a LOINC "cells/100 cells" flow code (value-basis ``percent-of-cells`` in fhir_profiles) is a
  % of *all* cells or lymphocytes, not of blasts: it is kept apart (``of_cells``), may support
  "expressed" and never "negative" (MarkerFact.cells_support_expressed);
- a narrative ("positive for CD10, CD79a, TdT, CD19, and CD20", mCODE's LOINC 101119-6) is read
  only where it says so plainly: markers listed after "positive for" are positive, after
  "negative for" negative; a hedge, a negation, "or", "partial" and the like make the marker
  unclear, which is a finding and never a negative.
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
    *,
    of_cells: bool = False,
) -> None:
    if of_cells:
        _read_cells_percent(col, node, marker, ref, prov, vkey)
        return
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


def _read_cells_percent(
    col: Collector,
    node: Mapping[str, Any],
    marker: str,
    ref: str,
    prov: Callable[[str], Provenance],
    vkey: str | None,
) -> None:
    """A LOINC "cells/100 cells" result: a % of all cells (or lymphocytes) in the specimen.

    Only the percentage is read. Observation.interpretation is not: on these lymphocyte-subset
    panels it flags the reference range, not the marker on the blasts; nor is a coded call,
    whose population the code does not say. Its problems are findings on a leukemia chart only
    (the same codes are routine labs on other charts), and they supersede only other % of cells
    results (tombstone key ``<marker>:cells``), never a call or a % of blasts.
    """
    label = f"{marker.upper()} (% of all cells, not of blasts)"

    def unreadable(reason: str) -> None:
        col.gated_finding("unreadable-value", ref, f"{label}: {reason}; not used", marker)
        col.tombstones[f"{marker}:cells"].append((prov("").effective, ref))

    value: Any = node.get(vkey) if vkey else None
    if vkey is None:
        col.gated_finding("missing-value", ref, f"{label}: no value", marker)
        return
    if vkey == "valueQuantity":
        parsed = parse_percent_quantity(value)
    elif vkey == "valueString" and isinstance(value, str) and "%" in value:
        parsed = parse_percent_text(value)
    else:
        unreadable(f"expected a percentage, got {vkey} {raw_value(value, vkey)!r}")
        return
    if isinstance(parsed, Unreadable):
        unreadable(f"{parsed.reason} ({parsed.raw})")
        return
    col.markers[marker].append(
        MarkerCand(
            source=prov(f"{parsed.raw} of all cells"),
            percent=parsed.value,
            comparator=parsed.comparator,
            unit="%",
            of_cells=True,
        )
    )


_NARRATIVE_TOKEN = re.compile(
    r"\b(?P<m>cd\s?(?P<n>\d{1,3}))\b\s*(?:"
    r"[-:=]?\s*(?P<word>positive|pos|negative|neg|dim|weak|bright)\b"  # before the bare sign:
    r"|(?P<sign>\+\+|\+|-|−|–|\(\+\)|\(-\))"  # "CD20-positive" is not "CD20-"
    r"|[:=]?\s*\(?\s*(?P<pct>\d{1,3}(?:\.\d+)?)\s*%)?",
    re.IGNORECASE,
)
_MARKER_NAME = re.compile(r"\bcd\s?(?P<n>\d{1,3})\b", re.IGNORECASE)  # "cyCD22", "CD79a": no

# "positive for A, B, and C" / "negative for D": the phrasing of mCODE's narrative example
_CUE = re.compile(r"\b(?P<pol>positive|negative)\s+for\b", re.IGNORECASE)
# where a list after a cue stops: the end of a clause, or a turn ("but not CD20")
_LIST_END = re.compile(
    r"[;\n]|\.(?!\d)|\b(?:but|while|whereas|except|although|however|with)\b", re.IGNORECASE
)
_ITEM_SPLIT = re.compile(r",|&|/|\band\b|\bas well as\b", re.IGNORECASE)
_PERCENT_IN_ITEM = re.compile(r"[<>]?=?\s*\d{1,3}(?:\.\d+)?\s*%")
_WORD = re.compile(r"[a-z]+")
# words that make a sentence's calls unsafe to read: negation, hedging, partial expression,
# another time. Conservative on purpose: a finding costs a look, a wrong call a wrong option.
_DOUBT = frozenset({
    "not", "no", "non", "never", "without", "neither", "nor", "cannot", "possible", "possibly",
    "probable", "probably", "likely", "unlikely", "questionable", "questionably", "equivocal",
    "equivocally", "indeterminate", "suspicious", "suspected", "unclear", "uncertain", "partial",
    "partially", "partly", "variable", "variably", "focal", "focally", "heterogeneous",
    "heterogeneously", "subset", "subsets", "subpopulation", "minor", "minority", "rare",
    "occasional", "few", "some", "most", "majority", "previously", "formerly", "initially",
    "originally", "prior", "history", "historically", "lost", "loss", "faint", "faintly",
})
_DIM_WORDS = frozenset({"dim", "dimly", "weak", "weakly"})
_BRIGHT_WORDS = frozenset({"bright", "brightly", "strong", "strongly", "uniformly", "diffusely"})
# words an item may carry besides the marker ("CD19 on blasts by flow cytometry")
_FILLER = frozenset({
    "by", "flow", "cytometry", "cytometric", "fcm", "ihc", "immunohistochemistry",
    "immunohistochemical", "on", "in", "of", "the", "blasts", "blast", "cells", "cell",
    "leukemic", "leukaemic", "lymphoblasts", "lymphoblast", "myeloblasts", "expression",
    "expressed", "surface", "antigen", "antigens", "marker", "markers", "also", "both",
    "including", "b", "lineage",
})

NarrativeRead = dict[str, tuple[str | None, float | None, str]]


def _marker_name(number: str) -> str | None:
    name = f"cd{int(number)}"
    return name if name in MARKERS else None


def _token_entries(text: str) -> list[tuple[str, str | None, float | None, str]]:
    """Shorthand such as "CD19+", "CD33 dim", "CD20-negative", "CD19: 85%"; every occurrence."""
    out: list[tuple[str, str | None, float | None, str]] = []
    for m in _NARRATIVE_TOKEN.finditer(text):
        name = _marker_name(m.group("n"))
        if name is None:
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
        out.append((name, call, percent, m.group(0).strip()))
    return out


def _clause_entries(
    text: str,
) -> tuple[list[tuple[str, str | None, float | None, str]], dict[str, str]]:
    """Markers listed after "positive for" / "negative for", and those it cannot read safely.

    The list runs from the cue to the end of the clause, a turn ("but", "except") or the next
    cue. A doubt word anywhere in the clause before the cue ("not", "possibly", "previously"),
    "or" in the list, or an item that says more than the marker ("partial CD20", "CD20 on a
    subset") makes those markers unclear. "weakly positive for" and "CD22 (dim)" are dim.
    """
    found: list[tuple[str, str | None, float | None, str]] = []
    unclear: dict[str, str] = {}
    cues = list(_CUE.finditer(text))
    for i, cue in enumerate(cues):
        clause_start = max(
            [e.end() for e in _LIST_END.finditer(text, 0, cue.start())]
            + [cues[i - 1].end() if i else 0]
        )
        prefix = text[clause_start : cue.start()]
        stop = _LIST_END.search(text, cue.end())
        end = min(stop.start() if stop else len(text),
                  cues[i + 1].start() if i + 1 < len(cues) else len(text))
        segment = text[cue.end() : end]
        pol = cue.group("pol").lower()
        before = _WORD.findall(prefix.lower())
        adverb = before[-1] if before else ""
        doubt = next((f"'{w}' before '{cue.group(0)}'" for w in before if w in _DOUBT), None)
        if "?" in prefix or "?" in segment:
            doubt = "a question mark"
        if re.search(r"\b(?:or|nor)\b", segment, re.IGNORECASE):
            doubt = f"'or' in the list after '{cue.group(0)}'"
        base = "negative" if pol == "negative" else "dim" if adverb in _DIM_WORDS else "positive"
        if pol == "negative" and adverb in _DIM_WORDS | _BRIGHT_WORDS:
            doubt = f"'{adverb} {cue.group(0)}'"
        for item in _ITEM_SPLIT.split(segment):
            names = list(_MARKER_NAME.finditer(item))
            ours = [n for m in names if (n := _marker_name(m.group("n")))]
            if not ours:
                continue
            token = f"{cue.group(0)} {item.strip()}"
            if doubt or len(names) > 1:
                for name in ours:
                    unclear.setdefault(name, doubt or f"several markers in '{item.strip()}'")
                continue
            rest = _MARKER_NAME.sub(" ", _PERCENT_IN_ITEM.sub(" ", item.lower()))
            call: str | None = base
            for w in _WORD.findall(rest):
                if w in _FILLER or (w in _BRIGHT_WORDS and pol == "positive"):
                    continue
                if w in _DIM_WORDS and pol == "positive":
                    call = "dim"
                    continue
                unclear.setdefault(ours[0], f"'{item.strip()}' says more than {pol}")
                call = None
                break
            if call is not None:
                found.append((ours[0], call, None, token))
    return found, unclear


def read_immunophenotype(text: str) -> tuple[NarrativeRead, dict[str, str]]:
    """A narrative immunophenotype → (markers read: call, percent, token; markers unclear: why).

    Only markers named *with* an expression are read; one named without any ("CD19 and CD22
    were tested", "blasts express CD19") or with conflicting ones ("CD19+ ... CD19-") is
    unclear. Nothing here is ever negative unless the text says so for that marker.
    """
    tokens = _token_entries(text)
    clauses, unclear = _clause_entries(text)
    calls: dict[str, set[str]] = {}
    percents: dict[str, set[float]] = {}
    shown: dict[str, list[str]] = {}
    for name, call, percent, token in (*tokens, *clauses):
        if call is not None:
            calls.setdefault(name, set()).add(call)
        if percent is not None:
            percents.setdefault(name, set()).add(percent)
        if token not in shown.setdefault(name, []):
            shown[name].append(token)
    read: NarrativeRead = {}
    for name in shown:
        if name in unclear:
            continue
        c, pc = calls.get(name, set()), percents.get(name, set())
        if len(c) > 1 or len(pc) > 1:
            unclear[name] = "contradictory results (" + "; ".join(shown[name]) + ")"
            continue
        read[name] = (next(iter(c), None), next(iter(pc), None), "; ".join(shown[name]))
    for m in _MARKER_NAME.finditer(text):
        named = _marker_name(m.group("n"))
        if named is not None and named not in read:
            unclear.setdefault(named, "named without an expression the service reads")
    return read, unclear


def parse_immunophenotype(text: str) -> NarrativeRead:
    """Markers named in a narrative immunophenotype → (call, percent, token).

    Only markers that are named *with* an expression are returned; an unlisted marker, or a
    marker named without a sign, word or percentage, is unknown — never negative.
    """
    return read_immunophenotype(text)[0]


def read_narrative(
    col: Collector,
    node: Mapping[str, Any],
    ref: str,
    prov: Callable[[str], Provenance],
    unreadable: Callable[..., None],
    vkey: str | None,
) -> None:
    """A narrative immunophenotype Observation: each marker it reads plainly is a text-match
    candidate; each it names unclearly is a finding (on a leukemia chart: LOINC 101119-6 is
    lymphoma immunophenotyping too). Unclear mentions do not supersede structured results."""
    value = node.get(vkey) if vkey else None
    if vkey != "valueString" or not isinstance(value, str):
        unreadable(f"expected a narrative valueString, got {vkey}")
        return
    read, unclear = read_immunophenotype(value)
    for marker, (call, percent, token) in read.items():
        source = prov(token)
        col.markers[marker].append(
            MarkerCand(
                source=source.model_copy(update={"recognised_by": "text-match"}),
                percent=percent,
                call=call,
                unit="%" if percent is not None else None,
            )
        )
    quoted = value if len(value) <= 120 else value[:117] + "..."
    for marker in MARKERS:  # contract order, so that findings read the same every time
        if marker in unclear:
            col.gated_finding(
                "unreadable-value",
                ref,
                f"Narrative immunophenotype: {marker.upper()} not read ({unclear[marker]}); "
                f"unknown, never read as negative. Text: {quoted!r}",
                marker,
            )
    if not read and not unclear:
        col.gated_finding(
            "unreadable-value",
            ref,
            "Narrative immunophenotype names none of "
            + ", ".join(m.upper() for m in MARKERS)
            + f" with a result; nothing read. Text: {quoted!r}",
            "immunophenotype",
        )
