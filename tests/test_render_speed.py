"""Rendering reuses what does not depend on the patient, without giving up what is checked.

Every suggested resource is still a valid R4B resource (each catalogue suggestion, every variant
of its variables); cached text is keyed so that different variables never share it; what a
caller does to a returned card cannot reach the cache; a card's JSON is exactly what pydantic
would dump. (How fast it renders is measured by bench/run.py, not asserted in a timed test.)
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import jinja2
import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from service.decision import Recommendation
from service.hooks.models import CdsResponse, Coding, Link, Source
from service.paths import cards_dir
from service.render import Renderer, build_suggestion, load_catalogue
from service.render.cards import _freeze, _Memo, _variables_key
from service.render.uuids import uuid7s
from tests import test_render_summaries as summaries
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


def test_layout_keys_keep_types_and_values_apart() -> None:
    keys = {_variables_key({"x": v}) for v in (True, 1, 1.0, "1", None, (1,), [1], ("1",),
                                                (True,), {"k": 1}, {"k": True})}
    assert len(keys) == 11
    assert _variables_key({"a": 1, "b": "x"}) == _variables_key({"a": 1, "b": "x"})
    assert _variables_key({"a": 1}) != _variables_key({"a": 1, "b": None})
    assert _variables_key({"trials": ("NCT1", "NCT2")}) != \
        _variables_key({"trials": ("NCT2", "NCT1")})


def test_a_cached_layout_is_never_shown_for_other_variables() -> None:
    """Two calls that differ only in one variable's type or value get their own text."""
    renderer = Renderer(CATALOGUE)
    rule = "ALL-RR-HIGH-BURDEN-INO-FIRST"
    sample = dict(CATALOGUE.entries[rule].sample)
    seeds = ("000", "001")
    details = set()
    for blasts in (68, 68.0, 72):
        rec = Recommendation(rule, seeds, variables={**sample, "blasts": blasts})
        first = renderer.render([rec], patient_id="p")[0]
        again = renderer.render([rec], patient_id="p")[0]  # from the cached layout
        assert again.detail == first.detail and again.summary == first.summary
        details.add((first.summary, first.detail))
    fresh = {(c.summary, c.detail) for blasts in (68, 68.0, 72)
             for c in Renderer(CATALOGUE).render(
                 [Recommendation(rule, seeds, variables={**sample, "blasts": blasts})],
                 patient_id="p")}
    assert details == fresh and len(details) == 2  # 68 and 68.0 read the same; 72 does not


def test_json_is_what_pydantic_dumps_for_every_vignette_and_scenario(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`to_json` reads the fields itself (and reuses the JSON of constant parts): it must give
    exactly pydantic's ``model_dump(mode="json", exclude_none=True)``, key order included."""
    # a renderer of its own: the summaries tests count fallbacks as the shared one fills
    monkeypatch.setattr(summaries, "ADVISOR",
                        dataclasses.replace(summaries.ADVISOR, renderer=Renderer(CATALOGUE)))
    seen = 0
    for name, cards in summaries.every_case():
        for card in cards:
            assert list(card.to_json().items()) == \
                list(card.model_dump(mode="json", exclude_none=True).items()), name
            seen += 1
        response = CdsResponse(cards=cards)
        assert response.to_json() == response.model_dump(mode="json", exclude_none=True), name
    assert seen > 100
    assert CdsResponse().to_json() == {"cards": []}


def test_constant_parts_are_frozen_and_dumped_once() -> None:
    card = Renderer(CATALOGUE).render(run(BUSY), patient_id="pat-9")[0]
    parts = [card.source, card.source.topic, *(card.overrideReasons or [])]
    assert all(isinstance(p, Source | Coding | Link) for p in parts)
    for part in parts:
        assert part.to_json() is part.to_json()
        with pytest.raises(ValidationError, match="frozen"):
            setattr(part, next(iter(type(part).model_fields)), "changed")
    again = Source(label=card.source.label, url=card.source.url, topic=card.source.topic)
    assert again == card.source and hash(again) == hash(card.source)


def test_memo_is_bounded() -> None:
    memo = _Memo(size=3)
    for i in range(10):
        assert memo.get_or(i, lambda i=i: i * i) == i * i
    assert len(memo) <= 3


def test_uuids_are_distinct_time_ordered_version_7() -> None:
    before = time.time_ns() // 1_000_000
    ids = uuid7s(50)
    later = uuid7s(50)
    after = time.time_ns() // 1_000_000
    assert len(set(ids + later)) == 100
    for i in ids + later:
        parsed = uuid.UUID(i)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122 and str(parsed) == i
        assert before <= parsed.int >> 80 <= after  # the first 48 bits: Unix time in ms
    # a later call's ids sort after an earlier call's (to the millisecond), so index inserts
    # append instead of landing on random pages
    assert min(uuid.UUID(i).int >> 80 for i in later) >= max(uuid.UUID(i).int >> 80 for i in ids)


