"""Synthetic patients: repeatable to the byte, valid R4, read back by the extractor as intended."""

from __future__ import annotations

import io
import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from service import paths
from service.cli import main
from service.fhir.report import facts_command
from service.fhir.terminology import clear_cache, load_terminology
from service.hooks.models import CONTEXT_MODELS, HookRequest
from service.hooks.services import PREFETCH
from service.paths import profiles_dir
from service.policy import Policy
from service.synth import noise
from service.synth.codes import SITE_LAB
from service.synth.generator import SIZES_FOR_BENCHMARKS, dumps, generate, generate_many
from service.synth.hooks import draft_order, hook_request, prefetch_for
from service.synth.scenarios import FAMILIES, SCENARIOS
from tests.fhir_helpers import extract_facts

AS_OF = date(2025, 6, 1)
NOW = datetime.combine(AS_OF, time(12, 0), UTC)
SITE_MAP = Path(__file__).resolve().parent.parent / "service" / "synth" / "site-conceptmap.json"


def resources_of(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"]]


@pytest.fixture(scope="module")
def library() -> dict[str, dict]:
    """Every scenario once, with noise (200 resources), as collection Bundles."""
    return {p.scenario.id: p.bundle() for p in generate_many(seed=11, size=200, as_of=AS_OF)}


def test_library_is_big_enough_and_documents_itself():
    assert 15 <= len(SCENARIOS) <= 35  # 28 with the real-world encodings of issue 18
    for scenario in SCENARIOS.values():
        assert scenario.rules, scenario.id
        assert set(scenario.families) <= set(FAMILIES), scenario.id
        assert scenario.orders, f"{scenario.id}: the sandbox needs something to order"


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not():
    first = [dumps(p.bundle("transaction")) for p in generate_many(seed=5, as_of=AS_OF)]
    again = [dumps(p.bundle("transaction")) for p in generate_many(seed=5, as_of=AS_OF)]
    other = [dumps(p.bundle("transaction")) for p in generate_many(seed=6, as_of=AS_OF)]
    assert first == again
    assert sum(a != b for a, b in zip(first, other, strict=True)) >= len(first) - 1


def test_cli_writes_identical_files_for_the_same_seed(tmp_path, capsys):
    args = ["synth", "--count", "2", "--seed", "9", "--size", "50", "--as-of", "2025-06-01",
            "--type", "transaction", "--emit", "both", "--progress"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    err = capsys.readouterr().err
    assert "#" in err and f"{2 * len(SCENARIOS)}/{2 * len(SCENARIOS)}" in err, "progress bar"
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert len(names) == 4 * len(SCENARIOS)  # bundle + hook request, two patients each
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    bundle = json.loads((tmp_path / "a" / "aml-cd33-unfit-1.json").read_text("utf-8"))
    assert bundle["type"] == "transaction"
    assert all(e["request"] == {"method": "PUT", "url": f"{e['resource']['resourceType']}/"
                                f"{e['resource']['id']}"} for e in bundle["entry"])


def test_cli_refuses_an_unknown_scenario_in_one_line(tmp_path, capsys):
    assert main(["synth", "--scenario", "nope", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope" in err[0]


def test_every_bundle_and_every_resource_validates_as_r4(library):
    for scenario_id, bundle in library.items():
        Bundle.model_validate(bundle)
        for resource in resources_of(bundle):
            try:
                get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            except Exception as exc:  # pragma: no cover - the message is the point
                pytest.fail(f"{scenario_id}: {resource['resourceType']}/{resource['id']}: {exc}")


def test_references_resolve_inside_the_bundle_except_planted_ones(library):
    for scenario_id, bundle in library.items():
        ids = {f"{r['resourceType']}/{r['id']}" for r in resources_of(bundle)}
        assert len(ids) == len(bundle["entry"]), f"{scenario_id}: duplicate ids"
        for resource in resources_of(bundle):
            refs = [resource.get("subject", {}).get("reference"),
                    resource.get("medicationReference", {}).get("reference")]
            for ref in filter(None, refs):
                if ref.startswith("#"):
                    assert any(f"#{c['id']}" == ref for c in resource.get("contained", []))
                elif ref not in ids:
                    assert scenario_id == "data-quality-gaps" and ref.endswith("-gone"), ref


@pytest.mark.parametrize("size", SIZES_FOR_BENCHMARKS)
def test_size_knob_gives_exactly_that_many_resources(size):
    for scenario_id in ("b-all-cr1-mrd-positive", "aml-cd33-unfit"):
        patient = generate(scenario_id, size=size, as_of=AS_OF)
        assert len(patient.bundle()["entry"]) == size


def test_a_size_below_the_minimum_keeps_every_decisive_fact():
    small = generate("b-all-second-relapse-post-hct", size=1, as_of=AS_OF)
    big = generate("b-all-second-relapse-post-hct", size=500, as_of=AS_OF)
    assert 15 < len(small.resources) < 40
    small_facts = extract_facts(small.resources, now=NOW, patient_id=small.patient_id)
    big_facts = extract_facts(big.resources, now=NOW, patient_id=big.patient_id)
    assert list(small_facts.iter_facts()) == list(big_facts.iter_facts())


def test_round_trip_finds_only_the_planted_problems(library):
    for scenario_id, bundle in library.items():
        facts = extract_facts(resources_of(bundle), now=NOW, patient_id=f"{scenario_id}-0")
        found = Counter(f.code for f in facts.findings)
        assert found == Counter(SCENARIOS[scenario_id].planted), (
            scenario_id, [f.message for f in facts.findings])
        if scenario_id != "data-quality-gaps":
            assert facts.age_years is not None and facts.lineage is not None, scenario_id
            assert facts.disease_status is not None, scenario_id


@pytest.mark.parametrize("seed", [1, 2024, 99991])
def test_other_seeds_and_indexes_plant_nothing_unintended(seed):
    """Jitter (ages, days, percentages, encodings) must never create a finding by accident."""
    for patient in generate_many(count=2, seed=seed, size=80, as_of=AS_OF):
        facts = extract_facts(patient.resources, now=NOW, patient_id=patient.patient_id)
        assert Counter(f.code for f in facts.findings) == Counter(patient.scenario.planted), (
            patient.patient_id, [f.message for f in facts.findings])


def test_the_facts_command_reads_a_written_bundle(tmp_path):
    assert main(["synth", "--scenario", "b-all-cr1-mrd-positive", "--as-of",
                 AS_OF.isoformat(), "--out", str(tmp_path)]) == 0
    out = io.StringIO()
    assert facts_command(str(tmp_path / "b-all-cr1-mrd-positive-0.json"), out,
                         profiles_dir=paths.profiles_dir(), policy=Policy()) == 0
    report = out.getvalue()
    assert "mrd = 0.003" in report and "by flow-cytometry" in report
    assert "Data-quality findings (0)" in report


def test_latest_result_wins_over_superseded_history():
    patient = generate("b-all-cd19-negative-after-car-t", as_of=AS_OF)
    cd19 = [r for r in patient.resources if r["resourceType"] == "Observation"
            and r["code"]["coding"][0]["code"] in ("cd19", "FC-CD19-PCT")]
    assert len(cd19) >= 3, "older positive results must be in the chart"
    facts = extract_facts(patient.resources, now=NOW, patient_id=patient.patient_id)
    assert facts.markers["cd19"].call == "negative"


def test_site_codes_are_exactly_the_example_map_and_it_loads(tmp_path):
    site_map = json.loads(SITE_MAP.read_text("utf-8"))
    (group,) = site_map["group"]
    assert group["source"] == SITE_LAB
    mapped = {e["code"]: e["target"][0]["code"] for e in group["element"]}
    assert mapped == {code: concept for concept, (code, _text) in noise.SITE_CODES.items()}

    profiles = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), profiles)
    shutil.copy(SITE_MAP, profiles / "ConceptMap-site-codes.json")
    clear_cache()
    try:
        term = load_terminology(profiles)
        for code, concept in mapped.items():
            (match,) = term.lookup(SITE_LAB, code)
            assert (match.concept, match.recognised_by) == (concept, "site-conceptmap")
        # Without the newer contract-coded result, the site-coded one is what the rules see.
        patient = generate("b-all-second-relapse-post-hct", as_of=AS_OF)
        keep = [r for r in patient.resources if not (
            r["resourceType"] == "Observation"
            and r["code"]["coding"][0].get("code") == "cd3-count")]
        facts = extract_facts(keep, now=NOW, patient_id=patient.patient_id, terminology=term)
        assert facts.cd3_count is not None
        assert facts.cd3_count.source.recognised_by == "site-conceptmap"
        full = extract_facts(patient.resources, now=NOW, patient_id=patient.patient_id,
                             terminology=term)
        assert full.findings == ()
        assert full.cd3_count is not None and full.cd3_count.source.recognised_by == "local-code"
    finally:
        clear_cache()


def test_hook_requests_follow_cds_hooks_and_carry_every_prefetch_key(library):
    bundle = library["b-all-cd19-negative-after-car-t"]
    prefetch = prefetch_for(bundle)
    assert set(prefetch) == set(PREFETCH)
    statements = prefetch["medicationStatements"]["entry"]
    assert [e["search"]["mode"] for e in statements] == ["match", "include"], \
        "a referenced Medication rides along as an _include"
    order = draft_order("inotuzumab", "b-all-cd19-negative-after-car-t-0")
    for hook in CONTEXT_MODELS:
        body = hook_request(bundle, hook, orders=[order])
        request = HookRequest.model_validate(body)
        CONTEXT_MODELS[hook].model_validate(request.context)
    selected = hook_request(bundle, "order-select", orders=[order])
    assert selected["context"]["selections"] == ["MedicationRequest/draft-inotuzumab"]
    with pytest.raises(ValueError, match="draft order"):
        hook_request(bundle, "order-sign")


def test_each_hook_request_round_trips_like_its_bundle(library):
    bundle = library["peds-kmt2a-second-relapse"]
    from_bundle = extract_facts(resources_of(bundle), now=NOW,
                                patient_id="peds-kmt2a-second-relapse-0")
    request = hook_request(bundle)
    from_request = extract_facts(list(request["prefetch"].values()), now=NOW,
                                 patient_id=request["context"]["patientId"])
    assert list(from_request.iter_facts()) == list(from_bundle.iter_facts())
