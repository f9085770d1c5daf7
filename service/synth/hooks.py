"""A synthetic chart → the CDS Hooks request an EHR would send for it.

Tests, benchmarks and the sandbox page all need hook requests with complete prefetch. The
prefetch is shaped as a FHIR server would answer the service's own templates
(``service.hooks.services.PREFETCH``): the Patient read as a resource, every search as a
``searchset`` Bundle, and Medications referenced by medication resources returned alongside with
``search.mode = include`` (what ``_include=...:medication`` gives), since no prefetch key asks for
Medication on its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from service.hooks.services import PREFETCH
from service.synth.codes import DRUGS, drug_concept
from service.synth.generator import FULL_URL_BASE

Json = dict[str, Any]

_KEY_FOR_TYPE = {
    "Condition": "conditions",
    "Observation": "observations",
    "Procedure": "procedures",
    "MedicationRequest": "medicationRequests",
    "MedicationAdministration": "medicationAdministrations",
    "MedicationStatement": "medicationStatements",
}
SERVICE_FOR_HOOK = {
    "patient-view": "leukemia-immunotherapy",
    "order-select": "leukemia-immunotherapy-order-select",
    "order-sign": "leukemia-immunotherapy-order-sign",
}


def _resources(bundle_or_resources: Json | Iterable[Json]) -> list[Json]:
    if isinstance(bundle_or_resources, dict):
        return [e["resource"] for e in bundle_or_resources.get("entry", []) if "resource" in e]
    return list(bundle_or_resources)


def prefetch_for(bundle_or_resources: Json | Iterable[Json]) -> Json:
    """Every prefetch key filled from the chart (empty searchsets where it has nothing)."""
    resources = _resources(bundle_or_resources)
    medications = {f"Medication/{r['id']}": r for r in resources
                   if r["resourceType"] == "Medication"}
    matches: dict[str, list[Json]] = {key: [] for key in PREFETCH if key != "patient"}
    includes: dict[str, list[Json]] = {key: [] for key in matches}
    patient: Json | None = None
    for resource in resources:
        rtype = resource["resourceType"]
        if rtype == "Patient":
            patient = resource
            continue
        key = _KEY_FOR_TYPE.get(rtype)
        if key is None:
            continue
        matches[key].append(resource)
        ref = (resource.get("medicationReference") or {}).get("reference", "")
        if ref in medications and medications[ref] not in includes[key]:
            includes[key].append(medications[ref])
    if patient is None:
        raise ValueError("the chart has no Patient")
    prefetch: Json = {"patient": patient}
    for key in matches:
        entries = [_entry(r, "match") for r in matches[key]]
        entries += [_entry(r, "include") for r in includes[key]]
        searchset: Json = {"resourceType": "Bundle", "type": "searchset",
                           "total": len(matches[key])}
        if entries:
            searchset["entry"] = entries
        prefetch[key] = searchset
    return prefetch


def _entry(resource: Json, mode: str) -> Json:
    return {"fullUrl": f"{FULL_URL_BASE}/{resource['resourceType']}/{resource['id']}",
            "resource": resource, "search": {"mode": mode}}


def draft_order(drug: str, patient_id: str, *, order_id: str | None = None,
                authored_on: str | None = None) -> Json:
    """A draft MedicationRequest for ``drug`` (a contract drug id), as an EHR's order entry."""
    if drug not in DRUGS:
        raise ValueError(f"unknown drug {drug!r}; known: {', '.join(sorted(DRUGS))}")
    order: Json = {
        "resourceType": "MedicationRequest",
        "id": order_id or f"draft-{drug}",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": drug_concept(drug),
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    if authored_on:
        order["authoredOn"] = authored_on
    return order


def hook_request(bundle_or_resources: Json | Iterable[Json], hook: str = "patient-view", *,
                 orders: Sequence[Json] = (), selections: Sequence[str] | None = None,
                 user_id: str = "Practitioner/synthetic-clinician",
                 hook_instance: str | None = None, prefetch: bool = True) -> Json:
    """The request body for ``hook``; order hooks carry ``orders`` as ``draftOrders``.

    ``selections`` defaults to every order (order-select). ``prefetch=False`` leaves the
    service to fetch from a FHIR server, for tests of that path.
    """
    if hook not in SERVICE_FOR_HOOK:
        raise ValueError(f"hook must be one of {', '.join(SERVICE_FOR_HOOK)}, not {hook!r}")
    resources = _resources(bundle_or_resources)
    patient = next((r for r in resources if r["resourceType"] == "Patient"), None)
    if patient is None:
        raise ValueError("the chart has no Patient")
    context: Json = {"userId": user_id, "patientId": patient["id"]}
    if hook != "patient-view":
        if not orders:
            raise ValueError(f"{hook} needs at least one draft order")
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": o} for o in orders]}
    if hook == "order-select":
        context["selections"] = list(selections) if selections is not None else [
            f"{o['resourceType']}/{o['id']}" for o in orders]
    body: Json = {"hook": hook, "hookInstance": hook_instance or str(uuid.uuid4()),
                  "context": context}
    if prefetch:
        body["prefetch"] = prefetch_for(resources)
    return body
