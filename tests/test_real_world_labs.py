"""Issue 18, labs and markers: marrow blasts, flow "cells/100 cells" codes, CD3, narratives.

Each encoding as a public source sends it (the source is in the test's name or docstring), and
the must-NOT cases: a % of all cells is never a negative marker, a CD3 % is never the CD3 count,
a narrative is read only where it says so plainly, and routine lymphocyte-subset labs never put
a card on a chart that shows no leukemia.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.decision import Policy, decide
from service.decision.readings import read_marker
from service.errors import TerminologyError
from service.facts import PatientFacts
from service.fhir.extract import parse_immunophenotype
from service.fhir.extract.markers import read_immunophenotype
from service.fhir.terminology import EXT_VALUE_BASIS, clear_cache, load_terminology
from service.paths import profiles_dir
from tests.fhir_helpers import TERMINOLOGY, extract_facts
from tests.fixtures.fhir.builders import (
    ICD10CM,
    LOINC,
    SNOMED,
    V3INT,
    cc,
    coded,
    condition,
    obs,
    patient,
    qty,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
B_ALL = condition("dx", cc("277571004", SNOMED))  # mCODE pediatric example's diagnosis
ALL_NOS = condition("dx", cc("C91.00", ICD10CM))  # "ALL, lineage not stated"


def facts(*resources: Any, threshold: float = 20.0) -> PatientFacts:
    return extract_facts(
        [patient(), *resources],
        now=NOW,
        patient_id="p1",
        policy=Policy(marker_positive_percent=threshold),
    )


def loinc(code: str) -> dict[str, Any]:
    return cc(code, LOINC)


def codes(f: PatientFacts) -> list[str]:
    return [x.code for x in f.findings]


def cards(f: PatientFacts) -> list[str]:
    return [r.id for r in decide(f, hook="patient-view", policy=Policy())]


# --- marrow blasts -----------------------------------------------------------------------------


def test_cibmtr_priority_variable_11150_0_marrow_blasts_is_bm_blasts() -> None:
    """CIBMTR reporting IG priority variables (and a hospital lab map): LOINC 11150-0
    "Blasts/100 cells in Bone marrow"."""
    f = facts(obs("bl", loinc("11150-0"), **qty(62, "%", "%")))
    assert f.bm_blasts_percent is not None and f.bm_blasts_percent.value == 62
    assert f.bm_blasts_percent.source.recognised_by == "standard-code"
    below = facts(obs("bl", loinc("11150-0"), valueString="<5%")).bm_blasts_percent
    assert below is not None and (below.value, below.comparator) == (5, "<")


@pytest.mark.parametrize("value", [qty(62, "/uL", "/uL"), qty(62, None), {"valueString": "62"}])
def test_11150_0_without_a_percent_unit_is_unreadable_not_a_number(value: dict[str, Any]) -> None:
    f = facts(obs("bl", loinc("11150-0"), **value))
    assert f.bm_blasts_percent is None and "unreadable-value" in codes(f)


# --- flow cytometry "cells/100 cells": a % of all cells, not of blasts --------------------------

CELLS_CODES = [
    ("32525-8", "cd19"),  # CD19 cells/100 cells in Bone marrow (hospital lab map, MIMIC)
    ("8117-4", "cd19"),  # CD19 cells/100 cells in Blood (MIMIC)
    ("8119-0", "cd20"),  # CD20 cells/100 cells in Blood (MIMIC; mCODE TumorMarkerTestVS)
    ("14017-8", "cd22"),  # CD22 cells/100 cells in Blood (MIMIC; mCODE TumorMarkerTestVS)
    ("51293-9", "cd33"),  # CD33 cells/100 cells in Bone marrow (MIMIC; mCODE TumorMarkerTestVS)
    ("8102-6", "cd33"),  # CD33 cells/100 cells in Blood (MIMIC; mCODE TumorMarkerTestVS)
    ("8126-5", "cd38"),  # CD38 cells/100 cells in Blood (MIMIC)
]


@pytest.mark.parametrize(("code", "marker"), CELLS_CODES)
def test_hospital_lab_map_cells_per_100_cells_is_kept_as_percent_of_cells(
    code: str, marker: str
) -> None:
    """A hospital's lab-to-LOINC map (MIMIC lab items): the flow codes are % of all cells."""
    f = facts(B_ALL, obs("m", loinc(code), **qty(60, "%", "%")))
    m = f.markers[marker]  # type: ignore[index]
    assert (m.percent, m.call, m.cells_percent) == (None, None, 60)
    assert m.cells_source is not None and m.cells_source.resource == "Observation/m"
    assert "of all cells" in m.cells_source.raw
    named = {n: v for n, v, _ in f.iter_facts()}
    assert named[f"markers.{marker}.percent_of_cells"] == 60
    assert f"markers.{marker}.percent" not in named
    reading = read_marker(marker, m, 20.0)  # type: ignore[arg-type]
    assert reading.status == "positive" and reading.by_policy and reading.percent is None
    assert "of all cells, not of blasts" in reading.fact.value
    assert "site policy" in reading.fact.value
    assert f.findings == ()


@pytest.mark.parametrize(("code", "marker"), CELLS_CODES)
def test_low_percent_of_cells_is_unknown_never_negative(code: str, marker: str) -> None:
    f = facts(B_ALL, obs("m", loinc(code), **qty(3, "%", "%")))
    m = f.markers[marker]  # type: ignore[index]
    reading = read_marker(marker, m, 20.0)  # type: ignore[arg-type]
    assert reading.status is None and reading.expressed is None
    assert "not of blasts" in reading.fact.value and "not negative" in reading.fact.value
    (finding,) = f.findings_for(marker)
    assert finding.resource == "Observation/m" and "not read as negative" in finding.message


def test_percent_of_cells_below_a_less_than_comparator_is_never_expressed() -> None:
    f = facts(B_ALL, obs("m", loinc("32525-8"), valueString=">50%"))
    assert read_marker("cd19", f.markers["cd19"], 20.0).status == "positive"
    f = facts(B_ALL, obs("m", loinc("32525-8"), valueString="<90%"))
    assert read_marker("cd19", f.markers["cd19"], 20.0).status is None


def test_percent_of_cells_follows_the_site_threshold_and_cd20_keeps_its_20_percent_floor() -> None:
    cd19 = facts(B_ALL, obs("m", loinc("8117-4"), **qty(30))).markers["cd19"]
    assert read_marker("cd19", cd19, 20.0).status == "positive"
    assert read_marker("cd19", cd19, 40.0).status is None
    cd20 = facts(B_ALL, obs("m", loinc("8119-0"), **qty(15))).markers["cd20"]
    assert read_marker("cd20", cd20, 10.0).status is None  # a % of cells never passes under 20


def test_interpretation_and_coded_calls_on_a_percent_of_cells_code_are_not_read() -> None:
    """On lymphocyte-subset panels interpretation flags the reference range, not the blasts."""
    f = facts(B_ALL, obs("m", loinc("8117-4"), **qty(2), interpretation=[cc("NEG", V3INT)]))
    m = f.markers["cd19"]
    assert m.call is None and m.cells_percent == 2
    coded_neg = facts(B_ALL, obs("m", loinc("8117-4"), **coded("negative")))
    assert "cd19" not in coded_neg.markers
    assert "unreadable-value" in codes(coded_neg)


def test_a_second_coding_cannot_lift_a_percent_of_cells_to_a_percent_of_blasts() -> None:
    two = {"coding": [{"system": LOINC, "code": "8117-4"},
                      {"system": "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds",
                       "code": "cd19"}]}
    m = facts(B_ALL, obs("m", two, **qty(60))).markers["cd19"]
    assert m.percent is None and m.cells_percent == 60


def test_percent_of_blasts_wins_over_percent_of_cells_even_when_older() -> None:
    """mCODE CD20 blasts/100 blasts (51115-4) against CD20 cells/100 cells (8119-0)."""
    f = facts(
        B_ALL,
        obs("blasts", loinc("51115-4"), when="2025-01-01", **qty(10)),
        obs("cells", loinc("8119-0"), when="2025-02-01", **qty(60)),
    )
    m = f.markers["cd20"]
    assert (m.percent, m.cells_percent) == (10, 60)
    assert m.source.resource == "Observation/blasts"
    reading = read_marker("cd20", m, 20.0)
    assert reading.status == "negative" and reading.percent == 10
    assert "of all cells" not in reading.fact.value


def test_call_wins_over_percent_of_cells_at_the_same_time_without_a_conflict() -> None:
    f = facts(
        B_ALL,
        obs("call", "cd22", **coded("negative")),
        obs("cells", loinc("14017-8"), **qty(70)),
    )
    m = f.markers["cd22"]
    assert m.call == "negative" and m.cells_percent == 70
    assert "conflict" not in codes(f)


def test_existing_blast_codes_still_read_as_percent_of_blasts() -> None:
    """The mCODE / contract codes: CD20 51115-4 and 13842-0, CD22 51124-6 and 51125-3, CD33
    51155-0 are blasts/100 blasts."""
    for code, marker in [("51115-4", "cd20"), ("13842-0", "cd20"), ("51124-6", "cd22"),
                         ("51125-3", "cd22"), ("51155-0", "cd33")]:
        m = facts(obs("m", loinc(code), **qty(37.5))).markers[marker]  # type: ignore[index]
        assert (m.percent, m.cells_percent) == (37.5, None), code


def test_percent_of_cells_never_infers_b_lineage() -> None:
    f = facts(ALL_NOS, obs("m", loinc("32525-8"), **qty(90)))
    assert f.lineage is not None and f.lineage.value == "all-unspecified"
    blasts = facts(ALL_NOS, obs("m", "cd19", **qty(90)))
    assert blasts.lineage is not None and blasts.lineage.value == "b-all"


def test_routine_lymphocyte_subsets_put_no_card_on_a_chart_without_leukemia() -> None:
    """Post-rituximab B-cell monitoring: CD19 / CD20 % of lymphocytes near zero, a CD3 %."""
    f = facts(
        obs("a", loinc("8117-4"), **qty(0.5)),
        obs("b", loinc("8119-0"), **qty(0.2)),
        obs("c", loinc("8124-0"), **qty(72)),
        obs("d", loinc("8117-4"), when="2025-01-11", valueString="see comment"),
        obs("e", loinc("8119-0"), status="preliminary", **qty(0.1)),
    )
    assert f.findings == ()
    assert cards(f) == []


def test_preliminary_percent_of_cells_is_reported_on_a_leukemia_chart() -> None:
    f = facts(B_ALL, obs("e", loinc("8119-0"), status="preliminary", **qty(30)))
    assert "cd20" not in f.markers and codes(f) == ["ignored-status"]


def test_unreadable_percent_of_cells_is_reported_on_a_leukemia_chart_and_supersedes_only_cells(
) -> None:
    f = facts(
        B_ALL,
        obs("blasts", "cd19", when="2025-01-01", **qty(95)),
        obs("old", loinc("32525-8"), when="2025-01-02", **qty(80)),
        obs("new", loinc("32525-8"), when="2025-01-03", valueString="see comment"),
    )
    m = f.markers["cd19"]
    assert m.percent == 95 and m.cells_percent is None  # the older % of cells does not stand
    assert any(x.resource == "Observation/new" for x in f.findings_for("cd19"))


def test_percent_of_cells_codes_are_never_emitted_for_the_blast_concept() -> None:
    emitted = {c["code"] for c in TERMINOLOGY.emittable_codings("cd20")}
    assert "51115-4" in emitted and "8119-0" not in emitted


def test_an_unknown_value_basis_stops_start_up(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(profiles_dir(), root)
    vs = json.loads((root / "ValueSet-cd20.json").read_text())
    for c in vs["compose"]["include"][1]["concept"]:
        for e in c.get("extension", []):
            if e["url"] == EXT_VALUE_BASIS:
                e["valueCode"] = "percent-of-blasts"
    (root / "ValueSet-cd20.json").write_text(json.dumps(vs))
    with pytest.raises(TerminologyError, match="value-basis"):
        load_terminology(root)
    clear_cache()


# --- CD3 ----------------------------------------------------------------------------------------


def test_hospital_lab_map_cd3_absolute_8122_4_is_the_cd3_count() -> None:
    """MIMIC lab items: LOINC 8122-4 CD3 cells [#/volume] in Blood."""
    f = facts(obs("t", loinc("8122-4"), **qty(0.42, "10^9/L", "10*9/L")))
    assert f.cd3_count is not None and f.cd3_count.value == pytest.approx(420)


def test_cd3_count_code_with_a_percent_unit_is_unreadable() -> None:
    """MIMIC labels 8122-4 "CD3 CELLS, PERCENT": the unit check is what keeps a % out."""
    f = facts(obs("t", loinc("8122-4"), **qty(72, "%", "%")))
    assert f.cd3_count is None and "unreadable-value" in codes(f)


def test_cd3_percent_8124_0_is_never_the_count_whatever_its_unit() -> None:
    """MIMIC labels 8124-0 "ABSOLUTE CD3 COUNT", but the code is CD3 cells/100 cells."""
    f = facts(B_ALL, obs("t", loinc("8124-0"), **qty(420, "/uL", "/uL")))
    assert f.cd3_count is None
    (finding,) = f.findings_for("cd3-count")
    assert finding.resource == "Observation/t" and "not the count" in finding.message


def test_cd3_percent_beside_the_count_is_not_reported() -> None:
    f = facts(
        B_ALL,
        obs("abs", loinc("8122-4"), **qty(420, "/uL", "/uL")),
        obs("pct", loinc("8124-0"), **qty(72)),
    )
    assert f.cd3_count is not None and f.cd3_count.value == 420
    assert f.findings == ()


# --- narrative immunophenotype (mCODE LOINC 101119-6) ------------------------------------------

MCODE_TEXT = "positive for CD10, CD79a, TdT, CD19, and CD20"


def test_mcode_pediatric_example_101119_6_narrative() -> None:
    """mCODE EX_ExtendedExample_Pediatric.fsh, immunophenotype-brian-l."""
    f = facts(B_ALL, obs("ip", loinc("101119-6"), when="2024-01-07", valueString=MCODE_TEXT))
    assert {k: m.call for k, m in f.markers.items()} == {"cd19": "positive", "cd20": "positive"}
    assert f.markers["cd19"].source.recognised_by == "text-match"
    assert f.markers["cd19"].source.resource == "Observation/ip"
    assert f.findings == ()


def test_b_lineage_narrative_infers_b_all_like_a_coded_call() -> None:
    f = facts(ALL_NOS, obs("ip", loinc("101119-6"), valueString=MCODE_TEXT))
    assert f.lineage is not None and f.lineage.value == "b-all" and f.lineage_inferred


def test_narrative_naming_only_non_contract_markers_infers_nothing() -> None:
    """CD10, CD79a and TdT are not contract markers: no lineage from them (none today)."""
    f = facts(ALL_NOS, obs("ip", loinc("101119-6"), valueString="positive for CD10, CD79a, TdT"))
    assert f.lineage is not None and f.lineage.value == "all-unspecified"
    assert f.markers == {}
    assert codes(f) == ["unreadable-value"]  # nothing read from an in-scope resource


@pytest.mark.parametrize(
    ("text", "read", "unclear"),
    [
        (MCODE_TEXT, {"cd19": "positive", "cd20": "positive"}, set()),
        ("Blasts are positive for CD19 and CD22, negative for CD20 and CD33.",
         {"cd19": "positive", "cd22": "positive", "cd20": "negative", "cd33": "negative"}, set()),
        ("weakly positive for CD22", {"cd22": "dim"}, set()),
        ("positive for CD19, CD22 (dim)", {"cd19": "positive", "cd22": "dim"}, set()),
        ("negative for CD20 by flow cytometry", {"cd20": "negative"}, set()),
        ("positive for CD19 but not CD20", {"cd19": "positive"}, {"cd20"}),
        ("possibly positive for CD19", {}, {"cd19"}),
        ("not positive for CD20", {}, {"cd20"}),
        ("positive for CD19 or CD22", {}, {"cd19", "cd22"}),
        ("negative for CD19 or CD22", {}, {"cd19", "cd22"}),
        ("positive for CD19, CD20 (partial)", {"cd19": "positive"}, {"cd20"}),
        ("positive for CD19 on a subset of blasts", {}, {"cd19"}),
        ("previously positive for CD19; now negative for CD22", {"cd22": "negative"}, {"cd19"}),
        ("positive for CD19? and CD22", {}, {"cd19", "cd22"}),
        ("positive for CD19, CD19-negative", {}, {"cd19"}),
        ("blasts express CD19", {}, {"cd19"}),
        ("positive for cyCD22 and CD19", {"cd19": "positive"}, set()),
    ],
)
def test_narrative_is_read_only_where_it_says_so_plainly(
    text: str, read: dict[str, str], unclear: set[str]
) -> None:
    got, doubts = read_immunophenotype(text)
    assert {k: v[0] for k, v in got.items()} == read
    assert set(doubts) == unclear
    assert {k: v[0] for k, v in parse_immunophenotype(text).items()} == read


def test_unclear_narrative_markers_are_findings_never_negatives() -> None:
    f = facts(B_ALL, obs("ip", loinc("101119-6"), valueString="positive for CD19 but not CD20"))
    assert f.markers["cd19"].call == "positive" and "cd20" not in f.markers
    (finding,) = f.findings_for("cd20")
    assert finding.resource == "Observation/ip" and "never read as negative" in finding.message


def test_unclear_narrative_does_not_override_a_structured_result() -> None:
    f = facts(
        B_ALL,
        obs("flow", "cd19", **qty(92)),
        obs("ip", loinc("101119-6"), valueString="CD19 and CD22 were tested"),
    )
    assert f.markers["cd19"].percent == 92


def test_narrative_findings_stay_off_a_chart_without_a_leukemia_diagnosis() -> None:
    """LOINC 101119-6 is leukemia *and lymphoma* immunophenotyping."""
    f = facts(obs("ip", loinc("101119-6"), valueString="positive for CD5, CD23; CD20 partial"))
    assert f.findings == ()
