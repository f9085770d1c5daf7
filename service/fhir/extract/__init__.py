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

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from service.facts import (
    MARKERS,
    DraftOrder,
    Fact,
    Marker,
    MarkerFact,
    PatientFacts,
    Provenance,
)
from service.fhir.extract.collector import ALL_SIMPLE_FIELDS, Collector
from service.fhir.extract.conditions import read_condition
from service.fhir.extract.dates import aware, time_key
from service.fhir.extract.evidence import (
    dedup_events,
    mrd_facts,
    resolve,
    resolve_marker,
    typed_fact,
)
from service.fhir.extract.markers import parse_immunophenotype as parse_immunophenotype
from service.fhir.extract.medications import DrugHit, read_medication_use, resolve_medication
from service.fhir.extract.observations import (
    KINDS_OBSERVATION,
    names_in_components,
    read_observation,
)
from service.fhir.extract.observations import (
    USABLE_OBSERVATION_STATUS as USABLE_OBSERVATION_STATUS,
)
from service.fhir.extract.patient import age_facts
from service.fhir.extract.procedures import KINDS_PROCEDURE, read_procedure
from service.fhir.extract.raw import cc_raw, cc_text, codings, iter_resources, resource_ref
from service.fhir.extract.validation import validation_error as validation_error
from service.fhir.terminology import Terminology, load_terminology

DEFAULT_POSITIVE_PERCENT = 20.0
"""Used only to infer B lineage from a bare CD19/CD22 percentage when the diagnosis is "ALL".

It mirrors the shipped default of the site-configurable marker threshold (clinical-rules.md,
"Numeric marker values": site policy, not evidence); callers pass the site's value.
"""

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
                read_condition(col, res, resource_ref(res, index))
            elif rtype == "Procedure":
                read_procedure(col, res, resource_ref(res, index))
            elif rtype == "Patient":
                col.patients.append((res, resource_ref(res, index)))
            else:
                read_medication_use(col, res, resource_ref(res, index))
        except Exception as exc:  # a reader bug must not lose the patient
            col.finding(
                "invalid-resource",
                resource_ref(res, index),
                f"could not be read ({type(exc).__name__}: {str(exc)[:200]})",
            )

    return _assemble(col)


# --- assembly ------------------------------------------------------------------------------


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
    birth, age, pid = age_facts(col)
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
                DrugHit(m.concept, m.recognised_by, cc_raw(code))
                for m in term.match_codings(codings(code), KINDS_PROCEDURE)
            ]
            if not hits:
                hits = [
                    DrugHit(c, "text-match", display)
                    for c in term.find_in_text(display, "procedure")
                    + term.find_in_text(display, "drug")
                ]
            extra = " ".join(cc_text(d) for d in res.get("orderDetail") or [])
            hits += [DrugHit(d, "text-match", extra) for d in term.find_in_text(extra, "drug")]
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
