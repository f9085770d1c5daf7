"""Canonical URLs of the service's knowledge artefacts (FHIR PlanDefinition and Library).

The base is the one `fhir_profiles/` already uses for its CodeSystems, ValueSets and profiles
(`fhir_profiles/README.md`: "Canonical base: http://leukemia-cds.org/fhir", an identifier, not
an address that must resolve), so the rules sit in the same namespace as the input contract.
A card's `source.url` names its lead rule's PlanDefinition by this URL; the resolvable page a
clinician opens is the card's "Evidence and rule" link. No imports: the renderer and the
exporter both use it.
"""

from __future__ import annotations

CANONICAL_BASE = "http://leukemia-cds.org/fhir"
LIBRARY_ID = "leukemia-cds-knowledge"


def plan_definition_url(rule_id: str) -> str:
    """The canonical URL of one rule's PlanDefinition (`leukemia-cds knowledge export`)."""
    return f"{CANONICAL_BASE}/PlanDefinition/{rule_id}"


def library_url() -> str:
    """The canonical URL of the Library that lists every rule of one knowledge version."""
    return f"{CANONICAL_BASE}/Library/{LIBRARY_ID}"
