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
from collections.abc import Iterable, Mapping
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
    Cand,
    Collector,
)
from service.fhir.extract.dates import (
    PARTIAL_DATE,
    aware,
    parse_fhir_datetime,
    period_start,
    time_key,
)
from service.fhir.extract.evidence import (
    dedup_events,
    mrd_facts,
    resolve,
    resolve_marker,
    typed_fact,
)
from service.fhir.extract.markers import parse_immunophenotype as parse_immunophenotype
from service.fhir.extract.observations import (
    KINDS_OBSERVATION,
    names_in_components,
    read_observation,
)
from service.fhir.extract.observations import (
    USABLE_OBSERVATION_STATUS as USABLE_OBSERVATION_STATUS,
)
from service.fhir.extract.raw import (
    cc_raw,
    cc_text,
    codings,
    iter_resources,
    reference_id,
    resource_ref,
)
from service.fhir.extract.validation import validation_error as validation_error
from service.fhir.terminology import ICD10CM, Match, Terminology, load_terminology

DEFAULT_POSITIVE_PERCENT = 20.0
"""Used only to infer B lineage from a bare CD19/CD22 percentage when the diagnosis is "ALL".

It mirrors the shipped default of the site-configurable marker threshold (clinical-rules.md,
"Numeric marker values": site policy, not evidence); callers pass the site's value.
"""

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
_KINDS_CONDITION = frozenset({"condition", "procedure"})  # procedure: history-of-HCT Condition
_KINDS_PROCEDURE = frozenset({"procedure", "drug"})
_KINDS_DRUG = frozenset({"drug"})
_T_ALL_MORPHOLOGY = re.compile(r"(?<!\d)9837/3(?!\d)")


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
                if names(res.get("code"), KINDS_OBSERVATION) or (
                    (components := res.get("component"))
                    and names_in_components(names, components)
                ):
                    read_observation(col, res, resource_ref(res, index))
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
