"""MedicationRequest / Administration / Statement → drug exposures, and CAR-T infusions given.

Which drug an order names may sit in a code, in a Medication it references (elsewhere in the
request, or contained), or only in free text; ``resolve_medication`` finds it the same way for
the patient's history and for the draft orders being signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from service.facts import CarTEvent, DrugClass, DrugId, Exposure, Provenance, RecognisedBy
from service.fhir.extract.collector import Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_start
from service.fhir.extract.raw import cc_raw, cc_text, codings, reference_id
from service.fhir.terminology import Terminology

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
KINDS_DRUG = frozenset({"drug"})


@dataclass(slots=True)
class DrugHit:
    drug: str
    recognised_by: RecognisedBy
    raw: str


def _drugs_in_cc(term: Terminology, cc: Any) -> list[DrugHit]:
    hits = [
        DrugHit(m.concept, m.recognised_by, cc_raw(cc))
        for m in term.match_codings(codings(cc), KINDS_DRUG)
    ]
    if hits:
        return hits
    text = cc_text(cc)
    return [DrugHit(d, "text-match", text) for d in term.find_in_text(text, "drug")]


def resolve_medication(
    term: Terminology, res: Mapping[str, Any], medications: Mapping[str, Mapping[str, Any]]
) -> tuple[list[DrugHit], str | None]:
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
        hits = [DrugHit(d, "text-match", display) for d in term.find_in_text(display, "drug")]
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


def read_medication_use(col: Collector, res: Mapping[str, Any], ref: str) -> None:
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
