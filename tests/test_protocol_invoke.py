"""Invocation: request validation, hook/context per the hook library, status codes, bodies."""

from __future__ import annotations

import json

import pytest

from service import advice
from service.hooks.models import Card, Source
from tests.conftest import SERVICE_FOR_HOOK, blinatumomab_order, draft_orders, hook_body
from tests.spec_rules import assert_operation_outcome, spec_violations


@pytest.fixture
def captured(monkeypatch):
    """Record the resolved calls handed to the decision seam (and answer with no cards)."""
    calls: list[advice.HookCall] = []

    def fake(call: advice.HookCall) -> list[Card]:
        calls.append(call)
        return []

    monkeypatch.setattr(advice, "advise", fake)
    return calls


@pytest.mark.parametrize("hook", sorted(SERVICE_FOR_HOOK))
def test_each_hook_is_answered_with_a_cards_array(client, captured, hook):
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}", json=hook_body(hook))
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"cards": []}
    assert captured[0].hook == hook
    assert captured[0].context.patientId == "pat-1"


def test_draft_orders_bundle_without_type_is_accepted(client, captured):
    body = hook_body("order-sign")
    assert "type" not in body["context"]["draftOrders"]
    assert client.post("/cds-services/leukemia-immunotherapy-order-sign", json=body).status_code \
        == 200
    assert captured[0].context.draftOrders.entry[0]["resource"]["id"] == "draft-1"


def test_hook_must_match_the_service(client, captured):
    body = hook_body("order-sign")
    response = client.post("/cds-services/leukemia-immunotherapy", json=body)
    assert response.status_code == 400
    assert "patient-view" in assert_operation_outcome(response.get_json(), 400)
    assert captured == []


@pytest.mark.parametrize(
    ("hook", "mutate", "expected"),
    [
        ("patient-view", lambda b: b.pop("hookInstance"), "hookInstance"),
        ("patient-view", lambda b: b.pop("context"), "context"),
        ("patient-view", lambda b: b["context"].pop("patientId"), "context.patientId"),
        ("patient-view", lambda b: b["context"].pop("userId"), "context.userId"),
        ("order-select", lambda b: b["context"].pop("selections"), "context.selections"),
        ("order-select", lambda b: b["context"].update(selections=[]), "context.selections"),
        ("order-sign", lambda b: b["context"].pop("draftOrders"), "context.draftOrders"),
        ("order-sign", lambda b: b["context"].update(draftOrders={"resourceType": "Patient"}),
         "draftOrders"),
        ("patient-view", lambda b: b.update(prefetch=[1, 2]), "prefetch"),
        ("patient-view", lambda b: b.update(fhirAuthorization={
            "access_token": "t", "token_type": "Bearer", "expires_in": 300,
            "scope": "patient/*.read", "subject": "cds"}), "fhirServer"),
        ("patient-view", lambda b: b.update(fhirServer="https://f.example.org",
                                            fhirAuthorization={
            "access_token": "t", "token_type": "MAC", "expires_in": 300,
            "scope": "patient/*.read", "subject": "cds"}), "token_type"),
    ],
)
def test_schema_violations_are_400_naming_the_field(client, captured, hook, mutate, expected):
    body = hook_body(hook)
    mutate(body)
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}", json=body)
    assert response.status_code == 400
    outcome = response.get_json()
    assert_operation_outcome(outcome, 400)
    assert expected in json.dumps(outcome)
    assert captured == []


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[]", b'"text"', b"\xff\xfe"])
def test_malformed_bodies_are_400(client, raw):
    response = client.post("/cds-services/leukemia-immunotherapy", data=raw,
                           content_type="application/json")
    assert response.status_code == 400
    assert_operation_outcome(response.get_json(), 400)


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/no-such-service", json=hook_body())
    assert response.status_code == 404
    assert "no-such-service" in assert_operation_outcome(response.get_json(), 404)


def test_unknown_path_is_404_json(client):
    response = client.get("/definitely/not/here")
    assert response.status_code == 404
    assert_operation_outcome(response.get_json(), 404)


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/cds-services/leukemia-immunotherapy"), ("post", "/cds-services"),
     ("delete", "/cds-services/leukemia-immunotherapy"), ("put", "/healthz")],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    response = getattr(client, method)(path)
    assert response.status_code == 405
    assert response.headers["Allow"]
    assert_operation_outcome(response.get_json(), 405)


def test_body_over_the_limit_is_413(make_app):
    client = make_app(max_body_bytes="2048").test_client()
    body = hook_body()
    body["prefetch"]["patient"]["text"] = {"status": "generated", "div": "x" * 4096}
    response = client.post("/cds-services/leukemia-immunotherapy", json=body)
    assert response.status_code == 413
    assert "LEUKEMIA_CDS_MAX_BODY_BYTES" in assert_operation_outcome(response.get_json(), 413)


def test_unexpected_error_is_500_without_a_stack_trace(client, monkeypatch):
    def explode(call):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(advice, "advise", explode)
    response = client.post("/cds-services/leukemia-immunotherapy", json=hook_body())
    assert response.status_code == 500
    diagnostics = assert_operation_outcome(response.get_json(), 500)
    assert "secret internal detail" not in diagnostics


def test_cards_are_serialised_without_nulls(client, monkeypatch):
    card = Card(summary="Consider blinatumomab", indicator="info",
                source=Source(label="leukemia-cds"))
    monkeypatch.setattr(advice, "advise", lambda call: [card])
    body = client.post("/cds-services/leukemia-immunotherapy", json=hook_body()).get_json()
    assert body == {"cards": [{"summary": "Consider blinatumomab", "indicator": "info",
                               "source": {"label": "leukemia-cds"}}]}
    assert spec_violations(body) == []


def test_order_hooks_see_the_draft_orders_and_selections(client, captured):
    body = hook_body("order-select")
    body["context"]["draftOrders"] = draft_orders(blinatumomab_order("a"), blinatumomab_order("b"))
    body["context"]["selections"] = ["MedicationRequest/b"]
    assert client.post("/cds-services/leukemia-immunotherapy-order-select", json=body) \
        .status_code == 200
    assert captured[0].context.selections == ["MedicationRequest/b"]
    assert len(captured[0].context.draftOrders.entry) == 2


def test_health_and_readiness(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["status"] == "ready"


def test_readiness_reports_a_failing_check_as_503(app):
    app.extensions["leukemia_cds.readiness"]["catalogue"] = lambda: "cards/ failed to load"
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "catalogue" in assert_operation_outcome(response.get_json(), 503)


def test_no_card_for_any_synthetic_patient_breaks_the_json_rules(client):
    """2.0 forbids null, "", [] and {} anywhere in a response (extensions included) except the
    top-level `cards`: every scenario, on patient-view and with every contract drug drafted."""
    from service.synth.codes import DRUGS
    from service.synth.generator import generate
    from service.synth.hooks import draft_order, hook_request
    from service.synth.scenarios import SCENARIOS

    seen = 0
    for scenario in SCENARIOS:
        chart = generate(scenario, seed=3).bundle()
        pid = next(e["resource"]["id"] for e in chart["entry"]
                   if e["resource"]["resourceType"] == "Patient")
        orders = [draft_order(drug, pid) for drug in sorted(DRUGS)]
        for hook, kwargs in (("patient-view", {}), ("order-sign", {"orders": orders})):
            response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[hook]}",
                                   json=hook_request(chart, hook, **kwargs))
            assert response.status_code == 200, (scenario, hook)
            body = response.get_json()
            assert spec_violations(body) == [], (scenario, hook)
            seen += len(body["cards"])
    assert seen > 100
