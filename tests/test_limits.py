"""Bounded work: every limit has a defined error that names its setting, and a test.

| limit                          | setting                            | error                   |
|--------------------------------|------------------------------------|-------------------------|
| request body size              | LEUKEMIA_CDS_MAX_BODY_BYTES        | 413                     |
| resources in client prefetch   | LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES    | 413                     |
| resources fetched from FHIR    | LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES    | 412 (data not had)      |
| FHIR fetch time per request    | LEUKEMIA_CDS_FHIR_BUDGET_MS        | 412                     |
| feedback items per request     | (500, fixed)                       | 413                     |
| client JWT size                | (8192 characters, fixed)           | 401                     |
| stuck worker                   | LEUKEMIA_CDS_WORKER_TIMEOUT_S      | gunicorn restarts it    |
"""

from __future__ import annotations

import argparse
import threading
import time

import pytest
import responses

from service import advice
from service.cli import gunicorn_options
from service.config import Settings
from tests.conftest import PUBLIC_URL, TEST_EHR, hook_body
from tests.spec_rules import assert_operation_outcome

SERVICE = "/cds-services/leukemia-immunotherapy"
FHIR = "https://fhir.example.org/r4"


@pytest.fixture(autouse=True)
def no_cards(monkeypatch):
    calls: list[advice.HookCall] = []
    monkeypatch.setattr(advice, "advise", lambda call: calls.append(call) or [])
    return calls


def observations(n: int, start: int = 0) -> dict:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": f"o{i}",
                                    "status": "final", "code": {"text": "x"}}}
                      for i in range(start, start + n)]}


def fhir_authorization() -> dict:
    return {"access_token": "t", "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "cds"}


@pytest.mark.parametrize("path", [SERVICE, SERVICE + "/feedback"])
def test_body_size(make_app, path):
    client = make_app(max_body_bytes="2048").test_client()
    body = hook_body()
    body["prefetch"]["patient"]["text"] = {"status": "generated", "div": "x" * 4096}
    response = client.post(path, json=body)
    assert response.status_code == 413
    assert "LEUKEMIA_CDS_MAX_BODY_BYTES" in assert_operation_outcome(response.get_json(), 413)


def test_prefetch_entries_at_the_cap_pass_and_over_it_are_413(make_app, no_cards):
    client = make_app(max_bundle_entries="10").test_client()
    body = hook_body()
    body["prefetch"]["observations"] = observations(9)  # + the Patient = 10
    assert client.post(SERVICE, json=body).status_code == 200
    body["prefetch"]["conditions"] = observations(1, start=100)
    response = client.post(SERVICE, json=body)
    assert response.status_code == 413
    assert "LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES" in assert_operation_outcome(response.get_json(), 413)
    assert len(no_cards) == 1, "the decision module never sees an over-size record"


@responses.activate
def test_fetched_entries_over_the_cap_are_412_not_a_silent_truncation(make_app, no_cards):
    client = make_app(max_bundle_entries="10").test_client()
    page2 = f"{FHIR}/Observation?patient=pat-1&page=2"
    first = observations(6)
    first["link"] = [{"relation": "next", "url": page2}]
    responses.get(f"{FHIR}/Observation", json=first)
    responses.get(page2, json=observations(6, start=6))
    body = hook_body(fhirServer=FHIR, fhirAuthorization=fhir_authorization())
    del body["prefetch"]["observations"]
    response = client.post(SERVICE, json=body)
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES" in str(response.get_json())
    assert no_cards == []


@responses.activate
def test_prefetch_plus_fetched_over_the_cap_is_412(make_app, no_cards):
    client = make_app(max_bundle_entries="10").test_client()
    responses.get(f"{FHIR}/Observation", json=observations(5))
    body = hook_body(fhirServer=FHIR, fhirAuthorization=fhir_authorization())
    del body["prefetch"]["observations"]
    body["prefetch"]["conditions"] = observations(5, start=50)
    response = client.post(SERVICE, json=body)
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES" in assert_operation_outcome(response.get_json(), 412)


@responses.activate
def test_fhir_fetch_budget(make_app):
    client = make_app(fhir_budget_ms="150", fhir_connect_timeout_ms="100",
                      fhir_read_timeout_ms="100").test_client()

    finished = threading.Event()

    def slow(request):
        time.sleep(0.5)
        finished.set()
        return 200, {}, "{}"

    responses.add_callback(responses.GET, f"{FHIR}/Observation", callback=slow)
    body = hook_body(fhirServer=FHIR, fhirAuthorization=fhir_authorization())
    del body["prefetch"]["observations"]
    started = time.monotonic()
    response = client.post(SERVICE, json=body)
    assert time.monotonic() - started < 0.45, "the answer does not wait for the slow server"
    assert response.status_code == 412
    assert "LEUKEMIA_CDS_FHIR_BUDGET_MS" in str(response.get_json())
    # the abandoned fetch must not record its late call into the next test's mock
    assert finished.wait(5)
    time.sleep(0.05)


def test_oversized_jwt_is_refused_before_parsing(make_app):
    client = make_app().test_client()
    token = TEST_EHR.token(PUBLIC_URL + "/cds-services", padding="x" * 9000)
    response = client.get("/cds-services", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_setting_ranges_are_enforced():
    from service.config import ConfigError

    for value in ("0", "-1", "many"):
        with pytest.raises(ConfigError, match="LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES"):
            Settings.from_env({"LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES": value})
    assert Settings.from_env({}).max_bundle_entries == 20_000


def test_worker_timeout_reaches_gunicorn():
    settings = Settings.from_env({"LEUKEMIA_CDS_WORKER_TIMEOUT_S": "17",
                                  "LEUKEMIA_CDS_THREADS": "3",
                                  "LEUKEMIA_CDS_HEADER_TIMEOUT_S": "4",
                                  "LEUKEMIA_CDS_WORKER_CONNECTIONS": "200"})
    options = gunicorn_options(settings, argparse.Namespace(host="127.0.0.1", port=1,
                                                            workers=None))
    assert options["timeout"] == 17 and options["worker_class"] == "service.worker.Worker"
    assert options["threads"] == 3
    assert options["keepalive"] == 4 and options["worker_connections"] == 200
    assert options["graceful_timeout"] <= options["timeout"]
