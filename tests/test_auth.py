"""Client authentication: what an attacker would send is refused; what an EHR sends is accepted.

Every refusal is the same bland 401, so each test also checks that the *reason* we expect is the
one logged — otherwise a test for "expired" could pass because of an unrelated bad signature.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from flask import Flask
from flask.testing import FlaskClient

from service.config import ConfigError
from service.hooks import auth
from service.hooks.auth import LocalSigner, TrustedClient
from tests.conftest import PUBLIC_URL, TEST_EHR, bearer, hook_body, write_clients

DISCOVERY = "/cds-services"
SERVICE = "/cds-services/leukemia-immunotherapy"
JKU = "https://keys.ehr.example/jwks.json"
RSA_EHR = LocalSigner.generate("https://rsa-ehr.example", alg="RS384")
JKU_EHR = LocalSigner.generate("https://jku-ehr.example", kid="k1")
ATTACKER = LocalSigner.generate("https://evil.example")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes = b"") -> str:
    """A token built by hand: any alg, any signature (HMAC with `key`, or none)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest() if key else b""
    return f"{signing_input}.{b64(signature)}"


def claims(aud: str, **override: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": TEST_EHR.iss, "aud": aud, "iat": now, "exp": now + 60,
            "jti": uuid.uuid4().hex, **override}


@pytest.fixture
def app(make_app, tmp_path) -> Flask:
    clients = write_clients(tmp_path / "clients.json", TEST_EHR, RSA_EHR)
    entries = json.loads(clients.read_text())
    entries.append({"iss": JKU_EHR.iss, "jku": [JKU]})
    clients.write_text(json.dumps(entries))
    return make_app(clients=str(clients))


@pytest.fixture
def refused(app, caplog):
    """Send `token` (or no header); assert the generic 401 and that `reason` was logged."""
    client = app.test_client()

    def check(token: str | None, reason: str, path: str = DISCOVERY) -> None:
        caplog.clear()
        headers = {"Authorization": f"Bearer {token}" if token is not None else ""}
        if path == DISCOVERY:
            response = client.get(path, headers=headers)
        else:
            response = client.post(path, json=hook_body(), headers=headers)
        assert response.status_code == 401
        body = response.get_json()
        assert body["resourceType"] == "OperationOutcome"
        assert body["issue"][0]["diagnostics"] == auth.REFUSED, "must not say which check failed"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        reasons = [r.reason for r in caplog.records if getattr(r, "event", "") == "auth_refused"]
        assert reasons and reason in reasons[0], reasons
        if token:
            assert all(token not in r.getMessage() for r in caplog.records)

    return check


def accepted(app: Flask, token: str, path: str = DISCOVERY) -> None:
    response = app.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()


# ---- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES384", "RS384", "ES256", "RS256"])
def test_a_correctly_signed_token_is_accepted(make_app, tmp_path, alg):
    signer = LocalSigner.generate(f"https://{alg.lower()}.example", alg=alg)
    app = make_app(clients=str(write_clients(tmp_path / "c.json", signer)))
    accepted(app, signer.token(PUBLIC_URL + DISCOVERY))
    response = app.test_client().post(SERVICE, json=hook_body(),
                                      headers=bearer(PUBLIC_URL + SERVICE, signer))
    assert response.status_code == 200


def test_es384_and_rs384_with_extra_claims_and_aud_as_list(app):
    accepted(app, TEST_EHR.token(PUBLIC_URL + DISCOVERY, sub="Practitioner/1", tenant=None,
                                 custom={"x": 1}))
    accepted(app, RSA_EHR.token([PUBLIC_URL + DISCOVERY], sub="cds"))


def test_health_readiness_and_openapi_need_no_token(app):
    plain = FlaskClient(app, app.response_class)
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert plain.get(path).status_code == 200, path


def test_public_url_with_a_path_prefix_behind_a_proxy(make_app):
    app = make_app(public_url="https://cds.hospital.org/leukemia/")
    accepted(app, TEST_EHR.token("https://cds.hospital.org/leukemia/cds-services"))
    response = app.test_client().get(
        DISCOVERY, headers={"Authorization": f"Bearer {TEST_EHR.token(PUBLIC_URL + DISCOVERY)}"})
    assert response.status_code == 401


# ---- refused ---------------------------------------------------------------------------------


def test_no_token(app, refused):
    refused(None, "no bearer token")
    plain = FlaskClient(app, app.response_class)
    assert plain.get(DISCOVERY).status_code == 401
    assert plain.post(SERVICE, json=hook_body()).status_code == 401
    assert plain.post(SERVICE + "/feedback", json={"feedback": []}).status_code == 401


def test_not_a_jwt(refused):
    refused("not-a-token", "malformed")
    refused("a.b.c", "malformed")


def test_alg_none(refused):
    token = forge({"alg": "none", "typ": "JWT", "kid": TEST_EHR.kid}, claims(PUBLIC_URL + SERVICE))
    refused(token, "alg not allowed", SERVICE)


@pytest.mark.parametrize("alg", ["HS256", "HS384"])
def test_hmac_signed_with_the_clients_public_key(refused, alg):
    """The classic key-confusion attack: the public key (public!) used as an HMAC secret."""
    public = jwt.PyJWK(TEST_EHR.public_jwk()).key
    for encoding in (serialization.Encoding.PEM, serialization.Encoding.DER):
        secret = public.public_bytes(encoding, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = forge({"alg": alg, "typ": "JWT", "kid": TEST_EHR.kid},
                      claims(PUBLIC_URL + DISCOVERY), key=secret)
        refused(token, "alg not allowed")


@pytest.mark.parametrize("alg", ["PS384", "ES512", "EdDSA", "RS512", "NONE", ""])
def test_other_algorithms_are_not_on_the_list(refused, alg):
    refused(forge({"alg": alg, "kid": TEST_EHR.kid}, claims(PUBLIC_URL + DISCOVERY), key=b"k"),
            "alg not allowed")


def test_wrong_iss(refused):
    refused(ATTACKER.token(PUBLIC_URL + DISCOVERY), "iss not trusted")


def test_trusted_iss_but_signed_by_another_key(refused):
    impostor = LocalSigner.generate(TEST_EHR.iss, kid=TEST_EHR.kid)
    refused(impostor.token(PUBLIC_URL + DISCOVERY), "bad signature")


def test_tampered_payload(refused):
    header, _payload, signature = TEST_EHR.token(PUBLIC_URL + DISCOVERY).split(".")
    payload = b64(json.dumps(claims(PUBLIC_URL + DISCOVERY, sub="admin")).encode())
    refused(f"{header}.{payload}.{signature}", "bad signature")


def test_key_of_the_wrong_curve_for_the_alg(make_app, tmp_path, refused):
    p256 = LocalSigner.generate(TEST_EHR.iss + "/p256", alg="ES256")
    app = make_app(clients=str(write_clients(tmp_path / "c.json", p256)))
    token = forge({"alg": "ES384", "typ": "JWT", "kid": p256.kid}, claims(PUBLIC_URL, iss=p256.iss))
    client = app.test_client()
    response = client.get(DISCOVERY, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_unknown_kid_with_inline_keys(refused):
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, headers={"kid": "nope"}), "kid unknown")


def test_missing_kid(refused):
    token = jwt.encode(claims(PUBLIC_URL + DISCOVERY), TEST_EHR._private_key, algorithm="ES384")
    refused(token, "kid missing")


@responses.activate
def test_jku_off_the_allow_list_is_never_fetched(refused):
    evil = "https://evil.example/jwks.json"
    responses.get(evil, json={"keys": [ATTACKER.public_jwk()]})
    forged = LocalSigner(JKU_EHR.iss, ATTACKER._private_key, kid=ATTACKER.kid)
    refused(forged.token(PUBLIC_URL + DISCOVERY, headers={"jku": evil}), "jku not on")
    # the trusted inline client cannot be redirected to attacker keys either
    forged = LocalSigner(TEST_EHR.iss, ATTACKER._private_key, kid=ATTACKER.kid)
    refused(forged.token(PUBLIC_URL + DISCOVERY, headers={"jku": evil}), "jku not on")
    assert len(responses.calls) == 0


@pytest.mark.parametrize(
    "aud",
    [PUBLIC_URL + SERVICE, "https://other-cds.example/cds-services", PUBLIC_URL,
     PUBLIC_URL + DISCOVERY + "/", [PUBLIC_URL + SERVICE, "https://x.example"]],
)
def test_wrong_aud(refused, aud):
    refused(TEST_EHR.token(aud), "aud does not name")


def test_aud_for_discovery_does_not_open_a_service(refused):
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY), "aud does not name", SERVICE)


def test_expired(refused):
    now = int(time.time())
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, iat=now - 200, exp=now - 61), "expired")


def test_expiry_within_the_clock_skew_is_tolerated(app):
    now = int(time.time())
    accepted(app, TEST_EHR.token(PUBLIC_URL + DISCOVERY, iat=now - 100, exp=now - 30))


def test_future_nbf(refused):
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, nbf=int(time.time()) + 120), "not yet valid")


def test_issued_in_the_future(refused):
    now = int(time.time())
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, iat=now + 120, exp=now + 180), "future")


def test_lifetime_longer_than_allowed(refused):
    now = int(time.time())
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, iat=now, exp=now + 301), "lifetime")


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "aud"])
def test_required_claims(refused, claim):
    payload = claims(PUBLIC_URL + DISCOVERY)
    del payload[claim]
    token = jwt.encode(payload, TEST_EHR._private_key, algorithm="ES384",
                       headers={"kid": TEST_EHR.kid})
    refused(token, "missing" if claim != "aud" else "aud")


def test_tenant_other_than_the_clients(refused):
    refused(TEST_EHR.token(PUBLIC_URL + DISCOVERY, tenant="another-hospital"), "tenant")


def test_replayed_jti(app, refused):
    token = TEST_EHR.token(PUBLIC_URL + DISCOVERY)
    accepted(app, token)
    refused(token, "jti replayed")


def test_same_jti_from_two_issuers_is_not_a_replay(app):
    jti = uuid.uuid4().hex
    accepted(app, TEST_EHR.token(PUBLIC_URL + DISCOVERY, jti=jti))
    accepted(app, RSA_EHR.token(PUBLIC_URL + DISCOVERY, jti=jti))


def test_replay_across_two_app_instances_sharing_a_database(make_app, tmp_path):
    shared = str(tmp_path / "shared")
    first, second = make_app(data_dir=shared), make_app(data_dir=shared)
    token = TEST_EHR.token(PUBLIC_URL + SERVICE)
    headers = {"Authorization": f"Bearer {token}"}
    assert first.test_client().post(SERVICE, json=hook_body(), headers=headers).status_code == 200
    assert second.test_client().post(SERVICE, json=hook_body(), headers=headers).status_code == 401


def test_refusals_are_indistinguishable(app):
    now = int(time.time())
    tokens = [None, "x", ATTACKER.token(PUBLIC_URL + DISCOVERY),
              TEST_EHR.token(PUBLIC_URL + SERVICE),
              TEST_EHR.token(PUBLIC_URL + DISCOVERY, iat=now - 400, exp=now - 100)]
    bodies = set()
    for token in tokens:
        headers = {"Authorization": f"Bearer {token}" if token else ""}
        response = app.test_client().get(DISCOVERY, headers=headers)
        bodies.add((response.status_code, response.get_data()))
    assert len(bodies) == 1


# ---- keys from jku: fetch, cache, rotation ---------------------------------------------------


@pytest.fixture
def clock(app):
    now = [1000.0]
    app.extensions[auth.EXTENSION].jwks.clock = lambda: now[0]
    return now


@responses.activate
def test_jku_keys_are_fetched_once_and_cached(app, clock):
    responses.get(JKU, json={"keys": [JKU_EHR.public_jwk()]})
    for _ in range(3):
        accepted(app, JKU_EHR.token(PUBLIC_URL + DISCOVERY, headers={"jku": JKU}))
    accepted(app, JKU_EHR.token(PUBLIC_URL + DISCOVERY))  # no jku header: the configured one
    assert len(responses.calls) == 1
    clock[0] += 3601  # keys age out, so a revoked key stops working
    accepted(app, JKU_EHR.token(PUBLIC_URL + DISCOVERY))
    assert len(responses.calls) == 2


@responses.activate
def test_key_rotation_unknown_kid_triggers_a_refetch(app, clock, refused):
    old = JKU_EHR
    new = LocalSigner.generate(JKU_EHR.iss, kid="k2")
    first = responses.get(JKU, json={"keys": [old.public_jwk()]})
    accepted(app, old.token(PUBLIC_URL + DISCOVERY))

    # The EHR rotates: its JWKS now holds only k2.
    responses.replace(responses.GET, JKU, json={"keys": [new.public_jwk()]})
    clock[0] += 11
    accepted(app, new.token(PUBLIC_URL + DISCOVERY))
    assert len(responses.calls) == 2
    refused(old.token(PUBLIC_URL + DISCOVERY), "kid unknown")  # the retired key is gone
    assert first is not None


@responses.activate
def test_random_kids_do_not_make_us_hammer_the_jwks_url(app, clock, refused):
    responses.get(JKU, json={"keys": [JKU_EHR.public_jwk()]})
    for _ in range(5):
        forged = LocalSigner(JKU_EHR.iss, ATTACKER._private_key, kid=uuid.uuid4().hex)
        refused(forged.token(PUBLIC_URL + DISCOVERY), "kid unknown")
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(
    "answer",
    [dict(body=requests.ConnectTimeout()), dict(status=500, json={}),
     dict(body="<html>"), dict(json={"keys": "no"}), dict(status=302, headers={"Location": "x"}),
     dict(body=b"{" + b" " * 70_000 + b"}")],
)
def test_jwks_fetch_problems_are_refusals(app, refused, answer):
    responses.get(JKU, **answer)
    refused(JKU_EHR.token(PUBLIC_URL + DISCOVERY), "jku")


@responses.activate
def test_jwks_with_symmetric_or_private_keys_is_not_used(app, refused):
    private = {**JKU_EHR.public_jwk(), "d": "AAAA"}
    oct_key = {"kty": "oct", "kid": JKU_EHR.kid, "k": b64(b"secret")}
    responses.get(JKU, json={"keys": [private, oct_key]})
    refused(JKU_EHR.token(PUBLIC_URL + DISCOVERY), "kid unknown")


# ---- configuration and the live registry -----------------------------------------------------


def test_no_clients_configured_refuses_every_call(make_app, caplog):
    app = make_app(clients="")
    assert any(getattr(r, "event", "") == "no_clients" for r in caplog.records)
    client = app.test_client()
    assert client.get(DISCOVERY).status_code == 401
    assert client.post(SERVICE, json=hook_body()).status_code == 401


def test_auth_off_is_loud_at_start_up_and_on_every_request(make_app, caplog):
    caplog.set_level(logging.WARNING)
    app = make_app(auth="off")
    started = [r for r in caplog.records if getattr(r, "event", "") == "auth_disabled"]
    assert started and "OFF" in started[0].getMessage()
    plain = FlaskClient(app, app.response_class)
    for _ in range(3):
        caplog.clear()
        assert plain.post(SERVICE, json=hook_body()).status_code == 200
        assert [r for r in caplog.records if getattr(r, "event", "") == "auth_disabled"]


def test_public_url_is_required_with_clients(make_app):
    with pytest.raises(ConfigError, match="LEUKEMIA_CDS_PUBLIC_URL"):
        make_app(public_url="")


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("{not json", "not valid JSON"),
        ('{"iss": "x"}', "list"),
        ('[{"iss": "x"}]', "jwks"),
        ('[{"iss": "x", "jku": "http://keys.example"}]', "https"),
        ('[{"iss": "x", "jwk": {}}]', "jwk"),
        ('[{"iss": "x", "jwks": {"keys": [{"kty": "oct", "kid": "a", "k": "c2VjcmV0"}]}}]',
         "symmetric"),
        ('[{"iss": "x", "jwks": {"keys": [{"kty": "EC", "crv": "P-384", "x": "a", "y": "b"}]}}]',
         "kid"),
    ],
)
def test_bad_clients_file_stops_start_up_naming_the_setting(make_app, tmp_path, content, named):
    path = tmp_path / "clients.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as info:
        make_app(clients=str(path))
    message = str(info.value)
    assert "LEUKEMIA_CDS_CLIENTS" in message and named in message and "\n" not in message


def test_private_key_in_the_clients_file_is_refused(make_app, tmp_path):
    private_jwk = json.loads(jwt.get_algorithm_by_name("ES384").to_jwk(TEST_EHR._private_key))
    path = tmp_path / "clients.json"
    path.write_text(json.dumps([{"iss": "x", "jwks": {"keys": [{**private_jwk, "kid": "a"}]}}]))
    with pytest.raises(ConfigError, match="private key material"):
        make_app(clients=str(path))


def test_missing_clients_file(make_app, tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        make_app(clients=str(tmp_path / "absent.json"))


def test_a_client_added_in_process_is_trusted_until_removed(app):
    """The sandbox's hook: a key generated at start-up, trusted only while the sandbox is on."""
    sandbox = LocalSigner.generate("urn:leukemia-cds:sandbox")
    path = PUBLIC_URL + DISCOVERY
    client = app.test_client()
    assert client.get(DISCOVERY, headers=bearer(path, sandbox)).status_code == 401
    auth.trusted_clients(app).add(sandbox.client)
    assert client.get(DISCOVERY, headers=bearer(path, sandbox)).status_code == 200
    auth.trusted_clients(app).remove(sandbox.iss)
    assert client.get(DISCOVERY, headers=bearer(path, sandbox)).status_code == 401
    assert app.extensions[auth.EXTENSION].audience("/cds-services") == path


def test_trusted_client_model_round_trips_through_the_clients_file(tmp_path):
    path = write_clients(tmp_path / "c.json", TEST_EHR, RSA_EHR)
    loaded = auth.load_clients(path)
    assert [c.iss for c in loaded] == [TEST_EHR.iss, RSA_EHR.iss]
    assert isinstance(loaded[0], TrustedClient) and loaded[0].tenant == "test-hospital"


def test_replay_store_outage_is_503_not_a_refusal(app, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down(*args):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(app.extensions[auth.EXTENSION].store, "remember_jti", down)
    response = app.test_client().get(DISCOVERY)
    assert response.status_code == 503 and response.headers["Retry-After"]


# ---- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"LEUKEMIA_CDS_AUTH": "maybe"}, "LEUKEMIA_CDS_AUTH"),
        ({"LEUKEMIA_CDS_PUBLIC_URL": "cds.example.org"}, "LEUKEMIA_CDS_PUBLIC_URL"),
        ({"LEUKEMIA_CDS_PUBLIC_URL": "ftp://cds.example.org"}, "LEUKEMIA_CDS_PUBLIC_URL"),
        ({"LEUKEMIA_CDS_PUBLIC_URL": "https://cds.example.org/?x=1"}, "LEUKEMIA_CDS_PUBLIC_URL"),
        ({"LEUKEMIA_CDS_CLOCK_SKEW_S": "3600"}, "LEUKEMIA_CDS_CLOCK_SKEW_S"),
        ({"LEUKEMIA_CDS_JWT_MAX_LIFETIME_S": "0"}, "LEUKEMIA_CDS_JWT_MAX_LIFETIME_S"),
        ({"LEUKEMIA_CDS_JWKS_TIMEOUT_MS": "60000"}, "LEUKEMIA_CDS_JWKS_TIMEOUT_MS"),
    ],
)
def test_auth_settings_are_validated(env, named):
    from service.config import Settings

    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_secrets_in_settings_are_never_echoed():
    from service.config import Settings

    for env in ({"LEUKEMIA_CDS_DATABASE_URL": "mysql://u:hunter2-pw@db/x"},
                {"LEUKEMIA_CDS_PSEUDONYM_KEY": "hunter2-pw"}):
        with pytest.raises(ConfigError) as info:
            Settings.from_env(env)
        assert "hunter2-pw" not in str(info.value)
    settings = Settings.from_env({"LEUKEMIA_CDS_PSEUDONYM_KEY": "k" * 40,
                                  "LEUKEMIA_CDS_DATABASE_URL": "postgresql://u:pw@db/x",
                                  "LEUKEMIA_CDS_PUBLIC_URL": "https://cds.example.org/"})
    assert "k" * 40 not in repr(settings)
    assert settings.database_url == "postgresql+psycopg://u:pw@db/x"
    assert settings.public_url == "https://cds.example.org"
    assert settings.auth is True, "authentication is on unless switched off"


@responses.activate
def test_a_failing_key_set_is_not_fetched_again_for_every_forged_token(app, clock, refused):
    """Issue 21, finding 4: a failure is remembered with backoff (10 s, doubling); tokens
    meanwhile fail at once with the remembered reason; a recovered URL is used again."""
    responses.get(JKU, body=requests.ConnectTimeout())
    jwks = app.extensions[auth.EXTENSION].jwks
    for _ in range(20):
        forged = LocalSigner(JKU_EHR.iss, ATTACKER._private_key, kid=uuid.uuid4().hex)
        refused(forged.token(PUBLIC_URL + DISCOVERY), "jku")
    assert len(responses.calls) == 1 and jwks.fetches == 1
    clock[0] += 11  # past the first backoff: one more try, which fails again
    refused(JKU_EHR.token(PUBLIC_URL + DISCOVERY), "jku")
    assert len(responses.calls) == 2
    clock[0] += 11  # the backoff doubled to 20 s: not yet
    refused(JKU_EHR.token(PUBLIC_URL + DISCOVERY), "jku")
    assert len(responses.calls) == 2
    responses.replace(responses.GET, JKU, json={"keys": [JKU_EHR.public_jwk()]})
    clock[0] += 10
    accepted(app, JKU_EHR.token(PUBLIC_URL + DISCOVERY))
    assert len(responses.calls) == 3
