"""Prefetch: present / null / OperationOutcome / omitted-and-fetched / omitted-and-unfetchable.

The FHIR server is mocked with `responses` at the network edge; everything else is real.
"""

from __future__ import annotations

import threading
import time

import pytest
import requests
import responses

from service import advice
from service.hooks.services import PREFETCH
from tests.conftest import PATIENT_ID, hook_body
from tests.spec_rules import assert_operation_outcome

FHIR = "https://fhir.example.org/r4"
TOKEN = "fhir-access-token-123"
URL = "/cds-services/leukemia-immunotherapy"


def authorization() -> dict:
    return {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "leukemia-cds"}


def searchset(*resources: dict, next_url: str | None = None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def observation(oid: str) -> dict:
    return {"resourceType": "Observation", "id": oid, "status": "final",
            "code": {"text": "bm blasts"}, "subject": {"reference": f"Patient/{PATIENT_ID}"}}


def query_url(key: str) -> str:
    return f"{FHIR}/" + PREFETCH[key].replace("{{context.patientId}}", PATIENT_ID)


@pytest.fixture
def captured(monkeypatch):
    calls: list[advice.HookCall] = []
    monkeypatch.setattr(advice, "advise", lambda call: calls.append(call) or [])
    return calls


def ids(call: advice.HookCall) -> set[str]:
    return {f"{r['resourceType']}/{r.get('id')}" for r in call.resources}


def test_present_prefetch_is_used_without_calling_the_fhir_server(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    body["prefetch"]["observations"] = searchset(observation("o1"), observation("o2"))
    with responses.RequestsMock() as mock:  # any request would raise ConnectionError
        response = client.post(URL, json=body)
        assert len(mock.calls) == 0
    assert response.status_code == 200
    assert {"Patient/pat-1", "Observation/o1", "Observation/o2"} <= ids(captured[0])


def test_null_prefetch_means_no_data_not_an_error(client, captured):
    body = hook_body()
    body["prefetch"]["medicationStatements"] = None
    body["prefetch"]["patient"] = None
    assert client.post(URL, json=body).status_code == 200
    assert ids(captured[0]) == set()


@pytest.mark.parametrize("wrap", ["alone", "as-entry"])
def test_operation_outcome_error_is_a_failed_key_and_not_refetched(client, captured, wrap):
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "timeout",
                          "diagnostics": "lab system offline"}]}
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    body["prefetch"]["observations"] = (
        outcome if wrap == "alone" else searchset(observation("o1"), outcome))
    with responses.RequestsMock() as mock:
        response = client.post(URL, json=body)
        assert len(mock.calls) == 0, "the spec asks us not to repeat a failed client query"
    assert response.status_code == 412
    diagnostics = response.get_json()
    assert_operation_outcome(diagnostics, 412)
    assert "observations" in str(diagnostics) and "lab system offline" in str(diagnostics)
    assert captured == []


def test_warning_only_outcome_entries_are_ignored(client, captured):
    warning = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "warning", "code": "informational"}]}
    body = hook_body()
    body["prefetch"]["observations"] = searchset(observation("o1"), warning)
    assert client.post(URL, json=body).status_code == 200
    assert "Observation/o1" in ids(captured[0])


@responses.activate
def test_omitted_keys_are_fetched_in_parallel_with_the_bearer_token(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    del body["prefetch"]["procedures"]
    responses.get(query_url("observations"), json=searchset(observation("o9")))
    responses.get(query_url("procedures"), json=searchset())
    response = client.post(URL, json=body)
    assert response.status_code == 200, response.get_json()
    assert "Observation/o9" in ids(captured[0])
    assert len(responses.calls) == 2, [c.request.url for c in responses.calls]
    for call in responses.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept"] == "application/fhir+json"


@responses.activate
def test_all_keys_omitted_are_fetched(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]
    for key in PREFETCH:
        payload = ({"resourceType": "Patient", "id": PATIENT_ID} if key == "patient"
                   else searchset())
        responses.get(query_url(key), json=payload)
    assert client.post(URL, json=body).status_code == 200
    assert len(responses.calls) == len(PREFETCH)
    assert ids(captured[0]) == {"Patient/pat-1"}


@responses.activate
def test_paginated_search_follows_next_links(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    page2 = f"{FHIR}/Observation?patient={PATIENT_ID}&_page=2"
    page3 = f"{FHIR}/Observation?patient={PATIENT_ID}&_page=3"
    responses.get(page3, json=searchset(observation("o3")))
    responses.get(page2, json=searchset(observation("o2"), next_url=page3))
    responses.get(query_url("observations"), json=searchset(observation("o1"), next_url=page2))
    assert client.post(URL, json=body).status_code == 200
    assert {"Observation/o1", "Observation/o2", "Observation/o3"} <= ids(captured[0])


@responses.activate
def test_next_link_to_another_server_is_not_followed(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    responses.get(query_url("observations"),
                  json=searchset(observation("o1"), next_url="https://evil.example.com/steal"))
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert "another server" in str(response.get_json())
    assert len(responses.calls) == 1


@responses.activate
def test_too_many_pages_is_412_not_a_silent_truncation(make_app, captured):
    client = make_app(fhir_max_pages="2").test_client()
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    responses.get(query_url("observations"),
                  json=searchset(observation("o1"), next_url=query_url("observations")))
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_FHIR_MAX_PAGES" in str(response.get_json())


@pytest.mark.parametrize("status", [401, 403, 404, 500])
@responses.activate
def test_fhir_server_errors_are_412(client, captured, status, caplog):
    """The caller gets one answer for every failure (no port-scanning oracle, issue 21); the
    status is in the operator's log, with the host and not the URL (it holds the patient)."""
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["conditions"]
    responses.get(query_url("conditions"), status=status, json={"resourceType": "OperationOutcome"})
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert_operation_outcome(response.get_json(), 412)
    assert f"HTTP {status}" not in str(response.get_json())
    assert "could not be read" in str(response.get_json())
    [failed] = [r for r in caplog.records if getattr(r, "event", "") == "fhir_fetch_failed"]
    assert failed.reason == f"HTTP {status}" and failed.host == "fhir.example.org"
    assert PATIENT_ID not in str(failed.__dict__)
    assert captured == []


@pytest.mark.parametrize("payload", ["<html>oops</html>", "[1,2]", '{"no": "resourceType"}'])
@responses.activate
def test_garbage_from_the_fhir_server_is_412(client, captured, payload):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["conditions"]
    responses.get(query_url("conditions"), body=payload, content_type="application/json")
    assert client.post(URL, json=body).status_code == 412


@responses.activate
def test_dead_fhir_server_is_412(client, captured):
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["conditions"]
    responses.get(query_url("conditions"), body=requests.ConnectionError("refused"))
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert "could not be read (no connection, no answer in time, or an error status)" \
        in str(response.get_json())


@responses.activate
def test_slow_fhir_server_hits_the_time_budget(make_app, captured):
    client = make_app(fhir_budget_ms="200", fhir_connect_timeout_ms="100",
                      fhir_read_timeout_ms="5000").test_client()
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["conditions"]

    finished = threading.Event()

    def slow(request):
        time.sleep(1.0)
        finished.set()
        return 200, {}, '{"resourceType": "Bundle", "type": "searchset"}'

    responses.add_callback(responses.GET, query_url("conditions"), callback=slow)
    started = time.monotonic()
    response = client.post(URL, json=body)
    elapsed = time.monotonic() - started
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_FHIR_BUDGET_MS" in str(response.get_json())
    assert elapsed < 0.8, f"answered after {elapsed:.2f}s; the budget is 0.2s"
    assert captured == []
    # The abandoned fetch thread must not record its late call into the next test's mock.
    assert finished.wait(5)
    time.sleep(0.05)


def test_omitted_key_without_fhir_server_is_412(client, captured):
    body = hook_body()
    del body["prefetch"]["observations"]
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert "observations" in assert_operation_outcome(response.get_json(), 412)


@pytest.mark.parametrize(
    "server",
    ["http://fhir.example.org/r4", "ftp://fhir.example.org", "https://10.1.2.3/fhir",
     "https://169.254.169.254/latest", "https://localhost:8443/fhir", "https://[::1]/fhir",
     "https://user:pw@fhir.example.org/r4"],
)
def test_non_allowed_hosts_are_refused_not_fetched(client, captured, server):
    body = hook_body(fhirServer=server, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    with responses.RequestsMock() as mock:
        response = client.post(URL, json=body)
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "not fetched" in str(response.get_json())


@responses.activate
def test_http_host_is_fetched_only_when_allow_listed(make_app, captured):
    client = make_app(fhir_http_hosts="fhir.test").test_client()
    body = hook_body(fhirServer="http://fhir.test/r4")
    del body["prefetch"]["observations"]
    responses.get(f"http://fhir.test/r4/Observation?patient={PATIENT_ID}",
                  json=searchset(observation("o5")))
    assert client.post(URL, json=body).status_code == 200
    assert "Observation/o5" in ids(captured[0])
    assert "Authorization" not in responses.calls[0].request.headers


@responses.activate
def test_allowed_hosts_list_restricts_https_servers(make_app, captured):
    client = make_app(fhir_allowed_hosts="*.hospital.org").test_client()
    body = hook_body(fhirServer=FHIR, fhirAuthorization=authorization())
    del body["prefetch"]["observations"]
    response = client.post(URL, json=body)
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS" in str(response.get_json())

    body["fhirServer"] = "https://ehr.hospital.org/fhir"
    responses.get(f"https://ehr.hospital.org/fhir/Observation?patient={PATIENT_ID}",
                  json=searchset())
    assert client.post(URL, json=body).status_code == 200


@pytest.mark.parametrize("value", ["just a string", [1, 2], {"no": "type"},
                                   {"resourceType": "Bundle", "entry": [{"nope": 1}]}])
def test_prefetch_value_that_is_not_fhir_is_400(client, captured, value):
    body = hook_body()
    body["prefetch"]["conditions"] = value
    response = client.post(URL, json=body)
    assert response.status_code == 400
    assert "prefetch.conditions" in assert_operation_outcome(response.get_json(), 400)


def test_duplicate_resources_across_keys_are_handed_on_once(client, captured):
    body = hook_body()
    med = {"resourceType": "Medication", "id": "m1", "code": {"text": "blinatumomab"}}
    body["prefetch"]["medicationRequests"] = searchset(med)
    body["prefetch"]["medicationAdministrations"] = searchset(med)
    assert client.post(URL, json=body).status_code == 200
    assert [r["id"] for r in captured[0].resources if r["resourceType"] == "Medication"] == ["m1"]
