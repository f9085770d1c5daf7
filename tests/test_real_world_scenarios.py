"""`leukemia-cds synth`'s real-world scenarios (issue 18): patients encoded the mCODE, Genomics
Reporting, ICD-10-CM, CPT / ICD-10-PCS and RxNorm way are read in full, not set aside."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.decision import decide
from service.fhir.accounting import account
from service.policy import Policy
from service.synth.generator import generate
from tests.fhir_helpers import extract_facts

REAL_WORLD = ("mcode-b-all-relapse", "genomics-ph-t315i", "icd10-t-all-morphology",
              "icd10-aml-subtype", "billing-codes-post-hct", "pcs-car-t-relapse",
              "etv6-runx1-child")
# the encodings these scenarios plant: none may end up on the worklist as "out of scope"
PLANTED = ("icd-10-cm", "11150-0", "69548-6", "81291-7", "101119-6", "51293-9", "8126-5",
           "78219-3", "ama-assn.org/go/cpt", "ICD10 XW033J7", "1597267", "1045402", "Truxima")


def _facts(sid: str, seed: int = 0):
    patient = generate(sid, seed=seed)
    now = datetime.combine(patient.as_of, datetime.min.time(), tzinfo=UTC) \
        if not isinstance(patient.as_of, datetime) else patient.as_of
    resources = list(patient.resources)
    return resources, extract_facts(resources, now=now, patient_id=patient.patient_id)


@pytest.mark.parametrize("sid", REAL_WORLD)
def test_every_planted_encoding_is_read_not_set_aside(sid: str) -> None:
    resources, facts = _facts(sid)
    accounting = account(resources, facts)
    worklist = " | ".join(codes for codes, _ in accounting.worklist)
    # ETV6::RUNX1 is about nothing the rules read: set aside, as any out-of-scope result
    planted = [p for p in PLANTED if not (sid == "etv6-runx1-child" and p == "69548-6")]
    assert not [p for p in planted if p in worklist], worklist
    assert not facts.findings, facts.findings


def test_the_etv6_runx1_child_is_not_ph_positive() -> None:
    _, facts = _facts("etv6-runx1-child")
    assert facts.ph is None
    ids = {r.id for r in decide(facts, hook="patient-view", policy=Policy())}
    assert not {i for i in ids if i.startswith("ALL-PH")}


def test_a_relapse_without_its_number_asks_for_it() -> None:
    _, facts = _facts("mcode-b-all-relapse")
    assert facts.disease_status.value == "relapse"
    assert facts.lineage.value == "b-all" and facts.ph.value == "negative"
    [first] = [r for r in decide(facts, hook="patient-view", policy=Policy())
               if r.id == "ALL-RR-FIRST-RELAPSE"]
    assert any("relapse number" in c for c in first.variables["confirm"])


def test_t_all_comes_from_the_morphology_and_the_generic_variant_never_decides() -> None:
    _, t_all = _facts("icd10-t-all-morphology")
    assert t_all.lineage.value == "t-all"
    _, ph = _facts("genomics-ph-t315i")
    assert ph.ph.value == "positive" and ph.t315i.value == "detected"
