"""FHIR resources → PatientFacts: each concept, each encoding variant, the rules of evidence."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from service.facts import PatientFacts
from service.fhir.extract import parse_immunophenotype
from service.policy import Policy
from tests.fhir_helpers import extract_facts
from tests.fixtures.fhir.builders import (
    ICD10CM,
    LOCAL,
    LOINC,
    RXNORM,
    SNOMED,
    V3INT,
    bundle,
    cc,
    coded,
    condition,
    med_request,
    obs,
    patient,
    procedure,
    qty,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def facts(*resources: Any, **kw: Any) -> PatientFacts:
    return extract_facts(list(resources), now=NOW, **kw)


def codes(f: PatientFacts) -> list[str]:
    return [x.code for x in f.findings]


# --- demographics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "age"),
    [("2000-03-01", 25), ("2000-03-02", 24), ("1999-12-31", 25), ("2000-02", 25), ("1990", None)],
)
def test_age_at_request_time(birth: str, age: int | None) -> None:
    f = facts(patient(birth=birth))
    assert (f.age_years.value if f.age_years else None) == age
    if age is None:  # a year-only birth date straddles a birthday: reported, not guessed
        assert "unreadable-value" in codes(f)


def test_missing_birth_date_is_reported() -> None:
    f = facts(patient(birth=None))
    assert f.age_years is None and "missing-value" in codes(f)


def test_patient_id_comes_from_context_and_other_patients_are_not_used() -> None:
    f = facts(
        patient("p1", "2010-01-01"),
        patient("p2", "1950-01-01"),
        obs("o1", "ph", patient="p2", **coded("positive")),
        patient_id="p1",
    )
    assert f.patient_id == "p1"
    assert f.age_years.value == 15
    assert f.ph is None
    assert codes(f).count("wrong-patient") == 2


# --- diagnosis and lineage ----------------------------------------------------------------


def test_b_all_by_snomed() -> None:
    f = facts(condition("c1", cc("277571004", SNOMED)))
    assert f.lineage.value == "b-all" and not f.lineage_inferred
    assert f.lineage.source.recognised_by == "standard-code"
    assert f.lineage.source.resource == "Condition/c1"


def test_t_all_from_icd_o_3_morphology_in_an_extension_or_in_text() -> None:
    ext = {
        "url": "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-histology-morphology-behavior",
        "valueCodeableConcept": cc("9837/3", "http://terminology.hl7.org/CodeSystem/icd-o-3"),
    }
    by_ext = facts(condition("c1", {"text": "Acute lymphoblastic leukaemia"}, extension=[ext]))
    by_text = facts(condition("c2", {"text": "Precursor T-lymphoblastic leukaemia 9837/3"}))
    assert by_ext.lineage.value == "t-all"
    assert by_text.lineage.value == "t-all"
    assert by_text.lineage.source.recognised_by == "text-match"


@pytest.mark.parametrize(
    ("system", "code", "hint"),
    [
        (ICD10CM, "C91.00", "not-in-remission"),
        (ICD10CM, "C91.01", "in-remission"),
        ("urn:oid:2.16.840.1.113883.6.90", "C9102", "in-relapse"),  # OID, no dot
    ],
)
def test_icd10_all_gives_unspecified_lineage_and_a_status_hint(
    system: str, code: str, hint: str
) -> None:
    f = facts(condition("c1", cc(code, system), clinical="relapse"))
    assert f.lineage.value == "all-unspecified"
    assert f.icd10_remission_hint.value == hint
    assert f.condition_clinical_status.value == "relapse"


def test_b_lineage_inferred_from_cd19_when_diagnosis_is_only_all() -> None:
    f = facts(
        condition("c1", cc("C91.00", ICD10CM)),
        obs("cd19", "cd19", **coded("positive")),
    )
    assert f.lineage.value == "b-all" and f.lineage_inferred
    assert f.lineage.source.resource == "Observation/cd19"
    assert [s.resource for s in f.lineage.supporting] == ["Condition/c1"]


def test_inference_from_a_bare_percentage_uses_the_site_threshold() -> None:
    resources = [condition("c1", cc("91857003", SNOMED)), obs("cd22", "cd22", **qty(45))]
    assert facts(*resources).lineage.value == "b-all"
    strict = Policy(marker_positive_percent=50)
    assert facts(*resources, policy=strict).lineage.value == "all-unspecified"


def test_no_inference_without_an_all_diagnosis() -> None:
    """CD19 alone (AML can express it) never makes a B-ALL."""
    assert facts(obs("cd19", "cd19", **coded("positive"))).lineage is None
    aml = facts(condition("c1", cc("91861009", SNOMED)), obs("cd19", "cd19", **coded("positive")))
    assert aml.lineage.value == "aml"


def test_cd19_negative_all_is_not_inferred_b() -> None:
    f = facts(condition("c1", cc("C91.00", ICD10CM)), obs("cd19", "cd19", **coded("negative")))
    assert f.lineage.value == "all-unspecified"


def test_contradicting_diagnoses_at_the_same_time_are_a_conflict() -> None:
    f = facts(
        condition("c1", cc("91861009", SNOMED), recorded="2024-01-05"),
        condition("c2", cc("277571004", SNOMED), recorded="2024-01-05"),
    )
    assert f.lineage is None and "conflict" in codes(f)


def test_specific_lineage_beats_a_later_unspecified_all_code() -> None:
    f = facts(
        condition("c1", cc("277571004", SNOMED), recorded="2023-01-05"),
        condition("c2", cc("C91.02", ICD10CM), recorded="2024-06-01"),
    )
    assert f.lineage.value == "b-all"
    assert f.icd10_remission_hint.value == "in-relapse"


def test_refuted_and_entered_in_error_diagnoses_are_not_used() -> None:
    f = facts(
        condition("c1", cc("91861009", SNOMED), verification="refuted"),
        condition("c2", cc("277571004", SNOMED), verification="entered-in-error"),
    )
    assert f.lineage is None
    assert f.entered_in_error_count == 1
    assert set(codes(f)) == {"ignored-status", "entered-in-error"}


# --- markers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "marker"),
    [
        (cc("13842-0", LOINC), "cd20"),
        (cc("51115-4", LOINC), "cd20"),
        (cc("51125-3", LOINC), "cd22"),
        (cc("51155-0", LOINC), "cd33"),
        (cc("cd123"), "cd123"),
        (cc("cd38"), "cd38"),
    ],
)
def test_marker_percent_by_every_accepted_code(code: dict[str, Any], marker: str) -> None:
    f = facts(obs("m", code, **qty(37.5, "%", "%")))
    m = f.markers[marker]
    assert m.percent == 37.5 and m.call is None and m.unit == "%"


def test_marker_explicit_call_from_value_or_interpretation() -> None:
    dim = facts(obs("m1", "cd19", **coded("dim")))
    interp = facts(
        obs("m2", "cd33", **qty(12), interpretation=[cc("POS", V3INT)]),
    )
    assert dim.markers["cd19"].call == "dim"
    assert interp.markers["cd33"].call == "positive" and interp.markers["cd33"].percent == 12


def test_marker_value_contradicting_its_interpretation_is_reported() -> None:
    f = facts(obs("m1", "cd19", **coded("positive"), interpretation=[cc("NEG", V3INT)]))
    assert "cd19" not in f.markers and "unreadable-value" in codes(f)


def test_marker_fraction_unit_and_missing_unit() -> None:
    assert facts(obs("m", "cd19", **qty(0.9, "1", "1"))).markers["cd19"].percent == 90
    f = facts(obs("m", "cd19", **qty(90, None)))
    assert "cd19" not in f.markers and "unreadable-value" in codes(f)


def test_latest_marker_result_wins() -> None:
    f = facts(
        obs("old", "cd19", when="2023-01-01", **coded("positive")),
        obs("new", "cd19", when="2024-11-01", **coded("negative")),
    )
    assert f.markers["cd19"].call == "negative"
    assert f.markers["cd19"].source.resource == "Observation/new"


def test_percent_and_call_from_two_resources_at_the_same_time_merge_with_their_sources() -> None:
    f = facts(
        obs("pct", "cd19", **qty(85)),
        obs("call", "cd19", **coded("positive")),
    )
    m = f.markers["cd19"]
    assert (m.percent, m.call) == (85, "positive")
    assert m.source.resource == "Observation/call"
    assert m.percent_source.resource == "Observation/pct"
    named = {n: s.resource for n, _, s in f.iter_facts()}
    assert named["markers.cd19.percent"] == "Observation/pct"


def test_two_different_marker_results_at_the_same_time_are_a_conflict() -> None:
    f = facts(obs("a", "cd22", **qty(85)), obs("b", "cd22", **qty(10)))
    assert "cd22" not in f.markers
    (conflict,) = [x for x in f.findings if x.code == "conflict"]
    assert "Observation/a" in conflict.message and "Observation/b" in conflict.message


def test_narrative_immunophenotype_never_makes_an_unlisted_marker_negative() -> None:
    f = facts(obs("ip", "immunophenotype", valueString="CD19+, CD22+, CD10+, CD34+, TdT+"))
    assert f.markers["cd19"].call == "positive"
    assert f.markers["cd22"].call == "positive"
    for unlisted in ("cd20", "cd33", "cd123", "cd38"):
        assert unlisted not in f.markers
    assert f.markers["cd19"].source.recognised_by == "text-match"
    assert f.findings == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("CD19+, CD22+, CD20-", {"cd19": "positive", "cd22": "positive", "cd20": "negative"}),
        (
            "CD19 positive; CD20 negative; CD33 dim",
            {"cd19": "positive", "cd20": "negative", "cd33": "dim"},
        ),
        ("blasts express CD19 (85%) and CD38", {"cd19": None}),
        ("CD19: 85%", {"cd19": None}),
        ("CD19 and CD22 were tested", {}),  # named without a result: unknown
        ("CD19+ ... CD19-", {}),  # contradictory within one report: dropped
        ("CD190+, CD1a+", {}),
        ("CD20-positive, CD33-negative", {"cd20": "positive", "cd33": "negative"}),
        ("CD19 weak, CD22 partial", {"cd19": "dim"}),  # "partial" is a subset, not a call
    ],
)
def test_immunophenotype_parser(text: str, expected: dict[str, str | None]) -> None:
    parsed = parse_immunophenotype(text)
    assert {k: v[0] for k, v in parsed.items()} == expected


def test_narrative_percentage_is_read_as_percent() -> None:
    assert parse_immunophenotype("CD19: 85%")["cd19"][1] == 85


# --- bone-marrow blasts, CD3 --------------------------------------------------------------


def test_bone_marrow_blasts_and_comparator() -> None:
    assert facts(obs("b", "bm-blasts", **qty(62, "%", "%"))).bm_blasts_percent.value == 62
    below = facts(obs("b", "bm-blasts", valueString="<5%")).bm_blasts_percent
    assert (below.value, below.comparator) == (5, "<")


def test_cd3_count_in_per_microlitre() -> None:
    f = facts(obs("t", "cd3-count", **qty(0.42, "10^9/L", "10*9/L")))
    assert f.cd3_count.value == pytest.approx(420)


# --- MRD ----------------------------------------------------------------------------------

MRD_1E4 = [
    qty(0.01, "%", "%"),
    qty(0.0001, "1", "1"),
    qty(1, "x10^-4", "10*-4"),
    {"valueString": "0.01%"},
    {"valueString": "1e-4"},
    {"valueString": "1 x 10^-4"},
]


@pytest.mark.parametrize("value", MRD_1E4, ids=lambda v: str(v))
def test_every_mrd_encoding_gives_the_same_fact(value: dict[str, Any]) -> None:
    f = facts(obs("m", "mrd", **value, method=cc("flow-cytometry")))
    assert f.mrd.fraction == pytest.approx(1e-4)
    assert not f.mrd.below_lod and f.mrd.detected is None
    assert f.mrd.method == "flow-cytometry"
    assert f.findings == ()


@pytest.mark.parametrize(
    "value",
    [qty(0.01, "%", "%", comparator="<"), {"valueString": "<0.01%"}, {"valueString": "<1e-4"}],
    ids=str,
)
def test_mrd_below_the_limit_of_detection(value: dict[str, Any]) -> None:
    m = facts(obs("m", "mrd", **value)).mrd
    assert m.below_lod and m.comparator == "<" and m.fraction == pytest.approx(1e-4)


@pytest.mark.parametrize(
    ("value", "detected"),
    [
        (coded("not-detected"), False),
        (coded("ND", V3INT), False),
        (coded("detected"), True),
        ({"valueString": "Not detected"}, False),
        ({"valueCodeableConcept": {"text": "not detected"}}, False),
    ],
    ids=str,
)
def test_mrd_coded_detected(value: dict[str, Any], detected: bool) -> None:
    m = facts(obs("m", "mrd", **value)).mrd
    assert m.detected is detected and m.fraction is None


@pytest.mark.parametrize(
    "value",
    [
        {"valueString": "0.01"},
        {"valueString": "pending review"},
        qty(0.01, None),
        qty(5, "mg"),
        {"valueBoolean": False},
        coded("cr1"),
    ],
    ids=str,
)
def test_unreadable_mrd_is_a_finding_never_a_negative(value: dict[str, Any]) -> None:
    f = facts(obs("m", "mrd", **value))
    assert f.mrd is None
    (finding,) = f.findings
    assert finding.code == "unreadable-mrd" and finding.resource == "Observation/m"
    assert finding.concept == "mrd"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        (cc("ngs"), "ngs"),
        ({"text": "MRD by NGS (clonoSEQ)"}, "ngs"),
        ({"text": "8-colour flow cytometry"}, "flow-cytometry"),
        ({"text": "RQ-PCR"}, "pcr"),
        ({"text": "morphology"}, None),
    ],
)
def test_mrd_method(method: dict[str, Any], expected: str | None) -> None:
    assert facts(obs("m", "mrd", **qty(0.1), method=method)).mrd.method == expected


def test_mrd_history_and_latest() -> None:
    f = facts(
        obs("m1", "mrd", when="2024-01-01", **qty(1.2)),
        obs("m2", "mrd", when="2024-03-01", **qty(0.05)),
        obs("m3", "mrd", when="2024-06-01", valueString="<0.01%"),
    )
    assert [m.source.resource for m in f.mrd_history] == [
        "Observation/m1",
        "Observation/m2",
        "Observation/m3",
    ]
    assert f.mrd.source.resource == "Observation/m3" and f.mrd.below_lod


def test_a_newer_unreadable_mrd_hides_an_older_negative() -> None:
    f = facts(
        obs("old", "mrd", when="2024-01-01", valueString="not detected"),
        obs("new", "mrd", when="2024-06-01", valueString="see attached"),
    )
    assert f.mrd is None
    assert [m.source.resource for m in f.mrd_history] == ["Observation/old"]
    assert codes(f).count("unreadable-mrd") == 2


def test_mrd_by_two_methods_at_the_same_time_is_a_conflict() -> None:
    f = facts(
        obs("a", "mrd", **qty(0.01, comparator="<"), method=cc("flow-cytometry")),
        obs("b", "mrd", **qty(0.002), method=cc("ngs")),
    )
    assert f.mrd is None and "conflict" in codes(f)


# --- coded observations -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "field", "value"),
    [
        (obs("o", cc("51867-0", LOINC), **coded("LA9633-4", LOINC)), "ph", "positive"),
        (obs("o", "ph", **coded("negative")), "ph", "negative"),
        (obs("o", "ph-like", valueString="Positive"), "ph_like", "positive"),
        (obs("o", cc("78219-3", LOINC), **coded("LA9634-2", LOINC)), "kmt2a", "negative"),
        (obs("o", "abl1-t315i", **coded("detected")), "t315i", "detected"),
        (obs("o", "cns-status", **coded("cns3")), "cns_status", "cns3"),
        (obs("o", "extramedullary", **coded("present")), "extramedullary", "present"),
        (obs("o", "disease-status", **coded("cr2")), "disease_status", "cr2"),
        (obs("o", "disease-status", valueString="CR1"), "disease_status", "cr1"),
        (obs("o", "aml-risk", **coded("adverse")), "aml_risk", "adverse"),
        (obs("o", "prior-lines", valueInteger=2), "prior_lines", 2),
        (obs("o", "hct-planned", valueBoolean=True), "hct_planned", True),
        (obs("o", "hct-eligible", valueBoolean=False), "hct_eligible", False),
        (
            obs("o", "intensive-induction-eligible", valueBoolean=True),
            "intensive_induction_eligible",
            True,
        ),
        (obs("o", "crs-grade", valueInteger=3), "crs_grade", 3),
        (obs("o", "icans-grade", valueInteger=0), "icans_grade", 0),
        (obs("o", "ice-score", valueInteger=7), "ice_score", 7),
    ],
)
def test_coded_and_simple_observations(resource: dict[str, Any], field: str, value: Any) -> None:
    f = facts(resource)
    fact = getattr(f, field)
    assert fact.value == value
    assert fact.source.resource == "Observation/o"
    assert fact.source.effective == datetime(2025, 1, 10, tzinfo=UTC)
    assert f.findings == ()


@pytest.mark.parametrize(
    "resource",
    [
        obs("o", "ph", **coded("dim")),  # not an allowed answer for Ph
        obs("o", "ph", **coded("LA9633-4", "http://example.org/other")),
        obs("o", "crs-grade", valueInteger=5),  # ASTCT grades are 0-4
        obs("o", "ice-score", valueInteger=11),
        obs("o", "hct-planned", valueString="yes"),
        obs("o", "prior-lines", valueString="two"),
        obs("o", "cns-status", **qty(1, None)),
    ],
    ids=lambda r: f"{r['code']['coding'][0]['code']}",
)
def test_recognised_but_unreadable_values_are_findings(resource: dict[str, Any]) -> None:
    f = facts(resource)
    (finding,) = f.findings
    assert finding.code == "unreadable-value" and finding.resource == "Observation/o"


def test_missing_value_with_data_absent_reason() -> None:
    f = facts(obs("o", "ph", dataAbsentReason={"text": "Not performed"}))
    (finding,) = f.findings
    assert finding.code == "missing-value" and "Not performed" in finding.message


def test_observation_components_are_read() -> None:
    panel = obs(
        "panel",
        {"text": "Leukemia flow panel"},
        component=[
            {"code": cc("cd19"), **qty(90)},
            {"code": cc("51124-6", LOINC), **coded("positive")},
            {"code": {"text": "CD10"}, **qty(80)},
        ],
    )
    f = facts(panel)
    assert f.markers["cd19"].percent == 90
    assert f.markers["cd22"].call == "positive"
    assert f.markers["cd19"].source.resource == "Observation/panel"


# --- rules of evidence --------------------------------------------------------------------


@pytest.mark.parametrize("status", ["preliminary", "registered", "cancelled", "unknown"])
def test_only_final_amended_corrected_count(status: str) -> None:
    f = facts(obs("o", "ph", status=status, **coded("positive")))
    assert f.ph is None
    assert codes(f) == ["ignored-status"]


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_usable_statuses(status: str) -> None:
    assert facts(obs("o", "ph", status=status, **coded("positive"))).ph.value == "positive"


def test_preliminary_newer_result_does_not_displace_a_final_one() -> None:
    f = facts(
        obs("final", "disease-status", when="2024-01-01", **coded("cr1")),
        obs(
            "prelim",
            "disease-status",
            when="2024-09-01",
            status="preliminary",
            **coded("first-relapse"),
        ),
    )
    assert f.disease_status.value == "cr1"


def test_entered_in_error_is_ignored_and_counted() -> None:
    f = facts(
        obs("e1", "ph", status="entered-in-error", **coded("positive")),
        med_request(
            "e2", {"medicationCodeableConcept": cc("1597258", RXNORM)}, status="entered-in-error"
        ),
        obs("ok", "ph", when="2020-01-01", **coded("negative")),
    )
    assert f.ph.value == "negative"
    assert f.exposures == ()
    assert f.entered_in_error_count == 2
    assert {x.resource for x in f.findings if x.code == "entered-in-error"} == {
        "Observation/e1",
        "MedicationRequest/e2",
    }


def test_same_value_twice_at_the_same_time_is_not_a_conflict() -> None:
    f = facts(obs("a", "ph", **coded("positive")), obs("b", "ph", **coded("LA9633-4", LOINC)))
    assert f.ph.value == "positive"
    assert [s.resource for s in f.ph.supporting] == ["Observation/b"]
    assert f.findings == ()


def test_different_values_at_the_same_time_leave_the_fact_unset() -> None:
    f = facts(obs("a", "ph", **coded("positive")), obs("b", "ph", **coded("negative")))
    assert f.ph is None
    (finding,) = f.findings
    assert finding.code == "conflict" and finding.concept == "ph"


def test_dated_result_beats_undated_and_issued_is_the_fallback_time() -> None:
    undated = obs("u", "ph", when=None, **coded("positive"))
    dated = obs("d", "ph", when="2020-01-01", **coded("negative"))
    assert facts(undated, dated).ph.value == "negative"
    issued = obs("i", "ph", when=None, issued="2024-05-01T10:00:00Z", **coded("positive"))
    f = facts(issued, dated)
    assert f.ph.value == "positive"
    assert f.ph.source.effective == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_effective_period_uses_its_end() -> None:
    early = obs(
        "a",
        "ph",
        when=None,
        effectivePeriod={"start": "2024-01-01", "end": "2024-02-01"},
        **coded("negative"),
    )
    late = obs("b", "ph", when="2024-01-15", **coded("positive"))
    assert facts(early, late).ph.value == "negative"


def test_invalid_r4_resource_is_reported_with_its_id() -> None:
    bad = obs("bad", "ph", **coded("positive"))
    bad["status"] = 17
    bad2 = obs("bad2", "cd19", **qty("85"))
    bad2["valueQuantity"]["value"] = "eighty"
    f = facts(bad, bad2)
    assert f.ph is None and "cd19" not in f.markers
    assert {(x.code, x.resource) for x in f.findings} == {
        ("invalid-resource", "Observation/bad"),
        ("invalid-resource", "Observation/bad2"),
    }


def test_unrecognised_resources_are_ignored_without_findings() -> None:
    f = facts(
        obs("hb", cc("718-7", LOINC), **qty(11.2, "g/dL", "g/dL")),
        {"resourceType": "Encounter", "id": "e1", "status": 42},  # invalid, but not ours
        {"resourceType": "Observation", "id": "x", "status": "final", "code": {"text": "CD19"}},
        med_request("m", {"medicationCodeableConcept": {"text": "Paracetamol 1 g"}}),
    )
    assert f.findings == () and f.exposures == () and f.markers == {}


def test_junk_items_are_reported_not_raised() -> None:
    f = facts(None, 42, "Observation", {"id": "no-type"}, obs("o", "ph", **coded("positive")))
    assert f.ph.value == "positive"
    assert codes(f).count("invalid-resource") == 4


def test_codes_that_cannot_be_looked_up_are_reported_even_on_uncovered_observations() -> None:
    """The cheap skip of uncovered Observations reads the same codes, and fails the same way."""
    junk_system = obs("j1", {"coding": [{"system": 7, "code": "718-7"}]}, **qty(11.2, "g/dL"))
    junk_components = obs("j2", cc("718-7", LOINC), **qty(11.2, "g/dL"))
    junk_components["component"] = 5
    no_id = obs("", {"coding": [{"system": 7, "code": "718-7"}]})
    f = facts(junk_system, junk_components, no_id)
    assert [(x.code, x.resource) for x in f.findings] == [
        ("invalid-resource", "Observation/j1"),
        ("invalid-resource", "Observation/j2"),
        ("invalid-resource", "Observation/(no id, item 2)"),
    ]
    assert all("could not be read" in x.message for x in f.findings)


def test_bundles_are_flattened_including_nested_and_typeless() -> None:
    inner = bundle(obs("o2", "ph-like", **coded("negative")), type_=None)
    outer = bundle(obs("o1", "ph", **coded("positive")), inner, type_="searchset")
    f = facts(outer)
    assert f.ph.value == "positive" and f.ph_like.value == "negative"


def test_a_bundle_whose_entry_is_not_a_list_is_a_finding_not_a_crash() -> None:
    """Nested Bundles are not checked by the prefetch layer; their junk must still be reported
    (and the rest of the chart read), never raised."""
    broken = {"resourceType": "Bundle", "type": "collection", "entry": 5}
    f = facts(bundle(obs("o1", "ph", **coded("positive")), broken))
    assert f.ph.value == "positive"
    assert "invalid-resource" in codes(f)


# --- HCT and CAR-T ------------------------------------------------------------------------


# 234336002 (generic "hemopoietic stem cell transplant") is not allogeneic alone: see
# tests/test_real_world_procedures_drugs.py
@pytest.mark.parametrize("code", ["58390007"])
def test_allogeneic_hct_procedure(code: str) -> None:
    f = facts(procedure("h", cc(code, SNOMED), performedPeriod={"start": "2023-09-14"}, when=None))
    (event,) = f.allo_hct
    assert event.date == datetime(2023, 9, 14, tzinfo=UTC)
    assert event.source.resource == "Procedure/h"


def test_autologous_transplant_is_not_allogeneic() -> None:
    f = facts(procedure("auto", cc("58776007", SNOMED)))
    assert f.allo_hct == () and f.findings == ()


def test_history_of_allogeneic_bmt_condition() -> None:
    f = facts(condition("h", cc("152621000119105", SNOMED)))
    (event,) = f.allo_hct
    assert event.date is None and "missing-date" in codes(f)
    dated = facts(condition("h", cc("152621000119105", SNOMED), onsetDateTime="2019-05-01"))
    assert dated.allo_hct[0].date == datetime(2019, 5, 1, tzinfo=UTC)


def test_hct_not_done_is_not_counted_and_undated_hct_is_flagged() -> None:
    f = facts(procedure("h", cc("58390007", SNOMED), status="not-done"))
    assert f.allo_hct == () and codes(f) == ["ignored-status"]
    undated = facts(procedure("h", cc("58390007", SNOMED), when=None))
    assert len(undated.allo_hct) == 1 and codes(undated) == ["missing-date"]


def test_allogeneic_hct_by_text() -> None:
    f = facts(procedure("h", {"text": "Allo-HSCT, matched unrelated donor"}))
    assert f.allo_hct[0].source.recognised_by == "text-match"
    assert facts(procedure("a", {"text": "Autologous stem cell transplant"})).allo_hct == ()


def test_car_t_procedure_with_product_in_used_code() -> None:
    f = facts(
        procedure("c", cc("car-t-infusion"), when="2024-06-03", usedCode=[{"text": "Kymriah"}])
    )
    (event,) = f.car_t
    assert event.product == "tisagenlecleucel"
    assert event.date == datetime(2024, 6, 3, tzinfo=UTC)


def test_car_t_procedure_text_only_without_product() -> None:
    f = facts(procedure("c", {"text": "CAR T-cell infusion"}))
    (event,) = f.car_t
    assert event.product is None and event.source.recognised_by == "text-match"


def test_car_t_administration_is_an_exposure_and_an_infusion_recorded_once() -> None:
    f = facts(
        procedure("p", cc("car-t-infusion"), when="2024-06-03T10:00:00Z"),
        {
            "resourceType": "MedicationAdministration",
            "id": "ma",
            "status": "completed",
            "subject": {"reference": "Patient/p1"},
            "effectiveDateTime": "2024-06-03T11:30:00Z",
            "medicationCodeableConcept": cc("2387277", RXNORM),
        },
    )
    (event,) = f.car_t
    assert event.product == "brexucabtagene"
    assert [(e.drug, e.drug_class) for e in f.exposures] == [("brexucabtagene", "car-t")]


def test_car_t_order_alone_is_not_an_infusion() -> None:
    f = facts(
        med_request("r", {"medicationCodeableConcept": {"text": "Aucatzyl"}}, status="active")
    )
    assert f.car_t == ()
    assert f.exposures[0].drug == "obecabtagene"


# --- drug exposures -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("medication", "drug", "how"),
    [
        ({"medicationCodeableConcept": cc("1597258", RXNORM)}, "blinatumomab", "standard-code"),
        ({"medicationCodeableConcept": {"text": "BESPONSA 0.8 mg/m2"}}, "inotuzumab", "text-match"),
        (
            {"medicationCodeableConcept": cc("1294580", "urn:oid:2.16.840.1.113883.6.88")},
            "gemtuzumab",
            "standard-code",
        ),
        (
            {
                "medicationCodeableConcept": {
                    "coding": [
                        {"system": "http://hospital/x", "code": "9", "display": "Iclusig 45 mg"}
                    ]
                }
            },
            "ponatinib",
            "text-match",
        ),
        ({"medicationCodeableConcept": {"text": "obe-cel"}}, "obecabtagene", "text-match"),
    ],
)
def test_medication_codeable_concept(medication: dict[str, Any], drug: str, how: str) -> None:
    (exposure,) = facts(med_request("m", medication)).exposures
    assert exposure.drug == drug and exposure.source.recognised_by == how
    assert exposure.resource_type == "MedicationRequest"
    assert exposure.date == datetime(2024, 2, 1, tzinfo=UTC)


def test_contained_medication() -> None:
    m = med_request(
        "m",
        {"medicationReference": {"reference": "#med1"}},
        contained=[{"resourceType": "Medication", "id": "med1", "code": cc("475342", RXNORM)}],
    )
    (exposure,) = facts(m).exposures
    assert (exposure.drug, exposure.drug_class) == ("dasatinib", "tki")


def test_medication_in_the_bundle_by_id_or_full_url() -> None:
    med = {"resourceType": "Medication", "id": "rx9", "code": {"text": "Rituxan 375 mg/m2"}}
    by_id = med_request("a", {"medicationReference": {"reference": "Medication/rx9"}})
    by_url = med_request("b", {"medicationReference": {"reference": "urn:uuid:1234"}})
    b = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [
            {"resource": by_id},
            {"resource": by_url},
            {"fullUrl": "urn:uuid:1234", "resource": {**med, "id": "other"}},
            {"fullUrl": "http://ehr/fhir/Medication/rx9", "resource": med},
        ],
    }
    assert [e.drug for e in facts(b).exposures] == ["rituximab", "rituximab"]


def test_unresolvable_medication_reference_is_reported() -> None:
    f = facts(med_request("m", {"medicationReference": {"reference": "Medication/nowhere"}}))
    assert f.exposures == () and codes(f) == ["unknown-reference"]
    displayed = facts(
        med_request(
            "m",
            {"medicationReference": {"reference": "Medication/nowhere", "display": "Daratumumab"}},
        )
    )
    assert displayed.exposures[0].drug == "daratumumab"


@pytest.mark.parametrize(
    ("rtype", "status", "counted"),
    [
        ("MedicationRequest", "draft", False),
        ("MedicationRequest", "cancelled", False),
        ("MedicationRequest", "stopped", True),
        ("MedicationStatement", "not-taken", False),
        ("MedicationStatement", "intended", False),
        ("MedicationStatement", "completed", True),
        ("MedicationAdministration", "not-done", False),
        ("MedicationAdministration", "in-progress", True),
    ],
)
def test_exposure_statuses(rtype: str, status: str, counted: bool) -> None:
    res: dict[str, Any] = {
        "resourceType": rtype,
        "id": "m",
        "status": status,
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": cc("612865", RXNORM),
    }
    if rtype == "MedicationRequest":
        res["intent"] = "order"
    else:
        res["effectiveDateTime"] = "2024-01-01"
    f = facts(res)
    assert bool(f.exposures) is counted
    assert (codes(f) == ["ignored-status"]) is (not counted)


def test_exposures_sorted_oldest_first_undated_last() -> None:
    f = facts(
        med_request("c", {"medicationCodeableConcept": {"text": "imatinib"}}, authored=None),
        med_request(
            "b", {"medicationCodeableConcept": {"text": "blinatumomab"}}, authored="2024-05-01"
        ),
        med_request(
            "a", {"medicationCodeableConcept": {"text": "dasatinib"}}, authored="2023-05-01"
        ),
    )
    assert [e.drug for e in f.exposures] == ["dasatinib", "blinatumomab", "imatinib"]
    assert [e.drug for e in f.exposed_to("blinatumomab", "inotuzumab")] == ["blinatumomab"]
    assert f.has_drug_class("tki") and not f.has_drug_class("car-t")


# --- comorbidities ------------------------------------------------------------------------


def test_comorbidity_presence_absence_and_unknown() -> None:
    present = facts(condition("h", cc("hepatic-disease"), clinical="active"))
    resolved = facts(condition("h", cc("hepatic-disease"), clinical="resolved"))
    refuted = facts(condition("n", cc("neurologic-comorbidity"), verification="refuted"))
    assert present.hepatic_disease.value is True
    assert resolved.hepatic_disease.value is False
    assert refuted.neurologic_comorbidity.value is False
    assert present.neurologic_comorbidity is None


# --- site ConceptMap ----------------------------------------------------------------------


def test_nothing_here_uses_a_site_code_without_the_map() -> None:
    f = facts(obs("o", cc("FLOW-CD19", "http://hospital.example.org/lab"), **qty(80)))
    assert f.markers == {}


def test_local_codes_are_case_tolerant() -> None:
    assert facts(obs("o", cc("CD19", LOCAL), **qty(80))).markers["cd19"].percent == 80


@pytest.mark.parametrize(
    ("text", "call", "percent"),
    [
        ("CD19+", "positive", None),
        ("Dim", "dim", None),
        ("85 %", None, 85),
        ("CD22+", None, None),
        ("bright?", None, None),
    ],
)
def test_marker_value_as_string(text: str, call: str | None, percent: float | None) -> None:
    f = facts(obs("o", "cd19", valueString=text))
    m = f.markers.get("cd19")
    if call is None and percent is None:
        assert m is None and codes(f) == ["unreadable-value"]
    else:
        assert (m.call, m.percent, m.source.raw) == (call, percent, text)


def test_t_all_morphology_in_text_beside_an_unrecognised_coding() -> None:
    f = facts(
        condition(
            "c",
            {
                "coding": [{"system": "http://ehr/dx", "code": "77"}],
                "text": "T-lymphoblastic leukaemia (9837/3)",
            },
        )
    )
    assert f.lineage.value == "t-all" and f.lineage.source.recognised_by == "text-match"


def test_validation_results_are_cached_without_keeping_the_resource() -> None:
    from service.fhir.extract import validation

    bad = obs("bad-again", "ph", **coded("positive"))
    bad["status"] = ["final"]
    for _ in range(2):  # the second call is answered from the cache, with the same finding
        assert codes(facts(bad)) == ["invalid-resource"]
    assert all(isinstance(k[1], bytes) for k in validation._validation_cache)


def test_events_are_oldest_first_with_undated_last_and_duplicates_merged() -> None:
    f = facts(
        procedure("undated", cc("58390007", SNOMED), when=None),
        procedure("second", cc("58390007", SNOMED), when="2024-02-01"),
        procedure("first", cc("58390007", SNOMED), when="2019-02-01"),
        procedure("first-again", cc("58390007", SNOMED), when="2019-02-01T15:00:00Z"),
    )
    assert [e.source.resource for e in f.allo_hct] == [
        "Procedure/first",
        "Procedure/second",
        "Procedure/undated",
    ]
