"""Terminology loading: one source of truth, site ConceptMap honoured, broken files stop start."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service import paths
from service.fhir.terminology import (
    LOCAL_SYSTEM,
    Terminology,
    TerminologyError,
    clear_cache,
    load_terminology,
)
from service.paths import profiles_dir
from tests.fhir_helpers import extract_facts
from tests.fixtures.fhir.builders import cc, med_request, obs, qty

SITE_LAB = "http://hospital.example.org/lab-codes"
SITE_RX = "http://hospital.example.org/pharmacy"
NOW = datetime(2025, 3, 1, tzinfo=UTC)


@pytest.fixture
def site_profiles(tmp_path: Path) -> Iterator[Path]:
    """A copy of fhir_profiles/ whose ConceptMap maps two lab codes and one drug code."""
    root = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), root)
    cm = json.loads((root / "ConceptMap-site-codes.json").read_text())
    cm["group"] = [
        {
            "source": SITE_LAB,
            "target": LOCAL_SYSTEM,
            "element": [
                {
                    "code": "FLOW-CD19-PCT",
                    "target": [{"code": "cd19", "equivalence": "equivalent"}],
                },
                {"code": "MRD-FLOW", "target": [{"code": "mrd", "equivalence": "equal"}]},
                {"code": "CD22-ISH", "target": [{"code": "cd22", "equivalence": "wider"}]},
            ],
        },
        {
            "source": SITE_RX,
            "target": LOCAL_SYSTEM,
            "element": [
                {
                    "code": "BLIN-35",
                    "target": [{"code": "blinatumomab", "equivalence": "equivalent"}],
                }
            ],
        },
    ]
    (root / "ConceptMap-site-codes.json").write_text(json.dumps(cm))
    yield root
    clear_cache()


def test_loads_once_and_is_cached() -> None:
    assert load_terminology(paths.profiles_dir()) is load_terminology(paths.profiles_dir())
    assert isinstance(load_terminology(paths.profiles_dir()), Terminology)


def test_site_conceptmap_is_honoured(site_profiles: Path) -> None:
    term = load_terminology(site_profiles)
    assert term.site_mappings == 3
    f = extract_facts(
        [
            obs("c19", cc("FLOW-CD19-PCT", SITE_LAB), **qty(88)),
            obs("m", cc("MRD-FLOW", SITE_LAB), valueString="<0.01%"),
            obs("c22", cc("CD22-ISH", SITE_LAB), **qty(50)),
            med_request("rx", {"medicationCodeableConcept": cc("BLIN-35", SITE_RX)}),
        ],
        now=NOW,
        terminology=term,
    )
    assert f.markers["cd19"].percent == 88
    assert f.markers["cd19"].source.recognised_by == "site-conceptmap"
    assert f.mrd.below_lod and f.mrd.source.recognised_by == "site-conceptmap"
    assert "cd22" not in f.markers  # a 'wider' map is not an identity
    assert f.exposures[0].drug == "blinatumomab"
    assert f.exposures[0].source.recognised_by == "site-conceptmap"


def test_shipped_terminology_does_not_know_site_codes() -> None:
    assert load_terminology(paths.profiles_dir()).lookup(SITE_LAB, "FLOW-CD19-PCT") == ()
    assert load_terminology(paths.profiles_dir()).site_mappings == 0


LOINC = "http://loinc.org"


@pytest.mark.parametrize("target", [
    {"code": "cd20", "equivalence": "disjoint"},  # R4
    {"code": "cd20", "relationship": "not-related-to"},  # R5, as newer map editors write it
])
def test_a_site_map_can_say_a_shipped_code_does_not_mean_a_concept(site_profiles: Path,
                                                                    target: dict) -> None:
    """Issue 18, part 3: a site whose lab uses LOINC 13842-0 for something else removes it."""
    shipped = load_terminology(paths.profiles_dir())
    assert [m.concept for m in shipped.lookup(LOINC, "13842-0")] == ["cd20"]
    _break(site_profiles, lambda cm: cm["group"].append(
        {"source": LOINC, "target": LOCAL_SYSTEM,
         "element": [{"code": "13842-0", "target": [target]}]}))
    clear_cache()
    term = load_terminology(site_profiles)
    assert term.lookup(LOINC, "13842-0") == ()
    assert [m.concept for m in term.lookup(LOINC, "51115-4")] == ["cd20"]  # the other stays
    f = extract_facts([obs("c20", cc("13842-0", LOINC), **qty(60))], now=NOW, terminology=term)
    assert "cd20" not in f.markers


def test_a_narrowing_that_removes_nothing_stops_start_up(site_profiles: Path) -> None:
    _break(site_profiles, lambda cm: cm["group"].append(
        {"source": LOINC, "target": LOCAL_SYSTEM,
         "element": [{"code": "13842-0", "target": [{"code": "cd19",
                                                     "equivalence": "disjoint"}]}]}))
    clear_cache()
    with pytest.raises(TerminologyError, match=r"13842-0 is marked as not cd19, but nothing "
                                               r"maps it to that concept"):
        load_terminology(site_profiles)


def _break(root: Path, mutate: Any) -> None:
    path = root / "ConceptMap-site-codes.json"
    cm = json.loads(path.read_text())
    mutate(cm)
    path.write_text(json.dumps(cm))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda cm: cm["group"][0]["element"][0]["target"][0].update(code="cd99"), "cd99"),
        (lambda cm: cm["group"][0].update(target="http://snomed.info/sct"), "target"),
        (lambda cm: cm["group"][0].pop("source"), "source"),
        # a site code may not name two different observations
        (
            lambda cm: cm["group"][0]["element"].append(
                {"code": "FLOW-CD19-PCT", "target": [{"code": "cd20", "equivalence": "equal"}]}
            ),
            "both",
        ),
    ],
)
def test_a_broken_conceptmap_stops_start_up(site_profiles: Path, mutate: Any, message: str) -> None:
    _break(site_profiles, mutate)
    with pytest.raises(TerminologyError, match=message):
        load_terminology(site_profiles)


def test_unreadable_or_missing_files_stop_start_up(tmp_path: Path) -> None:
    with pytest.raises(TerminologyError):
        load_terminology(tmp_path / "nowhere")
    root = tmp_path / "p"
    shutil.copytree(profiles_dir(), root)
    (root / "ValueSet-cd22.json").write_text("{not json")
    with pytest.raises(TerminologyError, match=r"ValueSet-cd22\.json"):
        load_terminology(root)
    clear_cache()


def test_external_code_without_status_is_rejected(tmp_path: Path) -> None:
    root = tmp_path / "p"
    shutil.copytree(profiles_dir(), root)
    vs = json.loads((root / "ValueSet-cd22.json").read_text())
    vs["compose"]["include"][1]["concept"][0].pop("extension")
    (root / "ValueSet-cd22.json").write_text(json.dumps(vs))
    with pytest.raises(TerminologyError, match="external-code-status"):
        load_terminology(root)
    clear_cache()


def test_lookup_normalises_systems_and_icd_dots() -> None:
    term = load_terminology(paths.profiles_dir())
    assert term.lookup("urn:oid:2.16.840.1.113883.6.96", "277571004")[0].concept == "b-all"
    assert term.lookup("http://snomed.info/sct/", "277571004")[0].concept == "b-all"
    assert term.lookup("http://hl7.org/fhir/sid/icd-10-cm", "c9202")[0].concept == "aml"
    assert term.lookup("http://loinc.org", "51124-6")[0].recognised_by == "standard-code"
    assert term.lookup(LOCAL_SYSTEM, "mrd")[0].recognised_by == "local-code"


def test_text_matching_is_whole_words() -> None:
    term = load_terminology(paths.profiles_dir())
    assert term.find_in_text("Blincyto 28 mcg/day CIV", "drug") == ["blinatumomab"]
    assert term.find_in_text("Obe-cel infusion", "drug") == ["obecabtagene"]
    assert term.find_in_text("ponatinibum-like compound", "drug") == []
    assert term.find_in_text("prednisolone", "drug") == []


def test_answers_come_from_the_bound_valueset() -> None:
    term = load_terminology(paths.profiles_dir())
    assert term.concept("ph").answers == {"positive", "negative"}
    assert term.concept("cd19").answers == {"positive", "dim", "negative"}
    assert term.concept("mrd").answers == {"detected", "not-detected"}
    assert "cr3-or-later" in term.concept("disease-status").answers


def test_search_tokens_cover_local_and_standard_codes() -> None:
    tokens = load_terminology(paths.profiles_dir()).search_tokens("observation")
    assert f"{LOCAL_SYSTEM}|mrd" in tokens
    assert "http://loinc.org|51867-0" in tokens
    assert not any("rxnorm" in t for t in tokens)


@pytest.mark.parametrize(
    "cc_",
    [
        cc("718-7", "http://loinc.org"),  # haemoglobin: not a contract concept
        cc("51867-0", "http://loinc.org"),  # Ph: an observation concept
        cc("mrd"),
        cc("blinatumomab"),  # a drug, not an observation
        {"coding": [{"system": "http://loinc.org", "code": "718-7"}, {}, cc("cd19")["coding"][0]]},
        {"coding": [None, "cd19", {"system": ["junk"], "code": "cd19"}]},
        {"coding": {"system": LOCAL_SYSTEM, "code": "cd19"}},
        {"text": "MRD"},
        None,
        "cd19",
    ],
)
def test_names_kind_agrees_with_match_codings(cc_: Any) -> None:
    term = load_terminology(paths.profiles_dir())
    codings = cc_.get("coding") if isinstance(cc_, dict) else None
    dicts = [c for c in codings if isinstance(c, dict)] if isinstance(codings, list) else []
    for kinds in (frozenset({"observation"}), frozenset({"drug"}), frozenset({"answer"})):
        assert term.names_kind(cc_, kinds) == bool(term.match_codings(dicts, kinds))
