"""CAR T: product gates by age and status, transplant decisions after CAR T, relapse after it."""

from __future__ import annotations

import pytest

from tests.decision_helpers import by_id, ids, mrd, patient, run


def rr(**kw):
    base = dict(age=20, status="second-or-later-relapse", markers={"cd19": 95, "cd22": 80},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


@pytest.mark.parametrize(("age", "tisa", "adult", "gate"), [
    (25, True, True, False), (26, False, True, True), (17, True, False, False),
    (18, True, True, False), (3, True, False, False),
])
def test_product_age_gates(age, tisa, adult, gate) -> None:
    got = set(ids(run(rr(age=age))))
    assert ("CART-TISA" in got) is tisa
    assert ("CART-BREXU" in got) is adult and ("CART-OBE" in got) is adult
    assert ("CART-AGE-GATE" in got) is gate


def test_exactly_18_is_flagged_for_the_adult_products() -> None:
    assert by_id(run(rr(age=18)), "CART-BREXU").variables["exactly_18"] is True


@pytest.mark.parametrize(("status", "tisa"), [
    ("second-or-later-relapse", True), ("primary-refractory", True),
    ("relapsed-refractory", True), ("first-relapse", False), ("cr2", False),
])
def test_tisagenlecleucel_status_gate(status, tisa) -> None:
    assert ("CART-TISA" in ids(run(rr(status=status)))) is tisa


def test_age_unknown_tisa_shown_with_confirm_and_data_quality_card() -> None:
    recs = run(rr(age=None))
    assert "age" in by_id(recs, "CART-TISA").variables["confirm"]
    assert "DQ-AGE-UNKNOWN" in ids(recs)


def test_no_car_t_in_cd19_negative_disease() -> None:
    got = set(ids(run(rr(markers={"cd19": "negative", "cd22": 80}))))
    assert not got & {"CART-TISA", "CART-BREXU", "CART-OBE", "DX-PRE-CART-CD3"}


def test_prior_hct_favours_car_t_and_no_hct_shows_both_ways() -> None:
    assert "CART-PRIOR-HCT" in ids(run(rr(prior_hct=True)))
    got = ids(run(rr()))
    assert "CART-VS-HCT" in got and "CART-PRIOR-HCT" not in got


def test_after_other_immunotherapy_and_sequencing_caution() -> None:
    recs = run(rr(exposures=("blinatumomab",)))
    assert by_id(recs, "CART-AFTER-OTHER-IT").variables["drugs"] == ("blinatumomab",)
    assert "CAU-SEQUENCING-CD19" in ids(recs)
    assert "CAU-SEQUENCING-CD19" not in ids(run(rr(exposures=("inotuzumab",))))


@pytest.mark.parametrize(("cd3", "fires"), [(149.0, True), (150.0, False), (None, True)])
def test_cd3_before_collection(cd3, fires) -> None:
    assert ("DX-PRE-CART-CD3" in ids(run(rr(cd3=cd3)))) is fires


def test_remission_after_car_t_is_a_contested_transplant_decision() -> None:
    recs = run(rr(status="cr2", car_t="tisagenlecleucel", kmt2a="positive",
                  exposures=("blinatumomab",), prior_hct=True, mrd_result=mrd(1e-4, below=True)))
    rec = by_id(recs, "CART-CONSOLIDATIVE-HCT")
    assert rec.variables["kmt2a"] and rec.variables["prior_blin"] and rec.variables["mrd"] == \
        "negative"
    assert "CAU-SECOND-HCT-POST-CART" in ids(recs)
    assert "CART-TISA" not in ids(recs)


def test_relapse_after_car_t() -> None:
    recs = run(rr(car_t="tisagenlecleucel", markers={"cd22": 80}))
    rec = by_id(recs, "POSTCART-RELAPSE")
    assert rec.variables["cd19_unknown"] is True and rec.variables["blin"] is False
    got = ids(recs)
    assert "TRIAL-POST-CART" in got and "DX-RETEST-TARGET-AT-RELAPSE" in got
    assert "CART-TISA" not in got  # options after CAR T are POSTCART-RELAPSE's


@pytest.mark.parametrize(("kw", "strong", "confirm"), [
    ({"status": "second-or-later-relapse"}, True, False),
    ({"status": "relapsed-refractory", "age": 40}, True, False),
    ({"status": "primary-refractory", "prior_lines": 2}, True, False),
    ({"status": "primary-refractory"}, True, True),
    ({"status": "primary-refractory", "prior_lines": 1}, False, False),
    ({"status": "relapse"}, True, True),
    ({"status": "first-relapse", "age": 40}, False, False),
    ({"status": "second-or-later-relapse", "markers": {"cd19": "negative"}}, False, False),
    ({"status": "second-or-later-relapse", "car_t": "tisagenlecleucel"}, False, False),
])
def test_sitc_strong_recommendation_after_second_line(kw, strong, confirm) -> None:
    """Review M7: SITC's "strongly recommended" CAR T leads after second-line therapy, only
    beside a CAR T product the record allows."""
    recs = run(rr(**kw))
    assert ("CART-SITC-LATER-LINE" in ids(recs)) is strong
    if strong:
        assert bool(by_id(recs, "CART-SITC-LATER-LINE").variables["confirm"]) is confirm


def test_car_t_card_comes_before_the_other_options_only_after_second_line() -> None:
    from service.paths import cards_dir
    from service.render.catalogue import load_catalogue
    group = load_catalogue(cards_dir()).groups["options-car-t"]
    assert group.priority_for(["CART-TISA", "CART-SITC-LATER-LINE"]) < 30
    assert group.priority_for(["CART-BREXU"]) > 30


def test_car_t_or_transplant_not_when_recorded_not_hct_eligible() -> None:
    """Review M6: "with a suitable donor, HCT may be preferable" is not for an ineligible
    patient."""
    assert "CART-VS-HCT" in ids(run(rr()))
    assert "CART-VS-HCT" not in ids(run(rr(hct_eligible=False)))
