"""PHI-safe logs: requests full of recognisable patient data and tokens leave none of it in the log.

The log is captured exactly as production writes it (`logs.configure`, JSON on a stream) at DEBUG,
the most talkative level, across success and every error path.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import Iterator

import pytest
import responses

from service import advice, logs
from service.hooks.models import Card, Source
from tests.conftest import PUBLIC_URL, TEST_EHR, bearer, hook_body

SERVICE = "/cds-services/leukemia-immunotherapy"
MRN = "MRN-7741-PHI"
NAME = "Philippa-Quetzalcoatl"
BIRTH = "1961-07-13"
PHONE = "+44-7700-900123"
ACCESS_TOKEN = "ACCESS-TOKEN-d41d8cd98f00"
COMMENT = "Mrs Quetzalcoatl declined"
FHIR = "https://fhir.hospital.example/r4"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def phi_body(hook_instance: str | None = None) -> dict:
    body = hook_body(fhirServer=FHIR, fhirAuthorization={
        "access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": NAME, "patient": MRN})
    body["hookInstance"] = hook_instance or str(uuid.uuid4())
    body["context"]["patientId"] = MRN
    body["context"]["userId"] = f"Practitioner/{NAME}"
    body["prefetch"]["patient"] = {
        "resourceType": "Patient", "id": MRN, "birthDate": BIRTH,
        "name": [{"family": NAME}], "telecom": [{"system": "phone", "value": PHONE}]}
    return body


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@responses.activate
def test_no_patient_data_or_token_reaches_the_log(make_app, monkeypatch, log_output):
    app = make_app(fhir_allowed_hosts="fhir.hospital.example")
    client = app.test_client()
    jwt_token = TEST_EHR.token(PUBLIC_URL + SERVICE, sub=f"Practitioner/{NAME}")
    secrets = [MRN, NAME, BIRTH, PHONE, ACCESS_TOKEN, COMMENT, jwt_token,
               *jwt_token.split(".")]

    # 200, with cards
    card = Card(uuid=str(uuid.uuid4()), summary="Consider blinatumomab", indicator="info",
                source=Source(label="leukemia-cds"),
                extension={"org.leukemia-cds.recommendation": {"id": "b-all.x"}})
    monkeypatch.setattr(advice, "advise", lambda call: [card])
    ok = client.post(SERVICE, json=phi_body(), headers={"Authorization": f"Bearer {jwt_token}"})
    assert ok.status_code == 200
    # 401: the same token again (replay) and a forged one carrying PHI in its claims
    assert client.post(SERVICE, json=phi_body(),
                       headers={"Authorization": f"Bearer {jwt_token}"}).status_code == 401
    assert client.get("/cds-services", headers=bearer(
        PUBLIC_URL + SERVICE, patient=MRN, name=NAME)).status_code == 401
    # 400: hookInstance that is not a UUID but a name, and a context with PHI in the wrong place
    assert client.post(SERVICE, json=phi_body(hook_instance=NAME)).status_code == 200
    bad = phi_body()
    bad["context"]["draftOrders"] = NAME
    bad["hook"] = "order-sign"
    assert client.post(SERVICE, json=bad).status_code == 400
    # 412: the FHIR server fails on a fetch whose URL carries the patient id
    missing = phi_body()
    del missing["prefetch"]["observations"]
    responses.get(f"{FHIR}/Observation", status=500,
                  json={"resourceType": "OperationOutcome", "issue": [
                      {"severity": "error", "code": "exception", "diagnostics": MRN}]})
    assert client.post(SERVICE, json=missing).status_code == 412
    # 500: an exception whose message quotes the patient
    monkeypatch.setattr(advice, "advise",
                        lambda call: (_ for _ in ()).throw(RuntimeError(f"{MRN} {NAME}")))
    assert client.post(SERVICE, json=phi_body()).status_code == 500
    # 404 with PHI in the path and query; feedback with a free-text comment
    assert client.post(f"/cds-services/{MRN}?name={NAME}", json=phi_body()).status_code == 404
    assert client.post(f"{SERVICE}/feedback", json={"feedback": [{
        "card": card.uuid, "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z",
        "overrideReason": {"userComment": COMMENT}}]}).status_code == 200

    output = log_output.getvalue()
    for secret in secrets:
        assert secret not in output, f"{secret[:20]}… leaked into the log"

    records = lines(log_output)
    requests_logged = [r for r in records if r.get("event") == "request"]
    assert [r["status"] for r in requests_logged] == [200, 401, 401, 200, 400, 412, 500, 404, 200]
    assert all(r["request_id"] and r["latency_ms"] >= 0 for r in requests_logged)
    assert requests_logged[0]["request_id"] == ok.headers["X-Request-ID"]
    assert requests_logged[0]["route"] == "/cds-services/<service_id>"
    assert requests_logged[0]["service_id"] == "leukemia-immunotherapy"
    assert "service_id" not in requests_logged[7], "unknown ids are not echoed"
    assert requests_logged[3]["hook_instance"] == "<not-a-uuid>"
    refusals = [r for r in records if r.get("event") == "auth_refused"]
    assert [r["reason"] for r in refusals] == ["jti replayed", "aud does not name the endpoint "
                                                              "invoked"]
    crash = next(r for r in records if r.get("error_type") == "RuntimeError")
    assert crash["stack"] and crash["request_id"] == requests_logged[6]["request_id"]


def test_formatter_keeps_only_allow_listed_fields_and_message_templates(log_output):
    log = logging.getLogger("service.anything")
    log.warning("patient %s seen", MRN, extra={"patient": MRN, "status": 200, "reason": "x"})
    try:
        raise ValueError(NAME)
    except ValueError:
        log.exception("failed")
    out = log_output.getvalue()
    assert MRN not in out and NAME not in out
    first, second = lines(log_output)
    assert first["msg"] == "patient %s seen" and first["status"] == 200 and "patient" not in first
    assert second["error_type"] == "ValueError" and second["level"] == "ERROR"


def test_chatty_libraries_stay_quiet_even_at_debug(log_output):
    assert logging.getLogger("urllib3").getEffectiveLevel() >= logging.WARNING
    logging.getLogger("urllib3.connectionpool").debug(f"GET /Patient/{MRN}")
    assert MRN not in log_output.getvalue()


def test_every_line_is_one_json_object_with_time_and_level(make_app, log_output):
    make_app().test_client().get("/cds-services")
    for record in lines(log_output):
        assert {"time", "level", "logger", "msg"} <= set(record)
        assert record["time"].startswith(time.strftime("%Y", time.gmtime()))
