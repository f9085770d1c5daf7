"""Card summaries read as sentences a busy haematologist can take in at a glance.

Merged cards get the group's hand-written summary: a head with the patient's key fact and the
2-3 most important clauses, whole, within 139 characters. No summary may need truncation, for
any vignette, any synthetic scenario (patient-view and each order a reviewer would try) or any
combination of a group's entries.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from service.advice import build_advisor
from service.config import Settings
from service.decision import decide
from service.hooks.models import Card
from service.paths import cards_dir
from service.render import EXTENSION, Renderer, load_catalogue
from service.render import cards as render_cards
from service.render.catalogue import SUMMARY_MAX, compose, group_summary
from service.synth.generator import generate
from service.synth.hooks import draft_order
from service.synth.scenarios import SCENARIOS
from tests.decision_helpers import patient, run
from tests.fhir_helpers import extract_draft_orders, extract_facts
from tests.vignettes.build import VIGNETTES, request

CATALOGUE = load_catalogue(cards_dir())
RENDERER = Renderer(CATALOGUE)
ADVISOR = build_advisor(Settings())


@pytest.fixture
def no_fallback(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_fallbacks(monkeypatch)


def record_fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every merged card whose group summary could not be made to fit."""
    failed: list[str] = []

    def checked(group, members, *, drug):  # type: ignore[no-untyped-def]
        text = group_summary(group, members, drug=drug)
        if text is None:
            failed.append(f"{group.id}: {[rid for rid, _ in members]}")
        return text

    monkeypatch.setattr(render_cards, "group_summary", checked)
    return failed


def _flatten(prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for value in prefetch.values():
        if value.get("resourceType") == "Bundle":
            out += [e["resource"] for e in value.get("entry", [])]
        else:
            out.append(value)
    return out


def _cards(resources: list[dict[str, Any]], pid: str, hook: str = "patient-view",
           drafts: list[dict[str, Any]] | tuple = ()) -> list[Card]:
    facts = extract_facts(resources, now=datetime.now(UTC), terminology=ADVISOR.terminology,
                          patient_id=pid)
    orders = extract_draft_orders(
        {"resourceType": "Bundle", "entry": [{"resource": d} for d in drafts]},
        terminology=ADVISOR.terminology) if drafts else []
    recs = decide(facts, hook=hook, orders_in_focus=orders, policy=ADVISOR.policy)
    return ADVISOR.renderer.render(recs, patient_id=pid)


def every_case() -> Iterator[tuple[str, list[Card]]]:
    """Every vignette as sent, and every scenario in patient-view plus each of its orders."""
    for v in VIGNETTES:
        body = request(v)
        drafts = [e["resource"] for e in body["context"].get("draftOrders", {}).get("entry", [])]
        yield v["id"], _cards(_flatten(body["prefetch"]), body["context"]["patientId"],
                              body["hook"], drafts)
    for sid, scenario in SCENARIOS.items():
        p = generate(sid, seed=0)
        resources = list(p.resources)
        yield sid, _cards(resources, p.patient_id)
        for drug in scenario.orders:
            yield f"{sid}+{drug}", _cards(resources, p.patient_id, "order-sign",
                                          [draft_order(drug, p.patient_id)])


def test_no_summary_for_any_vignette_or_scenario_is_truncated_or_too_long(no_fallback) -> None:
    bad = [(name, c.summary) for name, cards in every_case() for c in cards
           if len(c.summary) > SUMMARY_MAX or c.summary.endswith("…") or "…" in c.summary]
    assert not bad, bad
    assert not no_fallback, no_fallback


@pytest.mark.parametrize("group_id", sorted(CATALOGUE.groups))
def test_every_combination_of_up_to_four_entries_has_a_summary(group_id: str) -> None:
    """The head plus the most important clause always fits, whatever else is on the card."""
    group = CATALOGUE.groups[group_id]
    members = [(e.id, dict(e.sample)) for e in CATALOGUE.entries.values()
               if e.group == group_id]
    for size in range(2, 5):
        for combo in itertools.combinations(members, size):
            for drug in ("brexucabtagene autoleucel", ""):
                text = group_summary(group, list(combo), drug=drug)
                assert text is not None and len(text) <= SUMMARY_MAX, (group_id, combo)
                assert "…" not in text


def test_compose_keeps_whole_clauses_in_order_and_never_cuts() -> None:
    assert compose("Head", ["one", "two", "three", "four"]) == "Head: one; two; three"
    long = "x" * 130
    assert compose("Head", ["short", long, "tiny"]) == "Head: short"  # no skipping ahead
    assert compose("A head: with a colon", ["next"]) == "A head: with a colon; next"
    assert compose("Head", [long + long]) is None  # the caller falls back
    assert compose("", ["first", ""]) == "First"


def test_first_relapse_high_burden_names_the_key_fact_and_the_plan() -> None:
    facts = patient(age=34, status="first-relapse", markers={"cd19": 95, "cd22": "positive"},
                    blasts=73, ph="negative", kmt2a="negative")
    card = next(c for c in RENDERER.render(run(facts), patient_id="pat-1")
                if "ALL-RR-FIRST-RELAPSE" in c.extension[EXTENSION]["ids"])
    assert card.summary == ("First relapse, 73 % blasts: inotuzumab first, then blinatumomab "
                            "for persistent disease; consider a trial and allo-HCT (SITC)")
    # the lead is the most important entry, and the detail starts with it
    assert card.extension[EXTENSION]["id"] == "ALL-RR-HIGH-BURDEN-INO-FIRST"
    assert card.detail.startswith("- **High burden: inotuzumab first.**")


def test_monitoring_summary_says_what_to_do_not_what_the_sections_are_called() -> None:
    facts = patient(age=40, status="first-relapse", markers={"cd19": 95, "cd22": 90})
    card = next(c for c in RENDERER.render(run(facts, "blinatumomab"), patient_id="pat-1")
                if c.source.topic.code == "toxicity-monitoring")
    assert card.summary == ("Blinatumomab: admit the first 9 days of cycle 1; dexamethasone "
                            "pre-phase, step dosing; CRS in days 1–2, neurotoxicity median day 7")


def test_every_entry_speaks_in_its_group_summary() -> None:
    for entry in CATALOGUE.entries.values():
        group = CATALOGUE.groups[entry.group]
        alone = group_summary(group, [(entry.id, dict(entry.sample))] * 2, drug="CAR T")
        assert alone != group_summary(group, [], drug="CAR T"), entry.id


def test_folded_card_names_what_it_holds() -> None:
    from service.decision import RULES, Recommendation

    recs = [Recommendation(id=rid, seeds=rule.seeds,
                           variables=dict(CATALOGUE.entries[rid].sample))
            for rid, rule in RULES.items()]
    last = Renderer(CATALOGUE, max_cards=8).render(recs, patient_id="p")[-1]
    assert last.summary.startswith("Also to review: ")
    assert any(g.label in last.summary for g in CATALOGUE.groups.values())
    assert len(last.summary) <= SUMMARY_MAX
