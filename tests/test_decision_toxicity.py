"""Toxicity in progress (review U1, U2, M5): recorded CRS / ICANS grades are read by the rules.

A grade counts only while current: dated within the site's window (policy
``toxicity_current_days``) and not before the latest CAR T infusion or blinatumomab course start.
Each rule is checked where it must fire and, as much, where it must not: an old grade, a grade
from before the infusion, a low grade, an undated grade, no immune-effector therapy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from service.decision import Policy, decide
from service.decision.context import Ctx
from service.facts import CarTEvent, Exposure, Fact, PatientFacts
from service.hooks.models import Card
from service.paths import cards_dir
from service.render import Renderer, load_catalogue
from tests.decision_helpers import NOW, by_id, ids, order, patient, run, src
from tests.test_vignettes import EXTENSION

RENDERER = Renderer(load_catalogue(cards_dir()))
TOX = {"TOX-BLIN-NEURO", "TOX-BLIN-CRS", "TOX-ICANS-CURRENT", "TOX-TOCI-ICANS"}


def ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


def grade(value: int, days_ago: int | None, name: str) -> Fact:
    when = None if days_ago is None else ago(days_ago)
    return Fact(value=value, source=src(f"Observation/{name}", str(value), when))


def blin(days_ago: int, status: str = "active") -> Exposure:
    return Exposure(drug="blinatumomab", drug_class="immunotherapy", date=ago(days_ago),
                    status=status, resource_type="MedicationRequest",
                    source=src("MedicationRequest/blin", "blinatumomab", ago(days_ago)))


def sick(*, crs: int | None = None, icans: int | None = None, ice: int | None = None,
         tox_days_ago: int | None = 0, blin_days_ago: int | None = None,
         blin_status: str = "active", car_t_days_ago: int | None = None,
         status_days_ago: int = 20) -> PatientFacts:
    """Relapsed B-ALL with the grades, blinatumomab course and CAR T infusion asked for."""
    base = patient(age=45, status="first-relapse", markers={"cd19": "positive",
                                                             "cd22": "positive"},
                   blasts=25, ph="negative")
    s = base.disease_status
    assert s is not None
    update: dict = {"disease_status": s.model_copy(update={"source": s.source.model_copy(
        update={"effective": ago(status_days_ago)})})}
    for name, value in (("crs_grade", crs), ("icans_grade", icans), ("ice_score", ice)):
        if value is not None:
            update[name] = grade(value, tox_days_ago, name)
    if blin_days_ago is not None:
        update["exposures"] = (blin(blin_days_ago, blin_status),)
    if car_t_days_ago is not None:
        update["car_t"] = (CarTEvent(product="brexucabtagene", date=ago(car_t_days_ago),
                                     source=src("Procedure/cart", when=ago(car_t_days_ago))),)
    return base.model_copy(update=update)


def cards(facts: PatientFacts, *drugs: str) -> list[Card]:
    return RENDERER.render(run(facts, *drugs), patient_id="pat-1")


def deletes(card: Card) -> bool:
    return any(a.type == "delete" for s in card.suggestions or () for a in s.actions or ())


def card_ids(card: Card) -> list[str]:
    return (card.extension or {})[EXTENSION]["ids"]


# --- what counts as current ------------------------------------------------------------------

@pytest.mark.parametrize(("kw", "current"), [
    ({"tox_days_ago": 0, "blin_days_ago": 2}, True),
    ({"tox_days_ago": 7, "blin_days_ago": 9}, True),       # the window's last day
    ({"tox_days_ago": 8, "blin_days_ago": 9}, False),      # past the default 7 days
    ({"tox_days_ago": 40, "blin_days_ago": 45}, False),    # an earlier course
    ({"tox_days_ago": 2, "blin_days_ago": 2}, True),       # day 0 of the course
    ({"tox_days_ago": 3, "blin_days_ago": 2}, False),      # before the course started
    ({"tox_days_ago": 4, "car_t_days_ago": 2}, False),     # before the infusion
    ({"tox_days_ago": None, "blin_days_ago": 2}, False),   # undated: not read as current
    ({"tox_days_ago": 1}, True),                           # no therapy on record: window only
])
def test_a_grade_is_current_only_within_the_window_and_after_the_latest_therapy(kw, current):
    ctx = Ctx(sick(icans=3, **kw), Policy())
    assert (ctx.current_grade("icans_grade") == 3) is current


def test_the_window_is_site_policy() -> None:
    facts = sick(icans=3, tox_days_ago=10, blin_days_ago=12)
    assert Ctx(facts, Policy()).current_grade("icans_grade") is None
    assert Ctx(facts, Policy(toxicity_current_days=14)).current_grade("icans_grade") == 3


def test_what_the_grade_follows_is_the_latest_therapy_before_it() -> None:
    ctx = Ctx(sick(icans=2, tox_days_ago=0, blin_days_ago=30, blin_status="completed",
                   car_t_days_ago=6), Policy())
    assert ctx.toxicity_after("icans_grade") == "car-t"
    assert "day 6 after the CAR T infusion" in ctx.f_toxicity("icans_grade").value
    ctx = Ctx(sick(icans=2, blin_days_ago=2), Policy())
    assert ctx.toxicity_after("icans_grade") == "blinatumomab"
    assert ctx.f_exposure("blinatumomab").label == "Blinatumomab running, started"


# --- U1: blinatumomab with grade >= 3 toxicity ----------------------------------------------

def test_blinatumomab_order_with_icans_3_is_critical_and_offers_to_delete() -> None:
    facts = sick(crs=3, icans=3, ice=2, blin_days_ago=2)
    got = cards(facts, "blinatumomab")
    top = got[0]
    assert top.indicator == "critical" and "ICANS grade 3" in top.summary
    assert "dexamethasone" in top.summary
    assert deletes(top)
    assert {"TOX-BLIN-NEURO", "TOX-BLIN-CRS"} <= set(ids(run(facts, "blinatumomab")))


def test_blinatumomab_order_with_crs_3_only_is_a_warning() -> None:
    got = cards(sick(crs=3, icans=0, blin_days_ago=2), "blinatumomab")
    assert got[0].indicator == "warning" and "CRS grade 3" in got[0].summary
    assert not any(c.indicator == "critical" for c in got)


@pytest.mark.parametrize("kw", [
    {"crs": 1, "icans": 0},                                       # low grades
    {"crs": 2, "icans": 2},
    {"crs": 3, "icans": 3, "tox_days_ago": 40, "blin_days_ago": 45},  # an earlier course
    {"crs": 3, "icans": 3, "tox_days_ago": None},                 # undated
])
def test_blinatumomab_order_without_a_current_grade_3_gets_no_toxicity_card(kw) -> None:
    kw.setdefault("blin_days_ago", 2)
    recs = run(sick(**kw), "blinatumomab")
    assert not TOX & set(ids(recs))


def test_patient_view_with_the_course_running_leads_with_the_stop_card() -> None:
    facts = sick(crs=3, icans=3, ice=2, blin_days_ago=2)
    got = cards(facts)
    assert got[0].indicator == "critical" and "Blinatumomab running" in got[0].summary
    assert not deletes(got[0])  # nothing drafted to delete
    text = " ".join(c.summary + (c.detail or "") for c in got).lower()
    assert "prior blinatumomab" not in text and "preferred at low burden" not in text


def test_patient_view_after_a_completed_course_has_no_stop_card() -> None:
    # the course is over: no infusion to stop; the ICANS card names it instead
    recs = run(sick(icans=3, blin_days_ago=5, blin_status="completed", status_days_ago=1))
    assert "TOX-BLIN-NEURO" not in ids(recs)
    assert by_id(recs, "TOX-ICANS-CURRENT").variables["cart"] is False


# --- U2: ICANS after CAR T; tocilizumab ------------------------------------------------------

def test_icans_after_car_t_is_named_on_the_chart() -> None:
    facts = sick(crs=1, icans=2, ice=6, car_t_days_ago=6, status_days_ago=40)
    got = cards(facts)
    assert got[0].indicator == "warning" and "ICANS grade 2" in got[0].summary
    assert "does not respond to tocilizumab" in got[0].summary


def test_tocilizumab_during_icans_after_car_t_is_a_warning() -> None:
    facts = sick(crs=1, icans=2, ice=6, car_t_days_ago=6)
    rec = by_id(run(facts, "tocilizumab"), "TOX-TOCI-ICANS")
    assert rec.variables["cart"] is True and rec.variables["crs"] == 1
    card = cards(facts, "tocilizumab")[0]
    assert card.indicator == "warning" and "treats CRS, not ICANS" in card.summary


def test_tocilizumab_during_icans_on_blinatumomab_does_not_borrow_the_car_t_claim() -> None:
    card = cards(sick(icans=2, blin_days_ago=3), "tocilizumab")[0]
    assert "blinatumomab" in card.summary and "(000)" not in card.summary


@pytest.mark.parametrize("kw", [
    {"crs": 2, "icans": 0, "car_t_days_ago": 3},               # CRS only: what it treats
    {"icans": 2, "tox_days_ago": 10, "car_t_days_ago": 6},     # before the infusion
    {"icans": 2, "tox_days_ago": 30, "car_t_days_ago": 40},    # past the window
    {"icans": 2},                                              # no CAR T or blinatumomab
])
def test_tocilizumab_without_current_icans_after_therapy_gets_no_card(kw) -> None:
    assert "TOX-TOCI-ICANS" not in ids(run(sick(**kw), "tocilizumab"))
    assert "TOX-ICANS-CURRENT" not in ids(run(sick(**kw)))


# --- M5: options built on a status that predates the therapy in progress ---------------------

def test_options_are_withheld_while_the_status_predates_the_car_t_infusion() -> None:
    recs = run(sick(icans=2, car_t_days_ago=6, status_days_ago=40))
    families = {r.id.split("-")[0] for r in recs}
    assert not families & {"ALL", "CART", "TRIAL"}, ids(recs)
    assert by_id(recs, "DQ-STATUS-UNKNOWN").variables["withheld"] is True


def test_options_are_withheld_while_the_status_predates_a_running_blinatumomab_course() -> None:
    recs = run(sick(blin_days_ago=2, status_days_ago=20))
    assert "ALL-RR-FIRST-RELAPSE" not in ids(recs)
    stale = by_id(recs, "DQ-STATUS-UNKNOWN").variables["stale"]
    assert stale["event"] == "blinatumomab course"


@pytest.mark.parametrize("kw", [
    {"car_t_days_ago": 40, "status_days_ago": 2},                           # status after CAR T
    {"blin_days_ago": 90, "blin_status": "completed", "status_days_ago": 20},  # course over
    {"blin_days_ago": 20, "status_days_ago": 20},                           # same day: unknown
])
def test_a_status_recorded_after_the_therapy_still_gets_options(kw) -> None:
    recs = run(sick(**kw))
    assert "ALL-RR-FIRST-RELAPSE" in ids(recs)
    assert "DQ-STATUS-UNKNOWN" not in ids(recs)


def test_order_hooks_are_not_withheld() -> None:
    facts = sick(blin_days_ago=2)
    drafts = [order("brexucabtagene")]
    recs = decide(facts, hook="order-select", orders_in_focus=drafts, policy=Policy())
    rec = by_id(recs, "CAU-SEQUENCING-CD19")
    assert rec.variables["ongoing"] is True
    card = next(c for c in RENDERER.render(recs, patient_id="pat-1")
            if "CAU-SEQUENCING-CD19" in card_ids(c))
    assert card.summary.startswith("Blinatumomab course in progress before CD19 CAR T")
