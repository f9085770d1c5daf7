"""Rendering reuses what does not depend on the patient, without giving up what is checked.

Every suggested resource is still a valid R4B resource (each catalogue suggestion, every variant
of its variables); cached text is keyed so that different variables never share it; what a
caller does to a returned card cannot reach the cache. (How fast it renders is measured by
bench/run.py, not asserted in a timed test.)
"""

from __future__ import annotations

import uuid

import jinja2
import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from service.paths import cards_dir
from service.render import Renderer, build_suggestion, load_catalogue
from service.render.cards import _freeze, _Memo, _uuids
from tests.decision_helpers import mrd, patient, run
from tests.test_catalogue import variants

CATALOGUE = load_catalogue(cards_dir())
MODELS = {"ServiceRequest": ServiceRequest, "MedicationRequest": MedicationRequest}
WITH_SUGGESTIONS = sorted(e.id for e in CATALOGUE.entries.values() if e.suggestions)

BUSY = patient(age=22, status="second-or-later-relapse",
               markers={"cd19": "dim", "cd22": 30, "cd20": 5}, blasts=60, ph="positive",
               kmt2a="positive", hct_planned=True, prior_hct=True, hepatic=True, neuro=True,
               cns="cns3", exposures=("blinatumomab", "inotuzumab", "dasatinib"),
               mrd_result=mrd(2e-3), cd3=100.0)


@pytest.mark.parametrize("rule_id", WITH_SUGGESTIONS)
def test_every_catalogue_suggestion_builds_a_valid_r4b_resource(rule_id: str) -> None:
    entry = CATALOGUE.entries[rule_id]
    built = 0
    for v in variants(dict(entry.sample)):
        for spec in entry.suggestions:
            try:
                if spec.when is not None and not spec.when(**v):
                    continue
                suggestion = build_suggestion(spec, v, patient_id="pat-9")
            except (jinja2.TemplateError, TypeError):  # a variant the rule never produces
                continue
            built += 1
            uuid.UUID(suggestion.uuid)
            for action in suggestion.actions:
                if action.type == "create":
                    resource = action.resource
                    MODELS[resource["resourceType"]].model_validate(resource)
                    assert resource["subject"] == {"reference": "Patient/pat-9"}
                    assert resource["status"] == "draft"
                else:
                    assert action.resourceId
    assert built, f"{rule_id}: no suggestion variant was built"


def test_rendered_suggestions_are_valid_r4b_for_a_busy_patient_on_every_order() -> None:
    renderer = Renderer(CATALOGUE)
    seen = 0
    for drug in (None, "blinatumomab", "tisagenlecleucel", "inotuzumab", "car-t"):
        recs = (run(BUSY, None, car_t=True) if drug == "car-t"
                else run(BUSY, drug) if drug else run(BUSY))
        for _ in range(2):  # the second call comes from the caches
            for card in renderer.render(recs, patient_id="pat-9"):
                for s in card.suggestions or []:
                    for a in s.actions:
                        if a.type == "create":
                            MODELS[a.resource["resourceType"]].model_validate(a.resource)
                            seen += 1
    assert seen > 20


def test_a_caller_changing_a_card_cannot_change_the_next_one() -> None:
    renderer = Renderer(CATALOGUE)
    recs = run(BUSY, "tisagenlecleucel")
    first = renderer.render(recs, patient_id="pat-9")
    before = [c.to_json() for c in renderer.render(recs, patient_id="pat-9")]
    for card in first:
        card.extension["org.leukemia-cds.recommendation"]["ids"].append("X")
        for s in card.suggestions or []:
            for a in s.actions:
                if a.resource:
                    a.resource["code"]["text"] = "tampered"
                    a.resource["subject"]["reference"] = "Patient/other"
    after = [c.to_json() for c in renderer.render(recs, patient_id="pat-9")]

    def strip(cards):
        return [{**c, "uuid": None, "suggestions": [{**s, "uuid": None}
                                                    for s in c.get("suggestions", [])]}
                for c in cards]
    assert strip(after) == strip(before)


def test_cache_keys_keep_types_apart() -> None:
    assert len({_freeze(True), _freeze(1), _freeze(1.0), _freeze("1")}) == 4
    assert _freeze(("a",)) != _freeze(["a"])
    assert _freeze({"b": 1, "a": (2,)}) == _freeze({"a": (2,), "b": 1})
    assert _freeze({"x": [{"k": "v"}]}) != _freeze({"x": [{"k": "w"}]})


def test_memo_is_bounded() -> None:
    memo = _Memo(size=3)
    for i in range(10):
        assert memo.get_or(i, lambda i=i: i * i) == i * i
    assert len(memo) <= 3


def test_uuids_are_distinct_version_4() -> None:
    ids = _uuids(50)
    assert len(set(ids)) == 50
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


