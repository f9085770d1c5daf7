"""Work-up, data quality and trial prompts: missing is not negative; trials by setting."""

from __future__ import annotations

from service.facts import DataQualityFinding
from tests.decision_helpers import by_id, exposure, ids, patient, run


def test_chart_without_leukemia_gets_nothing() -> None:
    assert run(patient(lineage=None)) == []


def test_findings_surface_and_unreadable_mrd_is_never_negative() -> None:
    finding = DataQualityFinding(code="unreadable-mrd", resource="Observation/m9",
                                 message="MRD value has an unknown unit", concept="mrd")
    recs = run(patient(status="cr1", markers={"cd19": 95}, ph="negative",
                       findings=(finding,)))
    dq = by_id(recs, "DQ-FINDINGS")
    assert dq.variables["mrd_unreadable"] is True and dq.facts[0].resource == "Observation/m9"
    got = ids(recs)
    assert "ALL-FRONT-BLIN-CONSOLIDATION" not in got and "missing" in \
        by_id(recs, "DX-MRD-BASELINE").variables["issues"]


def test_findings_alone_show_when_they_concern_a_leukemia_concept() -> None:
    f = DataQualityFinding(code="conflict", resource="Observation/c", message="two values",
                           concept="cd19")
    assert ids(run(patient(lineage=None, age=None, findings=(f,)))) == ["DQ-FINDINGS"]


def test_lineage_status_and_age_gaps() -> None:
    got = ids(run(patient(lineage="all-unspecified", age=None, status=None)))
    assert {"DQ-LINEAGE-UNKNOWN", "DQ-STATUS-UNKNOWN", "DQ-AGE-UNKNOWN"} <= set(got)
    assert not any(i.startswith(("ALL-", "CART-")) for i in got)


def test_marker_workup_at_diagnosis_and_relapse() -> None:
    dx = run(patient(status="newly-diagnosed", markers={"cd19": 90}))
    assert by_id(dx, "DX-ALL-MARKERS").variables["missing"] == ("CD20", "CD22")
    assert "DX-BASELINE" in ids(dx) and "DX-GENETICS-ALL" in ids(dx)
    rel = run(patient(status="first-relapse", markers={"cd19": 90}))
    assert "DX-MARKERS-DX-RELAPSE" in ids(rel) and "DX-ALL-MARKERS" not in ids(rel)
    aml = run(patient(lineage="aml", status="newly-diagnosed", markers={"cd33": "positive"}))
    assert by_id(aml, "DX-AML-MARKERS").variables["missing"] == ("CD123",)


def test_marker_result_older_than_targeted_therapy_is_retested() -> None:
    p = patient(status="first-relapse", markers={"cd19": 90, "cd22": 80},
                exposures=("blinatumomab",))
    # markers dated NOW (2025-03), blinatumomab 2024-06: markers are newer -> no retest
    assert "DX-RETEST-TARGET-AT-RELAPSE" not in ids(run(p))
    later = p.model_copy(update={"exposures": (exposure("blinatumomab",
                                                        p.as_of.replace(year=2026)),)})
    rec = by_id(run(later), "DX-RETEST-TARGET-AT-RELAPSE")
    assert rec.variables["markers"] == ("CD19", "CD22")


def test_trial_prompts() -> None:
    got = ids(run(patient(status="first-relapse", markers={"cd19": 90, "cd22": 90}, age=30)))
    assert {"TRIAL-EVERY-JUNCTURE", "TRIAL-APPROVED-FIRST", "TRIAL-SPECIFIC-RR",
            "CAU-EXPERIMENTAL-SITE"} <= set(got)
    child = by_id(run(patient(status="first-relapse", markers={"cd19": 90}, age=10)),
                  "TRIAL-SPECIFIC-RR")
    assert child.variables["trials"] == ("NCT02625480",)


def test_no_trial_prompt_without_status() -> None:
    assert "TRIAL-EVERY-JUNCTURE" not in ids(run(patient(status=None)))


def test_cassiopeia_only_for_young_mrd_positive_cr1() -> None:
    from tests.decision_helpers import mrd
    young = by_id(run(patient(age=20, status="cr1", markers={"cd19": 90},
                              mrd_result=mrd(2e-3))), "TRIAL-MRD-POS-ALL")
    assert young.variables["trials"][0] == "NCT03876769"
    old = by_id(run(patient(age=26, status="cr1", markers={"cd19": 90},
                            mrd_result=mrd(2e-3))), "TRIAL-MRD-POS-ALL")
    assert "NCT03876769" not in old.variables["trials"]
