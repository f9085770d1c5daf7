"""/metrics: Prometheus text with request counts and latency per hook and status, FHIR fetch
latency and failures, and cards per recommendation id — aggregated across gunicorn workers."""

from __future__ import annotations

import re

import pytest
import requests
import responses

from service.synth.generator import generate
from service.synth.hooks import prefetch_for
from tests.conftest import bearer, hook_body
from tests.test_server import server  # noqa: F401 (the real-server fixture)

URL = "/cds-services/leukemia-immunotherapy"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 when absent)."""
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def chart_request(scenario: str) -> dict:
    resources = [e["resource"] for e in generate(scenario, seed=3).bundle()["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return hook_body(context={"userId": "Practitioner/1", "patientId": pid},
                     prefetch=prefetch_for(resources))


def test_hook_calls_and_cards_are_counted(client):
    before = client.get("/metrics").get_data(as_text=True)
    body = chart_request("b-all-first-relapse-high-burden")
    cards = client.post(URL, json=body).get_json()["cards"]
    assert cards, "this chart must produce cards"
    client.post(URL, data=b"{broken", content_type="application/json")
    after = client.get("/metrics").get_data(as_text=True)

    labels = {"endpoint": "/cds-services/<service_id>", "hook": "patient-view"}
    assert sample(after, "leukemia_cds_requests_total", status="200", **labels) == \
        sample(before, "leukemia_cds_requests_total", status="200", **labels) + 1
    assert sample(after, "leukemia_cds_requests_total", status="400", **labels) == \
        sample(before, "leukemia_cds_requests_total", status="400", **labels) + 1
    assert sample(after, "leukemia_cds_request_seconds_count", status="200", **labels) >= 1
    first = cards[0]["extension"]["org.leukemia-cds.recommendation"]["id"]
    assert sample(after, "leukemia_cds_cards_total", hook="patient-view",
                  recommendation=first) == \
        sample(before, "leukemia_cds_cards_total", hook="patient-view", recommendation=first) + 1


@responses.activate
def test_fhir_fetch_latency_and_failures_are_counted(client):
    fhir = "https://fhir.example.org/r4"
    body = hook_body(fhirServer=fhir, fhirAuthorization={
        "access_token": "t", "token_type": "Bearer", "expires_in": 60,
        "scope": "patient/*.read", "subject": "cds"})
    del body["prefetch"]["observations"]
    del body["prefetch"]["procedures"]
    responses.get(f"{fhir}/Observation?patient=pat-1",
                  json={"resourceType": "Bundle", "type": "searchset"})
    responses.get(f"{fhir}/Procedure?patient=pat-1", status=401)
    before = client.get("/metrics").get_data(as_text=True)
    assert client.post(URL, json=body).status_code == 412
    after = client.get("/metrics").get_data(as_text=True)
    for key in ("observations", "procedures"):
        assert sample(after, "leukemia_cds_fhir_fetch_seconds_count", key=key) == \
            sample(before, "leukemia_cds_fhir_fetch_seconds_count", key=key) + 1
    assert sample(after, "leukemia_cds_fhir_fetch_failures_total", key="procedures") == \
        sample(before, "leukemia_cds_fhir_fetch_failures_total", key="procedures") + 1
    assert sample(after, "leukemia_cds_fhir_fetch_failures_total", key="observations") == \
        sample(before, "leukemia_cds_fhir_fetch_failures_total", key="observations")


def test_metrics_carry_no_patient_data(client):
    body = chart_request("t-all-relapsed-cd38")
    client.post(URL, json=body)
    text = client.get("/metrics").get_data(as_text=True)
    assert body["context"]["patientId"] not in text
    content_type = client.get("/metrics").content_type
    assert "text/plain" in content_type
    assert content_type.count("charset") == 1, content_type  # issue 22: it was said twice


@pytest.mark.slow
def test_metrics_add_up_across_gunicorn_workers(server):  # noqa: F811
    base, _process, _log = server
    url = f"{base}{URL}"
    sent = 12
    with requests.Session() as session:
        for _ in range(sent):
            # a new connection each time, so both workers take some of the calls
            response = requests.post(url, json=hook_body(), headers=bearer(url), timeout=10)
            assert response.status_code == 200
        text = session.get(f"{base}/metrics", timeout=10).text
    total = sample(text, "leukemia_cds_requests_total", endpoint="/cds-services/<service_id>",
                   hook="patient-view", status="200")
    assert total == sent, "a scrape must see every worker's counts, not one worker's"
