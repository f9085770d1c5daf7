"""The sandbox: off unless asked for, on for `serve`, and its tokens are good only for itself."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.config import ConfigError, Settings
from service.hooks.auth import LocalSigner
from service.hooks.services import PREFETCH, SERVICES
from service.sandbox import ISSUER, serve_profile, signer
from service.synth.scenarios import SCENARIOS

PUBLIC = "http://127.0.0.1:9"
STATIC = Path(__file__).resolve().parent.parent / "service" / "sandbox" / "static"


@pytest.fixture
def sandbox_app(make_app: Callable[..., Flask]) -> Flask:
    """A sandbox app whose test client signs nothing by itself: the page's tokens must do."""
    app = make_app(sandbox="on", public_url=PUBLIC)
    app.test_client_class = FlaskClient
    return app


def token_for(client, path: str) -> str:
    answer = client.post("/sandbox/api/token", json={"path": path})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert answer.headers["Cache-Control"] == "no-store"
    body = answer.get_json()
    assert body["aud"] == PUBLIC + path and body["iss"] == ISSUER
    return body["token"]


def test_settings_keep_the_sandbox_off_and_the_page_absent(make_app):
    assert Settings.from_env({}).sandbox is False
    client = make_app().test_client()
    assert client.get("/").status_code == 404
    assert client.post("/sandbox/api/token", json={"path": "/cds-services"}).status_code == 404


def test_serve_turns_it_on_unless_configured_off():
    on = serve_profile(Settings.from_env({}), {}, "127.0.0.1", 8123)
    assert on.sandbox and on.public_url == "http://127.0.0.1:8123"
    env = {"LEUKEMIA_CDS_SANDBOX": "off"}
    off = serve_profile(Settings.from_env(env), env, "0.0.0.0", 8080)
    assert not off.sandbox and off.public_url is None
    any_host = serve_profile(Settings.from_env({}), {}, "0.0.0.0", 8080)
    assert any_host.public_url == "http://127.0.0.1:8080"
    configured = {"LEUKEMIA_CDS_PUBLIC_URL": "https://cds.example.org"}
    kept = serve_profile(Settings.from_env(configured), configured, "0.0.0.0", 8080)
    assert kept.public_url == "https://cds.example.org"


def test_dockerfile_switches_the_sandbox_off():
    dockerfile = (Path(__file__).resolve().parent.parent / "Dockerfile").read_text("utf-8")
    final_stage = dockerfile.rsplit("FROM ", 1)[1]
    assert re.search(r"LEUKEMIA_CDS_SANDBOX=off", final_stage)


def test_sandbox_with_auth_needs_a_public_url(tmp_path):
    settings = Settings.from_env({"LEUKEMIA_CDS_SANDBOX": "on",
                                  "LEUKEMIA_CDS_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        create_app(settings)


def test_page_is_self_contained_and_locked_down(sandbox_app):
    client = sandbox_app.test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"leukemia-cds" in page.data
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for ref in re.findall(rb'(?:src|href)="([^"]+)"', page.data):
        assert ref.startswith(b"/sandbox/static/") or ref == b"data:,", ref
        if ref.startswith(b"/"):
            assert client.get(ref.decode()).status_code == 200, ref
    for asset in STATIC.iterdir():
        text = asset.read_text("utf-8")
        assert "<script src=\"http" not in text and "@import" not in text, asset.name


def test_patients_are_the_scenario_library_with_key_facts(sandbox_app):
    client = sandbox_app.test_client()
    listing = client.get("/sandbox/api/patients").get_json()
    assert {p["scenario"]["id"] for p in listing["patients"]} == set(SCENARIOS)
    names = [p["name"] for p in listing["patients"]]
    assert len(set(names)) == len(names), "a reviewer picks patients by name"
    first = listing["patients"][0]
    assert first["keyFacts"] and first["orders"] and first["name"]
    prefetch = client.get(f"/sandbox/api/patients/{first['id']}/prefetch").get_json()
    assert set(prefetch) == set(PREFETCH)
    assert prefetch["patient"]["id"] == first["id"]
    bundle = client.get(f"/sandbox/api/patients/{first['id']}/bundle").get_json()
    assert bundle["resourceType"] == "Bundle" and len(bundle["entry"]) == first["resources"]
    draft = client.get(f"/sandbox/api/patients/{first['id']}/draft/blinatumomab").get_json()
    assert draft["status"] == "draft" and draft["subject"]["reference"].endswith(first["id"])
    assert client.get("/sandbox/api/patients/nobody/prefetch").status_code == 404
    assert client.get(f"/sandbox/api/patients/{first['id']}/draft/aspirin").status_code == 404


def test_tokens_open_exactly_the_endpoint_they_were_minted_for(sandbox_app):
    client = sandbox_app.test_client()
    assert client.get("/cds-services").status_code == 401, "auth stays on"
    good = token_for(client, "/cds-services")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {good}"}
                      ).status_code == 200
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {good}"}
                      ).status_code == 401, "a token is good once (jti)"
    other = token_for(client, "/cds-services/leukemia-immunotherapy")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {other}"}
                      ).status_code == 401, "aud binds the token to its endpoint"


@pytest.mark.parametrize("body", [
    {"path": "/sandbox/api/patients"}, {"path": "/cds-services/nope"},
    {"path": "https://evil.example/cds-services"}, {"path": "/cds-services/../x"}, {}, [],
])
def test_token_endpoint_signs_only_for_this_service(sandbox_app, body):
    answer = sandbox_app.test_client().post("/sandbox/api/token", json=body)
    assert answer.status_code == 400


def test_token_endpoint_wants_json_so_a_cross_site_form_cannot_use_it(sandbox_app):
    answer = sandbox_app.test_client().post("/sandbox/api/token",
                                            data={"path": "/cds-services"})
    assert answer.status_code == 400


def test_feedback_path_is_signable_for_every_service(sandbox_app):
    client = sandbox_app.test_client()
    for service_id in SERVICES:
        token_for(client, f"/cds-services/{service_id}/feedback")


def test_the_sandbox_key_is_trusted_only_where_the_sandbox_is_on(make_app, sandbox_app):
    key = signer()
    assert isinstance(key, LocalSigner) and key.alg == "ES384"
    plain_app = make_app(public_url=PUBLIC)
    plain_app.test_client_class = FlaskClient
    plain = plain_app.test_client()
    minted = key.token(PUBLIC + "/cds-services")
    assert plain.get("/cds-services",
                     headers={"Authorization": f"Bearer {minted}"}).status_code == 401


def test_with_auth_off_the_page_gets_no_token_and_needs_none(make_app):
    app = make_app(sandbox="on", auth="off")
    app.test_client_class = FlaskClient
    client = app.test_client()
    assert client.post("/sandbox/api/token", json={"path": "/cds-services"}
                       ).get_json()["token"] is None
    assert client.get("/cds-services").status_code == 200


def test_the_sandbox_shows_the_trial_pre_screen_until_a_registry_is_imported(sandbox_app):
    """Issue 23: with nothing imported the sandbox screens against its synthetic trials; a
    real import replaces them at once, and the synthetic ones are never stored."""
    import time

    from service.store.trial_registry import registry_state, replace_registry
    from service.trials.ctgov import parse_response

    client = sandbox_app.test_client()
    path = "/cds-services/leukemia-immunotherapy"
    body = {"hook": "patient-view", "hookInstance": "7d2c9d4e-1f5b-4a33-9a0e-3c1d2b7e9f10",
            "context": {"userId": "Practitioner/1", "patientId": "ph-pos-newdx-70-0"},
            "prefetch": client.get("/sandbox/api/patients/ph-pos-newdx-70-0/prefetch"
                                   ).get_json()}

    def trial_details() -> list[str]:
        answer = client.post(path, json=body,
                             headers={"Authorization": f"Bearer {token_for(client, path)}"})
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return [c["detail"] for c in answer.get_json()["cards"]
                if "TRIAL-REGISTRY" in c["extension"]["org.leukemia-cds.recommendation"]["ids"]]

    [detail] = trial_details()
    assert "NCT90000002" in detail and "never: the sandbox's synthetic trials" in detail
    store = sandbox_app.extensions["leukemia_cds.store"]
    assert registry_state(store) is None
    real, _ = parse_response({"studies": []}, where="empty sync")
    replace_registry(store, real, source="test", refreshed_at=datetime.now(UTC))
    sandbox_app.extensions["leukemia_cds.advisor"].registry.refresh_s = 0
    time.sleep(0.01)
    assert trial_details() == []
