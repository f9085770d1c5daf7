"""The extractor as the tests call it: the shipped fhir_profiles and the default site policy.

The service passes the site's terminology and policy explicitly (built once from settings);
tests that are not about either use these, named in this one place.
"""

from __future__ import annotations

from typing import Any

from service import paths
from service.facts import DraftOrder, PatientFacts
from service.fhir import extract as _extract
from service.fhir.terminology import Terminology, load_terminology
from service.policy import Policy

TERMINOLOGY: Terminology = load_terminology(paths.profiles_dir())
POLICY = Policy()


def extract_facts(resources: Any, **kwargs: Any) -> PatientFacts:
    kwargs.setdefault("terminology", TERMINOLOGY)
    kwargs.setdefault("policy", POLICY)
    return _extract.extract_facts(resources, **kwargs)


def extract_draft_orders(draft_orders: Any, **kwargs: Any) -> list[DraftOrder]:
    kwargs.setdefault("terminology", TERMINOLOGY)
    return _extract.extract_draft_orders(draft_orders, **kwargs)
