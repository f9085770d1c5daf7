"""Vignette -> a full CDS Hooks request, with FHIR encoded as design/input-contract.md says.

A vignette (vignettes.toml) describes a patient in clinical words; this module writes the FHIR R4
resources an EHR would send (local CodeSystem codes, SNOMED / ICD-10-CM / LOINC / RxNorm where the
contract lists them, Quantities with UCUM units) and places them in the prefetch keys the service
declares. Dates are relative to today so ages and "latest result" stay right whenever tests run.
"""

from __future__ import annotations

import itertools
import tomllib
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.conftest import PATIENT_ID, empty_prefetch

LOCAL = "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"

DIAGNOSIS = {
    "b-all": (SNOMED, "277571004", "B-cell acute lymphoblastic leukemia"),
    "t-all": (LOCAL, "t-all", "T-cell acute lymphoblastic leukemia"),
    "aml": (SNOMED, "91861009", "Acute myeloid leukemia"),
    "all-unspecified": (ICD10, "C91.02", "ALL, in relapse"),
    "aml-icd10": (ICD10, "C92.00", "AML, not having achieved remission"),
    "b-all-local": (LOCAL, "b-all", "B-cell acute lymphoblastic leukemia"),
}
RX = {"blinatumomab": "1597258", "inotuzumab": "1942950", "gemtuzumab": "1294580",
      "rituximab": "121191", "daratumumab": "1721947", "dasatinib": "475342",
      "imatinib": "282388"}
LOCAL_DRUGS = {"tocilizumab", "ponatinib", "nilotinib"}  # sent with the contract's local code
CAR_T = {"tisagenlecleucel", "brexucabtagene", "obecabtagene"}
LOINC_MARKER = {"cd33": "51155-0", "cd20": "51115-4"}

VIGNETTES = tomllib.loads((Path(__file__).parent / "vignettes.toml").read_text("utf-8"))["vignette"]
_ids = itertools.count()  # reset per vignette: the same vignette always gets the same ids


def _when(days_ago: int) -> str:
    return (datetime.now(UTC) - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _id(prefix: str) -> str:
    return f"{prefix}-{next(_ids)}"


def _local(code: str) -> dict[str, Any]:
    return {"coding": [{"system": LOCAL, "code": code}]}


def observation(code: str, *, days_ago: int = 10, system: str = LOCAL, **value: Any
                ) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": _id(code), "status": "final",
            "code": {"coding": [{"system": system, "code": code}]},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": _when(days_ago), **value}


def _marker(name: str, value: Any, days_ago: int, loinc: bool) -> dict[str, Any]:
    code, system = (LOINC_MARKER[name], LOINC) if loinc and name in LOINC_MARKER else (name, LOCAL)
    if isinstance(value, str):
        return observation(code, system=system, days_ago=days_ago,
                           valueCodeableConcept=_local(value))
    return observation(code, system=system, days_ago=days_ago,
                       valueQuantity={"value": value, "unit": "%", "system": UCUM, "code": "%"})


def _mrd(spec: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = {}
    if "detected" in spec:
        value["valueCodeableConcept"] = _local("detected" if spec["detected"] else "not-detected")
    elif "raw_unit" in spec:
        value["valueQuantity"] = {"value": spec["value"], "unit": spec["raw_unit"]}
    else:
        unit = spec.get("unit", "%")
        q: dict[str, Any] = {"value": spec["value"], "unit": unit, "system": UCUM, "code": unit}
        if spec.get("below"):
            q["comparator"] = "<"
        value["valueQuantity"] = q
    if spec.get("method"):
        value["method"] = _local(spec["method"])
    return observation("mrd", days_ago=spec.get("days_ago", 10), **value)


def resources(v: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Resources by prefetch key for one vignette."""
    global _ids
    _ids = itertools.count()
    out: dict[str, list[dict[str, Any]]] = {"conditions": [], "observations": [],
                                            "procedures": [], "medicationRequests": []}
    obs = out["observations"].append
    if v.get("dx"):
        system, code, text = DIAGNOSIS[v["dx"]]
        out["conditions"].append({
            "resourceType": "Condition", "id": _id("dx"),
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": {"coding": [{"system": system, "code": code}], "text": text},
            "subject": {"reference": f"Patient/{PATIENT_ID}"}, "recordedDate": _when(400)[:10]})
    for comorbidity in v.get("comorbidities", []):
        out["conditions"].append({
            "resourceType": "Condition", "id": _id(comorbidity),
            "clinicalStatus": {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                "code": "active"}]},
            "code": _local(comorbidity), "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "recordedDate": _when(100)[:10]})
    if v.get("status"):
        obs(observation("disease-status", days_ago=v.get("status_days_ago", 10),
                        valueCodeableConcept=_local(v["status"])))
    marker_age = v.get("markers_days_ago", 10)
    for name, value in v.get("markers", {}).items():
        obs(_marker(name, value, marker_age, v.get("loinc_markers", False)))
    if "blasts" in v:
        obs(observation("bm-blasts", valueQuantity={"value": v["blasts"], "unit": "%",
                                                    "system": UCUM, "code": "%"}))
    for spec in v.get("mrd", []):
        obs(_mrd(spec))
    for code in ("ph", "ph-like", "kmt2a", "abl1-t315i", "cns-status", "extramedullary",
                 "aml-risk"):
        key = code.replace("-", "_")
        if key in v:
            obs(observation(code, valueCodeableConcept=_local(v[key])))
    for code in ("hct-planned", "hct-eligible", "intensive-induction-eligible"):
        key = code.replace("-", "_")
        if key in v:
            obs(observation(code, valueBoolean=v[key]))
    if "prior_lines" in v:
        obs(observation("prior-lines", valueInteger=v["prior_lines"]))
    for code in ("crs-grade", "icans-grade", "ice-score"):  # toxicity in progress, dated today
        key = code.replace("-", "_")
        if key in v:
            obs(observation(code, days_ago=v.get("tox_days_ago", 0), valueInteger=v[key]))
    if "cd3" in v:
        obs(observation("cd3-count", valueQuantity={"value": v["cd3"], "unit": "cells/uL",
                                                    "system": UCUM, "code": "/uL"}))
    if v.get("prior_hct"):
        out["procedures"].append({
            "resourceType": "Procedure", "id": _id("hct"), "status": "completed",
            "code": {"coding": [{"system": SNOMED, "code": "234336002"}],
                     "text": "Allogeneic HCT"},
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "performedDateTime": _when(v.get("hct_days_ago", 500))})
    if v.get("car_t"):
        cart = {
            "resourceType": "Procedure", "id": _id("cart"), "status": "completed",
            "code": _local("car-t-infusion"), "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "usedCode": [_local(v["car_t"])]}
        if not v.get("car_t_undated"):  # an undated infusion: the order in time is unknown
            cart["performedDateTime"] = _when(v.get("car_t_days_ago", 150))
        out["procedures"].append(cart)
    for item in v.get("exposures", []):
        # "drug", or { drug, days_ago, status } for a dated course or one still running
        spec = {"drug": item} if isinstance(item, str) else item
        drug = spec["drug"]
        out["medicationRequests"].append({
            "resourceType": "MedicationRequest", "id": _id(drug),
            "status": spec.get("status", "completed"),
            "intent": "order", "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": RX[drug]}],
                                          "text": drug},
            "authoredOn": _when(spec.get("days_ago", v.get("exposure_days_ago", 200)))})
    return out


def draft(drug: str, order_id: str) -> dict[str, Any]:
    """A draft order as an EHR sends it: RxNorm where the contract has one, else local codes."""
    base = {"id": order_id, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{PATIENT_ID}"}}
    if drug == "car-t":
        return {"resourceType": "ServiceRequest", **base, "code": {
            "coding": [{"system": LOCAL, "code": "car-t-infusion"}], "text": "CAR T-cell infusion"}}
    if drug in CAR_T:
        concept = {"coding": [{"system": LOCAL, "code": drug}], "text": drug}
    elif drug in RX:
        concept = {"coding": [{"system": RXNORM, "code": RX[drug]}], "text": drug}
    elif drug in LOCAL_DRUGS:
        concept = {"coding": [{"system": LOCAL, "code": drug}], "text": drug}
    else:
        concept = {"text": drug}
    return {"resourceType": "MedicationRequest", **base, "medicationCodeableConcept": concept}


def request(v: dict[str, Any], hook: str | None = None) -> dict[str, Any]:
    """The full CDS Hooks request body for a vignette (hook overridable for select/sign)."""
    hook = hook or v.get("hook", "patient-view")
    prefetch = empty_prefetch()
    if "age_months" in v:  # an infant: age in completed months
        born = date.today() - timedelta(days=int(30.44 * v["age_months"]) + 10)
        prefetch["patient"]["birthDate"] = born.isoformat()
    elif "age" in v:
        born = date.today() - timedelta(days=int(365.25 * v["age"]) + 100)
        prefetch["patient"]["birthDate"] = born.isoformat()
    else:
        prefetch["patient"].pop("birthDate", None)
    for key, items in resources(v).items():
        prefetch[key] = {"resourceType": "Bundle", "type": "searchset", "total": len(items),
                         "entry": [{"resource": r} for r in items]}
    context: dict[str, Any] = {"userId": "Practitioner/doc-1", "patientId": PATIENT_ID}
    if hook in {"order-select", "order-sign"}:
        drafts = [draft(d, f"draft-{i}") for i, d in enumerate(v.get("orders", []))]
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": d}
                                                                        for d in drafts]}
        if hook == "order-select":
            chosen = v.get("select", [0])
            context["selections"] = [f"{drafts[i]['resourceType']}/{drafts[i]['id']}"
                                     for i in chosen]
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context,
            "prefetch": prefetch}
