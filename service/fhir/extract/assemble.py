"""One pass over a request's resources, and the PatientFacts built from what it found.

This is the one place that knows the order of extraction: Medications are indexed before any
reader runs (references may point forwards), each resource goes to the reader of its type,
Patients are judged once all are known, and the rules of evidence pick the standing values only
after every reader has had its say. Lineage is settled after the markers: an "ALL" diagnosis
without a stated lineage is read as B-ALL from CD19 / CD22.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from service.facts import MARKERS, Fact, Marker, MarkerFact, PatientFacts, Provenance
from service.fhir.extract.collector import ALL_SIMPLE_FIELDS, SIMPLE_FIELDS, Collector
from service.fhir.extract.conditions import read_condition
from service.fhir.extract.dates import aware, time_key
from service.fhir.extract.evidence import (
    dedup_events,
    mrd_facts,
    resolve,
    resolve_marker,
    superseded,
    typed_fact,
)
from service.fhir.extract.medications import read_medication_use
from service.fhir.extract.observations import (
    KINDS_OBSERVATION,
    names_in_components,
    read_observation,
)
from service.fhir.extract.patient import age_facts
from service.fhir.extract.procedures import read_procedure
from service.fhir.extract.raw import iter_resources, resource_ref
from service.fhir.terminology import Terminology
from service.policy import Policy

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


def extract_facts(
    resources: Iterable[Any],
    *,
    now: datetime,
    terminology: Terminology,
    policy: Policy,
    patient_id: str | None = None,
) -> PatientFacts:
    """Build PatientFacts from FHIR R4 JSON resources (and/or Bundles). Never raises on data.

    ``patient_id`` (the hook's context.patientId) makes resources about another patient a
    finding instead of a fact. ``terminology`` and ``policy`` are the site's, built once at
    start-up: the policy's marker threshold is used only to infer B lineage from a bare
    CD19/CD22 percentage when the diagnosis is "ALL" (site policy, not evidence).
    """
    col = Collector(term=terminology, now=aware(now), patient_id=patient_id,
                    threshold=policy.marker_positive_percent)

    # One pass over the (flattened) input finds each item's resource type and indexes the
    # Medications, which must all be known first: references may point forwards.
    typed: list[tuple[Any, Any]] = []
    for res, full_url in iter_resources(resources):
        rtype = res.get("resourceType") if isinstance(res, dict) else None
        typed.append((res, rtype))
        if rtype == "Patient" and full_url and isinstance(res.get("id"), str):
            col.patient_urls[full_url] = res["id"]  # a urn:uuid subject can point here
        elif rtype == "Medication":
            if isinstance(res.get("id"), str):
                col.medications[f"Medication/{res['id']}"] = res
            if full_url:
                col.medications[full_url] = res

    names = terminology.names_kind
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


def _lineage(col: Collector, markers: Mapping[Marker, MarkerFact]) -> Fact[Any] | None:
    specific = [c for c in col.lineage if c.value != "all-unspecified"]
    if specific:
        return resolve(col, "lineage", specific, "diagnosis")
    fact = resolve(col, "lineage", col.lineage, "diagnosis")
    if fact is None or fact.value != "all-unspecified":
        return fact
    for name in ("cd19", "cd22"):  # a % of all cells (cells_percent) never infers lineage
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


def _leukemia_chart_findings(
    col: Collector, markers: Mapping[Marker, MarkerFact], simple: Mapping[str, Any]
) -> None:
    """Findings that matter only on a chart with a leukemia diagnosis.

    "% of cells" flow codes and CD3 % are routine lymphocyte-subset labs on most charts, and
    LOINC 101119-6 narratives are lymphoma immunophenotypes too: what could not be used from
    them is reported here, so that it never puts a data-quality card on anyone else's chart.
    """
    col.findings.extend(col.gated_findings)
    for name, m in markers.items():
        if m.call is None and m.percent is None and m.cells_percent is not None \
                and not m.cells_support_expressed(col.threshold):
            col.finding(
                "unreadable-value",
                (m.cells_source or m.source).resource,
                f"{name.upper()}: {m.cells_comparator or ''}{m.cells_percent:g}% of all cells "
                "(or lymphocytes), not of blasts; a low % of all cells says nothing about "
                f"{name.upper()} on the blasts: unknown, not read as negative",
                name,
            )
    for concept, ref, raw in col.percent_not_count:
        if simple.get(SIMPLE_FIELDS[concept]) is None:
            col.finding(
                "unreadable-value",
                ref,
                f"{col.term.concept(concept).display}: {raw} is a % of cells, not the count "
                "the rules need (the absolute count, per volume); not used",
                concept,
            )


def _day(t: datetime | None) -> date:
    return time_key(t).date()


def _disease_status(col: Collector, given: Fact[Any] | None) -> Fact[Any] | None:
    """The explicit disease-status Observation, unless a Condition states a newer status.

    A Condition's ICD-10-CM 5th character or clinicalStatus says "relapse" or "remission"
    without its number (conditions.py). The explicit Observation is the precise one and wins
    while it is current: the Condition's status is used only when no status Observation is
    dated on or after its day (a dated statement beats an undated one). A status Observation
    nobody could read that is as recent leaves the status unknown, as for any fact.
    """
    derived = col.derived_status
    if not derived:
        return given
    explicit = col.simple.get("disease_status") or []
    if explicit:
        latest = max(_day(c.source.effective) for c in explicit)
        derived = [c for c in derived if _day(c.source.effective) > latest]
        if not derived:
            return given
    newest = max(time_key(c.source.effective) for c in derived)
    if any(time_key(t) >= newest for t, _ in col.tombstones.get("disease_status", ())):
        if not explicit:  # else resolving the Observations has said so already
            superseded(col, "disease_status", derived, "disease_status", "disease-status",
                       "unreadable-value")
        return given
    return resolve(col, "disease_status", derived, "disease-status")


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
    simple["disease_status"] = _disease_status(col, simple["disease_status"])
    for (field_name, _), (_, finding) in col.unless_known.items():
        if simple.get(field_name) is None:
            col.findings.append(finding)
    mrd, mrd_history = mrd_facts(col)
    exposures = sorted(
        col.exposures, key=lambda e: (e.date is None, time_key(e.date), e.source.resource)
    )
    lineage = _lineage(col, markers)
    if lineage is not None:
        _leukemia_chart_findings(col, markers, simple)
    return PatientFacts(
        patient_id=pid,
        as_of=col.now,
        birth_date=birth,
        age_years=age,
        lineage=lineage,
        icd10_remission_hint=resolve(col, "icd10_remission_hint", col.icd_hint, "diagnosis"),
        condition_clinical_status=resolve(
            col, "condition_clinical_status", col.clinical_status, "diagnosis"
        ),
        markers=markers,
        mrd=mrd,
        mrd_history=mrd_history,
        allo_hct=tuple(dedup_events(col.allo)),
        auto_hct=tuple(dedup_events(col.auto_hct)),
        hct_type_unknown=tuple(dedup_events(col.hct_unknown)),
        car_t=tuple(dedup_events(col.car_t)),
        exposures=tuple(exposures),
        findings=tuple(col.findings),
        entered_in_error_count=col.entered_in_error,
        considered=tuple(col.considered),
        **simple,
    )
