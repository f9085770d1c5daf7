"""Discovery: one service per hook, prefetch inside the spec's recommended query subset."""

from __future__ import annotations

import re

from tests.spec_rules import spec_violations

SUBSET_QUERY = re.compile(
    r"^(Patient/\{\{context\.patientId\}\}"
    r"|(Condition|Observation|Procedure)\?patient=\{\{context\.patientId\}\}"
    # the one step outside the subset: the Medication a medication resource points at
    r"|(?P<kind>MedicationRequest|MedicationAdministration|MedicationStatement)"
    r"\?patient=\{\{context\.patientId\}\}&_include=(?P=kind):medication)$"
)


def test_discovery_lists_one_service_per_hook(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    services = response.get_json()["services"]
    assert sorted(s["hook"] for s in services) == ["order-select", "order-sign", "patient-view"]
    assert len({s["id"] for s in services}) == 3
    for service in services:
        assert service["title"] and service["description"]
        assert "**" in service["description"], "descriptions are markdown"


def test_prefetch_templates_stay_in_the_recommended_subset_but_include_medications(client):
    for service in client.get("/cds-services").get_json()["services"]:
        prefetch = service["prefetch"]
        assert {"patient", "conditions", "observations", "procedures", "medicationRequests",
                "medicationAdministrations", "medicationStatements"} == set(prefetch)
        for key, query in prefetch.items():
            assert SUBSET_QUERY.match(query), f"{key}: {query}"


def test_discovery_body_has_no_null_or_empty_elements(client):
    assert spec_violations(client.get("/cds-services").get_json()) == []
