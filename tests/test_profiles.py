"""fhir_profiles/ is valid FHIR, internally consistent, documented, and its examples are read.

These tests are what makes the folder trustworthy as "the contract": a code in a ValueSet that
no CodeSystem or README explains, a binding to a missing ValueSet, or an example the extractor
does not recognise would each make the documentation say something the service does not do.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from service import paths
from service.facts import PatientFacts
from service.fhir.terminology import (
    EXT_CODE_STATUS,
    LOCAL_SYSTEM,
    TOPIC_SYSTEM,
    load_terminology,
)
from service.paths import profiles_dir
from tests.fhir_helpers import extract_facts

ROOT = profiles_dir()
NOW = datetime(2025, 3, 1, tzinfo=UTC)
CONFORMANCE = sorted(ROOT.glob("*.json"))
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _by_type(rtype: str) -> list[dict[str, Any]]:
    return [d for d in map(_load, CONFORMANCE) if d["resourceType"] == rtype]


@pytest.mark.parametrize("path", CONFORMANCE + EXAMPLES, ids=lambda p: p.name)
def test_every_file_is_valid_r4(path: Path) -> None:
    doc = _load(path)
    get_fhir_model_class(doc["resourceType"]).model_validate(doc)
    assert path.stem == f"{doc['resourceType']}-{doc['id']}" or path.parent.name == "examples"


def test_local_codesystem_defines_every_code() -> None:
    (cs,) = [d for d in _by_type("CodeSystem") if d["url"] == LOCAL_SYSTEM]
    assert cs["count"] == len(cs["concept"])
    for concept in cs["concept"]:
        assert concept.get("definition"), concept["code"]
    contract_codes = {
        "cd19",
        "cd20",
        "cd22",
        "cd33",
        "cd123",
        "cd38",
        "bm-blasts",
        "mrd",
        "ph",
        "ph-like",
        "kmt2a",
        "abl1-t315i",
        "cns-status",
        "extramedullary",
        "disease-status",
        "prior-lines",
        "hct-planned",
        "crs-grade",
        "icans-grade",
        "ice-score",
        "cd3-count",
        "positive",
        "dim",
        "negative",
        "detected",
        "not-detected",
        "present",
        "absent",
        "cns1",
        "cns2",
        "cns3",
        "newly-diagnosed",
        "post-induction",
        "cr1",
        "cr2",
        "cr3-or-later",
        "first-relapse",
        "second-or-later-relapse",
        "primary-refractory",
        "relapsed-refractory",
        "flow-cytometry",
        "pcr",
        "ngs",
        "b-all",
        "t-all",
        "car-t-infusion",
    }
    assert contract_codes <= {c["code"] for c in cs["concept"]}


def test_card_topics_are_the_contract_topics() -> None:
    (cs,) = [d for d in _by_type("CodeSystem") if d["url"] == TOPIC_SYSTEM]
    assert {c["code"] for c in cs["concept"]} == {
        "immunotherapy-option",
        "toxicity-monitoring",
        "trial-enrollment",
        "safety-caution",
        "diagnostic-workup",
        "data-quality",
    }


def test_every_valueset_code_is_local_or_a_documented_external_code() -> None:
    (cs,) = [d for d in _by_type("CodeSystem") if d["url"] == LOCAL_SYSTEM]
    local = {c["code"] for c in cs["concept"]}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    urls = {d["url"] for d in _by_type("ValueSet")}
    external_seen = 0
    for vs in _by_type("ValueSet"):
        for inc in vs["compose"]["include"]:
            for ref in inc.get("valueSet", []):
                assert ref in urls, f"{vs['id']} includes missing {ref}"
            system = inc.get("system")
            for c in inc.get("concept", []):
                if system == LOCAL_SYSTEM:
                    assert c["code"] in local, f"{vs['id']}: {c['code']} not in the CodeSystem"
                    continue
                status = [
                    e["valueCode"] for e in c.get("extension", []) if e["url"] == EXT_CODE_STATUS
                ]
                assert status in (["verified"], ["secondary"]), f"{vs['id']}: {c['code']}"
                tag = "[V]" if status == ["verified"] else "[S]"
                assert f"{c['code']} {tag}" in readme, f"{c['code']} undocumented in README"
                external_seen += 1
    assert external_seen > 40


def test_secondary_codes_are_exactly_those_the_contract_marks_secondary() -> None:
    terminology = load_terminology(paths.profiles_dir())
    secondary = {(e.concept, e.code) for e in terminology.external if not e.verified}
    assert ("all-unspecified", "91857003") in secondary
    assert ("t-all", "9837/3") in secondary
    assert {c for c, _ in secondary} == {
        "all-unspecified",
        "t-all",
        "b-all",  # ICD-O-3 morphology (SEER list, not an HL7 package)
        "b-all-bcr-abl1",
        "aml",
        "tisagenlecleucel",
        "brexucabtagene",
        "nilotinib",  # RxNorm ingredient from CPIC's drug table (cpic-schema), no HL7 package
        # CPT and ICD-10-PCS (CMS tables, OHDSI listings): in no HL7 package
        "allo-hct",
        "auto-hct",
        "car-t-infusion",
        "abl1-t315i",  # the HGVS changes: in real-world-codes.md, in no HL7 package
        "bcr-abl1-transcripts",  # LOINC 69380-4: an NHS genomics IG, not an HL7 package
        "cd19",  # % of cells flow codes seen only in a hospital's lab map (issue 18)
        "cd38",
        "cd3-count",
    }
    # and the service never offers them for emission
    assert all(c["code"] != "1986438" for c in terminology.emittable_codings("tisagenlecleucel"))


def test_every_concept_valueset_is_named_after_its_concept() -> None:
    concepts = load_terminology(paths.profiles_dir()).concepts
    for vs in _by_type("ValueSet"):
        includes = vs["compose"]["include"]
        locals_ = [
            c["code"]
            for inc in includes
            if inc.get("system") == LOCAL_SYSTEM
            for c in inc.get("concept", [])
        ]
        has_external = any(inc.get("system") not in (None, LOCAL_SYSTEM) for inc in includes)
        if vs["id"] in concepts:
            assert locals_ == [vs["id"]], "a concept ValueSet holds exactly its own local code"
        else:
            assert not has_external, f"grouping ValueSet {vs['id']} must not add external codes"


def test_profiles_bind_only_to_existing_valuesets() -> None:
    urls = {d["url"] for d in _by_type("ValueSet")}
    profiles = [d for d in _by_type("StructureDefinition") if d["id"].startswith("lcds-")]
    assert len(profiles) >= 10
    for sd in profiles:
        assert sd["derivation"] == "constraint" and sd["fhirVersion"] == "4.0.1"
        assert "snapshot" not in sd, "differential form only"
        bindings = [
            e["binding"]["valueSet"] for e in sd["differential"]["element"] if "binding" in e
        ]
        assert bindings, f"{sd['id']} binds nothing"
        for b in bindings:
            assert b in urls, f"{sd['id']} binds to missing {b}"


def test_conceptmap_ships_empty() -> None:
    (cm,) = _by_type("ConceptMap")
    assert cm["id"] == "site-codes"
    assert not cm.get("group")


def _profile_of(doc: dict[str, Any]) -> str:
    return doc["meta"]["profile"][0].rsplit("/", 1)[1]


def test_every_profile_has_an_example() -> None:
    profiles = {d["id"] for d in _by_type("StructureDefinition") if d["id"].startswith("lcds-")}
    assert profiles == {_profile_of(_load(p)) for p in EXAMPLES}


# example file → what the extractor must read from it alone
EXPECTED: dict[str, Any] = {
    "Observation-cd19-percent": lambda f: f.markers["cd19"].percent == 92,
    "Observation-cd22-loinc-positive": lambda f: f.markers["cd22"].call == "positive",
    "Observation-immunophenotype-narrative": lambda f: (
        f.markers["cd19"].call == "positive"
        and f.markers["cd22"].call == "positive"
        and "cd20" not in f.markers
    ),
    "Observation-mrd-flow": lambda f: (
        f.mrd.fraction == pytest.approx(1e-4)
        and f.mrd.below_lod
        and f.mrd.method == "flow-cytometry"
    ),
    "Observation-ph-fish": lambda f: f.ph.value == "negative",
    "Observation-t315i": lambda f: f.t315i.value == "not-detected",
    "Observation-disease-status": lambda f: f.disease_status.value == "first-relapse",
    "Observation-crs-grade": lambda f: f.crs_grade.value == 2,
    "Observation-cns-status": lambda f: f.cns_status.value == "cns1",
    "Observation-hct-planned": lambda f: f.hct_planned.value is True,
    "Observation-aml-risk": lambda f: f.aml_risk.value == "favorable",
    "Observation-bm-blasts": lambda f: f.bm_blasts_percent.value == 62,
    "Observation-cd3-count": lambda f: f.cd3_count.value == 420,
    "Condition-b-all": lambda f: f.lineage.value == "b-all" and not f.lineage_inferred,
    "Condition-hepatic-disease": lambda f: f.hepatic_disease.value is True,
    "Procedure-allo-hct": lambda f: f.allo_hct[0].date.date().isoformat() == "2023-09-14",
    "Procedure-car-t": lambda f: f.car_t[0].product == "tisagenlecleucel",
    "MedicationRequest-blinatumomab": lambda f: [e.drug for e in f.exposures] == ["blinatumomab"],
}


def test_expectations_cover_every_example() -> None:
    assert set(EXPECTED) == {p.stem for p in EXAMPLES}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_is_recognised_as_its_concept(path: Path) -> None:
    facts: PatientFacts = extract_facts([_load(path)], now=NOW)
    assert facts.findings == (), facts.findings
    assert EXPECTED[path.stem](facts)


def test_every_override_reason_the_catalogue_offers_is_in_the_codesystem() -> None:
    """Cards send `overrideReasons` in this system; an EHR (and the feedback store) must be
    able to look each code up, with the display the card shows."""
    from service.paths import cards_dir
    from service.render import load_catalogue

    catalogue = load_catalogue(cards_dir())
    (cs,) = [d for d in _by_type("CodeSystem") if d["url"] == catalogue.override_system]
    defined = {c["code"]: c for c in cs["concept"]}
    offered = {code: display for e in catalogue.entries.values() for code, display in e.override}
    assert offered, "the catalogue offers no override reasons"
    for code, display in offered.items():
        assert code in defined, f"override reason {code} is not in {cs['id']}"
        assert defined[code]["display"] == display, code
        assert defined[code].get("definition"), code
    assert set(defined) == set(offered), "codes no card offers"
    assert cs["count"] == len(cs["concept"])
