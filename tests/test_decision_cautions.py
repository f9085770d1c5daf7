"""Cautions attach to the options shown; a caution never removes an option by itself."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.decision_helpers import by_id, exposure, ids, marker, patient, run


def rr(**kw):
    base = dict(age=40, status="first-relapse", markers={"cd19": 95, "cd22": "positive"},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


@pytest.mark.parametrize(("kw", "context"), [
    ({"hct_planned": True}, "planned"), ({"prior_hct": True}, "prior"),
    ({}, "possible"), ({"hct_eligible": False}, None),
])
def test_inotuzumab_vod_with_hct(kw, context) -> None:
    """On the inotuzumab order a warning; on patient-view, with no inotuzumab on record, the
    note (info) inside the options card (F2)."""
    order_recs = run(rr(**kw), "inotuzumab")
    recs = run(rr(**kw))
    if context is None:
        assert "CAU-INO-VOD-HCT" not in ids(order_recs)
        assert "CAU-INO-VOD-NOTE" not in ids(recs)
    else:
        assert by_id(order_recs, "CAU-INO-VOD-HCT").variables["hct"] == context
        assert by_id(recs, "CAU-INO-VOD-NOTE").variables["hct"] == context
    assert "CAU-INO-VOD-HCT" not in ids(recs)


def test_vod_caution_needs_an_inotuzumab_option() -> None:
    got = ids(run(rr(markers={"cd19": 95, "cd22": "negative"})))
    assert "CAU-INO-VOD-HCT" not in got and "CAU-INO-VOD-NOTE" not in got


def test_vod_caution_not_for_an_infant_where_inotuzumab_is_not_offered() -> None:
    """F2: ALL-INO-PEDS (under 1 year) tags inotuzumab but offers no option: no VOD caution."""
    got = ids(run(rr(age=0)))
    assert "ALL-INO-PEDS" in got
    assert "CAU-INO-VOD-HCT" not in got and "CAU-INO-VOD-NOTE" not in got


def test_vod_caution_applies_to_a_child_offered_inotuzumab() -> None:
    """K1: the US label covers children 1 year and older, and its VOD/SOS caution with them."""
    got = ids(run(rr(age=10)))
    assert "ALL-INO-RR" in got and "ALL-INO-PEDS" not in got
    assert "CAU-INO-VOD-NOTE" in got


def test_vod_caution_counts_inotuzumab_on_record() -> None:
    """O4: with inotuzumab on record the caution is a warning on patient-view too, and says
    how many times and when last; the note is not said beside it."""
    facts = rr(hct_planned=True).model_copy(update={"exposures": (
        exposure("inotuzumab", datetime(2024, 11, 1, tzinfo=UTC)),
        exposure("inotuzumab", datetime(2024, 12, 1, tzinfo=UTC)),
        exposure("inotuzumab", datetime(2025, 1, 15, tzinfo=UTC)))})
    for recs in (run(facts), run(facts, "inotuzumab")):
        v = by_id(recs, "CAU-INO-VOD-HCT").variables
        assert (v["n"], v["last"], v["hct"]) == (3, "2025-01-15", "planned")
        assert "CAU-INO-VOD-NOTE" not in ids(recs)
    # no inotuzumab on record: the order's caution counts none
    assert by_id(run(rr(), "inotuzumab"), "CAU-INO-VOD-HCT").variables["n"] == 0


def test_vod_warning_on_patient_view_needs_inotuzumab_on_record_and_hct_or_option() -> None:
    # on record, HCT planned, no inotuzumab option (CD22 negative): still a warning
    facts = rr(hct_planned=True, markers={"cd19": 95, "cd22": "negative"},
               exposures=("inotuzumab",))
    assert "CAU-INO-VOD-HCT" in ids(run(facts))
    # on record, no option offered and no transplant planned: not said
    facts = rr(markers={"cd19": 95, "cd22": "negative"}, exposures=("inotuzumab",))
    assert "CAU-INO-VOD-HCT" not in ids(run(facts))
    # on record, not eligible for HCT: not said
    assert "CAU-INO-VOD-HCT" not in ids(run(rr(hct_eligible=False, exposures=("inotuzumab",))))


@pytest.mark.parametrize(("age", "fires"), [(55, False), (56, True)])
def test_age_over_55_with_inotuzumab(age, fires) -> None:
    assert ("CAU-AGE-INO" in ids(run(rr(age=age)))) is fires


def test_hepatic_and_neurologic_comorbidity() -> None:
    assert "CAU-HEPATIC" in ids(run(rr(hepatic=True)))
    assert "CAU-HEPATIC" not in ids(run(rr(hepatic=False)))
    assert "CAU-NEURO" in ids(run(rr(neuro=True)))
    assert "CAU-NEURO" not in ids(run(rr(neuro=None)))


def test_cd19_loss_after_cd19_therapy() -> None:
    recs = run(rr(markers={"cd19": "negative", "cd22": "positive"}, exposures=("blinatumomab",)))
    rec = by_id(recs, "CAU-CD19-NEG")
    assert rec.variables["loss"] is True and rec.variables["cd22_expressed"] is True


def test_cd22_loss_after_inotuzumab() -> None:
    recs = run(rr(markers={"cd19": 95, "cd22": "negative"}, exposures=("inotuzumab",)))
    assert by_id(recs, "CAU-CD22-LOSS").variables["cd22_negative"] is True


def test_lineage_switch_with_kmt2a_only_when_cd19_therapy_in_view() -> None:
    recs = run(rr(kmt2a="positive"))
    assert by_id(recs, "CAU-LINEAGE-SWITCH-NOTE").variables["fusions"] == (
        "KMT2A rearrangement",)
    assert "CAU-LINEAGE-SWITCH" not in ids(recs)  # a warning only on the CAR T order (M1)
    quiet = rr(kmt2a="positive", markers={"cd19": "negative", "cd22": "positive"})
    assert not {"CAU-LINEAGE-SWITCH", "CAU-LINEAGE-SWITCH-NOTE"} & set(ids(run(quiet)))


def test_lineage_switch_is_a_car_t_matter() -> None:
    """M1: the passage is about persisting CAR T cells: a warning on a CAR T order, never on
    blinatumomab; on patient-view a note only with CAR T shown or on record."""
    ph = rr(ph="positive")
    assert "CAU-LINEAGE-SWITCH" in ids(run(ph, "brexucabtagene"))
    assert "CAU-LINEAGE-SWITCH" in ids(run(ph, None, car_t=True))
    assert "CAU-LINEAGE-SWITCH" not in ids(run(ph, "blinatumomab"))
    assert "CAU-LINEAGE-SWITCH" not in ids(run(rr(ph="negative"), "brexucabtagene"))
    # Ph+ in CR1 after blinatumomab, no CAR T shown or on record: nothing
    cr1 = rr(ph="positive", status="cr1", exposures=("blinatumomab",))
    assert not {"CAU-LINEAGE-SWITCH", "CAU-LINEAGE-SWITCH-NOTE"} & set(ids(run(cr1)))
    # a CAR T infusion on record: the note
    after = rr(kmt2a="positive", status="cr1", car_t="tisagenlecleucel")
    assert "CAU-LINEAGE-SWITCH-NOTE" in ids(run(after))


def test_t_all_and_aml_get_no_b_cell_cautions() -> None:
    for lineage in ("t-all", "aml"):
        got = ids(run(rr(lineage=lineage, kmt2a="positive", neuro=True, hepatic=True)))
        assert not {"CAU-LINEAGE-SWITCH", "CAU-NEURO", "CAU-HEPATIC", "CAU-CD19-NEG"} & set(got)


def test_cd19_bare_percent_under_the_site_cut_off_is_a_confirm_not_cd19_negative() -> None:
    """W6: a bare 15 % after blinatumomab is read against the site cut-off (site policy):
    the caution says so and asks to confirm CD19; a lab call stays 'CD19-negative'."""
    low = by_id(run(rr(markers={"cd19": 15, "cd22": "positive"})), "CAU-CD19-NEG")
    assert low.variables["low"] is True and low.variables["percent"] == 15
    called = by_id(run(rr(markers={"cd19": "negative", "cd22": "positive"})), "CAU-CD19-NEG")
    assert called.variables["low"] is False


def test_neuro_caution_speaks_of_the_drug_ordered() -> None:
    """M2: blinatumomab order: blinatumomab's own neurotoxicity; an unnamed CAR T order (B-ALL)
    gets the caution too, as CAR T."""
    v = by_id(run(rr(neuro=True), "blinatumomab"), "CAU-NEURO").variables
    assert (v["blin"], v["cart"]) == (True, False)
    v = by_id(run(rr(neuro=True), None, car_t=True), "CAU-NEURO").variables
    assert (v["blin"], v["cart"]) == (False, True)
    assert "CAU-NEURO" not in ids(run(rr(neuro=True, lineage="t-all"), None, car_t=True))
    assert "CAU-NEURO" not in ids(run(rr(neuro=None), None, car_t=True))


def _dim_cd19(marker_when: datetime, *exposed: datetime, blasts: float = 20):
    facts = rr(blasts=blasts)
    return facts.model_copy(update={
        "markers": {**facts.markers, "cd19": marker("cd19", "dim", marker_when)},
        "exposures": tuple(exposure("blinatumomab", d) for d in exposed)})


def test_blinatumomab_efficacy_with_cd19_dim_after_blinatumomab() -> None:
    """O5: CD19 called dim after a blinatumomab course; not dim before it, nor without one."""
    course = datetime(2024, 6, 1, tzinfo=UTC)
    after = _dim_cd19(datetime(2025, 2, 1, tzinfo=UTC), course)
    for recs in (run(after), run(after, "blinatumomab")):
        v = by_id(recs, "CAU-BLIN-EFFICACY").variables
        assert v["cd19_dim"] is True and v["burden"] is False
    before = _dim_cd19(datetime(2024, 1, 1, tzinfo=UTC), course)
    assert "CAU-BLIN-EFFICACY" not in ids(run(before, "blinatumomab"))
    never = _dim_cd19(datetime(2025, 2, 1, tzinfo=UTC))
    assert "CAU-BLIN-EFFICACY" not in ids(run(never, "blinatumomab"))
    # a bare percentage is not a dim call
    pct = after.model_copy(update={"markers": {**after.markers, "cd19": marker(
        "cd19", 15.0, datetime(2025, 2, 1, tzinfo=UTC))}})
    assert "CAU-BLIN-EFFICACY" not in ids(run(pct, "blinatumomab"))
    # high burden and dim after blinatumomab: both said
    both = _dim_cd19(datetime(2025, 2, 1, tzinfo=UTC), course, blasts=70)
    v = by_id(run(both, "blinatumomab"), "CAU-BLIN-EFFICACY").variables
    assert v["cd19_dim"] is True and v["burden"] is True


def test_daratumumab_blood_bank_warning_on_the_order_only() -> None:
    """F3: every daratumumab order gets the warning; patient-view the note with the option."""
    tall = rr(lineage="t-all", markers={"cd38": "positive"})
    assert "CAU-DARA-BLOODBANK" in ids(run(tall, "daratumumab"))
    got = ids(run(tall))
    assert "CAU-DARA-BLOODBANK-NOTE" in got and "CAU-DARA-BLOODBANK" not in got
    negative = rr(lineage="t-all", markers={"cd38": "negative"})
    assert "CAU-DARA-BLOODBANK-NOTE" not in ids(run(negative))


def test_checkpoint_caution_is_shown_with_the_checkpoint_trial_prompts() -> None:
    """F1: shown (as information, in the trials card) only with the trial that names a
    checkpoint inhibitor and transplant in view: never for children (ZUMA-4 only)."""
    assert "CAU-CHECKPOINT-HCT" in ids(run(rr(hct_planned=True)))
    assert "CAU-CHECKPOINT-HCT" not in ids(run(rr(age=12, hct_planned=True)))
    assert "CAU-CHECKPOINT-HCT" not in ids(run(rr(hct_planned=True, status="cr1")))


def test_blinatumomab_efficacy_names_extramedullary_only_outside_the_cns() -> None:
    """W4 carried to the caution: CNS3 with a high marrow count is high burden by the blasts;
    the caution does not call the CNS disease extramedullary."""
    cns = by_id(run(rr(blasts=70, cns="cns3"), "blinatumomab"), "CAU-BLIN-EFFICACY")
    assert cns.variables["burden"] is True and cns.variables["emd"] is False
    emd = by_id(run(rr(blasts=70, emd="present"), "blinatumomab"), "CAU-BLIN-EFFICACY")
    assert emd.variables["emd"] is True


def test_blinatumomab_efficacy_says_inotuzumab_first_only_within_its_labelled_age() -> None:
    """An infant in high-burden relapse is not told "consider inotuzumab first" (W3)."""
    assert by_id(run(rr(blasts=70), "blinatumomab"), "CAU-BLIN-EFFICACY").variables["ino_age"]
    infant = by_id(run(rr(age=0, blasts=70), "blinatumomab"), "CAU-BLIN-EFFICACY")
    assert infant.variables["ino_age"] is False
