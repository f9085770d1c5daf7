"""Shared fixtures: an app built from explicit settings, and minimal valid hook requests.

Every app is built with its own temporary data directory and one trusted CDS client (the "test
EHR"), and its test client signs each request as that EHR — a fresh ES384 JWT whose `aud` is the
URL invoked — unless the test sets `Authorization` itself. Tests that are not about
authentication therefore need not know it exists.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from service.app import create_app
from service.config import Settings
from service.hooks.auth import LocalSigner
from service.hooks.egress import resolve as _real_resolve
from service.hooks.services import PREFETCH
from tests.pg import PostgresUnavailable, fresh_database, postgres_server

PATIENT_ID = "pat-1"
PUBLIC_URL = "http://localhost"  # the Flask test client's base URL
TEST_EHR = LocalSigner.generate("https://ehr.test/cds-client", tenant="test-hospital")


def write_clients(path: Path, *signers: LocalSigner) -> Path:
    """A `LEUKEMIA_CDS_CLIENTS` file trusting `signers` (inline JWKS)."""
    path.write_text(json.dumps([s.client.model_dump(exclude_none=True, mode="json")
                                for s in signers]))
    return path


def bearer(url: str, signer: LocalSigner = TEST_EHR, **claims: Any) -> dict[str, str]:
    """An Authorization header for a call to `url` (absolute), signed by `signer`."""
    return {"Authorization": f"Bearer {signer.token(url, **claims)}"}


class SigningClient(FlaskClient):
    """A test client that signs every request as the test EHR."""

    signer: LocalSigner = TEST_EHR

    def open(self, *args: Any, **kwargs: Any) -> Any:
        headers = Headers(kwargs.pop("headers", None) or {})
        path = args[0] if args else kwargs.get("path")
        if isinstance(path, str) and "Authorization" not in headers:
            headers.update(bearer(PUBLIC_URL + urlsplit(path).path, self.signer))
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture
def make_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Flask]]:
    """Build an app from settings given as environment variables (as production reads them)."""
    built: list[Flask] = []

    def build(**env: str) -> Flask:
        data_dir = tmp_path_factory.mktemp("data")
        defaults = {
            "DATA_DIR": str(data_dir),
            "CLIENTS": str(write_clients(data_dir / "clients.json", TEST_EHR)),
            "PUBLIC_URL": PUBLIC_URL,
        }
        merged = {**defaults, **{k.upper(): v for k, v in env.items()}}
        settings = Settings.from_env({f"LEUKEMIA_CDS_{k}": v for k, v in merged.items()})
        app = create_app(settings)
        app.testing = True
        app.test_client_class = SigningClient
        built.append(app)
        return app

    yield build
    for app in built:
        app.extensions["leukemia_cds.store"].close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def empty_prefetch() -> dict[str, Any]:
    """Every key present as a search Bundle with no entries (the patient read as a Patient)."""
    prefetch: dict[str, Any] = {
        key: {"resourceType": "Bundle", "type": "searchset", "total": 0}
        for key in PREFETCH
    }
    prefetch["patient"] = {"resourceType": "Patient", "id": PATIENT_ID, "birthDate": "1980-01-01"}
    return prefetch


def draft_orders(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}


def blinatumomab_order(order_id: str = "draft-1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": order_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "1597258", "display": "blinatumomab"}],
            "text": "blinatumomab",
        },
    }


def hook_body(hook: str = "patient-view", **overrides: Any) -> dict[str, Any]:
    """A valid CDS Hooks 2.0 request for `hook` with complete (empty) prefetch."""
    context: dict[str, Any] = {"userId": "Practitioner/doc-1", "patientId": PATIENT_ID}
    if hook in {"order-select", "order-sign"}:
        context["draftOrders"] = draft_orders(blinatumomab_order())
    if hook == "order-select":
        context["selections"] = ["MedicationRequest/draft-1"]
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": context,
        "prefetch": empty_prefetch(),
    }
    body.update(copy.deepcopy(overrides))
    return body


SERVICE_FOR_HOOK = {
    "patient-view": "leukemia-immunotherapy",
    "order-select": "leukemia-immunotherapy-order-select",
    "order-sign": "leukemia-immunotherapy-order-sign",
}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """One real PostgreSQL server per test session (skipped, with the reason, where impossible)."""
    try:
        with postgres_server() as url:
            yield url
    except PostgresUnavailable as exc:
        pytest.skip(f"real PostgreSQL not available: {exc}")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh, empty database on that server for one test."""
    with fresh_database(pg_server) as url:
        yield url


# Test FHIR servers have names no resolver knows (there is no network here). The egress check
# resolves every host it is asked to contact (service.hooks.egress); these names resolve to a
# public documentation address, the reserved test TLDs and numeric hosts as the system says.
PUBLIC_TEST_ADDRESS = "93.184.215.14"
RESOLVES: dict[str, list[str]] = {}  # extra names a test points where it wants


def _test_resolver(host: str, port: int) -> list[str]:
    if host in RESOLVES:
        return RESOLVES[host]
    if host.endswith((".example.org", ".example.com", ".hospital.org", ".lab.org")):
        return [PUBLIC_TEST_ADDRESS]
    if host.endswith((".test", ".invalid")):
        return ["127.0.0.1"]
    return _real_resolve(host, port)


@pytest.fixture(autouse=True)
def _offline_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from service.hooks import egress

    monkeypatch.setattr(egress, "resolve", _test_resolver)
    yield
    RESOLVES.clear()
