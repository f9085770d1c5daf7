"""Order hooks: eligibility of the drafted drug, its cautions and monitoring; determinism."""

from __future__ import annotations

import pytest

from service.decision import Policy, decide
from service.facts import DataQualityFinding
from tests.decision_helpers import by_id, ids, mrd, order, patient, run

CRITICAL = {"ORDER-CD19-AGENT-LINEAGE", "ORDER-CD19-NEG", "ORDER-CD22-CONTRA", "ORDER-TISA-AGE",
            "ORDER-CART-ADULT-AGE", "ORDER-GO-CONTRA", "ORDER-RITUX-CONTRA", "ORDER-TKI-T315I"}


def b(**kw):
    base = dict(age=20, status="second-or-later-relapse",
                markers={"cd19": 95, "cd22": "positive", "cd20": 40}, ph="negative",
                kmt2a="negative")
    base.update(kw)
    return patient(**base)


def critical(recs) -> set[str]:
    return set(ids(recs)) & CRITICAL


@pytest.mark.parametrize("drug", ["blinatumomab", "tisagenlecleucel", "brexucabtagene"])
@pytest.mark.parametrize("lineage", ["t-all", "aml"])
def test_cd19_agent_in_non_b_disease_is_critical(drug, lineage) -> None:
    recs = run(b(lineage=lineage, age=30), drug)
    assert critical(recs) == {"ORDER-CD19-AGENT-LINEAGE"}


@pytest.mark.parametrize("drug", ["blinatumomab", "tisagenlecleucel", "obecabtagene"])
def test_cd19_agent_in_cd19_negative_disease_is_critical(drug) -> None:
    recs = run(b(age=30 if drug != "tisagenlecleucel" else 20,
                 markers={"cd19": "negative", "cd22": "positive"}), drug)
    assert critical(recs) == {"ORDER-CD19-NEG"}
    assert by_id(recs, "ORDER-CD19-NEG").variables["order_ref"] == "MedicationRequest/d0"


def test_cd19_unknown_is_workup_not_contradiction() -> None:
    recs = run(b(markers={"cd22": "positive"}), "blinatumomab")
    assert not critical(recs)
    assert by_id(recs, "DX-MARKER-AGENT-MAP").variables["marker"] == "CD19"


@pytest.mark.parametrize(("age", "crit"), [(25, False), (26, True)])
def test_tisagenlecleucel_age_limit(age, crit) -> None:
    assert ("ORDER-TISA-AGE" in ids(run(b(age=age), "tisagenlecleucel"))) is crit


def test_tisagenlecleucel_age_unknown_is_data_quality() -> None:
    recs = run(b(age=None), "tisagenlecleucel")
    assert not critical(recs) and "DQ-AGE-UNKNOWN" in ids(recs)


def test_tisagenlecleucel_outside_label_status_is_a_warning_not_critical() -> None:
    recs = run(b(status="first-relapse"), "tisagenlecleucel")
    assert "ORDER-TISA-STATUS" in ids(recs) and not critical(recs)


@pytest.mark.parametrize(("age", "crit"), [(17, True), (18, False)])
def test_adult_car_t_products_under_18(age, crit) -> None:
    for drug in ("brexucabtagene", "obecabtagene"):
        assert ("ORDER-CART-ADULT-AGE" in ids(run(b(age=age), drug))) is crit


def test_car_t_without_product_is_not_judged_as_cd19() -> None:
    recs = run(b(lineage="t-all", markers={}), None, car_t=True)
    assert not critical(recs)
    assert by_id(recs, "ORDER-CART-PRODUCT-UNKNOWN").variables["b_lineage"] is False
    assert "MON-CART-ICANS" in ids(recs)


@pytest.mark.parametrize(("kw", "crit"), [
    ({"lineage": "t-all"}, True), ({"markers": {"cd19": 90, "cd22": "negative"}}, True),
    ({"markers": {"cd19": 90}}, False), ({}, False),
])
def test_inotuzumab_contradictions(kw, crit) -> None:
    recs = run(b(age=40, **kw), "inotuzumab")
    assert ("ORDER-CD22-CONTRA" in ids(recs)) is crit
    # a contradicted draft gets no routine monitoring (F4)
    assert ("MON-INO-VOD" in ids(recs)) is not crit


def test_inotuzumab_order_cautions() -> None:
    recs = run(b(age=60, hct_planned=True, hepatic=True, exposures=("inotuzumab",)),
               "inotuzumab")
    assert {"CAU-INO-VOD-HCT", "CAU-AGE-INO", "CAU-HEPATIC", "CAU-CD22-LOSS"} <= set(ids(recs))
    child = run(b(age=12), "inotuzumab")  # within the US label since 2024 (K1)
    assert "ALL-INO-PEDS" not in ids(child) and not critical(child)
    infant = run(b(age=0), "inotuzumab")
    assert "ALL-INO-PEDS" in ids(infant) and not critical(infant)
    frontline = run(b(age=40, status="newly-diagnosed"), "inotuzumab")
    assert "CAU-INO-FRONTLINE-TOX" in ids(frontline)


@pytest.mark.parametrize(("kw", "crit", "workup"), [
    ({"markers": {"cd33": "negative"}}, True, False),
    ({"markers": {}}, False, True),
    ({"markers": {"cd33": "positive"}}, False, False),
])
def test_gemtuzumab_in_aml(kw, crit, workup) -> None:
    recs = run(b(lineage="aml", age=50, status="first-relapse", **kw), "gemtuzumab")
    assert ("ORDER-GO-CONTRA" in ids(recs)) is crit
    assert ("DX-CD33-FOR-GO" in ids(recs)) is workup
    # a contradicted draft gets no routine caution or monitoring (F4)
    assert ({"MON-GO-HEPATIC", "CAU-GO-SOS"} <= set(ids(recs))) is not crit


def test_gemtuzumab_in_all_is_critical() -> None:
    recs = run(b(), "gemtuzumab")
    assert by_id(recs, "ORDER-GO-CONTRA").variables["reason"] == "lineage"


@pytest.mark.parametrize(("cd20", "expected"), [
    ("negative", "ORDER-RITUX-CONTRA"), (0.5, "ORDER-RITUX-CONTRA"),
    (5, "ORDER-RITUX-CD20-LOW"), (19.9, "ORDER-RITUX-CD20-LOW"), (20, None), ("positive", None),
])
def test_rituximab_cd20(cd20, expected) -> None:
    recs = run(b(age=40, status="newly-diagnosed", markers={"cd19": 90, "cd20": cd20}),
               "rituximab")
    got = set(ids(recs)) & {"ORDER-RITUX-CONTRA", "ORDER-RITUX-CD20-LOW"}
    assert got == ({expected} if expected else set())


def test_rituximab_in_t_all_is_critical_and_older_patient_note() -> None:
    assert "ORDER-RITUX-CONTRA" in ids(run(b(lineage="t-all"), "rituximab"))
    assert "ALL-RITUX-OLDER" in ids(run(b(age=65, status="newly-diagnosed"), "rituximab"))


def test_daratumumab_blood_bank_caution() -> None:
    recs = run(b(lineage="t-all", markers={"cd38": "negative"}), "daratumumab")
    assert {"CAU-DARA-BLOODBANK", "ORDER-DARA-CD38"} <= set(ids(recs)) and not critical(recs)


def test_blinatumomab_monitoring_by_setting() -> None:
    rr = run(b(age=40, blasts=30), "blinatumomab")
    assert by_id(rr, "MON-BLIN-ADMISSION").variables["setting"] == "rr"
    assert by_id(rr, "MON-BLIN-CRS-PREVENTION").variables["overt"] is True
    mrd_setting = run(b(age=40, status="cr1", mrd_result=mrd(2e-3)), "blinatumomab")
    assert by_id(mrd_setting, "MON-BLIN-ADMISSION").variables["setting"] == "mrd"
    assert "MON-BLIN-CRS-PREVENTION" not in ids(mrd_setting)
    child = run(b(age=8, blasts=40), "blinatumomab")
    assert by_id(child, "MON-BLIN-CRS-PREVENTION").variables["child_high_burden"] is True
    assert {"MON-IGG", "CAU-BLIN-DRIVING", "MON-BLIN-CRS-NEURO-WINDOWS"} <= set(ids(rr))


def test_car_t_label_safety_on_every_car_t_order_and_no_other() -> None:
    """K2/K3: the 2024-2025 US labels give every CD19 CAR T product the same boxed warning and
    2-week rules, so every CAR T order (named or not) gets the entry, naming its product;
    O8's product gap is closed. Never on a non-CAR T order."""
    assert by_id(run(b(), "tisagenlecleucel"), "MON-CART-PROXIMITY").variables["drug"] \
        == "tisagenlecleucel"
    for drug in ("brexucabtagene", "obecabtagene"):
        assert by_id(run(b(age=30), drug), "MON-CART-PROXIMITY").variables["drug"] == drug
    assert by_id(run(b(age=30), None, car_t=True),
                 "MON-CART-PROXIMITY").variables["drug"] == "CAR T"
    for drug in ("blinatumomab", "inotuzumab"):
        assert "MON-CART-PROXIMITY" not in ids(run(b(age=30), drug))


def test_unrecognised_order_gives_no_cards_even_with_findings() -> None:
    finding = DataQualityFinding(code="unreadable-mrd", resource="Observation/m", message="x",
                                 concept="mrd")
    assert run(b(findings=(finding,)), None) == []
    assert "DQ-FINDINGS" in ids(run(b(findings=(finding,)), "blinatumomab"))


def test_same_facts_give_the_same_recommendations_on_select_and_sign() -> None:
    facts = b(age=30, kmt2a="positive", neuro=True)
    draft = order("blinatumomab")
    select = decide(facts, hook="order-select", orders_in_focus=[draft], policy=Policy())
    sign = decide(facts, hook="order-sign", orders_in_focus=[draft], policy=Policy())
    assert select == sign


def test_two_drafts_of_one_drug_say_it_once() -> None:
    facts = b(age=30)
    twice = decide(facts, hook="order-sign", policy=Policy(),
                   orders_in_focus=[order("blinatumomab", resource="MedicationRequest/a"),
                                    order("blinatumomab", resource="MedicationRequest/b")])
    assert ids(twice).count("MON-BLIN-ADMISSION") == 1


# --- the order against its indication (issue 19 points 2, 3, 7) --------------------------------


def test_critical_order_checks_mark_the_draft_contradicted_and_only_they_do() -> None:
    """F4 rests on the tag: every critical ORDER-* entry marks CONTRADICTED, nothing else."""
    from service.decision import RULES
    from service.decision.registry import CONTRADICTED
    from service.paths import cards_dir
    from service.render import load_catalogue

    entries = load_catalogue(cards_dir()).entries
    critical_ids = {i for i, r in RULES.items()
                    if r.family == "order" and entries[i].indicator == "critical"}
    # TOX-BLIN-NEURO: the recorded grade >= 3 neurotoxicity contradicts the blinatumomab draft
    assert critical_ids == CRITICAL | {"TOX-BLIN-NEURO"}
    assert {i for i, r in RULES.items() if CONTRADICTED in r.tags} == critical_ids


def test_a_contradicted_draft_keeps_only_its_order_checks_the_other_draft_keeps_all() -> None:
    recs = run(b(lineage="aml", age=60, status="first-relapse",
                 markers={"cd33": "positive"}), "blinatumomab", "gemtuzumab")
    blin = {r.id for r in recs if r.focus == "blinatumomab"}
    go = {r.id for r in recs if r.focus == "gemtuzumab"}
    assert blin == {"ORDER-CD19-AGENT-LINEAGE"}
    assert {"MON-GO-HEPATIC", "CAU-GO-SOS"} <= go


@pytest.mark.parametrize("drug", ["dasatinib", "imatinib", "nilotinib"])
def test_tki_other_than_ponatinib_with_t315i_is_critical(drug) -> None:
    recs = run(b(age=50, status="first-relapse", ph="positive", t315i="detected"), drug)
    assert critical(recs) == {"ORDER-TKI-T315I"}
    assert "ORDER-TKI-PH" not in ids(recs)


@pytest.mark.parametrize(("kw", "expected"), [
    ({"ph": "positive", "t315i": "detected"}, set()),  # ponatinib is the one for T315I
    ({"ph": "positive"}, set()),
    ({"ph": "negative"}, {"ORDER-TKI-PH"}),
    ({"ph": "negative", "ph_like": "positive"}, {"ORDER-TKI-PH"}),
    ({"ph": None}, {"ORDER-INDICATION-CONFIRM"}),
])
def test_ponatinib_indication(kw, expected) -> None:
    recs = run(b(age=50, status="first-relapse", **kw), "ponatinib")
    got = set(ids(recs)) & {"ORDER-TKI-T315I", "ORDER-TKI-PH", "ORDER-INDICATION-CONFIRM"}
    assert got == expected and not critical(recs)


def test_tki_ph_negative_says_so_for_ph_like() -> None:
    recs = run(b(ph="negative", ph_like="positive", status="newly-diagnosed"), "dasatinib")
    assert by_id(recs, "ORDER-TKI-PH").variables["ph_like"] is True
    assert "ph" in {f.name for f in by_id(recs, "ORDER-TKI-PH").facts}


def test_tki_on_a_chart_with_no_acute_leukemia_gets_no_indication_card() -> None:
    """Imatinib and dasatinib are given for CML and GIST too: no diagnosis, no judgement."""
    for kw in ({}, {"ph": "negative"}, {"t315i": "detected"}):
        assert run(b(lineage=None, **kw), "imatinib") == []


@pytest.mark.parametrize(("kw", "expected"), [
    ({"status": "newly-diagnosed", "blasts": 90}, "ORDER-BLIN-SETTING"),
    ({"status": "cr2", "mrd_result": mrd(1e-4, below=True)}, "ORDER-BLIN-SETTING"),
    ({"status": "cr3-or-later", "mrd_result": mrd(detected=False)}, "ORDER-BLIN-SETTING"),
    ({"status": "cr2"}, "ORDER-INDICATION-CONFIRM"),
    ({"status": None}, "ORDER-INDICATION-CONFIRM"),
    ({"status": "cr2", "mrd_result": mrd(2e-3)}, None),
    ({"status": "cr1", "mrd_result": mrd(3e-3)}, None),
    ({"status": "cr1", "mrd_result": mrd(1e-4, below=True)}, None),  # E1910 consolidation
    ({"status": "cr1"}, None),
    ({"status": "post-induction"}, None),
    ({"status": "first-relapse"}, None),
    ({"status": "primary-refractory"}, None),
])
def test_blinatumomab_setting(kw, expected) -> None:
    recs = run(b(age=35, **kw), "blinatumomab")
    got = set(ids(recs)) & {"ORDER-BLIN-SETTING", "ORDER-INDICATION-CONFIRM"}
    assert got == ({expected} if expected else set())
    assert not critical(recs)


def test_blinatumomab_setting_is_not_judged_in_t_all() -> None:
    recs = run(b(lineage="t-all", status="newly-diagnosed"), "blinatumomab")
    assert critical(recs) == {"ORDER-CD19-AGENT-LINEAGE"}
    assert not {"ORDER-BLIN-SETTING", "ORDER-INDICATION-CONFIRM"} & set(ids(recs))


@pytest.mark.parametrize("drug", ["brexucabtagene", "obecabtagene"])
@pytest.mark.parametrize(("kw", "expected"), [
    ({"status": "newly-diagnosed"}, "ORDER-CART-ADULT-SETTING"),
    ({"status": "cr1", "mrd_result": mrd(3e-3)}, "ORDER-CART-ADULT-SETTING"),
    ({"status": "cr2", "mrd_result": mrd(1e-4, below=True)}, "ORDER-CART-ADULT-SETTING"),
    ({"status": "first-relapse", "car_t": "brexucabtagene"}, None),  # relapse after CAR T
    ({"status": None}, "ORDER-INDICATION-CONFIRM"),
    ({"status": "first-relapse"}, None),
    ({"status": "relapse"}, None),
    ({"status": "primary-refractory"}, None),
])
def test_adult_car_t_setting(drug, kw, expected) -> None:
    recs = run(b(age=40, **kw), drug)
    got = set(ids(recs)) & {"ORDER-CART-ADULT-SETTING", "ORDER-INDICATION-CONFIRM"}
    assert got == ({expected} if expected else set())
    assert not critical(recs)


def test_adult_car_t_after_another_infusion_names_it() -> None:
    """p15: the only relapse on record predates the latest CAR T infusion (2024-09-01)."""
    from datetime import UTC, datetime

    from service.facts import Fact
    from tests.decision_helpers import src

    facts = b(age=30, status="first-relapse", car_t="brexucabtagene")
    stale = facts.model_copy(update={"disease_status": Fact(
        value="first-relapse",
        source=src("Observation/status", "first-relapse", datetime(2024, 8, 1, tzinfo=UTC)))})
    rec = by_id(run(stale, "obecabtagene"), "ORDER-CART-ADULT-SETTING")
    assert rec.variables["setting"] == "after-car-t"
    assert rec.variables["product"] == "brexucabtagene autoleucel"
    assert not critical(run(stale, "obecabtagene"))


@pytest.mark.parametrize(("kw", "expected"), [
    ({"aml_risk": "adverse", "fit": True}, "ORDER-GO-RISK"),
    ({"aml_risk": "adverse"}, "ORDER-GO-RISK"),
    ({"aml_risk": "adverse", "fit": False}, None),  # unfit: GO has its own indication
    ({"aml_risk": "favorable", "fit": True}, None),
    ({"aml_risk": "intermediate", "fit": True}, None),
    ({"fit": True}, "ORDER-INDICATION-CONFIRM"),
])
def test_gemtuzumab_induction_risk(kw, expected) -> None:
    recs = run(b(lineage="aml", age=50, status="newly-diagnosed", markers={"cd33": "positive"},
                 **kw), "gemtuzumab")
    got = set(ids(recs)) & {"ORDER-GO-RISK", "ORDER-INDICATION-CONFIRM"}
    assert got == ({expected} if expected else set())
    assert not critical(recs)


def test_gemtuzumab_risk_is_only_for_induction() -> None:
    recs = run(b(lineage="aml", age=50, status="first-relapse", markers={"cd33": "positive"},
                 aml_risk="adverse"), "gemtuzumab")
    assert not {"ORDER-GO-RISK", "ORDER-INDICATION-CONFIRM"} & set(ids(recs))


@pytest.mark.parametrize(("kw", "expected"), [
    ({"lineage": "t-all", "markers": {}}, {"ORDER-DARA-CD38-CONFIRM"}),
    ({"lineage": "t-all", "markers": {"cd38": "positive"}}, set()),
    ({"lineage": "t-all", "markers": {"cd38": "negative"}}, {"ORDER-DARA-CD38"}),
    ({"lineage": "t-all", "markers": {"cd38": 10}}, {"ORDER-DARA-CD38"}),
    ({"lineage": None, "markers": {}}, set()),  # myeloma charts: no leukemia, no card
])
def test_daratumumab_cd38(kw, expected) -> None:
    recs = run(b(**kw), "daratumumab")
    assert set(ids(recs)) & {"ORDER-DARA-CD38", "ORDER-DARA-CD38-CONFIRM"} == expected
    assert not critical(recs)


def test_daratumumab_cd38_bare_percent_is_not_called_negative() -> None:
    recs = run(b(lineage="t-all", markers={"cd38": 10}), "daratumumab")
    assert by_id(recs, "ORDER-DARA-CD38").variables["low"] is True
    called = run(b(lineage="t-all", markers={"cd38": "negative"}), "daratumumab")
    assert by_id(called, "ORDER-DARA-CD38").variables["low"] is False


@pytest.mark.parametrize(("drug", "markers"), [
    ("blinatumomab", {"cd19": 15, "cd22": "positive"}),
    ("tisagenlecleucel", {"cd19": 15}),
    ("inotuzumab", {"cd19": "positive", "cd22": 10}),
])
def test_bare_percent_under_the_site_cut_off_is_a_warning_not_a_contradiction(drug, markers
                                                                               ) -> None:
    recs = run(b(markers=markers), drug)
    assert not critical(recs)
    rec = by_id(recs, "ORDER-MARKER-BELOW-CUTOFF")
    assert rec.variables["cutoff"] == 20.0
    # and the routine monitoring stays: the order is not contradicted
    assert any(i.startswith("MON-") for i in ids(recs))


def test_bare_cd33_percent_under_the_cut_off_is_a_warning_and_a_call_is_critical() -> None:
    low = run(b(lineage="aml", status="first-relapse", markers={"cd33": 15}), "gemtuzumab")
    assert not critical(low) and "ORDER-MARKER-BELOW-CUTOFF" in ids(low)
    called = run(b(lineage="aml", status="first-relapse", markers={"cd33": "negative"}),
                 "gemtuzumab")
    assert critical(called) == {"ORDER-GO-CONTRA"}
    assert "ORDER-MARKER-BELOW-CUTOFF" not in ids(called)


def test_the_site_cut_off_moves_the_warning() -> None:
    facts = b(markers={"cd19": 15, "cd22": "positive"})
    assert "ORDER-MARKER-BELOW-CUTOFF" not in ids(run(facts, "blinatumomab", threshold=10))


def test_a_lineage_contradiction_speaks_instead_of_the_cut_off() -> None:
    recs = run(b(lineage="aml", markers={"cd19": 15}), "blinatumomab")
    assert critical(recs) == {"ORDER-CD19-AGENT-LINEAGE"}
    assert "ORDER-MARKER-BELOW-CUTOFF" not in ids(recs)


def test_go_in_all_with_an_inferred_b_lineage_says_it_was_inferred() -> None:
    facts = b(markers={"cd19": 92})
    lin = facts.lineage
    assert lin is not None
    inferred = facts.model_copy(update={"lineage": lin.model_copy(update={
        "source": lin.source.model_copy(update={"recognised_by": "inferred"})})})
    rec = by_id(run(inferred, "gemtuzumab"), "ORDER-GO-CONTRA")
    assert rec.variables["lineage"] == "ALL (B-ALL inferred from markers)"
    assert by_id(run(facts, "gemtuzumab"), "ORDER-GO-CONTRA").variables["lineage"] == "B-ALL"


def test_blinatumomab_admission_setting_outside_r_r_and_mrd() -> None:
    """S1: newly diagnosed, or MRD negative in CR: the sources give no admission rule
    ("other"); a remission with MRD not recorded stays unknown."""
    def setting(**kw) -> str:
        return by_id(run(b(**kw), "blinatumomab"), "MON-BLIN-ADMISSION").variables["setting"]
    assert setting(status="newly-diagnosed") == "other"
    assert setting(status="cr1", mrd_result=mrd(1e-4, below=True)) == "other"
    assert setting(status="cr1", mrd_result=mrd(2e-3)) == "mrd"
    assert setting(status="cr1") == "unknown"
    assert setting(status="first-relapse") == "rr"
