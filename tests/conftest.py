"""Shared fixtures: an app built from explicit settings, and minimal valid hook requests."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.app import create_app
from service.config import Settings
from service.hooks.services import PREFETCH

PATIENT_ID = "pat-1"


@pytest.fixture
def make_app() -> Callable[..., Flask]:
    """Build an app from settings given as environment variables (as production reads them)."""

    def build(**env: str) -> Flask:
        settings = Settings.from_env({f"LEUKEMIA_CDS_{k.upper()}": v for k, v in env.items()})
        app = create_app(settings)
        app.testing = True
        return app

    return build


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
