"""Ph / BCR::ABL1, ABL1 T315I and KMT2A as real sources encode them (issue 18).

Each test names its public source (real-world-codes.md): HL7 Genomics Reporting
(`input/fsh/examples/`, SNVexample.fsh), mCODE (`EX_Genomics.fsh`, `SD_Genomics.fsh`), the
CIBMTR reporting IG (`cibmtr-cytogenetics.fsh`, `PresenceAbsence.fsh`), HL7 SMART Health Cards
vocabulary (SNOMED result qualifiers) and the NHS North West Genomics BCR-ABL monitoring
panel (LOINC 69380-4). A variant is read by its components, never by the generic 69548-6.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.facts import PatientFacts
from service.fhir.extract.genetics import parse_hgvs, parse_iscn
from service.fhir.terminology import (
    LOCAL_SYSTEM,
    TerminologyError,
    clear_cache,
    load_terminology,
)
from service.paths import profiles_dir
from tests.fhir_helpers import TERMINOLOGY, extract_facts
from tests.fixtures.fhir.builders import LOINC, SNOMED, cc, coded, obs, qty

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HGNC = "http://www.genenames.org/geneId"  # Genomics Reporting's $geneId
HGNC_MCODE = "http://www.genenames.org"  # mCODE's HGNC alias
HGVS = "http://varnomen.hgvs.org"
ISCN = "https://iscn.karger.com"
PRESENT = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9633-4",
                                                "display": "Present"}]}}
ABSENT = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA9634-2",
                                               "display": "Absent"}]}}
NO_CALL = {"valueCodeableConcept": {"coding": [{"system": LOINC, "code": "LA18198-4",
                                                "display": "No call"}]}}


def facts(*resources: Any, **kw: Any) -> PatientFacts:
    return extract_facts(list(resources), now=NOW, **kw)


def codes(f: PatientFacts) -> list[str]:
    return [x.code for x in f.findings]


def gene(hgnc: str, symbol: str, system: str = HGNC) -> dict[str, Any]:
    return {"code": cc("48018-6", LOINC),
            "valueCodeableConcept": {"coding": [{"system": system, "code": hgnc,
                                                 "display": symbol}]}}


def change(loinc: str, hgvs: str) -> dict[str, Any]:
    return {"code": cc(loinc, LOINC),
            "valueCodeableConcept": {"coding": [{"system": HGVS, "code": hgvs, "display": hgvs}]}}


def iscn(karyotype: str) -> dict[str, Any]:
    return {"code": cc("81291-7", LOINC),
            "valueCodeableConcept": {"coding": [{"system": ISCN, "code": karyotype}]}}


SOMATIC = {"code": cc("48002-0", LOINC), "valueCodeableConcept": cc("LA6684-0", LOINC)}
BCR = gene("HGNC:1014", "BCR")
ABL1 = gene("HGNC:76", "ABL1")


def variant(id_: str, *components: dict[str, Any], when: str = "2025-01-10",
            value: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    """A Genomics Reporting Variant / mCODE GenomicVariant: 69548-6 + components + value."""
    o = obs(id_, {"coding": [{"system": LOINC, "code": "69548-6",
                              "display": "Genetic variant assessment"}]},
            when=when, component=list(components), **kw)
    o["method"] = cc("LA26398-0", LOINC)
    if value is not None:
        o.update(value)
    return o


# --- Ph / BCR::ABL1 as a variant ------------------------------------------------------------


def test_mcode_ex_genomics_fusion_variant_is_ph_positive() -> None:
    """mCODE EX_Genomics.fsh cancer-genomic-variant-fusion: BCR (HGNC:1014) and ABL1 (HGNC:76)
    as gene-studied with mCODE's HGNC system, a genomic DNA change, value LA9633-4 Present."""
    fusion = variant(
        "fusion",
        gene("HGNC:1014", "BCR", HGNC_MCODE),
        gene("HGNC:76", "ABL1", HGNC_MCODE),
        {"code": cc("48019-4", LOINC), "valueCodeableConcept": {"text": "gene_fusion"}},
        change("81290-9", "NM_005157.6(ABL1):c.1076T>G"),
        SOMATIC,
        value=PRESENT,
        interpretation=[cc("10828004", SNOMED)],
    )
    f = facts(fusion)
    assert f.ph is not None and f.ph.value == "positive"
    assert f.ph.source.resource == "Observation/fusion"
    assert f.ph.source.recognised_by == "standard-code"
    assert "BCR::ABL1" in f.ph.source.raw
    assert f.t315i is None  # c.1076T>G (p.Phe359Cys) is not T315I
    assert f.findings == ()


def test_genomics_reporting_fusion_absent_is_ph_negative() -> None:
    """Genomics Reporting Variant shape (examples/, $geneId): BCR and ABL1 studied, no change
    component, LA9634-2 Absent: the fusion was looked for and not found."""
    f = facts(variant("neg", BCR, ABL1, SOMATIC, value=ABSENT))
    assert f.ph is not None and f.ph.value == "negative"
    assert f.findings == ()


def test_mcode_hgnc_bare_number_is_the_same_gene() -> None:
    """mCODE SD_Genomics: 'Only the number, n, should be given as the code'."""
    f = facts(variant("v", gene("1014", "BCR", HGNC_MCODE), gene("76", "ABL1", HGNC_MCODE),
                      value=PRESENT))
    assert f.ph is not None and f.ph.value == "positive"


def test_an_absent_change_in_bcr_abl1_is_not_ph_negative() -> None:
    """With a change component the value is about that change: 'BCR::ABL1 p.Glu255Lys absent'
    says nothing about the fusion."""
    f = facts(variant("v", BCR, ABL1, change("48005-3", "p.Glu255Lys"), value=ABSENT))
    assert f.ph is None and f.t315i is None
    assert f.findings == ()


def test_etv6_runx1_child_is_not_ph_and_not_t315i() -> None:
    """The issue's misread: the same generic 69548-6, about ETV6::RUNX1. Not Ph, not T315I,
    and not a data-quality problem either: a variant the contract does not cover."""
    child = variant("etv6", gene("HGNC:3797", "ETV6"), gene("HGNC:10471", "RUNX1"), SOMATIC,
                    value=PRESENT)
    f = facts(child)
    assert f.ph is None and f.t315i is None and f.kmt2a is None and f.ph_like is None
    assert f.findings == ()
    # even when not final: not in scope, so no ignored-status finding about it
    assert facts({**child, "status": "preliminary"}).findings == ()


def test_a_fusion_naming_only_one_of_bcr_and_abl1_is_not_ph() -> None:
    """BCR::JAK2 or NUP214::ABL1 name one of the genes: not a BCR::ABL1 statement."""
    f = facts(
        variant("a", BCR, gene("HGNC:6192", "JAK2"), value=PRESENT),
        variant("b", gene("HGNC:8064", "NUP214"), ABL1, value=PRESENT),
    )
    assert f.ph is None and f.findings == ()


@pytest.mark.parametrize("value", [NO_CALL, {"valueString": "indeterminate"}])
def test_an_unreadable_variant_value_is_a_finding_and_hides_an_older_result(
    value: dict[str, Any],
) -> None:
    """LL1971-2 also has 'No call' / 'Indeterminate': never a negative, and a newer result
    nobody could read keeps an older one from standing in for it."""
    older = obs("fish", cc("51867-0", LOINC), when="2024-06-01", **coded("10828004", SNOMED))
    f = facts(older, variant("v", BCR, ABL1, value=value))
    assert f.ph is None
    assert "unreadable-value" in codes(f)
    assert any(x.concept == "ph" and x.resource == "Observation/v" for x in f.findings)


def test_a_bcr_abl1_variant_without_value_is_missing() -> None:
    f = facts(variant("v", BCR, ABL1))
    assert f.ph is None and codes(f) == ["missing-value"]
    assert f.findings[0].concept == "ph"


def test_a_preliminary_bcr_abl1_variant_is_reported_under_ph() -> None:
    f = facts(variant("v", BCR, ABL1, value=PRESENT, status="preliminary"))
    assert f.ph is None
    assert [(x.code, x.concept) for x in f.findings] == [("ignored-status", "ph")]


# --- ABL1 T315I -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("component", "how"),
    [
        (change("48005-3", "NP_005148.2:p.Thr315Ile"), "amino-acid change with protein ref"),
        (change("48005-3", "p.Thr315Ile"), "amino-acid change"),
        (change("48005-3", "NP_005148.2:p.(Thr315Ile)"), "predicted amino-acid change"),
        (change("48004-6", "NM_005157.6:c.944C>T"), "c.HGVS on mCODE's ABL1 transcript"),
        (change("48004-6", "NM_005157.6(ABL1):c.944C>T"), "c.HGVS with gene annotation"),
        (change("48004-6", "c.944C>T"), "c.HGVS without reference"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_genomics_reporting_snv_abl1_t315i_is_detected(component: dict[str, Any], how: str
                                                       ) -> None:
    """Genomics Reporting SNVexample.fsh shape: gene studied ABL1 (HGNC:76), DNA change
    48004-6 or amino-acid change 48005-3, LA9633-4 Present."""
    f = facts(variant("snv", ABL1, component, SOMATIC, value=PRESENT))
    assert f.t315i is not None and f.t315i.value == "detected", how
    assert f.ph is None  # an ABL1 variant alone does not name the fusion
    assert f.findings == ()


def test_abl1_t315i_absent_is_not_detected() -> None:
    f = facts(variant("snv", ABL1, change("48005-3", "p.Thr315Ile"), value=ABSENT))
    assert f.t315i is not None and f.t315i.value == "not-detected"


def test_t315i_in_a_bcr_abl1_variant_is_both() -> None:
    f = facts(variant("v", BCR, ABL1, change("48005-3", "p.Thr315Ile"), value=PRESENT))
    assert f.t315i is not None and f.t315i.value == "detected"
    assert f.ph is not None and f.ph.value == "positive"


@pytest.mark.parametrize(
    "component",
    [
        change("48005-3", "p.Glu255Lys"),  # another ABL1 kinase-domain change
        change("48004-6", "NM_007313.2:c.944C>T"),  # c.944 on another ABL1 transcript
        change("48004-6", "c.1076T>G"),
    ],
)
def test_other_abl1_changes_are_not_t315i(component: dict[str, Any]) -> None:
    f = facts(variant("v", ABL1, component, value=PRESENT))
    assert f.t315i is None and f.ph is None
    assert f.findings == ()


def test_t315i_without_the_gene_studied_is_reported_not_read() -> None:
    """p.Thr315Ile names a residue, not a gene: without ABL1 studied it is not read (once,
    however many components name the change)."""
    f = facts(variant("v", change("48005-3", "p.Thr315Ile"), change("48004-6", "c.944C>T"),
                      value=PRESENT))
    assert f.t315i is None
    (finding,) = f.findings
    assert (finding.code, finding.concept) == ("unreadable-value", "abl1-t315i")
    assert "ABL1" in finding.message


def test_t315i_change_on_another_gene_is_reported_not_read() -> None:
    f = facts(variant("v", gene("HGNC:3236", "EGFR"), change("48005-3", "p.Thr315Ile"),
                      value=PRESENT))
    assert f.t315i is None and codes(f) == ["unreadable-value"]


# --- ISCN karyotypes --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "karyotype",
    [
        "46,XY,t(9;22)(q34.1;q11.2)[20]",
        "47<2n>,XY,-7,+8,t(9;22)(q34.1;q11.2),i(17)(q10),+der(22)t(9;22)(q34.1;q11.2)",
        "46,XX,t(9;22)(q34;q11.2)[15]/46,XX[5]",
        "46,XY,der(22)t(9;22)(q34;q11)[12]",
    ],
)
def test_cibmtr_cytogenetics_iscn_component_t9_22_is_ph_positive(karyotype: str) -> None:
    """CIBMTR cibmtr-cytogenetics.fsh: a Variant with no value and the ISCN in component
    81291-7 (cytogenomic-nomenclature). t(9;22)(q34;q11) is the Philadelphia chromosome."""
    f = facts(variant("karyo", iscn(karyotype), SOMATIC))
    assert f.ph is not None and f.ph.value == "positive"
    assert f.ph.source.recognised_by == "text-match"
    assert f.ph.source.raw == karyotype
    assert f.findings == ()


def test_iscn_as_its_own_observation() -> None:
    f = facts(obs("k", cc("81291-7", LOINC), valueString="46,XY,t(9;22)(q34.1;q11.2)[20]"))
    assert f.ph is not None and f.ph.value == "positive"


@pytest.mark.parametrize("karyotype", ["46,XY[20]", "46,XX,del(9)(p21)[10]/46,XX[10]",
                                       "46,XY,t(12;21)(p13;q22)[20]"])
def test_a_karyotype_without_t9_22_is_not_ph_negative(karyotype: str) -> None:
    """A karyotype does not see cryptic BCR::ABL1: no t(9;22) is no statement, not 'negative'.
    Decision: no finding either (a complete, readable result; AML and T-ALL karyotypes would
    otherwise fill the data-quality card)."""
    f = facts(variant("karyo", iscn(karyotype)))
    assert f.ph is None and f.kmt2a is None
    assert f.findings == ()


def test_a_variant_saying_t9_22_is_absent_is_not_ph_at_all() -> None:
    """A Variant valued Absent with the ISCN component: t(9;22) was not found, which is not
    Ph-negative either."""
    f = facts(variant("v", iscn("t(9;22)(q34.1;q11.2)"), value=ABSENT))
    assert f.ph is None and f.findings == ()


def test_t9_22_in_a_single_cell_is_not_a_clone() -> None:
    f = facts(variant("k", iscn("46,XY,t(9;22)(q34;q11.2)[1]/46,XY[19]")))
    assert f.ph is None
    assert [(x.code, x.concept) for x in f.findings] == [("not-established", "ph")]


def test_t9_22_at_other_breakpoints_is_not_ph() -> None:
    f = facts(variant("k", iscn("46,XY,t(9;22)(p13;q13)[20]")))
    assert f.ph is None and f.findings == ()


@pytest.mark.parametrize("text", ["No t(9;22) seen", "t(9;22) not detected", "normal"])
def test_free_text_in_place_of_iscn_is_reported_never_read(text: str) -> None:
    """'No t(9;22) seen' contains t(9;22): only ISCN-shaped values are read."""
    f = facts(obs("k", cc("81291-7", LOINC), valueString=text))
    assert f.ph is None
    assert [(x.code, x.concept) for x in f.findings] == [("unreadable-value", "karyotype")]


def test_iscn_with_spaces_after_commas_is_still_iscn() -> None:
    f = facts(obs("k", cc("81291-7", LOINC), valueString="46,XY, t(9;22)(q34;q11.2)[20]"))
    assert f.ph is not None and f.ph.value == "positive"


def test_in_situ_hybridisation_nomenclature_is_reported_not_read() -> None:
    f = facts(variant("k", iscn("nuc ish(ABL1,BCR)x3(ABL1 con BCRx2)[180/200]")))
    assert f.ph is None
    assert [(x.code, x.concept) for x in f.findings] == [("unreadable-value", "karyotype")]


def test_iscn_11q23_translocation_suggests_kmt2a_but_is_not_read_as_it() -> None:
    """KMT2A lies at 11q23; a karyotype's t(4;11)(q21;q23) suggests a KMT2A rearrangement but
    does not establish it: a finding while KMT2A is unknown, never a value."""
    karyo = variant("k", iscn("46,XX,t(4;11)(q21;q23)[18]/46,XX[2]"))
    f = facts(karyo)
    assert f.kmt2a is None
    (finding,) = f.findings
    assert (finding.code, finding.concept, finding.resource) == (
        "not-established", "kmt2a", "Observation/k")
    assert "t(4;11)(q21;q23)" in finding.message
    # with a KMT2A result in the record the suggestion adds nothing
    confirmed = obs("fish", cc("78219-3", LOINC), **coded("52101004", SNOMED))
    f = facts(karyo, confirmed)
    assert f.kmt2a is not None and f.kmt2a.value == "positive" and f.findings == ()


def test_iscn_parser_reads_translocations_and_their_clones() -> None:
    found = parse_iscn("46,XY,t(9;22)(q34.1;q11.2)[18]/47,XY,+8,t(4;11)(q21;q23.3)[2]")
    assert [(t.chromosomes, t.bands, t.cells) for t in found] == [
        (("9", "22"), ("q34.1", "q11.2"), 18),
        (("4", "11"), ("q21", "q23.3"), 2),
    ]
    assert parse_iscn("46,XY[20]") == []


def test_hgvs_parser() -> None:
    assert parse_hgvs("NM_005157.6(ABL1):c.944C>T") == ("NM_005157", "c.944C>T")
    assert parse_hgvs("NP_005148.2:p.(Thr315Ile)") == ("NP_005148", "p.Thr315Ile")
    assert parse_hgvs("p.Thr315Ile") == (None, "p.Thr315Ile")
    assert parse_hgvs("T315I") is None


# --- FISH, KMT2A and quantitative PCR with their standard answers -----------------------------


@pytest.mark.parametrize(
    ("answer", "value"),
    [("10828004", "positive"), ("260385009", "negative")],
)
def test_ph_fish_51867_0_with_snomed_answers(answer: str, value: str) -> None:
    """FISH LOINC 51867-0 valued SNOMED 10828004 Positive / 260385009 Negative (the SNOMED
    result qualifiers of mCODE EX_Genomics and the HL7 SMART Health Cards vocabulary)."""
    f = facts(obs("fish", cc("51867-0", LOINC), **coded(answer, SNOMED)))
    assert f.ph is not None and f.ph.value == value
    assert f.findings == ()


@pytest.mark.parametrize(
    ("answer", "value"),
    [("52101004", "positive"), ("2667000", "negative"), ("LA9633-4", "positive")],
)
def test_kmt2a_78219_3_with_cibmtr_presence_answers(answer: str, value: str) -> None:
    """CIBMTR PresenceAbsence.fsh: SNOMED 52101004 Present / 2667000 Absent (and the LOINC
    LA9633-4 / LA9634-2 of the same value set)."""
    system = LOINC if answer.startswith("LA") else SNOMED
    f = facts(obs("k", cc("78219-3", LOINC), **coded(answer, system)))
    assert f.kmt2a is not None and f.kmt2a.value == value
    assert f.findings == ()


def bcr_abl1(id_: str, when: str = "2025-01-10", **value: Any) -> dict[str, Any]:
    """NHS North West Genomics BCR-ABL monitoring panel: LOINC 69380-4, %IS."""
    return obs(id_, cc("69380-4", LOINC), when=when, **value)


@pytest.mark.parametrize(
    "value",
    [qty(0.12, "%"), qty(35, "%"), qty(0.0032, "%{IS}"), {"valueString": "Detected"}],
)
def test_bcr_abl1_level_above_zero_is_ph_positive(value: dict[str, Any]) -> None:
    f = facts(bcr_abl1("pcr", **value))
    assert f.ph is not None and f.ph.value == "positive"
    assert f.ph.source.resource == "Observation/pcr"
    assert f.findings == ()


@pytest.mark.parametrize(
    "value",
    [qty(0, "%"), qty(0.001, "%", comparator="<"), {"valueString": "not detected"}],
)
def test_bcr_abl1_zero_is_a_response_never_ph_negative(value: dict[str, Any]) -> None:
    """Zero after treatment is a molecular response, and 69380-4 measures only b2a2 + b3a2
    transcripts: never Ph-negative. While Ph is unknown, a finding says so."""
    f = facts(bcr_abl1("pcr", **value))
    assert f.ph is None
    (finding,) = f.findings
    assert (finding.code, finding.concept) == ("not-established", "ph")
    assert "not read as Ph negative" in finding.message


def test_a_zero_level_after_a_ph_positive_diagnosis_leaves_ph_positive_and_quiet() -> None:
    f = facts(
        obs("fish", cc("51867-0", LOINC), when="2024-01-05", **coded("10828004", SNOMED)),
        bcr_abl1("pcr1", when="2024-06-01", **qty(0, "%")),
        bcr_abl1("pcr2", when="2025-01-01", **qty(0, "%")),
    )
    assert f.ph is not None and f.ph.value == "positive"
    assert f.ph.source.resource == "Observation/fish"
    assert f.findings == ()


def test_repeated_zero_levels_give_one_finding_for_the_latest() -> None:
    f = facts(bcr_abl1("old", when="2024-06-01", **qty(0, "%")),
              bcr_abl1("new", when="2025-01-01", **qty(0, "%")))
    assert [x.resource for x in f.findings] == ["Observation/new"]


@pytest.mark.parametrize("value", [qty("high", "%"), qty(-1, "%"), {"valueString": "see report"},
                                   {"valueBoolean": True}])
def test_an_unreadable_bcr_abl1_level_is_a_finding(value: dict[str, Any]) -> None:
    f = facts(bcr_abl1("pcr", **value))
    assert f.ph is None
    assert next(x.code for x in f.findings if x.resource == "Observation/pcr") in (
        "unreadable-value", "invalid-resource")


# --- the site ConceptMap cannot map a generic code (issue 18, part 3) --------------------------


@pytest.fixture
def profiles(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), root)
    yield root
    clear_cache()


def _map(root: Path, source: str, code: str, target: str) -> None:
    path = root / "ConceptMap-site-codes.json"
    cm = json.loads(path.read_text())
    cm["group"] = [{"source": source, "target": LOCAL_SYSTEM,
                    "element": [{"code": code,
                                 "target": [{"code": target, "equivalence": "equivalent"}]}]}]
    path.write_text(json.dumps(cm))


@pytest.mark.parametrize(
    ("code", "target"),
    [("69548-6", "ph"), ("69548-6", "abl1-t315i"), ("69548-6", "kmt2a"),
     ("81291-7", "ph"), ("48018-6", "kmt2a"), ("48005-3", "abl1-t315i")],
)
def test_a_site_map_of_a_generic_code_stops_start_up_with_one_line(
    profiles: Path, code: str, target: str
) -> None:
    _map(profiles, LOINC, code, target)
    with pytest.raises(TerminologyError, match="generic code") as raised:
        load_terminology(profiles)
    message = str(raised.value)
    assert "\n" not in message and code in message and target in message


def test_a_site_may_still_map_its_own_variant_code_to_be_read_by_components(
    profiles: Path,
) -> None:
    _map(profiles, "http://hospital.example.org/lab-codes", "GENVAR", "genetic-variant")
    term = load_terminology(profiles)
    local_variant = variant("v", BCR, ABL1, value=PRESENT)
    local_variant["code"] = cc("GENVAR", "http://hospital.example.org/lab-codes")
    f = facts(local_variant, terminology=term)
    assert f.ph is not None and f.ph.value == "positive"


def test_generic_codes_are_listed_in_the_profiles_not_in_python() -> None:
    generic = TERMINOLOGY.valuesets["http://leukemia-cds.org/fhir/ValueSet/generic-codes"]
    assert {(LOINC, "69548-6"), (LOINC, "81291-7"), (LOINC, "48018-6")} <= generic
    assert (LOINC, "51867-0") not in generic  # a specific code: mapping it is a site's right


def test_a_structure_property_naming_a_missing_gene_stops_start_up(profiles: Path) -> None:
    path = profiles / "CodeSystem-leukemia-cds.json"
    cs = json.loads(path.read_text())
    for c in cs["concept"]:
        if c["code"] == "ph":
            for p in c["property"]:
                if p["code"] == "fusion-genes":
                    p["valueString"] = "gene-bcr gene-abl2"
    path.write_text(json.dumps(cs))
    with pytest.raises(TerminologyError, match="gene-abl2"):
        load_terminology(profiles)
