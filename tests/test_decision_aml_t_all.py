"""AML (GO by CD33 and setting, MRD, post-HCT, trials) and T-ALL (no B agents, trials)."""

from __future__ import annotations

import pytest

from tests.decision_helpers import by_id, ids, mrd, patient, run


def aml(**kw):
    base = dict(lineage="aml", age=55, status="newly-diagnosed", markers={"cd33": "positive",
                                                                          "cd123": 40})
    base.update(kw)
    return patient(**base)


@pytest.mark.parametrize(("risk", "fit", "expected"), [
    ("favorable", True, "AML-GO-INDUCTION"), ("intermediate", True, "AML-GO-INDUCTION"),
    ("adverse", True, None), ("adverse", False, "AML-GO-UNFIT"), (None, None, "AML-GO-INDUCTION"),
])
def test_go_in_newly_diagnosed_aml(risk, fit, expected) -> None:
    got = set(ids(run(aml(aml_risk=risk, fit=fit))))
    assert got & {"AML-GO-INDUCTION", "AML-GO-UNFIT"} == ({expected} if expected else set())
    assert ("CAU-GO-SOS" in got) is bool(expected)


def test_go_unknowns_say_what_to_confirm() -> None:
    recs = run(aml(markers={"cd123": 40}))
    rec = by_id(recs, "AML-GO-INDUCTION")
    assert rec.variables["confirm"] == ("CD33",)
    assert rec.variables["confirm_fit"] and rec.variables["confirm_risk"]
    assert "DX-AML-MARKERS" in ids(recs) and "DX-GENETICS-AML" in ids(recs)


def test_cd33_negative_aml_gets_no_go_and_a_caution() -> None:
    got = set(ids(run(aml(markers={"cd33": "negative"}, aml_risk="favorable", fit=True))))
    assert "AML-GO-CD33NEG" in got and not got & {"AML-GO-INDUCTION", "CAU-GO-SOS"}


def test_relapsed_aml() -> None:
    recs = run(aml(status="first-relapse", prior_hct=True, age=15))
    got = set(ids(recs))
    assert {"AML-GO-RELAPSE", "AML-POSTHCT-RELAPSE", "AML-CHECKPOINT", "CAU-CHECKPOINT-HCT",
            "AML-CD123", "AML-CD33-NOVEL", "AML-OTHER-TARGETS", "CAU-IMMUNE-WITH-HCT"} <= got
    assert by_id(recs, "AML-GO-RELAPSE").variables["pediatric"] is True


def test_aml_mrd_positive_in_remission_is_a_trial_prompt() -> None:
    assert "AML-MRD" in ids(run(aml(status="cr1", mrd_result=mrd(5e-3))))
    assert "AML-MRD" not in ids(run(aml(status="cr1", mrd_result=mrd(1e-4, below=True))))


def test_pediatric_go_after_hct() -> None:
    assert "AML-GO-POST-HCT-PEDS" in ids(run(aml(age=10, status="cr1", prior_hct=True)))
    assert "AML-GO-POST-HCT-PEDS" not in ids(run(aml(age=18, status="cr1", prior_hct=True)))


def test_aml_never_gets_all_options() -> None:
    got = ids(run(aml(status="first-relapse", markers={"cd19": 90, "cd22": 90, "cd33": 90})))
    assert not any(i.startswith(("ALL-", "CART-", "TALL-")) for i in got)


def tall(**kw):
    base = dict(lineage="t-all", age=25, status="first-relapse", markers={"cd38": "positive"})
    base.update(kw)
    return patient(**base)


def test_relapsed_t_all() -> None:
    recs = run(tall())
    got = set(ids(recs))
    assert {"TALL-NO-B-AGENTS", "TALL-DARA", "CAU-DARA-BLOODBANK-NOTE", "TALL-CD7-CART",
            "TALL-OTHER-CELLULAR", "TALL-VENETOCLAX-ETP", "TALL-ALEMTUZUMAB"} <= got
    # F3: the blood-bank note is information with the option; the warning is for the order
    assert "CAU-DARA-BLOODBANK" not in got
    assert by_id(recs, "TALL-DARA").variables["trials"][0] == "NCT05289687"


def test_t_all_cd38_negative_and_newly_diagnosed() -> None:
    assert "TALL-DARA" not in ids(run(tall(markers={"cd38": "negative"})))
    rec = by_id(run(tall(status="newly-diagnosed", markers={})), "TALL-DARA")
    assert rec.variables["setting"] == "vhr" and rec.variables["confirm"] == ("CD38",)


def test_t_all_with_b_markers_still_gets_no_b_agents() -> None:
    got = ids(run(tall(markers={"cd19": 90, "cd22": 90, "cd20": 50})))
    assert not any(i.startswith(("ALL-", "CART-")) for i in got)


def test_cd33_bare_percent_under_the_site_cut_off_asks_to_confirm_not_cd33_negative() -> None:
    """W6: the seeds give no CD33 cut-off; a bare 15 % is site policy, not a negative call."""
    low = by_id(run(aml(status="first-relapse", markers={"cd33": 15})), "AML-GO-CD33NEG")
    assert low.variables["low"] is True and low.variables["percent"] == 15
    called = by_id(run(aml(status="first-relapse", markers={"cd33": "negative"})),
                   "AML-GO-CD33NEG")
    assert called.variables["low"] is False


def test_go_for_unfit_aml_fires_and_is_unchanged_by_the_immunotherapy_scope_note() -> None:
    """M9: the card says it covers immunotherapy only; when it fires is unchanged."""
    recs = run(aml(age=74, status="newly-diagnosed", fit=False, markers={"cd33": "positive"}))
    assert "AML-GO-UNFIT" in ids(recs) and "AML-GO-INDUCTION" not in ids(recs)


def test_relapsed_t_all_work_up_asks_for_cd38() -> None:
    """O6: CD38 is daratumumab's target (004); at T-ALL relapse the work-up asks for it."""
    recs = run(patient(lineage="t-all", status="second-or-later-relapse"))
    rec = by_id(recs, "DX-MARKERS-DX-RELAPSE")
    assert rec.variables["missing"] == ("CD38",) and rec.variables["t_all"] is True
    tested = run(patient(lineage="t-all", status="second-or-later-relapse",
                         markers={"cd38": "positive"}))
    assert "DX-MARKERS-DX-RELAPSE" not in ids(tested)
    at_diagnosis = run(patient(lineage="t-all", status="newly-diagnosed"))
    assert "CD38" not in by_id(at_diagnosis, "DX-ALL-MARKERS").variables["missing"]
