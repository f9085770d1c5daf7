"""Feedback (CDS Hooks 2.0): accepted, overridden, duplicate, unknown card, malformed — and the
`leukemia-cds audit` report a clinical lead reads from it."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest
from flask import Flask

from service import advice
from service.audit_report import audit_command
from service.hooks import audit
from service.hooks.auth import LocalSigner, trusted_clients
from service.hooks.models import Card, Coding, Source, Suggestion
from tests.conftest import PATIENT_ID, PUBLIC_URL, TEST_EHR, bearer, hook_body
from tests.spec_rules import assert_operation_outcome

SERVICE = "/cds-services/leukemia-immunotherapy"
FEEDBACK = SERVICE + "/feedback"
WHEN = "2026-11-23T10:05:31Z"


def card(rec_id: str, suggestions: int = 1) -> Card:
    return Card(
        uuid=str(uuid.uuid4()), summary=f"Consider {rec_id}", indicator="info",
        source=Source(label="leukemia-cds"),
        suggestions=[Suggestion(label=f"Order {i}", uuid=str(uuid.uuid4()))
                     for i in range(suggestions)] or None,
        selectionBehavior="any" if suggestions else None,
        overrideReasons=[Coding(code="not-eligible", display="Patient not eligible",
                                system="https://leukemia-cds.example/override")],
        extension={"org.leukemia-cds.recommendation": {"id": rec_id}},
    )


@pytest.fixture
def app(make_app, tmp_path, monkeypatch) -> Flask:
    monkeypatch.setattr(advice, "advise", lambda call: [card("b-all.blinatumomab", 2),
                                                        card("aml.gemtuzumab", 0)])
    return make_app(data_dir=str(tmp_path / "data"))


def issue(app: Flask, path: str = SERVICE) -> list[dict[str, Any]]:
    """Call the service once; the cards it issued."""
    hook = "patient-view" if path == SERVICE else "order-sign"
    response = app.test_client().post(path, json=hook_body(hook))
    assert response.status_code == 200
    return response.get_json()["cards"]


def accepted(c: dict[str, Any], *suggestions: str) -> dict[str, Any]:
    ids = suggestions or (c["suggestions"][0]["uuid"],)
    return {"card": c["uuid"], "outcome": "accepted", "outcomeTimestamp": WHEN,
            "acceptedSuggestions": [{"id": s} for s in ids]}


def overridden(c: dict[str, Any], reason: str | None = "not-eligible",
               comment: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"card": c["uuid"], "outcome": "overridden", "outcomeTimestamp": WHEN}
    if reason or comment:
        item["overrideReason"] = {}
        if reason:
            item["overrideReason"]["reason"] = {
                "code": reason, "system": "https://leukemia-cds.example/override",
                "display": "Patient not eligible"}
        if comment:
            item["overrideReason"]["userComment"] = comment
    return item


def send(app: Flask, *items: dict[str, Any], path: str = FEEDBACK, **kw: Any):
    return app.test_client().post(path, json={"feedback": list(items)}, **kw)


def summary(app: Flask) -> dict[str, Any]:
    return {s.recommendation_id: s for s in app.extensions[audit.STORE].feedback_summary()}


def test_accepted_suggestion_is_stored_with_the_call_it_answers(app):
    blina, _gem = issue(app)
    response = send(app, accepted(blina, blina["suggestions"][1]["uuid"]))
    assert response.status_code == 200 and response.get_json() == {"stored": 1, "duplicates": 0}
    store = app.extensions[audit.STORE]
    [call] = store.recent_calls(1)
    assert store.find_card(blina["uuid"]).call_id == call["id"]
    assert summary(app)["b-all.blinatumomab"].accepted == 1


def test_overridden_with_reason_and_comment(app):
    _blina, gem = issue(app)
    assert send(app, overridden(gem, comment="CD33 is dim")).status_code == 200
    s = summary(app)["aml.gemtuzumab"]
    assert s.overridden == 1 and dict(s.override_reasons) == {"Patient not eligible": 1}
    assert s.comments == ["CD33 is dim"]


def test_overridden_without_a_reason(app):
    _blina, gem = issue(app)
    assert send(app, overridden(gem, reason=None)).status_code == 200
    assert dict(summary(app)["aml.gemtuzumab"].override_reasons) == {"(no reason given)": 1}


def test_several_cards_and_calls_in_one_request(app):
    first, second = issue(app), issue(app)
    response = send(app, accepted(first[0]), overridden(first[1]), overridden(second[1]))
    assert response.get_json() == {"stored": 3, "duplicates": 0}


def test_the_same_feedback_twice_is_stored_once(app):
    blina, _gem = issue(app)
    item = accepted(blina)
    assert send(app, item, item).get_json() == {"stored": 1, "duplicates": 1}
    assert send(app, item).get_json() == {"stored": 0, "duplicates": 1}
    # a different outcome for the same card (a later interaction) is new information
    assert send(app, overridden(blina)).get_json() == {"stored": 1, "duplicates": 0}
    assert summary(app)["b-all.blinatumomab"].accepted == 1


@pytest.mark.parametrize("target", ["made-up", "other-service", "other-client"])
def test_cards_this_service_did_not_issue_to_this_client_are_404(app, tmp_path, target):
    blina, _gem = issue(app)
    item = accepted(blina)
    path, headers = FEEDBACK, None
    if target == "made-up":
        item["card"] = str(uuid.uuid4())
    elif target == "other-service":
        path = "/cds-services/leukemia-immunotherapy-order-sign/feedback"
    else:
        other = LocalSigner.generate("https://other-hospital.example")
        trusted_clients(app).add(other.client)
        headers = bearer(PUBLIC_URL + FEEDBACK, other)
    response = send(app, item, path=path, headers=headers)
    assert response.status_code == 404
    assert "no card" in assert_operation_outcome(response.get_json(), 404)
    assert summary(app)["b-all.blinatumomab"].accepted == 0


def test_a_batch_with_one_bad_item_stores_nothing(app):
    blina, gem = issue(app)
    bad = accepted(blina)
    bad["card"] = "not-ours"
    assert send(app, overridden(gem), bad).status_code == 404
    assert summary(app)["aml.gemtuzumab"].overridden == 0


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda i, c: i.pop("card"), "card"),
        (lambda i, c: i.update(outcome="ignored"), "outcome"),
        (lambda i, c: i.pop("acceptedSuggestions"), "acceptedSuggestions"),
        (lambda i, c: i.update(acceptedSuggestions=[{}]), "acceptedSuggestions"),
        (lambda i, c: i.pop("outcomeTimestamp"), "outcomeTimestamp"),
        (lambda i, c: i.update(outcomeTimestamp="yesterday"), "outcomeTimestamp"),
        (lambda i, c: i.update(outcomeTimestamp="2026-11-23"), "outcomeTimestamp"),
        (lambda i, c: i.update(outcomeTimestamp="2026-11-23T10:05:31"), "outcomeTimestamp"),
        (lambda i, c: i.update(acceptedSuggestions=[{"id": "not-a-suggestion-of-it"}]),
         "not a suggestion"),
        (lambda i, c: i.update(outcome="overridden"), "contradict"),
        (lambda i, c: i.update(overrideReason={"userComment": "x"}), "overrideReason"),
    ],
)
def test_malformed_feedback_is_400(app, mutate, named):
    blina, _gem = issue(app)
    item = accepted(blina)
    mutate(item, blina)
    response = send(app, item)
    assert response.status_code == 400
    assert named in str(response.get_json())


@pytest.mark.parametrize("raw", [b"{oops", b"[]", b'{"feedback": []}', b'{"feedback": {}}', b""])
def test_malformed_bodies_are_400(app, raw):
    response = app.test_client().post(FEEDBACK, data=raw, content_type="application/json")
    assert response.status_code == 400
    assert_operation_outcome(response.get_json(), 400)


def test_unknown_service_is_404(app):
    response = send(app, {"card": "x"}, path="/cds-services/nope/feedback")
    assert response.status_code == 404


def test_too_many_items_is_413(app):
    blina, _gem = issue(app)
    response = send(app, *[accepted(blina)] * 501)
    assert response.status_code == 413


def test_order_sign_cards_get_feedback_at_their_own_service(app):
    path = "/cds-services/leukemia-immunotherapy-order-sign"
    blina, _gem = issue(app, path)
    assert send(app, accepted(blina), path=path + "/feedback").status_code == 200


# ---- the clinical lead's report --------------------------------------------------------------


def test_audit_report_counts_feedback_per_recommendation(app):
    for _ in range(3):
        blina, gem = issue(app)
        send(app, overridden(gem, comment=f"comment {PATIENT_ID}"))
    send(app, accepted(blina))
    settings = app.config["LEUKEMIA_CDS_SETTINGS"]
    out = io.StringIO()
    assert audit_command(settings, limit=2, out=out) == 0
    report = out.getvalue()
    assert "Recent hook calls (2 of 3" in report
    assert TEST_EHR.iss in report and "patient-view" in report
    gem_line = next(line for line in report.splitlines() if line.startswith("aml.gemtuzumab"))
    assert gem_line.split()[1:5] == ["3", "0", "3", "100%"]
    assert "Patient not eligible (3)" in gem_line
    blina_line = next(line for line in report.splitlines() if line.startswith("b-all.blina"))
    assert blina_line.split()[1:5] == ["3", "1", "0", "0%"]
    assert report.index("aml.gemtuzumab") < report.index("b-all.blinatumomab"), "most overridden"
    assert PATIENT_ID not in report, "comments only on request"

    out = io.StringIO()
    audit_command(settings, comments=True, out=out)
    assert f"comment: comment {PATIENT_ID}" in out.getvalue()


def test_audit_command_line(app, tmp_path):
    issue(app)
    settings = app.config["LEUKEMIA_CDS_SETTINGS"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env["LEUKEMIA_CDS_DATA_DIR"] = str(settings.data_dir)
    result = subprocess.run([sys.executable, "-m", "service", "audit"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Recent hook calls (1 of 1" in result.stdout
    assert "b-all.blinatumomab" in result.stdout

    env["LEUKEMIA_CDS_DATA_DIR"] = str(tmp_path / "empty")
    result = subprocess.run([sys.executable, "-m", "service", "audit"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "No audit database" in result.stdout


def test_feedback_needs_the_feedback_url_as_aud(app):
    blina, _gem = issue(app)
    response = send(app, accepted(blina), headers=bearer(PUBLIC_URL + SERVICE))
    assert response.status_code == 401

