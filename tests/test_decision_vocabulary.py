"""Each fact's label is declared once (vocabulary.FACT_LABEL): rules name a fact, the table
says what a card calls it. (When the table replaced the labels written at each call site, the
behaviour record of issue 17 showed every card unchanged.)"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from service.decision import Policy
from service.decision.context import Ctx
from service.decision.vocabulary import FACT_LABEL
from service.facts import PatientFacts
from tests.decision_helpers import fact, patient

DECISION = Path(__file__).resolve().parent.parent / "service" / "decision"

# Ctx builds these from more than one field (or not from a Fact), so `Ctx.f` cannot read them.
_NOT_SIMPLE = {"mrd", "allo_hct", "car_t"}


def test_every_labelled_name_is_a_patient_fact() -> None:
    assert set(FACT_LABEL) <= set(PatientFacts.model_fields)


def _named_facts() -> list[tuple[str, str, str | None]]:
    """(where, fact name, label or None) wherever a decision module passes a literal fact name
    to ctx.f / ctx.f_since_car_t / FactUsed with a literal label or none."""
    found: list[tuple[str, str, str | None]] = []
    for path in sorted(DECISION.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in {"f", "f_since_car_t", "FactUsed"}:
                continue
            name = node.args[0]
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                continue
            label = node.args[1] if len(node.args) > 1 else None
            for kw in node.keywords:
                if kw.arg == "label":
                    label = kw.value
            if label is None or isinstance(label, ast.Constant):
                # a computed label (FACT_LABEL["mrd"], MARKER_LABEL[name]) is not a literal
                found.append((f"{path.name}:{node.lineno}", name.value,
                              None if label is None else label.value))
    return found


def test_every_fact_a_rule_names_takes_its_label_from_the_table() -> None:
    """Each fact's label is declared once: a rule names the fact, never its label (a name the
    table lacks would raise on that branch)."""
    named = _named_facts()
    assert len(named) >= 10  # an empty scan would pass vacuously
    wrong = [(where, name, label) for where, name, label in named
             if name not in FACT_LABEL or label is not None]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(set(FACT_LABEL) - _NOT_SIMPLE))
def test_a_fact_named_without_a_label_gets_the_tables(name: str) -> None:
    label = FACT_LABEL[name]
    absent = Ctx(patient(age=None, lineage=None).model_copy(update={name: None}), Policy())
    present = Ctx(patient().model_copy(update={name: fact(True, "Observation/x")}), Policy())
    for ctx in (absent, present):
        assert ctx.f(name) == ctx.f(name, label)
        assert ctx.f(name, text="shown") == ctx.f(name, label, "shown")
        assert ctx.f_since_car_t(name) == ctx.f_since_car_t(name, label)
    assert present.f(name, "Another label").label == "Another label"


def test_a_name_the_table_lacks_needs_a_label() -> None:
    ctx = Ctx(patient(), Policy())
    with pytest.raises(KeyError):
        ctx.f("icd10_remission_hint")
    assert ctx.f("icd10_remission_hint", "ICD-10 hint").label == "ICD-10 hint"
