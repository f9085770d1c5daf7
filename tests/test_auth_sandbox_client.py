"""Tokens minted exactly as the HL7 CDS Hooks sandbox mints them are accepted when its key is
pinned, offline: discovery, each hook and feedback (issue 24, key selection).

The sandbox signs with its published key (ES384), puts `kid` and a `jku` on every token and
gives each one a 300 s lifetime (`../shared/reference/cds-hooks-sandbox/README.md`). Its `jku`
cannot be fetched here, and must not need to be: the pinned key with that `kid` is used.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import responses
from flask import Flask

from service.synth import draft_order, generate, hook_request
from tests.conftest import PUBLIC_URL, SERVICE_FOR_HOOK

SANDBOX = Path(__file__).resolve().parents[2] / "shared" / "reference" / "cds-hooks-sandbox"
ISS = "https://sandbox.cds-hooks.org"
JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"


def sandbox_token(url: str, *, kid: str = KID, jku: str = JKU) -> str:
    """As the sandbox's jwt-generator.js builds it: header, claims and lifetime."""
    now = int(time.time())
    key = (SANDBOX / "ecprivkey.pem").read_bytes()
    return jwt.encode({"iss": ISS, "aud": url, "iat": now, "exp": now + 300,
                       "jti": str(uuid.uuid4())}, key, algorithm="ES384",
                      headers={"typ": "JWT", "kid": kid, "jku": jku})


def _call(app: Flask, path: str, body: dict[str, Any] | None = None, **token: str) -> Any:
    headers = {"Authorization": f"Bearer {sandbox_token(PUBLIC_URL + path, **token)}"}
    client = app.test_client()
    if body is None:
        return client.get(path, headers=headers)
    return client.post(path, json=body, headers=headers)


@pytest.fixture
def app(make_app, tmp_path) -> Flask:
    """A service that pins the sandbox's published key for its issuer, as the README says."""
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps([{"iss": ISS,
                                    "jwks": json.loads((SANDBOX / "jwks.json").read_text())}]))
    return make_app(clients=str(clients))


@responses.activate  # any attempt to fetch the jku would fail the call
def test_discovery_each_hook_and_feedback_with_sandbox_tokens(app) -> None:
    assert _call(app, "/cds-services").status_code == 200
    patient = generate("b-all-first-relapse-high-burden", size=60)
    order = draft_order("blinatumomab", patient.patient_id)
    cards_by_hook = {}
    for hook in SERVICE_FOR_HOOK:
        kwargs = {"orders": [order]} if hook != "patient-view" else {}
        response = _call(app, f"/cds-services/{SERVICE_FOR_HOOK[hook]}",
                         hook_request(patient.resources, hook, **kwargs))
        assert response.status_code == 200, (hook, response.get_json())
        cards_by_hook[hook] = response.get_json()["cards"]
        assert cards_by_hook[hook], hook
    card = cards_by_hook["patient-view"][0]
    service = SERVICE_FOR_HOOK["patient-view"]
    # the sandbox sends an override's reason with code and system but no display
    reason = {"code": card["overrideReasons"][0]["code"],
              "system": card["overrideReasons"][0]["system"]}
    feedback = {"feedback": [{"card": card["uuid"], "outcome": "overridden",
                              "overrideReason": {"reason": reason},
                              "outcomeTimestamp": "2026-12-03T10:00:00Z"}]}
    response = _call(app, f"/cds-services/{service}/feedback", feedback)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["stored"] == 1
    assert len(responses.calls) == 0
    # stored, and shown to the clinical lead, with the label of our own CodeSystem
    [summary] = [s for s in app.extensions["leukemia_cds.store"].feedback_summary()
                 if s.overridden]
    assert dict(summary.override_reasons) == {card["overrideReasons"][0]["display"]: 1}


@responses.activate
def test_an_unpinned_kid_with_an_unlisted_jku_is_still_refused(app) -> None:
    response = _call(app, "/cds-services", kid="another-key")
    assert response.status_code == 401
    assert len(responses.calls) == 0


def test_the_pinned_key_wins_but_the_signature_must_still_verify(app, tmp_path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    now = int(time.time())
    forged = jwt.encode({"iss": ISS, "aud": PUBLIC_URL + "/cds-services", "iat": now,
                         "exp": now + 300, "jti": str(uuid.uuid4())}, other, algorithm="ES384",
                        headers={"typ": "JWT", "kid": KID, "jku": JKU})
    response = app.test_client().get("/cds-services",
                                     headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
