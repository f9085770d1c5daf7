"""B-ALL options: when each fires, and as carefully, when it must not."""

from __future__ import annotations

import pytest

from tests.decision_helpers import by_id, ids, mrd, patient, run

B_OPTIONS = {"ALL-BLIN-RR", "ALL-INO-RR", "ALL-RR-FIRST-RELAPSE", "ALL-BLIN-MRD-LABEL",
             "ALL-RITUX-CD20", "ALL-FRONT-BLIN-CONSOLIDATION", "CART-TISA", "CART-BREXU"}


def relapse(**kw):
    base = dict(age=40, status="first-relapse", markers={"cd19": 95, "cd22": "positive"},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


# --- relapsed / refractory ----------------------------------------------------------------------

def test_first_relapse_lists_trial_blinatumomab_inotuzumab_and_hct() -> None:
    recs = run(relapse())
    first = by_id(recs, "ALL-RR-FIRST-RELAPSE")
    assert first.variables["blin"] is True and first.variables["ino"] is True
    assert {"ALL-BLIN-RR", "ALL-INO-RR"} <= set(ids(recs))


@pytest.mark.parametrize("lineage", ["t-all", "aml", "all-unspecified"])
def test_no_b_lineage_option_outside_b_all(lineage: str) -> None:
    got = set(ids(run(relapse(lineage=lineage))))
    assert not got & B_OPTIONS
    assert not any(i.startswith(("ALL-", "CART-")) for i in got)


def test_cd19_negative_removes_blinatumomab_and_car_t_but_keeps_inotuzumab() -> None:
    recs = run(relapse(markers={"cd19": "negative", "cd22": "positive"}))
    got = set(ids(recs))
    assert "ALL-BLIN-RR" not in got and not {"CART-TISA", "CART-BREXU", "CART-OBE"} & got
    assert "ALL-INO-RR" in got and "CAU-CD19-NEG" in got
    assert by_id(recs, "ALL-RR-FIRST-RELAPSE").variables["blin"] is False


def test_cd22_negative_removes_inotuzumab() -> None:
    got = set(ids(run(relapse(markers={"cd19": 90, "cd22": "negative"}, blasts=80))))
    assert not got & {"ALL-INO-RR", "ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-INO-MINIHCVD-SALVAGE"}
    assert "ALL-BLIN-RR" in got


def test_missing_cd19_is_not_negative_option_shown_with_confirm_and_workup() -> None:
    recs = run(relapse(markers={"cd22": "positive"}))
    blin = by_id(recs, "ALL-BLIN-RR")
    assert blin.variables["confirm"] == ("CD19",)
    assert "CAU-CD19-NEG" not in ids(recs)
    assert "CD19" in by_id(recs, "DX-MARKERS-DX-RELAPSE").variables["missing"]


def test_bare_percentage_is_judged_by_site_threshold() -> None:
    low = relapse(markers={"cd19": 15, "cd22": "positive"})
    assert "ALL-BLIN-RR" not in ids(run(low))  # 15 % < 20 % default: negative by policy
    assert "ALL-BLIN-RR" in ids(run(low, threshold=10.0))
    recs = run(relapse(markers={"cd19": 20, "cd22": "positive"}))
    assert "site policy" in by_id(recs, "ALL-BLIN-RR").facts[1].value


def test_dim_cd19_counts_as_expressed() -> None:
    recs = run(relapse(markers={"cd19": "dim", "cd22": "positive"}))
    assert by_id(recs, "ALL-BLIN-RR").variables["dim"] is True
    assert "DX-ANTIGEN-HETEROGENEITY" in ids(recs)


@pytest.mark.parametrize(("blasts", "emd", "high", "low"), [
    (50.0, None, True, False), (49.9, None, False, True), (10.0, "present", True, False),
    (None, None, False, False), (None, "present", True, False),
])
def test_burden_band_edge(blasts, emd, high, low) -> None:
    got = set(ids(run(relapse(blasts=blasts, emd=emd))))
    assert ("ALL-RR-HIGH-BURDEN-INO-FIRST" in got) is high
    assert ("ALL-RR-LOW-BURDEN-BLIN" in got) is low
    assert ("CAU-BLIN-EFFICACY" in got) is high


@pytest.mark.parametrize(("age", "option", "peds_option"), [
    (18, True, False), (17, True, False), (10, True, False), (1, True, False),
    (0, False, True), (None, True, False)])
def test_inotuzumab_us_label_from_one_year(age, option, peds_option) -> None:
    """K1: the US label covers r/r CD22+ B-ALL from 1 year of age (FDA 2024-03-06); under 1
    year the infant's card prefers a trial."""
    recs = run(relapse(age=age))
    assert ("ALL-INO-RR" in ids(recs)) is option
    assert ("ALL-INO-PEDS" in ids(recs)) is peds_option
    if age is None:
        assert "age" in by_id(recs, "ALL-INO-RR").variables["confirm"]


def test_transplant_bridge_ineligible_and_post_hct() -> None:
    assert "ALL-RR-BRIDGE-TO-HCT" in ids(run(relapse(hct_planned=True)))
    assert "ALL-RR-BRIDGE-TO-HCT" not in ids(run(relapse()))
    assert "ALL-HCT-INELIGIBLE" in ids(run(relapse(hct_eligible=False)))
    assert "ALL-HCT-INELIGIBLE" not in ids(run(relapse(hct_eligible=None)))
    assert "ALL-RELAPSE-POST-HCT" in ids(run(relapse(prior_hct=True)))


def test_ph_positive_relapse_and_t315i() -> None:
    recs = run(relapse(ph="positive", t315i="detected"))
    got = ids(recs)
    assert {"ALL-PH-RR-BLIN", "ALL-PH-RR-INO", "ALL-PH-T315I"} <= set(got)
    assert by_id(recs, "ALL-PH-RR-BLIN").variables["t315i"] is True
    assert "ALL-INO-MINIHCVD-SALVAGE" not in got  # Ph-negative regimen
    # BCR::ABL1 fusion named by 002: information inside the CAR T card, not a warning (M1)
    assert "CAU-LINEAGE-SWITCH-NOTE" in got and "CAU-LINEAGE-SWITCH" not in got


def test_t315i_test_after_dasatinib_and_blinatumomab() -> None:
    recs = run(relapse(ph="positive", exposures=("dasatinib", "blinatumomab")))
    assert by_id(recs, "ALL-PH-T315I").variables["mode"] == "test"
    assert "ALL-PH-T315I" not in ids(run(relapse(ph="positive", exposures=("dasatinib",))))


def test_cns_disease_points_to_car_t_and_inotuzumab() -> None:
    assert "ALL-CNS-EMD" in ids(run(relapse(cns="cns3")))
    assert "ALL-CNS-EMD" not in ids(run(relapse(cns="cns1", emd="absent")))


@pytest.mark.parametrize("cns", ["cns2", "cns3"])
def test_cns_disease_is_not_extramedullary_high_burden(cns) -> None:
    """Review W4: CNS status is recorded apart from extramedullary disease; isolated CNS
    relapse is neither high nor low marrow burden, so no inotuzumab-first advice."""
    got = set(ids(run(relapse(blasts=0.5, cns=cns, emd="absent"))))
    assert "ALL-CNS-EMD" in got
    assert not got & {"ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-RR-LOW-BURDEN-BLIN",
                      "CAU-BLIN-EFFICACY"}
    # marrow burden still counts with CNS disease
    got = set(ids(run(relapse(blasts=60, cns=cns))))
    assert "ALL-RR-HIGH-BURDEN-INO-FIRST" in got
    rec = by_id(run(relapse(blasts=60, cns=cns)), "ALL-RR-HIGH-BURDEN-INO-FIRST")
    assert rec.variables["emd"] is False


@pytest.mark.parametrize(("age", "ino"), [(17, True), (0, False), (1, True), (18, True),
                                          (None, True)])
def test_no_inotuzumab_first_or_inotuzumab_option_under_its_labelled_age(age, ino) -> None:
    """Review W3/O9: one age rule for every inotuzumab option (criteria.INO_LABEL_MIN_AGE)."""
    recs = run(relapse(age=age, blasts=60, ph="negative"))
    got = set(ids(recs))
    ino_ids = {"ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-INO-RR"}
    assert (ino_ids <= got) is ino and (not ino_ids & got or ino)
    # the mini-hyper-CVD regimen was studied in adults: the pediatric label is for the drug
    assert ("ALL-INO-MINIHCVD-SALVAGE" in got) is (age is None or age >= 18)
    assert ("ALL-INO-PEDS" in got) is not ino
    assert by_id(recs, "ALL-RR-FIRST-RELAPSE").variables["ino"] is ino
    assert ("ALL-PH-RR-INO" in ids(run(relapse(age=age, ph="positive")))) is ino
    ineligible = by_id(run(relapse(age=age, hct_eligible=False)), "ALL-HCT-INELIGIBLE")
    assert ineligible.variables["ino"] is ino


def test_inotuzumab_label_age_is_one_constant(monkeypatch) -> None:
    from service.decision import criteria
    got = set(ids(run(relapse(age=10, blasts=60))))
    assert {"ALL-INO-RR", "ALL-RR-HIGH-BURDEN-INO-FIRST"} <= got
    assert "ALL-INO-PEDS" not in got
    monkeypatch.setattr(criteria, "INO_LABEL_MIN_AGE", 18)  # the label the seeds knew
    got = set(ids(run(relapse(age=10, blasts=60))))
    assert not {"ALL-INO-RR", "ALL-RR-HIGH-BURDEN-INO-FIRST"} & got
    assert "ALL-INO-PEDS" in got


def test_low_burden_preference_says_when_the_relapse_followed_blinatumomab() -> None:
    """Review M6: the relapse (dated after the course) followed blinatumomab."""
    rec = by_id(run(relapse(blasts=30, exposures=("blinatumomab",))), "ALL-RR-LOW-BURDEN-BLIN")
    assert rec.variables["after_blin"] is True
    assert by_id(run(relapse(blasts=30)), "ALL-RR-LOW-BURDEN-BLIN").variables["after_blin"] is False


def test_not_hct_eligible_is_not_offered_allo_hct_or_hyper_cvd() -> None:
    """Review U4/M6: the record's own limits."""
    first = by_id(run(relapse(hct_eligible=False)), "ALL-RR-FIRST-RELAPSE")
    assert first.variables["hct"] is False
    assert by_id(run(relapse()), "ALL-RR-FIRST-RELAPSE").variables["hct"] is True
    assert "ALL-INO-MINIHCVD-SALVAGE" not in ids(run(relapse(fit=False)))
    assert "ALL-INO-MINIHCVD-SALVAGE" in ids(run(relapse(fit=None)))


# --- MRD bands ------------------------------------------------------------------------------------

def in_cr(fraction, status="cr1", **kw):
    base = dict(age=40, status=status, markers={"cd19": 95, "cd22": "positive", "cd20": 5},
                ph="negative", kmt2a="negative", mrd_result=mrd(fraction))
    base.update(kw)
    return patient(**base)


@pytest.mark.parametrize(("fraction", "label", "low", "consolidation"), [
    (1e-3, True, False, False),
    (0.1 / 100, True, False, False),  # 0.1 % as converted by a lab feed
    (9.99e-4, False, True, False),  # just under the label band
    (1e-4, False, True, False),
    (9.9e-5, False, False, True),  # detectable below 1e-4: E1910 subgroup note
])
def test_mrd_bands(fraction, label, low, consolidation) -> None:
    recs = run(in_cr(fraction))
    got = set(ids(recs))
    assert ("ALL-BLIN-MRD-LABEL" in got) is label
    assert ("ALL-BLIN-MRD-LOW" in got) is low
    assert ("ALL-FRONT-BLIN-CONSOLIDATION" in got) is consolidation
    # below E1910's MRD-negative cut-off (< 0.01 %) no CAR T trial prompt, no second
    # blinatumomab card (review M8)
    assert ("TRIAL-MRD-POS-ALL" in got) is not consolidation
    assert "ALL-BLIN-MRD-SITC" not in got
    if consolidation:
        assert by_id(recs, "ALL-FRONT-BLIN-CONSOLIDATION").variables["detectable_sub"] is True


def test_mrd_negative_ph_negative_cr1_gets_e1910_consolidation() -> None:
    p = in_cr(None, mrd_result=mrd(1e-4, below=True))
    rec = by_id(run(p), "ALL-FRONT-BLIN-CONSOLIDATION")
    assert rec.variables["sensitivity_ok"] is True and rec.variables["under55"] is True
    assert "ALL-BLIN-MRD-LABEL" not in ids(run(p))


def test_mrd_negative_at_poor_sensitivity_is_flagged() -> None:
    p = in_cr(None, mrd_result=mrd(1e-3, below=True))
    assert by_id(run(p), "ALL-FRONT-BLIN-CONSOLIDATION").variables["sensitivity_ok"] is False


def test_e1910_needs_ph_negative_and_frontline() -> None:
    neg = mrd(1e-4, below=True)
    assert "ALL-FRONT-BLIN-CONSOLIDATION" not in ids(run(in_cr(None, mrd_result=neg,
                                                              ph="positive")))
    assert "ALL-FRONT-BLIN-CONSOLIDATION" not in ids(run(in_cr(None, mrd_result=neg,
                                                              status="cr2")))
    rec = by_id(run(in_cr(None, mrd_result=neg, ph=None)), "ALL-FRONT-BLIN-CONSOLIDATION")
    assert "Ph-negative status" in rec.variables["confirm"]


@pytest.mark.parametrize(("status", "cr1"), [("cr1", True), ("post-induction", True),
                                          ("remission", True), ("cr2", False)])
def test_low_band_is_within_consolidation_approval_in_cr1_only(status, cr1) -> None:
    """Review W1: in CR1 blinatumomab as part of consolidation is labelled whatever the MRD
    (003); "below the label" is said only in a later remission."""
    rec = by_id(run(in_cr(5e-4, status=status)), "ALL-BLIN-MRD-LOW")
    assert rec.variables["cr1"] is cr1
    if status == "remission":
        assert any("remission number" in c for c in rec.variables["confirm"])


def test_sub_band_ph_positive_keeps_the_sitc_card() -> None:
    """Below 0.01 % with Ph+ there is no consolidation card (E1910 was Ph-negative): SITC's
    card stays."""
    got = set(ids(run(in_cr(9e-5, ph="positive"))))
    assert "ALL-BLIN-MRD-SITC" in got and "ALL-FRONT-BLIN-CONSOLIDATION" not in got


def test_label_band_in_later_cr_is_flagged_outside_label() -> None:
    rec = by_id(run(in_cr(2e-3, status="cr3-or-later")), "ALL-BLIN-MRD-LABEL")
    assert rec.variables["later_cr"] is True


def test_mrd_level_unknown_after_induction_gets_sitc_bullet_and_workup() -> None:
    recs = run(in_cr(None, status="post-induction", mrd_result=mrd(None, detected=True)))
    assert by_id(recs, "ALL-BLIN-MRD-SITC").variables["level_known"] is False
    assert "no-level" in by_id(recs, "DX-MRD-BASELINE").variables["issues"]


def test_missing_mrd_in_remission_is_not_negative() -> None:
    recs = run(patient(age=40, status="cr1", markers={"cd19": 95}, ph="negative"))
    got = ids(recs)
    assert "ALL-FRONT-BLIN-CONSOLIDATION" not in got and "ALL-BLIN-MRD-LABEL" not in got
    assert "missing" in by_id(recs, "DX-MRD-BASELINE").variables["issues"]


def test_mrd_without_method_is_flagged() -> None:
    recs = run(in_cr(None, mrd_result=mrd(2e-3, method=None)))
    assert by_id(recs, "ALL-BLIN-MRD-LABEL").variables["no_method"] is True
    assert "no-method" in by_id(recs, "DX-MRD-BASELINE").variables["issues"]


def test_persistent_mrd_and_switching_target() -> None:
    history = (mrd(2e-3, resource="Observation/m0"), mrd(3e-3))
    recs = run(in_cr(None, mrd_result=history[-1], mrd_history=history,
                     exposures=("inotuzumab",)))
    assert "ALL-BLIN-MRD-EARLY" in ids(recs)
    seq = by_id(recs, "ALL-SEQ-INO-BLIN")
    assert (seq.variables["after"], seq.variables["next"]) == ("inotuzumab", "blinatumomab")


def test_hct_role_after_blinatumomab_mrd_response() -> None:
    p = in_cr(None, mrd_result=mrd(1e-4, below=True), exposures=("blinatumomab",))
    assert "ALL-BLIN-MRD-HCT-ROLE" in ids(run(p))


# --- frontline ------------------------------------------------------------------------------------

def new(**kw):
    base = dict(age=40, status="newly-diagnosed", markers={"cd19": 95, "cd22": 90, "cd20": 45},
                ph="negative", kmt2a="negative")
    base.update(kw)
    return patient(**base)


@pytest.mark.parametrize(("cd20", "age", "expected"), [
    (20, 59, "ALL-RITUX-CD20"), (45, 60, "ALL-RITUX-OLDER"), (19, 40, "ALL-OFATUMUMAB-CD20LOW"),
    (1, 40, "ALL-OFATUMUMAB-CD20LOW"), (0.5, 40, None), ("positive", 40, "ALL-RITUX-CD20"),
])
def test_cd20_bands(cd20, age, expected) -> None:
    got = set(ids(run(new(markers={"cd19": 95, "cd22": 90, "cd20": cd20}, age=age))))
    cd20_ids = {"ALL-RITUX-CD20", "ALL-RITUX-OLDER", "ALL-OFATUMUMAB-CD20LOW"}
    assert got & cd20_ids == ({expected} if expected else set())


def test_rituximab_not_for_ph_positive_and_confirms_unknown_ph() -> None:
    assert "ALL-RITUX-CD20" not in ids(run(new(ph="positive")))
    rec = by_id(run(new(ph=None)), "ALL-RITUX-CD20")
    assert "Ph-negative status" in rec.variables["confirm"]


def test_cd20_call_without_percent_asks_for_the_percentage() -> None:
    recs = run(new(markers={"cd19": 95, "cd22": 90, "cd20": "positive"}))
    assert "DX-CD20-DEF" in ids(recs)


@pytest.mark.parametrize(("age", "older_trial"), [(55, False), (56, True)])
def test_older_frontline_trial_age_edge(age, older_trial) -> None:
    assert ("ALL-FRONT-OLDER-TRIAL" in ids(run(new(age=age)))) is older_trial


def test_ph_positive_newly_diagnosed_gets_chemo_free_regimens_and_cns_caution() -> None:
    recs = run(new(ph="positive"))
    assert by_id(recs, "ALL-PH-FRONT").variables["trials"][0] == "NCT04530565"
    assert "CAU-PH-CHEMOFREE-CNS" in ids(recs)
    assert "ALL-FRONT-OLDER-TRIAL" not in ids(run(new(ph="positive", age=70)))


def test_child_newly_diagnosed_gets_pediatric_blinatumomab_and_protocols() -> None:
    got = set(ids(run(new(age=8))))
    assert {"ALL-FRONT-PEDS-SR-BLIN", "TRIAL-SPECIFIC-PEDS-FRONTLINE"} <= got
    assert "ALL-FRONT-INO" not in got  # adult frontline InO trials note
    assert "ALL-FRONT-PEDS-SR-BLIN" not in ids(run(new(age=18)))


@pytest.mark.parametrize(("kw", "shown"), [
    ({"age": 0}, False), ({"age": 1}, True), ({"age": 9}, True), ({"age": 10}, False),
    ({"age": 5, "kmt2a": "positive"}, False), ({"age": 5, "cns": "cns3"}, False),
    ({"age": 5, "cns": "cns2"}, True), ({"age": 5, "cns": "cns1"}, True),
])
def test_pediatric_standard_risk_card_only_where_standard_risk_is_possible(kw, shown) -> None:
    """Review W2: infants, 10 or older, KMT2A-r and CNS3 rule standard risk out."""
    assert ("ALL-FRONT-PEDS-SR-BLIN" in ids(run(new(**kw)))) is shown


def test_pediatric_standard_risk_asks_for_unknown_kmt2a_and_cns() -> None:
    rec = by_id(run(new(age=5, kmt2a=None)), "ALL-FRONT-PEDS-SR-BLIN")
    assert {"KMT2A status", "CNS status"} <= set(rec.variables["confirm"])
    rec = by_id(run(new(age=5, cns="cns1")), "ALL-FRONT-PEDS-SR-BLIN")
    assert not {"KMT2A status", "CNS status"} & set(rec.variables["confirm"])


def test_ofatumumab_hyper_cvad_not_for_a_patient_recorded_unfit() -> None:
    """Review U4: an intensive regimen is not offered against the team's recorded fitness."""
    low = {"cd19": 95, "cd22": 90, "cd20": 10}
    assert "ALL-OFATUMUMAB-CD20LOW" not in ids(run(new(markers=low, fit=False)))
    assert "ALL-OFATUMUMAB-CD20LOW" in ids(run(new(markers=low, fit=True)))
    assert "ALL-OFATUMUMAB-CD20LOW" in ids(run(new(markers=low)))


def test_ph_like_note() -> None:
    assert "ALL-PH-LIKE" in ids(run(new(ph_like="positive")))
    assert "DX-PHLIKE-PROXY" in ids(run(new()))
    assert "DX-PHLIKE-PROXY" not in ids(run(new(ph_like="negative")))


@pytest.mark.parametrize(("cd20", "older", "confirm_cd20"), [
    (40, True, False), ("positive", True, False), (None, True, True),
    (10, False, False), (19.9, False, False), ("negative", False, False),
])
def test_rituximab_order_at_60_or_over_only_for_cd20_positive_or_unknown(cd20, older,
                                                                        confirm_cd20) -> None:
    """W5: under 20 % ORDER-RITUX-CD20-LOW speaks; ALL-RITUX-OLDER must not also call the
    disease CD20-positive. CD20 not in the record: the card names CD20 to confirm."""
    markers = {"cd19": "positive"} | ({"cd20": cd20} if cd20 is not None else {})
    recs = run(patient(age=78, status="newly-diagnosed", ph="negative", markers=markers),
               "rituximab")
    assert ("ALL-RITUX-OLDER" in ids(recs)) is older
    if older:
        assert ("CD20" in by_id(recs, "ALL-RITUX-OLDER").variables["confirm"]) is confirm_cd20
