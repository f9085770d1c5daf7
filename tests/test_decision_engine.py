"""The rule registry and the engine: declarations are checked, and rules run as declared."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.decision import RULES, Policy, decide, referenced_trials, tagged
from service.decision.context import Ctx
from service.decision.criteria import B_ALL, RELAPSED_OR_REFRACTORY
from service.decision.engine import batch, run
from service.decision.registry import (
    ALL_HOOKS,
    ORDER_HOOKS,
    Make,
    Rule,
    check_order,
    criterion,
    fired,
    rule,
)
from tests.decision_helpers import ids, order, patient


def _rule(rid: str, func=lambda ctx, rec: rec(), **kw) -> Rule:
    return Rule(rid, "b-all", ("000",), func, "test", **kw)


def _ready(*rules: Rule):
    for r in rules:
        for focus in (None, *r.drugs):
            r.makers[focus] = Make(r, focus)
    return batch(rules)


# --- declarations ----------------------------------------------------------------------------


def test_a_rule_id_is_declared_once_and_only_before_the_engine_runs() -> None:
    with pytest.raises(ValueError, match="duplicate rule id ALL-BLIN-RR"):
        rule("ALL-BLIN-RR", "b-all", seeds=("000",))(lambda ctx, rec: None)
    with pytest.raises(RuntimeError, match="registered after the engine started"):
        rule("X-LATE", "b-all", seeds=("000",))(lambda ctx, rec: None)


def test_drugs_are_only_for_order_hooks_and_hooks_must_be_known() -> None:
    with pytest.raises(ValueError, match="drugs only matter on order hooks"):
        rule("X-NEW", "b-all", seeds=("000",), drugs=("blinatumomab",))
    with pytest.raises(ValueError, match="hooks must be among"):
        rule("X-NEW", "b-all", seeds=("000",), hooks=("order-dispatch",))


def test_a_reacting_rule_must_follow_the_reacting_rules_it_reads() -> None:
    setter = _rule("A", reacts_to=frozenset({"x"}), tags=frozenset({"y"}))
    source = _rule("S", tags=frozenset({"x"}))
    reader = _rule("B", reacts_to=frozenset({"y"}))
    check_order([source, setter, reader])  # in order: fine
    with pytest.raises(ValueError, match="rule B reacts to 'y', set later by A"):
        check_order([source, reader, setter])
    with pytest.raises(ValueError, match="reacts to tag 'z', which no rule sets"):
        check_order([_rule("C", reacts_to=frozenset({"z"}))])


def test_criteria_that_read_fired_tags_make_a_rule_react() -> None:
    assert RULES["TRIAL-APPROVED-FIRST"].reacts_to == {"blinatumomab", "inotuzumab", "car-t",
                                                       "gemtuzumab"}
    assert RULES["CAU-EXPERIMENTAL-SITE"].reacts_to == {"trial-prompt"}
    assert not RULES["ALL-BLIN-RR"].reacts_to


def test_the_lists_once_kept_by_hand_are_queries() -> None:
    # what b_all.BLIN_OPTIONS / INO_OPTIONS, car_t.CART_OPTIONS, aml.GO_OPTIONS listed
    assert tagged("blinatumomab") == {
        "ALL-BLIN-RR", "ALL-RR-LOW-BURDEN-BLIN", "ALL-PH-RR-BLIN", "ALL-BLIN-MRD-LABEL",
        "ALL-BLIN-MRD-LOW", "ALL-BLIN-MRD-SITC", "ALL-FRONT-BLIN-CONSOLIDATION",
        "ALL-FRONT-PEDS-SR-BLIN"}
    assert tagged("inotuzumab") == {"ALL-INO-RR", "ALL-INO-PEDS", "ALL-PH-RR-INO",
                                    "ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-INO-MINIHCVD-SALVAGE"}
    assert tagged("car-t") == {"CART-TISA", "CART-BREXU", "CART-OBE"}
    assert tagged("gemtuzumab") == {"AML-GO-INDUCTION", "AML-GO-UNFIT", "AML-GO-RELAPSE"}
    assert len(referenced_trials()) == 34  # every NCT number the seeds name on a card
    assert "NCT02311998" in referenced_trials() and "NCT03876769" in referenced_trials()


def test_every_rule_declares_why_and_order_rules_declare_their_drugs() -> None:
    for r in RULES.values():
        assert r.doc, f"{r.id} has no docstring"
        if r.hooks == ORDER_HOOKS:
            assert r.drugs or r.id == "DQ-FINDINGS", r.id
    assert RULES["DQ-FINDINGS"].hooks == ALL_HOOKS and RULES["DQ-FINDINGS"].any_record


# --- running ---------------------------------------------------------------------------------


def test_criteria_are_checked_before_the_rule_runs() -> None:
    calls: list[str] = []

    def body(ctx: Ctx, rec: Make):
        calls.append(rec.id)
        return rec()

    rules = _ready(_rule("IN", body, when=(B_ALL, RELAPSED_OR_REFRACTORY)),
                   _rule("OUT", body, when=(B_ALL,), unless=(RELAPSED_OR_REFRACTORY,)))
    got = run(Ctx(patient(status="first-relapse"), Policy()), rules, None)
    assert [r.id for r in got] == ["IN"] and calls == ["IN"]
    assert run(Ctx(patient(lineage="aml", status="first-relapse"), Policy()), rules, None) == []


def test_tags_of_fired_rules_reach_the_rules_that_react() -> None:
    @criterion("never")
    def never(ctx: Ctx) -> bool:
        return False

    shown = _rule("OPTION", tags=frozenset({"x"}))
    silent = _rule("SILENT", lambda ctx, rec: None, tags=frozenset({"y"}))
    blocked = _rule("BLOCKED", when=(never,), tags=frozenset({"y"}))
    react_x = _rule("ON-X", when=(fired("x"),), reacts_to=frozenset({"x"}))
    react_y = _rule("ON-Y", when=(fired("y"),), reacts_to=frozenset({"y"}))
    rules = _ready(shown, silent, blocked, react_x, react_y)
    got = run(Ctx(patient(), Policy()), rules, None)
    assert [r.id for r in got] == ["OPTION", "ON-X"]  # a rule that returned nothing set nothing


def test_order_hooks_speak_to_each_draft_and_name_it_on_order_checks() -> None:
    facts = patient(lineage="t-all", status="first-relapse")
    recs = decide(facts, hook="order-sign", policy=Policy(),
                  orders_in_focus=[order("blinatumomab", resource="MedicationRequest/a"),
                                   order("gemtuzumab", resource="MedicationRequest/b")])
    contra = [r for r in recs if r.id.startswith("ORDER-")]
    assert {(r.id, r.focus, r.variables["order_ref"]) for r in contra} == {
        ("ORDER-CD19-AGENT-LINEAGE", "blinatumomab", "MedicationRequest/a"),
        ("ORDER-GO-CONTRA", "gemtuzumab", "MedicationRequest/b")}
    assert all(r.focus in {"blinatumomab", "gemtuzumab"} for r in recs if r.id != "DQ-FINDINGS")
    # both drafts are contradicted: their routine monitoring is not shown (F4)
    assert not {"MON-GO-HEPATIC", "MON-BLIN-ADMISSION"} & set(ids(recs))


def test_an_order_for_a_drug_no_rule_concerns_gets_no_cards() -> None:
    recs = decide(patient(status="first-relapse"), hook="order-sign", policy=Policy(),
                  orders_in_focus=[order("tocilizumab")])
    assert [r.id for r in recs if r.focus is not None] == []


def test_a_chart_without_leukemia_gets_nothing_on_patient_view() -> None:
    facts = patient(lineage=None, status=None, age=50)
    assert decide(facts, hook="patient-view", policy=Policy()) == []


# --- the rule book ---------------------------------------------------------------------------


def test_the_rule_book_lists_every_rule_with_its_criteria_card_and_quotes() -> None:
    done = subprocess.run([sys.executable, "-m", "service", "rules"], capture_output=True,
                          text=True, check=False, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    book = done.stdout
    for rid in RULES:
        assert f"### {rid}: " in book, rid
    section = book.split("### ALL-BLIN-RR: ")[1].split("\n### ")[0]
    assert "**Applies when:** B-ALL, relapsed or refractory" in section
    assert "**Not when:** CD19 negative" in section
    assert "Relapsed or refractory B-cell precursor ALL in adults and children" in section
    assert "Blinatumomab is an option in relapsed/refractory B-ALL" in section
    assert "**Marks:** blinatumomab, blinatumomab-rr" in section


def test_the_rule_book_with_a_broken_catalogue_is_one_line(tmp_path) -> None:
    done = subprocess.run([sys.executable, "-m", "service", "rules"], capture_output=True,
                          text=True, check=False,
                          env={"PATH": "/usr/bin:/bin",
                               "LEUKEMIA_CDS_CARDS_DIR": str(tmp_path / "none")})
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "card catalogue" in done.stderr
