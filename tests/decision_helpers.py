"""Builders for PatientFacts / DraftOrder in decision and render tests (no FHIR involved).

`patient(...)` takes the facts a vignette needs in clinical words and fills in provenance, so a
test reads like the clinical situation it encodes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from service.decision import Policy, Recommendation, decide
from service.facts import (
    CarTEvent,
    DataQualityFinding,
    DraftOrder,
    Exposure,
    Fact,
    MarkerFact,
    MrdFact,
    PatientFacts,
    ProcedureEvent,
    Provenance,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
_DRUG_CLASS = {
    "blinatumomab": "immunotherapy", "inotuzumab": "immunotherapy", "gemtuzumab": "immunotherapy",
    "rituximab": "immunotherapy", "daratumumab": "immunotherapy", "tocilizumab": "other",
    "dasatinib": "tki", "imatinib": "tki", "ponatinib": "tki", "nilotinib": "tki",
    "tisagenlecleucel": "car-t",
    "brexucabtagene": "car-t", "obecabtagene": "car-t",
}


def src(resource: str, raw: str = "x", when: datetime | None = NOW) -> Provenance:
    return Provenance(resource=resource, raw=raw, recognised_by="local-code", effective=when)


def fact(value: Any, resource: str) -> Fact:
    return Fact(value=value, source=src(resource, str(value)))


def marker(name: str, value: float | str, when: datetime | None = NOW) -> MarkerFact:
    res = f"Observation/{name}"
    if isinstance(value, str):
        return MarkerFact(marker=name, call=value, source=src(res, value, when))  # type: ignore[arg-type]
    return MarkerFact(marker=name, percent=float(value), unit="%",  # type: ignore[arg-type]
                      source=src(res, f"{value} %", when))


def mrd(
    fraction: float | None = None, *, below: bool = False, detected: bool | None = None,
    method: str | None = "flow-cytometry", resource: str = "Observation/mrd",
    when: datetime = NOW,
) -> MrdFact:
    return MrdFact(
        fraction=fraction, comparator="<" if below else None, below_lod=below, detected=detected,
        method=method, raw=f"{fraction}", source=src(resource, str(fraction), when),  # type: ignore[arg-type]
    )


def exposure(drug: str, when: datetime = datetime(2024, 6, 1, tzinfo=UTC)) -> Exposure:
    return Exposure(drug=drug, drug_class=_DRUG_CLASS[drug], date=when,  # type: ignore[arg-type]
                    status="completed", resource_type="MedicationAdministration",
                    source=src(f"MedicationAdministration/{drug}", drug, when))


def patient(
    *,
    lineage: str | None = "b-all",
    age: int | None = 40,
    status: str | None = None,
    markers: dict[str, float | str] | None = None,
    blasts: float | None = None,
    mrd_result: MrdFact | None = None,
    mrd_history: tuple[MrdFact, ...] = (),
    ph: str | None = None,
    ph_like: str | None = None,
    kmt2a: str | None = None,
    t315i: str | None = None,
    cns: str | None = None,
    emd: str | None = None,
    prior_lines: int | None = None,
    hct_planned: bool | None = None,
    hct_eligible: bool | None = None,
    prior_hct: bool = False,
    car_t: str | None = None,
    exposures: tuple[str, ...] = (),
    cd3: float | None = None,
    aml_risk: str | None = None,
    fit: bool | None = None,
    hepatic: bool | None = None,
    neuro: bool | None = None,
    findings: tuple[DataQualityFinding, ...] = (),
    crs: int | None = None,
) -> PatientFacts:
    kw: dict[str, Any] = {"patient_id": "pat-1", "as_of": NOW}
    if lineage:
        kw["lineage"] = fact(lineage, "Condition/dx")
    if age is not None:
        born = date(NOW.year - age, 1, 1)
        kw["age_years"] = fact(age, "Patient/pat-1")
        kw["birth_date"] = Fact(value=born, source=src("Patient/pat-1", born.isoformat()))
    if status:
        kw["disease_status"] = fact(status, "Observation/status")
    if markers:
        kw["markers"] = {k: marker(k, v) for k, v in markers.items()}
    if blasts is not None:
        kw["bm_blasts_percent"] = fact(blasts, "Observation/blasts")
    if mrd_result is not None:
        kw["mrd"] = mrd_result
        kw["mrd_history"] = mrd_history or (mrd_result,)
    simple = {"ph": ph, "ph_like": ph_like, "kmt2a": kmt2a, "t315i": t315i, "cns_status": cns,
              "extramedullary": emd, "prior_lines": prior_lines, "hct_planned": hct_planned,
              "hct_eligible": hct_eligible, "cd3_count": cd3, "aml_risk": aml_risk,
              "intensive_induction_eligible": fit, "hepatic_disease": hepatic,
              "neurologic_comorbidity": neuro, "crs_grade": crs}
    for name, value in simple.items():
        if value is not None:
            kw[name] = fact(value, f"Observation/{name}")
    if prior_hct:
        kw["allo_hct"] = (ProcedureEvent(date=datetime(2023, 1, 10, tzinfo=UTC),
                                         source=src("Procedure/hct")),)
    if car_t:
        kw["car_t"] = (CarTEvent(product=None if car_t == "unknown" else car_t,  # type: ignore[arg-type]
                                 date=datetime(2024, 9, 1, tzinfo=UTC),
                                 source=src("Procedure/cart")),)
    if exposures:
        kw["exposures"] = tuple(exposure(d) for d in exposures)
    if findings:
        kw["findings"] = findings
    return PatientFacts(**kw)


def order(drug: str | None, *, car_t: bool = False, resource: str = "MedicationRequest/d1"
          ) -> DraftOrder:
    cls = "car-t" if car_t or drug in {"tisagenlecleucel", "brexucabtagene", "obecabtagene"} \
        else _DRUG_CLASS.get(drug or "")
    return DraftOrder(drug=drug, drug_class=cls, resource=resource,  # type: ignore[arg-type]
                      display=drug or "CAR T", recognised_by="standard-code", status="draft")


def ids(recs: list[Recommendation]) -> list[str]:
    return [r.id for r in recs]


def run(facts: PatientFacts, *drugs: str | None, threshold: float = 20.0, car_t: bool = False
        ) -> list[Recommendation]:
    """patient-view when no drug is given, else order-sign with one draft per drug."""
    policy = Policy(marker_positive_percent=threshold)
    if not drugs:
        return decide(facts, hook="patient-view", policy=policy)
    drafts = [order(d, car_t=car_t, resource=f"MedicationRequest/d{i}")
              for i, d in enumerate(drugs)]
    return decide(facts, hook="order-sign", orders_in_focus=drafts, policy=policy)


def by_id(recs: list[Recommendation], rule_id: str) -> Recommendation:
    found = [r for r in recs if r.id == rule_id]
    assert found, f"{rule_id} not in {ids(recs)}"
    return found[0]
