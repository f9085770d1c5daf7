"""Cards as the output contract promises them (input-contract.md, "Output")."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from service.decision import RULES, Recommendation
from service.facts import DataQualityFinding
from service.paths import cards_dir
from service.render import EXTENSION, Renderer, load_catalogue
from tests.decision_helpers import mrd, patient, run

CATALOGUE = load_catalogue(cards_dir())
RENDERER = Renderer(CATALOGUE)
TOPIC_SYSTEM = "http://leukemia-cds.org/fhir/CodeSystem/card-topic"


def cards_for(facts, *drugs):
    return [c.to_json() for c in RENDERER.render(run(facts, *drugs), patient_id="pat-1")]


BUSY = patient(age=34, status="first-relapse", markers={"cd19": 95, "cd22": "positive",
                                                        "cd20": 5},
               blasts=60, ph="positive", kmt2a="positive", hct_planned=True, prior_hct=True,
               hepatic=True, neuro=True, cns="cns3", exposures=("blinatumomab", "dasatinib"),
               findings=(DataQualityFinding(code="unreadable-mrd", resource="Observation/m",
                                            message="unit <b>%%</b> unknown", concept="mrd"),))


def ext(card) -> dict:
    return card["extension"][EXTENSION]


def test_every_card_keeps_the_contract() -> None:
    cards = cards_for(BUSY) + cards_for(BUSY, "tisagenlecleucel") + cards_for(BUSY, "inotuzumab")
    for card in cards:
        uuid.UUID(card["uuid"])
        assert 0 < len(card["summary"]) < 140
        assert card["indicator"] in {"info", "warning", "critical"}
        assert f"knowledge {CATALOGUE.knowledge_version} · " in card["source"]["label"]
        assert any(s in card["source"]["label"] for s in ("2025", "2019", "2021", "mid-2020",
                                                          "2021-2022"))
        assert card["source"]["topic"]["system"] == TOPIC_SYSTEM
        e = ext(card)
        assert e["id"] in RULES and set(e["ids"]) <= set(RULES) and e["evidence"]
        for f in e["facts"]:
            assert set(f) == {"name", "value", "resource"} and "/" in f["resource"]
        for ev in e["evidence"]:
            assert ev["seed"] in CATALOGUE.seeds and ev["section"]
        assert "**Sources:**" in card["detail"]
        assert all(r["display"] for r in card["overrideReasons"])
        if card.get("suggestions"):
            assert card["selectionBehavior"] == "any"
            for s in card["suggestions"]:
                uuid.UUID(s["uuid"])
                for action in s["actions"]:
                    if action["type"] == "create":
                        res = action["resource"]
                        model = ServiceRequest if res["resourceType"] == "ServiceRequest" \
                            else MedicationRequest
                        model.model_validate(res)
                        assert res["status"] == "draft"
                        assert res["subject"] == {"reference": "Patient/pat-1"}


def test_cards_show_facts_with_values_and_keep_resources_in_the_extension() -> None:
    card = next(c for c in cards_for(BUSY) if "ALL-BLIN-RR" in ext(c)["ids"])
    assert "CD19: 95 % of blasts" in card["detail"] and "Observation/cd19" not in card["detail"]
    assert {"name": "markers.cd19", "resource": "Observation/cd19"}.items() <= next(
        f for f in ext(card)["facts"] if f["name"] == "markers.cd19").items()
    assert "95 % of blasts, positive at 20 % (site policy, not evidence)" in card["detail"]
    assert "confirm the current label" in card["detail"]


def _alone(rule_id: str, **variables) -> dict:
    sample = {**CATALOGUE.entries[rule_id].sample, **variables}
    [card] = Renderer(CATALOGUE, rule_pages="https://cds.example/rules/").render(
        [Recommendation(id=rule_id, seeds=RULES[rule_id].seeds, variables=sample)],
        patient_id="p")
    return card.to_json()


def test_the_card_says_what_to_do_and_leaves_the_trial_data_to_the_rule_page() -> None:
    card = _alone("ALL-BLIN-RR", dim=False, pediatric_ph=False)
    assert card["detail"].startswith("Consider blinatumomab (CD19 × CD3 bispecific")
    # TOWER's figures are the rule's evidence: on its page, not on every card
    assert "median OS 7.7 vs 4.0 months" not in card["detail"]
    assert "median OS 7.7 vs 4.0 months" in CATALOGUE.entries["ALL-BLIN-RR"].evidence
    sources, note = card["detail"].splitlines()[-3::2]
    assert sources == ("**Sources:** 003 (2025), 001 (2022), 000 (2020) · [Evidence and rule]"
                       "(https://cds.example/rules/ALL-BLIN-RR)")
    assert note.endswith("confirm the current label._")


def test_a_merged_card_names_the_entries_past_its_first_lines_and_never_a_caution() -> None:
    cards = cards_for(BUSY)
    options = next(c for c in cards if "ALL-BLIN-RR" in ext(c)["ids"])
    lines = [ln for ln in options["detail"].split("\n\n")[0].splitlines()]
    assert len(lines) >= 3 and lines[-1].startswith("- **Also:** ")
    # every entry of the card is either a line of its own or named on the last one
    for rid in ext(options)["ids"][1:]:
        title = CATALOGUE.entries[rid].title.render(CATALOGUE.entries[rid].sample)
        assert title.lower() in options["detail"].lower(), rid
    recs = [Recommendation(id=rid, seeds=RULES[rid].seeds,
                           variables=dict(CATALOGUE.entries[rid].sample))
            for rid in ("CAU-LINEAGE-SWITCH", "CAU-BLIN-EFFICACY", "CAU-SEQUENCING-CD19")]
    [cautions] = [c.to_json() for c in RENDERER.render(recs, patient_id="p")]
    assert "**Also:**" not in cautions["detail"]  # warnings are always shown in full


def test_order_most_important_first_and_at_most_eight() -> None:
    cards = cards_for(BUSY)
    rank = {"critical": 2, "warning": 1, "info": 0}
    ranks = [rank[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks, reverse=True)
    assert len(cards) <= 8


def test_overflow_is_folded_not_dropped() -> None:
    recs = [Recommendation(id=rid, seeds=rule.seeds, variables=dict(CATALOGUE.entries[rid].sample))
            for rid, rule in RULES.items()]
    cards = [c.to_json() for c in Renderer(CATALOGUE, max_cards=8).render(recs,
                                                                          patient_id="p")]
    assert len(cards) == 8
    shown = {i for c in cards for i in ext(c)["ids"]}
    assert shown == set(RULES)
    assert cards[0]["indicator"] == "critical"


def test_record_text_is_escaped_in_markdown() -> None:
    card = next(c for c in cards_for(BUSY) if ext(c)["id"] == "DQ-FINDINGS")
    assert "<b>" not in card["detail"] and "&lt;b&gt;" in card["detail"]


def test_trial_links_are_absolute_and_say_verify_recruitment() -> None:
    facts = patient(age=20, status="cr1", markers={"cd19": 90}, mrd_result=mrd(2e-3))
    card = next(c for c in cards_for(facts) if "TRIAL-MRD-POS-ALL" in ext(c)["ids"])
    assert card["links"][0]["url"] == "https://clinicaltrials.gov/study/NCT03876769"
    assert all(link["type"] == "absolute" and "verify recruitment status" in link["label"]
               for link in card["links"])
    assert "verify recruitment status" in card["detail"]
    # trials named alike share one name; each still has its own link, and who each trial is
    # for is on the rule's page
    assert card["detail"].count("CAR T for MRD+ B-ALL") == 1
    assert "CAR T for MRD+ B-ALL (NCT05535855, NCT04788472," in card["detail"]
    assert "MRD-positive CR1 at end of consolidation" not in card["detail"]
    assert sum("NCT05535855" in link["url"] for link in card["links"]) == 1


def test_critical_card_offers_to_delete_the_draft() -> None:
    facts = patient(lineage="t-all", age=30, status="first-relapse")
    [critical] = [c for c in cards_for(facts, "blinatumomab") if c["indicator"] == "critical"]
    action = critical["suggestions"][0]["actions"][0]
    assert action == {"type": "delete", "description": action["description"],
                      "resourceId": "MedicationRequest/d0"}


def strip(cards) -> list:
    out = []
    for c in cards:
        c = dict(c)
        c.pop("uuid")
        c["suggestions"] = [{k: v for k, v in s.items() if k != "uuid"}
                            for s in c.get("suggestions", [])]
        out.append(c)
    return out


def test_same_input_same_cards_except_uuids() -> None:
    first, second = cards_for(BUSY, "blinatumomab"), cards_for(BUSY, "blinatumomab")
    assert strip(first) == strip(second)
    assert {c["uuid"] for c in first}.isdisjoint({c["uuid"] for c in second})


@pytest.mark.parametrize("drug", ["blinatumomab", "tisagenlecleucel", "inotuzumab",
                                  "gemtuzumab"])
def test_monitoring_cards_carry_draft_orders(drug) -> None:
    facts = patient(lineage="aml" if drug == "gemtuzumab" else "b-all", age=20,
                    status="first-relapse", markers={"cd19": 90, "cd22": 90, "cd33": 90})
    card = next(c for c in cards_for(facts, drug)
                if c["source"]["topic"]["code"] == "toxicity-monitoring")
    codes = [a["resource"]["code"]["coding"][0]["code"] for s in card["suggestions"]
             for a in s["actions"] if a["resource"]["resourceType"] == "ServiceRequest"
             and "coding" in a["resource"]["code"]]
    assert codes


def test_each_card_links_its_lead_rules_page_when_the_service_knows_its_url() -> None:
    recs = run(BUSY)
    linked = Renderer(CATALOGUE, rule_pages="https://cds.example.org/rules/").render(
        recs, patient_id="pat-1")
    for card in (c.to_json() for c in linked):
        url = f"https://cds.example.org/rules/{ext(card)['id']}"
        assert {"label": "Evidence and rule", "url": url, "type": "absolute"} in card["links"]
        sources = next(line for line in card["detail"].splitlines()
                       if line.startswith("**Sources:**"))
        assert sources.endswith(f"[Evidence and rule]({url})")
    unlinked = [c.to_json() for c in RENDERER.render(recs, patient_id="pat-1")]
    assert all("Evidence and rule" not in c["detail"] for c in unlinked)


def test_each_cards_source_names_its_lead_rules_plan_definition() -> None:
    # CDS Hooks Source.url: the canonical URL of the lead rule's PlanDefinition (`leukemia-cds
    # knowledge export`), whether or not the site publishes the rule pages; it is an
    # identifier, so the resolvable page stays the "Evidence and rule" link
    recs = run(BUSY)
    for renderer in (RENDERER, Renderer(CATALOGUE, rule_pages="https://cds.example.org/rules/")):
        cards = [c.to_json() for c in renderer.render(recs, patient_id="pat-1")]
        assert len(cards) > 1
        for card in cards:
            assert card["source"]["url"] == (
                f"http://leukemia-cds.org/fhir/PlanDefinition/{ext(card)['id']}")
            assert "/rules/" not in card["source"]["url"]
