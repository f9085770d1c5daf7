"""Observation → candidates: the concept it names, whether its status counts, and its value.

Most Observations in a chart are ones the contract does not cover (vitals, routine labs); this
reader is reached only for those that name a contract concept, in their code or a component's.
It sends each value to the reader of its concept's value type: markers, narratives and MRD have
their own modules, and so have the genetic results read by their structure (variant, karyotype,
transcript level: ``genetics``); the simple value types (answer, boolean, integer, percent,
count) are read here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from service.facts import FindingCode, Provenance
from service.fhir.extract.answers import read_answer
from service.fhir.extract.collector import SIMPLE_FIELDS, Cand, Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_time
from service.fhir.extract.genetics import (
    read_karyotype,
    read_transcript_level,
    read_variant,
    variant_concepts,
)
from service.fhir.extract.markers import read_marker, read_narrative
from service.fhir.extract.mrd import read_mrd
from service.fhir.extract.raw import cc_text, codings, raw_value, value_key
from service.fhir.terminology import PERCENT_OF_CELLS, Match
from service.fhir.values import (
    Unreadable,
    parse_count_per_ul,
    parse_integer,
    parse_percent_quantity,
    parse_percent_text,
)

USABLE_OBSERVATION_STATUS = frozenset({"final", "amended", "corrected"})
KINDS_OBSERVATION = frozenset({"observation"})


def _observation_time(obs: Mapping[str, Any]) -> datetime | None:
    return (
        parse_fhir_datetime(obs.get("effectiveDateTime"))
        or parse_fhir_datetime(obs.get("effectiveInstant"))
        or period_time(obs.get("effectivePeriod"))
        or parse_fhir_datetime(obs.get("issued"))
    )


def names_in_components(names: Callable[[Any, frozenset[str]], bool], components: Any) -> bool:
    """Whether ``read_observation`` would find a contract concept in a component's code.

    With the check of the Observation's own code, this decides whether ``read_observation`` has
    anything to do, on the raw JSON and through the same lookups in the same order, so that
    junk in the codes raises here exactly as it would there.
    """
    for comp in components:
        if isinstance(comp, dict) and names(comp.get("code"), KINDS_OBSERVATION):
            return True
    return False


def read_observation(col: Collector, obs: Mapping[str, Any], ref: str) -> None:
    matches = col.term.match_codings(codings(obs.get("code")), KINDS_OBSERVATION)
    components = []
    for comp in obs.get("component") or []:
        if isinstance(comp, dict):
            cm = col.term.match_codings(codings(comp.get("code")), KINDS_OBSERVATION)
            if cm:
                components.append((comp, cm))
    if not matches and not components:
        return  # not a contract concept: ignored cheaply
    concept = (matches or components[0][1])[0].concept
    if col.term.concept(concept).value_type == "variant":
        # a generic code (69548-6): the components say what the result is about, if anything
        about = variant_concepts(col.term, obs)
        if not about and not components:
            return  # a variant about nothing the contract reads (ETV6::RUNX1): not in scope
        concept = about[0] if about else components[0][1][0].concept
    status = obs.get("status")
    if not col.admit(obs, ref, concept, status):
        return
    if status not in USABLE_OBSERVATION_STATUS:
        # a "% of cells" panel only (routine lymphocyte subsets on most charts): reported on a
        # leukemia chart only, like everything else about those codes
        routine = all(m.basis for m in matches) and all(m.basis for _, cm in components for m in cm)
        (col.gated_finding if routine else col.finding)(
            "ignored-status",
            ref,
            f"status {status!r} is not final / amended / corrected; not used",
            concept,
        )
        return
    when = _observation_time(obs)
    if matches:
        if len({m.concept for m in matches}) > 1:
            col.finding(
                "unreadable-value",
                ref,
                "code names more than one concept: " + ", ".join(m.concept for m in matches),
                concept,
            )
        else:
            _read_value(col, obs, _with_basis(matches), ref, when, obs)
    for comp, cm in components:
        if len({m.concept for m in cm}) == 1:
            _read_value(col, comp, _with_basis(cm), ref, when, obs)


def _with_basis(matches: list[Match]) -> Match:
    """The match to read by: one whose code measures something else (a % of all cells) wins,
    so that a second coding (a local code, a site mapping) cannot lift it to the concept."""
    return next((m for m in matches if m.basis is not None), matches[0])


def _read_value(
    col: Collector,
    node: Mapping[str, Any],
    match: Match,
    ref: str,
    when: datetime | None,
    obs: Mapping[str, Any],
) -> None:
    concept = col.term.concept(match.concept)
    vkey = value_key(node)

    def prov(raw: str) -> Provenance:
        return Provenance(
            resource=ref, raw=raw[:200], recognised_by=match.recognised_by, effective=when
        )

    def unreadable(reason: str, code: FindingCode = "unreadable-value") -> None:
        col.finding(code, ref, f"{concept.display}: {reason}", concept.code)
        col.tombstones[SIMPLE_FIELDS.get(concept.code, concept.code)].append((when, ref))

    vt = concept.value_type
    of_cells = match.basis == PERCENT_OF_CELLS
    if vt == "marker":
        read_marker(col, node, concept.code, ref, prov, unreadable, vkey, of_cells=of_cells)
        return
    if of_cells and vt == "count":
        # CD3 % of lymphocytes is not the CD3 count, whatever its unit says (hospital maps
        # have swapped the two labels): never a number here; reported in assemble
        raw = raw_value(node[vkey], vkey) if vkey else "no value"
        col.percent_not_count.append((concept.code, ref, raw))
        return
    if vt == "narrative":
        read_narrative(col, node, ref, prov, unreadable, vkey)
        return
    if vt == "mrd":
        read_mrd(col, node, obs, concept.code, prov, unreadable, vkey)
        return
    if vt == "variant":  # genetics: read by structure, never by the generic code
        read_variant(col, node, ref, when, match.recognised_by)
        return
    if vt == "karyotype":
        read_karyotype(col, node, obs, ref, when, vkey)
        return
    if vt == "transcript-level":
        read_transcript_level(col, node, concept, ref, when, match.recognised_by, vkey)
        return
    if vkey is None:
        absent = cc_text(node.get("dataAbsentReason"))
        col.finding(
            "missing-value",
            ref,
            f"{concept.display}: no value" + (f" (dataAbsentReason: {absent})" if absent else ""),
            concept.code,
        )
        return
    value = node[vkey]
    fieldname = SIMPLE_FIELDS.get(concept.code)
    if fieldname is None:
        return
    if vt == "answer":
        answer = read_answer(col, value, vkey, concept.answers)
        if isinstance(answer, str):
            col.simple[fieldname].append(Cand(answer, prov(raw_value(value, vkey))))
        else:
            unreadable(answer.reason)
    elif vt == "boolean":
        if vkey == "valueBoolean" and isinstance(value, bool):
            col.simple[fieldname].append(Cand(value, prov(str(value).lower())))
        else:
            unreadable(f"expected valueBoolean, got {vkey}")
    elif vt == "integer":
        if vkey not in ("valueInteger", "valueQuantity"):
            unreadable(f"expected valueInteger, got {vkey}")
            return
        parsed = parse_integer(value, concept.min, concept.max)
        if isinstance(parsed, Unreadable):
            unreadable(f"{parsed.reason} ({parsed.raw})")
        else:
            col.simple[fieldname].append(Cand(parsed, prov(raw_value(value, vkey))))
    elif vt in ("percent", "count"):
        if vkey == "valueQuantity":
            parsed_n = (
                parse_percent_quantity(value) if vt == "percent" else parse_count_per_ul(value)
            )
        elif vkey == "valueString" and vt == "percent":
            parsed_n = parse_percent_text(value)
        else:
            unreadable(f"expected valueQuantity, got {vkey}")
            return
        if isinstance(parsed_n, Unreadable):
            unreadable(f"{parsed_n.reason} ({parsed_n.raw})")
        else:
            col.simple[fieldname].append(
                Cand(parsed_n.value, prov(parsed_n.raw), parsed_n.comparator)
            )
