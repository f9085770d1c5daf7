"""Conflict resolutions of clinical-rules.md section 2 that change what is shown (D-numbers)."""

from __future__ import annotations

from tests.decision_helpers import by_id, ids, mrd, patient, run


def rr(**kw):
    base = dict(age=30, status="second-or-later-relapse", markers={"cd19": 90, "cd22": 90},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


def test_d1_blinatumomab_is_the_only_mrd_label_and_e1910_adds_consolidation() -> None:
    positive = set(ids(run(rr(status="cr1", mrd_result=mrd(2e-3)))))
    assert "ALL-BLIN-MRD-LABEL" in positive
    assert not positive & {"CART-TISA", "CART-BREXU", "CART-OBE"}  # no CAR T MRD label
    negative = set(ids(run(rr(status="cr1", mrd_result=mrd(1e-4, below=True)))))
    assert "ALL-FRONT-BLIN-CONSOLIDATION" in negative


def test_d2_adult_car_t_products_from_the_newest_seed() -> None:
    got = set(ids(run(rr(age=40))))
    assert {"CART-BREXU", "CART-OBE", "CART-AGE-GATE"} <= got and "CART-TISA" not in got


def test_d3_tisagenlecleucel_on_table_3_wording() -> None:
    assert "CART-TISA" in ids(run(rr(age=20, status="primary-refractory")))
    assert "CART-TISA" not in ids(run(rr(age=20, status="first-relapse")))


def test_d4_three_mrd_bands() -> None:
    def band(fraction):
        got = set(ids(run(rr(status="cr1", mrd_result=mrd(fraction)))))
        return got & {"ALL-BLIN-MRD-LABEL", "ALL-BLIN-MRD-LOW", "ALL-FRONT-BLIN-CONSOLIDATION"}
    assert band(1e-3) == {"ALL-BLIN-MRD-LABEL"}
    assert band(1e-4) == {"ALL-BLIN-MRD-LOW"}
    assert band(5e-5) == {"ALL-FRONT-BLIN-CONSOLIDATION"}


def test_d13_cd20_cut_offs() -> None:
    def cd20(value):
        p = rr(status="newly-diagnosed", markers={"cd19": 90, "cd20": value})
        return set(ids(run(p))) & {"ALL-RITUX-CD20", "ALL-OFATUMUMAB-CD20LOW"}
    assert cd20(20) == {"ALL-RITUX-CD20"} and cd20(19) == {"ALL-OFATUMUMAB-CD20LOW"}


def test_d14_high_burden_is_50_percent_for_ino_first() -> None:
    assert "ALL-RR-HIGH-BURDEN-INO-FIRST" in ids(run(rr(blasts=50)))
    assert "ALL-RR-HIGH-BURDEN-INO-FIRST" not in ids(run(rr(blasts=26)))


def test_d15_frontline_inotuzumab_only_in_trials() -> None:
    recs = run(rr(status="newly-diagnosed"))
    assert "ALL-FRONT-INO" in ids(recs) and "ALL-INO-RR" not in ids(recs)
    assert "CAU-INO-FRONTLINE-TOX" in ids(run(rr(status="newly-diagnosed"), "inotuzumab"))


def test_d18_transplant_after_car_t_is_shown_both_ways() -> None:
    recs = run(rr(status="cr2", car_t="tisagenlecleucel"))
    assert "CART-CONSOLIDATIVE-HCT" in ids(recs)


def test_d20_prior_blinatumomab_is_a_caution_never_an_exclusion() -> None:
    got = set(ids(run(rr(age=20, exposures=("blinatumomab",)))))
    assert {"CART-TISA", "CAU-SEQUENCING-CD19"} <= got


def test_d25_pediatric_go_at_relapse_is_flagged() -> None:
    recs = run(rr(lineage="aml", age=10, status="first-relapse", markers={"cd33": 80}))
    assert by_id(recs, "AML-GO-RELAPSE").variables["pediatric"] is True


def test_d26_exactly_18_is_flagged() -> None:
    assert by_id(run(rr(age=18)), "CART-OBE").variables["exactly_18"] is True


def test_d27_two_cycle_cap_when_hct_planned_or_possible_not_when_ineligible() -> None:
    assert by_id(run(rr(age=40), "inotuzumab"),
                 "CAU-INO-VOD-HCT").variables["hct"] == "possible"
    assert by_id(run(rr(age=40)), "CAU-INO-VOD-NOTE").variables["hct"] == "possible"
    got = ids(run(rr(age=40, hct_eligible=False)))
    assert not {"CAU-INO-VOD-HCT", "CAU-INO-VOD-NOTE"} & set(got)
    assert "ALL-HCT-INELIGIBLE" in got


def test_checkpoint_trial_with_transplant_in_view_carries_the_gvhd_caution() -> None:
    assert "CAU-CHECKPOINT-HCT" in ids(run(rr(age=40, prior_hct=True)))
    assert "CAU-CHECKPOINT-HCT" not in ids(run(rr(age=40)))
