"""Medications by reference: a real FHIR server codes the drug on a `Medication` that the
medication resources point at (issue 24, part 2).

The templates ask for it (`_include=<Type>:medication`); when a client sends the search
without it, the service reads each referenced `Medication/{id}` from fhirServer within the
call's FHIR budget. Only when that read fails is the reference a data-quality finding.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
import responses

from service import advice
from tests.conftest import PATIENT_ID, hook_body
from tests.fhir_helpers import extract_facts

FHIR = "https://fhir.example.org/r4"
TOKEN = "fhir-access-token-123"
URL = "/cds-services/leukemia-immunotherapy"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def authorization() -> dict[str, Any]:
    return {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "leukemia-cds"}


def given(ref: str, aid: str = "ma-1") -> dict[str, Any]:
    return {"resourceType": "MedicationAdministration", "id": aid, "status": "completed",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "effectiveDateTime": "2026-09-01T10:00:00Z", "medicationReference": {"reference": ref}}


def medication(mid: str) -> dict[str, Any]:
    return {"resourceType": "Medication", "id": mid,
            "code": {"coding": [{"system": RXNORM, "code": "1597258"}], "text": "Blincyto"}}


def b_all() -> dict[str, Any]:
    return {"resourceType": "Condition", "id": "c1",
            "subject": {"reference": f"Patient/{PATIENT_ID}"},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "277571004"}]}}


def body(*administrations: dict[str, Any], server: bool = True) -> dict[str, Any]:
    extra = {"fhirServer": FHIR, "fhirAuthorization": authorization()} if server else {}
    out = hook_body(**extra)
    out["prefetch"]["medicationAdministrations"] = {
        "resourceType": "Bundle", "type": "searchset",
        "entry": [{"resource": a} for a in administrations]}
    out["prefetch"]["conditions"] = {"resourceType": "Bundle", "type": "searchset",
                                     "entry": [{"resource": b_all()}]}
    return out


@pytest.fixture
def captured(monkeypatch):
    calls: list[advice.HookCall] = []
    monkeypatch.setattr(advice, "advise", lambda call: calls.append(call) or [])
    return calls


def facts_of(call: advice.HookCall):
    return extract_facts(call.resources, now=datetime.now(UTC), patient_id=PATIENT_ID)


def test_a_referenced_medication_is_read_and_the_exposure_recognised(client, captured):
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Medication/m1", json=medication("m1"))
        response = client.post(URL, json=body(given("Medication/m1")))
        assert len(mock.calls) == 1
        assert mock.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert response.status_code == 200
    facts = facts_of(captured[0])
    assert [e.drug for e in facts.exposures] == ["blinatumomab"]
    assert not [f for f in facts.findings if f.code == "unknown-reference"]


def test_each_medication_is_read_once_and_those_sent_are_not_read(client, captured):
    sent = body(given("Medication/m1", "ma-1"), given("Medication/m1", "ma-2"),
                given("Medication/m2", "ma-3"))
    sent["prefetch"]["medicationAdministrations"]["entry"].append(
        {"resource": medication("m2"), "search": {"mode": "include"}})
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Medication/m1", json=medication("m1"))
        assert client.post(URL, json=sent).status_code == 200
        assert [c.request.url for c in mock.calls] == [f"{FHIR}/Medication/m1"]


@pytest.mark.parametrize("answer", [{"status": 404, "json": {"resourceType": "OperationOutcome",
                                                             "issue": []}},
                                    {"body": requests.ConnectionError("down")}])
def test_a_failed_read_is_a_record_problem_not_a_refusal(client, answer):
    with responses.RequestsMock() as mock:
        mock.get(f"{FHIR}/Medication/m1", **answer)
        response = client.post(URL, json=body(given("Medication/m1")))
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    problems = [c for c in cards if "DQ-FINDINGS" in c["extension"]
                ["org.leukemia-cds.recommendation"]["ids"]]
    assert problems and "Medication/m1" in problems[0]["detail"]


def test_without_a_fhir_server_nothing_is_read(client, captured):
    with responses.RequestsMock() as mock:
        assert client.post(URL, json=body(given("Medication/m1"), server=False)
                           ).status_code == 200
        assert len(mock.calls) == 0
    assert [f.code for f in facts_of(captured[0]).findings] == ["unknown-reference"]


@pytest.mark.parametrize("ref", ["https://evil.example/r4/Medication/m1", "#contained",
                                 "Medication/a/b", "Observation/o1"])
def test_only_relative_medication_references_are_read(client, captured, ref):
    with responses.RequestsMock() as mock:
        assert client.post(URL, json=body(given(ref))).status_code == 200
        assert len(mock.calls) == 0
