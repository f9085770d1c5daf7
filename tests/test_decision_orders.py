"""Order hooks: eligibility of the drafted drug, its cautions and monitoring; determinism."""

from __future__ import annotations

import pytest

from service.decision import Policy, decide
from service.facts import DataQualityFinding
from tests.decision_helpers import by_id, ids, mrd, order, patient, run

CRITICAL = {"ORDER-CD19-AGENT-LINEAGE", "ORDER-CD19-NEG", "ORDER-CD22-CONTRA", "ORDER-TISA-AGE",
            "ORDER-CART-ADULT-AGE", "ORDER-GO-CONTRA", "ORDER-RITUX-CONTRA"}


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
    assert "MON-INO-VOD" in ids(recs)


def test_inotuzumab_order_cautions() -> None:
    recs = run(b(age=60, hct_planned=True, hepatic=True, exposures=("inotuzumab",)),
               "inotuzumab")
    assert {"CAU-INO-VOD-HCT", "CAU-AGE-INO", "CAU-HEPATIC", "CAU-CD22-LOSS"} <= set(ids(recs))
    child = run(b(age=12), "inotuzumab")
    assert "ALL-INO-PEDS" in ids(child) and not critical(child)
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
    assert {"MON-GO-HEPATIC", "CAU-GO-SOS"} <= set(ids(recs))


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


def test_car_t_monitoring_proximity_only_for_tisagenlecleucel() -> None:
    """The seeds' proximity advice is tisagenlecleucel's; other CAR T orders get the entry
    saying so, pointing to the product label (O8)."""
    assert by_id(run(b(), "tisagenlecleucel"), "MON-CART-PROXIMITY").variables["tisa"] is True
    for drug in ("brexucabtagene", "obecabtagene"):
        assert by_id(run(b(age=30), drug), "MON-CART-PROXIMITY").variables["tisa"] is False
    assert by_id(run(b(age=30), None, car_t=True),
                 "MON-CART-PROXIMITY").variables["tisa"] is False


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
