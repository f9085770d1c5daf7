"""FHIR R4 resources (plain JSON) → PatientFacts, every fact with its provenance.

Cheap first: each resource is classified on its raw JSON (resource type, then code lookups in
dictionaries built from fhir_profiles/). Only resources the contract recognises are validated
with ``fhir.resources.R4B`` and read; everything else costs a dictionary lookup.

Rules of evidence (input-contract.md):
- only ``final`` / ``amended`` / ``corrected`` observations count; other statuses are reported;
- the latest effective time wins (dated beats undated); two different values at that time are a
  conflict, reported, and the fact is left unset rather than guessed;
- ``entered-in-error`` resources are ignored, counted and reported;
- a recognised resource that cannot be read yields a finding naming the resource and the reason.

Nothing here raises on bad data: the EHR's data are never a reason for a 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, cast

from service.facts import (
    MARKERS,
    CarTEvent,
    DraftOrder,
    DrugClass,
    DrugId,
    Exposure,
    Fact,
    FindingCode,
    Marker,
    MarkerFact,
    PatientFacts,
    ProcedureEvent,
    Provenance,
    RecognisedBy,
)
from service.fhir.extract.collector import (
    ALL_SIMPLE_FIELDS,
    COMORBIDITY_FIELDS,
    SIMPLE_FIELDS,
    Cand,
    Collector,
    MarkerCand,
    MrdCand,
)
from service.fhir.extract.dates import (
    PARTIAL_DATE,
    aware,
    parse_fhir_datetime,
    period_start,
    period_time,
    time_key,
)
from service.fhir.extract.evidence import (
    dedup_events,
    mrd_facts,
    resolve,
    resolve_marker,
    typed_fact,
)
from service.fhir.extract.raw import (
    cc_raw,
    cc_text,
    codings,
    iter_resources,
    raw_value,
    reference_id,
    resource_ref,
)
from service.fhir.extract.validation import validation_error as validation_error
from service.fhir.terminology import ICD10CM, Match, Terminology, load_terminology
from service.fhir.values import (
    ParsedMrd,
    Unreadable,
    parse_count_per_ul,
    parse_integer,
    parse_mrd_quantity,
    parse_mrd_text,
    parse_percent_quantity,
    parse_percent_text,
)

DEFAULT_POSITIVE_PERCENT = 20.0
"""Used only to infer B lineage from a bare CD19/CD22 percentage when the diagnosis is "ALL".

It mirrors the shipped default of the site-configurable marker threshold (clinical-rules.md,
"Numeric marker values": site policy, not evidence); callers pass the site's value.
"""

USABLE_OBSERVATION_STATUS = frozenset({"final", "amended", "corrected"})
_EXPOSURE_STATUS = {
    "MedicationRequest": frozenset({"active", "completed", "on-hold", "stopped"}),
    "MedicationAdministration": frozenset({"completed", "in-progress", "on-hold", "stopped"}),
    "MedicationStatement": frozenset({"active", "completed", "on-hold", "stopped"}),
}
_CAR_T_GIVEN_STATUS = {
    "MedicationRequest": frozenset({"completed"}),
    "MedicationAdministration": frozenset({"completed", "in-progress"}),
    "MedicationStatement": frozenset({"active", "completed"}),
}
_PROCEDURE_DONE = frozenset({"completed", "in-progress"})
_HANDLED = frozenset(
    {
        "Patient",
        "Condition",
        "Observation",
        "Procedure",
        "MedicationRequest",
        "MedicationAdministration",
        "MedicationStatement",
    }
)
_CURRENT_CONDITION = frozenset({"active", "recurrence", "relapse"})
_NOT_CURRENT_CONDITION = frozenset({"inactive", "remission", "resolved"})
_CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
_ICD_HINT = {"0": "not-in-remission", "1": "in-remission", "2": "in-relapse"}
_INTERPRETATION_CALL = {
    "positive": "positive",
    "dim": "dim",
    "negative": "negative",
    "detected": "positive",
    "not-detected": "negative",
}  # answer concepts (v3 POS / NEG / DET / ND map onto them in the ValueSets) → marker call
_KINDS_OBSERVATION = frozenset({"observation"})
_KINDS_CONDITION = frozenset({"condition", "procedure"})  # procedure: history-of-HCT Condition
_KINDS_PROCEDURE = frozenset({"procedure", "drug"})
_KINDS_DRUG = frozenset({"drug"})
_T_ALL_MORPHOLOGY = re.compile(r"(?<!\d)9837/3(?!\d)")


def _observation_time(obs: Mapping[str, Any]) -> datetime | None:
    return (
        parse_fhir_datetime(obs.get("effectiveDateTime"))
        or parse_fhir_datetime(obs.get("effectiveInstant"))
        or period_time(obs.get("effectivePeriod"))
        or parse_fhir_datetime(obs.get("issued"))
    )


# --- the extractor --------------------------------------------------------------------------


def extract_facts(
    resources: Iterable[Any],
    *,
    now: datetime,
    terminology: Terminology | None = None,
    patient_id: str | None = None,
    positive_percent_threshold: float = DEFAULT_POSITIVE_PERCENT,
) -> PatientFacts:
    """Build PatientFacts from FHIR R4 JSON resources (and/or Bundles). Never raises on data.

    ``patient_id`` (the hook's context.patientId) makes resources about another patient a
    finding instead of a fact. ``positive_percent_threshold`` is the site's marker threshold,
    used only to infer B lineage from a bare CD19/CD22 percentage.
    """
    term = terminology or load_terminology()
    col = Collector(
        term=term, now=aware(now), patient_id=patient_id, threshold=positive_percent_threshold
    )

    # One pass over the (flattened) input finds each item's resource type and indexes the
    # Medications, which must all be known first: references may point forwards.
    typed: list[tuple[Any, Any]] = []
    for res, full_url in iter_resources(resources):
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        typed.append((res, rtype))
        if rtype == "Medication":
            if isinstance(res.get("id"), str):
                col.medications[f"Medication/{res['id']}"] = res
            if full_url:
                col.medications[full_url] = res

    names = term.names_kind
    for index, (res, rtype) in enumerate(typed):
        if not isinstance(rtype, str):
            col.finding(
                "invalid-resource",
                f"(item {index})",
                "not a FHIR resource (no resourceType); ignored",
            )
            continue
        if rtype not in _HANDLED:
            continue
        # Most resources are Observations the contract does not cover (vitals, routine labs):
        # they are skipped on their raw codes, before even their reference string is built.
        try:
            if rtype == "Observation":
                if names(res.get("code"), _KINDS_OBSERVATION) or (
                    (components := res.get("component"))
                    and _names_in_components(names, components)
                ):
                    _observation(col, res, resource_ref(res, index))
            elif rtype == "Condition":
                _condition(col, res, resource_ref(res, index))
            elif rtype == "Procedure":
                _procedure(col, res, resource_ref(res, index))
            elif rtype == "Patient":
                col.patients.append((res, resource_ref(res, index)))
            else:
                _medication_use(col, res, resource_ref(res, index))
        except Exception as exc:  # a reader bug must not lose the patient
            col.finding(
                "invalid-resource",
                resource_ref(res, index),
                f"could not be read ({type(exc).__name__}: {str(exc)[:200]})",
            )

    return _assemble(col)


# --- Observation ----------------------------------------------------------------------------


def _names_in_components(names: Callable[[Any, frozenset[str]], bool], components: Any) -> bool:
    """Whether ``_observation`` would find a contract concept in a component's code.

    With the check of the Observation's own code, this decides whether ``_observation`` has
    anything to do, on the raw JSON and through the same lookups in the same order, so that
    junk in the codes raises here exactly as it would there.
    """
    for comp in components:
        if isinstance(comp, dict) and names(comp.get("code"), _KINDS_OBSERVATION):
            return True
    return False


def _observation(col: Collector, obs: Mapping[str, Any], ref: str) -> None:
    matches = col.term.match_codings(codings(obs.get("code")), _KINDS_OBSERVATION)
    components = []
    for comp in obs.get("component") or []:
        if isinstance(comp, dict):
            cm = col.term.match_codings(codings(comp.get("code")), _KINDS_OBSERVATION)
            if cm:
                components.append((comp, cm))
    if not matches and not components:
        return  # not a contract concept: ignored cheaply
    concept = (matches or components[0][1])[0].concept
    status = obs.get("status")
    if not col.admit(obs, ref, concept, status):
        return
    if status not in USABLE_OBSERVATION_STATUS:
        col.finding(
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
            _read_value(col, obs, matches[0], ref, when, obs)
    for comp, cm in components:
        if len({m.concept for m in cm}) == 1:
            _read_value(col, comp, cm[0], ref, when, obs)


def _value_key(node: Mapping[str, Any]) -> str | None:
    for key in node:
        if key.startswith("value") and key[5:6].isupper():
            return key
    return None


def _read_value(
    col: Collector,
    node: Mapping[str, Any],
    match: Match,
    ref: str,
    when: datetime | None,
    obs: Mapping[str, Any],
) -> None:
    concept = col.term.concept(match.concept)
    vkey = _value_key(node)

    def prov(raw: str) -> Provenance:
        return Provenance(
            resource=ref, raw=raw[:200], recognised_by=match.recognised_by, effective=when
        )

    def unreadable(reason: str, code: FindingCode = "unreadable-value") -> None:
        col.finding(code, ref, f"{concept.display}: {reason}", concept.code)
        col.tombstones[SIMPLE_FIELDS.get(concept.code, concept.code)].append((when, ref))

    vt = concept.value_type
    if vt == "marker":
        _read_marker(col, node, concept.code, ref, prov, unreadable, vkey)
        return
    if vt == "narrative":
        _read_narrative(col, node, ref, prov, unreadable, vkey)
        return
    if vt == "mrd":
        _read_mrd(col, node, obs, concept.code, prov, unreadable, vkey)
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
        answer = _answer(col, value, vkey, concept.answers)
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


def _answer(col: Collector, value: Any, vkey: str, allowed: frozenset[str]) -> str | Unreadable:
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


def _interpretation_call(col: Collector, node: Mapping[str, Any]) -> str | None:
    """The explicit call in Observation.interpretation, if it names exactly one."""
    calls: set[str] = set()
    for cc in node.get("interpretation") or []:
        for m in col.term.match_codings(codings(cc)):
            call = _INTERPRETATION_CALL.get(m.concept)
            if call:
                calls.add(call)
    return calls.pop() if len(calls) == 1 else None


def _read_marker(
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
        answer = _answer(col, value, vkey, col.term.concept(marker).answers)
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
        answer = _answer(col, value, vkey, col.term.concept(marker).answers)
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


def _read_narrative(
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


def _read_mrd(
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
        answer = _answer(col, value, vkey, col.term.concept(concept).answers)
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


# --- Condition ----------------------------------------------------------------------------


def _condition_time(cond: Mapping[str, Any]) -> datetime | None:
    return (
        parse_fhir_datetime(cond.get("recordedDate"))
        or parse_fhir_datetime(cond.get("onsetDateTime"))
        or period_start(cond.get("onsetPeriod"))
    )


def _status_code(cc: Any) -> str | None:
    for c in codings(cc):
        if isinstance(c.get("code"), str):
            return c["code"]
    return None


def _t_all_morphology(cond: Mapping[str, Any]) -> RecognisedBy | None:
    """ICD-O-3 9837/3 coded in an extension (mCODE histology) or written in the code's text."""
    for ext in cond.get("extension") or []:
        if isinstance(ext, dict):
            for c in codings(ext.get("valueCodeableConcept")):
                if c.get("code") == "9837/3":
                    return "standard-code"
    if _T_ALL_MORPHOLOGY.search(cc_text(cond.get("code"))):
        return "text-match"
    return None


def _condition(col: Collector, cond: Mapping[str, Any], ref: str) -> None:
    code = cond.get("code")
    matches = col.term.match_codings(codings(code), _KINDS_CONDITION)
    recognised_by: RecognisedBy | None = None
    morphology = None if matches else _t_all_morphology(cond)
    if morphology is not None:
        matches = [Match("t-all", morphology)]
    if not matches:
        return
    concepts = {m.concept for m in matches}
    primary = matches[0].concept
    verification = _status_code(cond.get("verificationStatus"))
    if not col.admit(cond, ref, primary, verification):
        return
    when = _condition_time(cond)
    clinical = _status_code(cond.get("clinicalStatus"))
    recognised_by = matches[0].recognised_by
    raw = cc_raw(code)

    def prov(r: str = raw) -> Provenance:
        return Provenance(
            resource=ref, raw=r, recognised_by=recognised_by or "local-code", effective=when
        )

    if verification == "refuted":
        for c in concepts:
            if c in COMORBIDITY_FIELDS:
                col.simple[COMORBIDITY_FIELDS[c]].append(Cand(False, prov()))
        col.finding(
            "ignored-status", ref, "verificationStatus refuted; not used as a diagnosis", primary
        )
        return

    lineages = {col.term.concept(c).lineage for c in concepts} - {None}
    if len(lineages) > 1:
        col.finding(
            "unreadable-value",
            ref,
            "codes name different diagnoses: " + ", ".join(sorted(str(x) for x in lineages)),
            primary,
        )
    elif lineages:
        col.lineage.append(Cand(lineages.pop(), prov()))
        for coding in codings(code):
            if str(coding.get("system", "")).rstrip("/") == ICD10CM or coding.get("system") in (
                "urn:oid:2.16.840.1.113883.6.90",
            ):
                digits = str(coding.get("code", "")).replace(".", "").upper()
                if re.fullmatch(r"C9[12]0[012]", digits):
                    col.icd_hint.append(
                        Cand(_ICD_HINT[digits[-1]], prov(f"{coding.get('code')}")))
        if clinical in _CONDITION_CLINICAL:
            col.clinical_status.append(Cand(clinical, prov(f"clinicalStatus {clinical}")))

    if "allo-hct" in concepts:
        onset = parse_fhir_datetime(cond.get("onsetDateTime")) or period_start(
            cond.get("onsetPeriod")
        )
        if onset is None:
            col.finding(
                "missing-date",
                ref,
                "history of allogeneic HCT without onset date; timing rules cannot use it",
                "allo-hct",
            )
        col.allo.append(ProcedureEvent(date=onset, source=prov()))

    for c in concepts & COMORBIDITY_FIELDS.keys():
        if clinical in _NOT_CURRENT_CONDITION:
            present = False
        elif clinical is None or clinical in _CURRENT_CONDITION:
            present = True
        else:
            col.finding("unreadable-value", ref, f"clinicalStatus {clinical!r} not understood", c)
            continue
        col.simple[COMORBIDITY_FIELDS[c]].append(
            Cand(present, prov(f"{raw} ({clinical or 'no clinicalStatus'})"))
        )


# --- Procedure ----------------------------------------------------------------------------


def _procedure(col: Collector, proc: Mapping[str, Any], ref: str) -> None:
    code = proc.get("code")
    matches = col.term.match_codings(codings(code), _KINDS_PROCEDURE)
    text_hit = False
    if not matches:
        text = cc_text(code)
        found = col.term.find_in_text(text, "procedure")
        if not found:
            found = [
                d
                for d in col.term.find_in_text(text, "drug")
                if col.term.concept(d).drug_class == "car-t"
            ]
        matches = [Match(c, "text-match") for c in found]
        text_hit = bool(matches)
    concepts = {m.concept for m in matches}
    is_allo = "allo-hct" in concepts
    car_products = {c for c in concepts if col.term.concept(c).drug_class == "car-t"}
    is_car_t = "car-t-infusion" in concepts or bool(car_products)
    if not (is_allo or is_car_t):
        return
    primary = "allo-hct" if is_allo else "car-t-infusion"
    status = proc.get("status")
    if not col.admit(proc, ref, primary, status):
        return
    if status not in _PROCEDURE_DONE:
        col.finding(
            "ignored-status", ref, f"procedure status {status!r}; not counted as done", primary
        )
        return
    when = parse_fhir_datetime(proc.get("performedDateTime")) or period_start(
        proc.get("performedPeriod")
    )
    if when is None:
        col.finding(
            "missing-date",
            ref,
            f"{col.term.concept(primary).display} without "
            "performedDateTime / performedPeriod; timing rules cannot use it",
            primary,
        )
    recognised_by: RecognisedBy = "text-match" if text_hit else matches[0].recognised_by
    source = Provenance(
        resource=ref, raw=cc_raw(code), recognised_by=recognised_by, effective=when
    )
    if is_allo and is_car_t:
        col.finding(
            "unreadable-value", ref, "coded both as allogeneic HCT and CAR-T; not used", primary
        )
        return
    if is_allo:
        col.allo.append(ProcedureEvent(date=when, source=source))
        return
    # CAR-T: the product may be in usedCode, usedReference display, or the code's text
    for used in proc.get("usedCode") or []:
        for m in col.term.match_codings(codings(used), _KINDS_DRUG):
            car_products.add(m.concept)
        car_products.update(col.term.find_in_text(cc_text(used), "drug"))
    for used in proc.get("usedReference") or []:
        if isinstance(used, dict) and isinstance(used.get("display"), str):
            car_products.update(col.term.find_in_text(used["display"], "drug"))
    car_products.update(col.term.find_in_text(cc_text(code), "drug"))
    car_products = {p for p in car_products if col.term.concept(p).drug_class == "car-t"}
    product = next(iter(car_products)) if len(car_products) == 1 else None
    if len(car_products) > 1:
        col.finding(
            "conflict",
            ref,
            "names more than one CAR-T product: " + ", ".join(sorted(car_products)),
            "car-t-infusion",
        )
    col.car_t.append(CarTEvent(product=product, date=when, source=source))  # type: ignore[arg-type]


# --- medications --------------------------------------------------------------------------


@dataclass(slots=True)
class _DrugHit:
    drug: str
    recognised_by: RecognisedBy
    raw: str


def _drugs_in_cc(term: Terminology, cc: Any) -> list[_DrugHit]:
    hits = [
        _DrugHit(m.concept, m.recognised_by, cc_raw(cc))
        for m in term.match_codings(codings(cc), _KINDS_DRUG)
    ]
    if hits:
        return hits
    text = cc_text(cc)
    return [_DrugHit(d, "text-match", text) for d in term.find_in_text(text, "drug")]


def resolve_medication(
    term: Terminology, res: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> tuple[list[_DrugHit], str | None]:
    """Drugs named by medicationCodeableConcept or medicationReference; second item: problem."""
    if "medicationCodeableConcept" in res:
        return _drugs_in_cc(term, res["medicationCodeableConcept"]), None
    ref = res.get("medicationReference")
    if not isinstance(ref, dict):
        return [], "no medication[x]"
    target = ref.get("reference")
    med: Mapping[str, Any] | None = None
    if isinstance(target, str):
        if target.startswith("#"):
            for c in res.get("contained") or []:
                if (
                    isinstance(c, dict)
                    and c.get("resourceType") == "Medication"
                    and c.get("id") == target[1:]
                ):
                    med = c
                    break
        else:
            mid = reference_id(target, "Medication")
            med = medications.get(target) or (medications.get(f"Medication/{mid}") if mid else None)
    hits = _drugs_in_cc(term, med.get("code")) if med is not None else []
    display = ref.get("display")
    if not hits and isinstance(display, str):
        hits = [_DrugHit(d, "text-match", display) for d in term.find_in_text(display, "drug")]
    if med is None and not hits:
        return [], f"medicationReference {target!r} does not resolve to a Medication in the request"
    return hits, None


def _medication_date(res: Mapping[str, Any]) -> datetime | None:
    rtype = res.get("resourceType")
    if rtype == "MedicationRequest":
        return parse_fhir_datetime(res.get("authoredOn"))
    return (
        parse_fhir_datetime(res.get("effectiveDateTime"))
        or period_start(res.get("effectivePeriod"))
        or parse_fhir_datetime(res.get("dateAsserted"))
    )


def _medication_use(col: Collector, res: Mapping[str, Any], ref: str) -> None:
    rtype = res["resourceType"]
    hits, problem = resolve_medication(col.term, res, col.medications)
    if problem and "medicationReference" in res:
        col.finding("unknown-reference", ref, f"{problem}; cannot tell which drug", None)
        return
    if not hits:
        return
    drugs = list(dict.fromkeys(h.drug for h in hits))
    status = res.get("status")
    if not col.admit(res, ref, drugs[0], status):
        return
    if status not in _EXPOSURE_STATUS[rtype]:
        col.finding(
            "ignored-status",
            ref,
            f"{rtype} status {status!r}; not counted as an exposure",
            drugs[0],
        )
        return
    when = _medication_date(res)
    for hit in {h.drug: h for h in hits}.values():
        concept = col.term.concept(hit.drug)
        source = Provenance(
            resource=ref, raw=hit.raw[:200], recognised_by=hit.recognised_by, effective=when
        )
        col.exposures.append(
            Exposure(
                # the terminology's drug ids and classes; the model checks them all the same
                drug=cast(DrugId, hit.drug),
                drug_class=cast(DrugClass, concept.drug_class or "other"),
                date=when,  # type: ignore[arg-type]
                status=status,
                resource_type=rtype,
                source=source,
            )
        )
        if concept.drug_class == "car-t" and status in _CAR_T_GIVEN_STATUS[rtype]:
            col.car_t.append(CarTEvent(product=hit.drug, date=when, source=source))  # type: ignore[arg-type]


# --- assembly ------------------------------------------------------------------------------


def _age(col: Collector) -> tuple[Fact[date] | None, Fact[int] | None, str | None]:
    patients = col.patients
    if col.patient_id is not None:
        matching = [p for p in patients if p[0].get("id") == col.patient_id]
        for p, ref in patients:
            if p.get("id") != col.patient_id:
                col.finding("wrong-patient", ref, f"not Patient/{col.patient_id}; not used")
        patients = matching
    if not patients:
        return None, None, col.patient_id
    births = {p.get("birthDate") for p, _ in patients}
    res, ref = patients[0]
    pid = col.patient_id or (res.get("id") if isinstance(res.get("id"), str) else None)
    if len(births) > 1:
        col.finding(
            "conflict",
            ref,
            "Patient resources disagree on birthDate: "
            + ", ".join(sorted(str(b) for b in births))
            + "; age unknown",
            "age",
        )
        return None, None, pid
    birth = res.get("birthDate")
    if birth is None:
        col.finding("missing-value", ref, "Patient has no birthDate; age unknown", "age")
        return None, None, pid
    m = PARTIAL_DATE.match(birth) if isinstance(birth, str) else None
    src = Provenance(resource=ref, raw=str(birth), recognised_by="standard-code")
    if not m:
        col.finding("unreadable-value", ref, f"birthDate {birth!r} is not a FHIR date", "age")
        return None, None, pid
    now = col.now.date()
    try:
        if m.group(3):
            born = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            age = now.year - born.year - ((now.month, now.day) < (born.month, born.day))
            if age < 0:
                col.finding(
                    "unreadable-value", ref, f"birthDate {birth} is after the request time", "age"
                )
                return None, None, pid
            return (
                typed_fact("birth_date", value=born, source=src),
                typed_fact("age_years", value=age, source=src),
                pid,
            )
        # partial date: the age is known only if both ends of the range agree
        year = int(m.group(1))
        first = date(year, int(m.group(2) or 1), 1)
        last_month = int(m.group(2) or 12)
        last = date(year + (last_month == 12), last_month % 12 + 1, 1) - timedelta(days=1)
    except ValueError:
        col.finding("unreadable-value", ref, f"birthDate {birth!r} is not a valid date", "age")
        return None, None, pid
    ages = {now.year - d.year - ((now.month, now.day) < (d.month, d.day)) for d in (first, last)}
    if len(ages) == 1 and min(ages) >= 0:
        return None, typed_fact("age_years", value=ages.pop(), source=src), pid
    col.finding(
        "unreadable-value",
        ref,
        f"birthDate {birth} is partial: age is {min(ages)} or {max(ages)}",
        "age",
    )
    return None, None, pid


def _lineage(col: Collector, markers: Mapping[Marker, MarkerFact]) -> Fact[Any] | None:
    specific = [c for c in col.lineage if c.value != "all-unspecified"]
    if specific:
        return resolve(col, "lineage", specific, "diagnosis")
    fact = resolve(col, "lineage", col.lineage, "diagnosis")
    if fact is None or fact.value != "all-unspecified":
        return fact
    for name in ("cd19", "cd22"):
        m = markers.get(name)
        if m is None:
            continue
        expressed = m.call in ("positive", "dim") or (
            m.call is None
            and m.percent is not None
            and m.comparator not in ("<", "<=")
            and m.percent >= col.threshold
        )
        if expressed:
            what = m.call or f"{m.percent:g}% (site threshold {col.threshold:g}%)"
            return typed_fact(
                "lineage",
                value="b-all",
                source=Provenance(
                    resource=m.source.resource,
                    raw=f"ALL, lineage not stated; {name.upper()} {what}",
                    recognised_by="inferred",
                    effective=m.source.effective,
                ),
                supporting=(fact.source,),
            )
    return fact


def _assemble(col: Collector) -> PatientFacts:
    birth, age, pid = _age(col)
    markers: dict[Marker, MarkerFact] = {}
    for name in MARKERS:
        if col.markers.get(name):
            mf = resolve_marker(col, name, col.markers[name])
            if mf is not None:
                markers[name] = mf
    simple: dict[str, Fact[Any] | None] = {}
    for concept, field_name in ALL_SIMPLE_FIELDS:  # most have no candidate: no call for those
        cands = col.simple.get(field_name)
        simple[field_name] = resolve(col, field_name, cands, concept) if cands else None
    mrd, mrd_history = mrd_facts(col)
    exposures = sorted(
        col.exposures, key=lambda e: (e.date is None, time_key(e.date), e.source.resource)
    )
    return PatientFacts(
        patient_id=pid,
        as_of=col.now,
        birth_date=birth,
        age_years=age,
        lineage=_lineage(col, markers),
        icd10_remission_hint=resolve(col, "icd10_remission_hint", col.icd_hint, "diagnosis"),
        condition_clinical_status=resolve(
            col, "condition_clinical_status", col.clinical_status, "diagnosis"
        ),
        markers=markers,
        mrd=mrd,
        mrd_history=mrd_history,
        allo_hct=tuple(dedup_events(col.allo)),
        car_t=tuple(dedup_events(col.car_t)),
        exposures=tuple(exposures),
        findings=tuple(col.findings),
        entered_in_error_count=col.entered_in_error,
        **simple,
    )


# --- draft orders ---------------------------------------------------------------------------


def extract_draft_orders(
    draft_orders: Any,
    *,
    selections: Iterable[str] | None = None,
    terminology: Terminology | None = None,
) -> list[DraftOrder]:
    """DraftOrders from ``context.draftOrders`` (a Bundle, possibly without ``type``).

    With ``selections`` ("MedicationRequest/id", as order-select sends them) only the selected
    orders are returned. Orders the contract does not recognise are returned with ``drug`` None
    so that a card can still say which order it could not judge. An order naming two contract
    drugs yields one DraftOrder per drug.
    """
    term = terminology or load_terminology()
    if isinstance(draft_orders, dict):
        draft_orders = [draft_orders]
    elif not isinstance(draft_orders, list):
        return []
    items = list(iter_resources(draft_orders))
    medications: dict[str, Mapping[str, Any]] = {}
    for res, full_url in items:
        if isinstance(res, dict) and res.get("resourceType") == "Medication":
            if isinstance(res.get("id"), str):
                medications[f"Medication/{res['id']}"] = res
            if full_url:
                medications[full_url] = res
    wanted = (
        {s.strip() for s in selections if isinstance(s, str)} if selections is not None else None
    )
    orders: list[DraftOrder] = []
    for index, (res, _full_url) in enumerate(items):
        if not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if rtype not in ("MedicationRequest", "ServiceRequest"):
            continue
        ref = resource_ref(res, index)
        if wanted is not None and ref not in wanted:
            continue
        status = res.get("status") if isinstance(res.get("status"), str) else None
        if rtype == "MedicationRequest":
            hits, _problem = resolve_medication(term, res, medications)
            display = cc_text(res.get("medicationCodeableConcept")) or str(
                (res.get("medicationReference") or {}).get("display") or ""
            )
        else:
            code = res.get("code")
            display = cc_text(code)
            hits = [
                _DrugHit(m.concept, m.recognised_by, cc_raw(code))
                for m in term.match_codings(codings(code), _KINDS_PROCEDURE)
            ]
            if not hits:
                hits = [
                    _DrugHit(c, "text-match", display)
                    for c in term.find_in_text(display, "procedure")
                    + term.find_in_text(display, "drug")
                ]
            extra = " ".join(cc_text(d) for d in res.get("orderDetail") or [])
            hits += [_DrugHit(d, "text-match", extra) for d in term.find_in_text(extra, "drug")]
        drugs = {h.drug: h for h in hits if term.concept(h.drug).kind == "drug"}
        car_t_procedure = next((h for h in hits if h.drug == "car-t-infusion"), None)
        if drugs:
            for hit in drugs.values():
                orders.append(
                    DraftOrder(
                        drug=hit.drug,  # type: ignore[arg-type]
                        drug_class=term.concept(hit.drug).drug_class,  # type: ignore[arg-type]
                        resource=ref,
                        display=display or hit.raw,
                        recognised_by=hit.recognised_by,
                        status=status,
                    )
                )
        else:
            orders.append(
                DraftOrder(
                    drug=None,
                    drug_class="car-t" if car_t_procedure else None,
                    resource=ref,
                    display=display,
                    recognised_by=car_t_procedure.recognised_by if car_t_procedure else None,
                    status=status,
                )
            )
    return orders
