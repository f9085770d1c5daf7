"""CORS: an explicit origin allow-list, empty by default; preflight allows our two headers."""

from __future__ import annotations

from tests.conftest import hook_body
from tests.spec_rules import assert_operation_outcome

EHR = "https://ehr.hospital.org"
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


def test_no_origin_is_allowed_by_default(client):
    response = client.options("/cds-services/leukemia-immunotherapy",
                              headers={"Origin": EHR, **PREFLIGHT})
    assert response.status_code == 403
    assert "LEUKEMIA_CDS_CORS_ORIGINS" in assert_operation_outcome(response.get_json(), 403)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_from_an_allowed_origin(make_app):
    client = make_app(cors_origins=f"{EHR}, https://other.example.org").test_client()
    response = client.options("/cds-services/leukemia-immunotherapy",
                              headers={"Origin": EHR, **PREFLIGHT})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == EHR
    allowed = {h.strip().lower() for h in
               response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Origin" in response.headers["Vary"]


def test_actual_request_carries_the_origin_only_when_allowed(make_app):
    client = make_app(cors_origins=EHR).test_client()
    ok = client.post("/cds-services/leukemia-immunotherapy", json=hook_body(),
                     headers={"Origin": EHR})
    assert ok.headers["Access-Control-Allow-Origin"] == EHR
    other = client.get("/cds-services", headers={"Origin": "https://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_errors_also_carry_cors_headers_for_allowed_origins(make_app):
    client = make_app(cors_origins=EHR).test_client()
    response = client.post("/cds-services/nope", json={}, headers={"Origin": EHR})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == EHR
