"""The PatientFacts contract: missing stays distinguishable from negative, facts are immutable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from service.facts import Fact, MarkerFact, MrdFact, PatientFacts, Provenance

WHEN = datetime(2024, 5, 1, tzinfo=UTC)


def _src(resource: str = "Observation/o1", raw: str = "x") -> Provenance:
    return Provenance(resource=resource, raw=raw, recognised_by="local-code", effective=WHEN)


def test_empty_facts_are_unknown_not_negative() -> None:
    facts = PatientFacts()
    assert facts.ph is None
    assert facts.marker("cd19") is None
    assert facts.mrd is None
    assert facts.lineage_inferred is False
    assert list(facts.iter_facts()) == []


def test_facts_are_frozen() -> None:
    facts = PatientFacts(ph=Fact[str](value="negative", source=_src()))
    with pytest.raises(ValidationError):
        facts.ph = None  # type: ignore[misc]


def test_fact_value_is_checked_against_its_vocabulary() -> None:
    with pytest.raises(ValidationError):
        PatientFacts(ph=Fact(value="equivocal", source=_src()))  # type: ignore[arg-type]


def test_inferred_lineage_is_visible_to_rules() -> None:
    src = Provenance(resource="Observation/cd19", raw="85 %", recognised_by="inferred")
    facts = PatientFacts(lineage=Fact(value="b-all", source=src))
    assert facts.lineage_inferred is True


def test_iter_facts_names_every_set_fact_with_its_resource() -> None:
    facts = PatientFacts(
        markers={"cd19": MarkerFact(marker="cd19", percent=85.0, call="positive", source=_src())},
        mrd=MrdFact(
            fraction=1e-4,
            comparator="<",
            below_lod=True,
            raw="<0.01 %",
            source=_src("Observation/m1"),
        ),
    )
    got = {name: (value, src.resource) for name, value, src in facts.iter_facts()}
    assert got["markers.cd19.percent"] == (85.0, "Observation/o1")
    assert got["markers.cd19.call"] == ("positive", "Observation/o1")
    assert got["mrd"][1] == "Observation/m1"
    assert "<0.0001" in got["mrd"][0]
