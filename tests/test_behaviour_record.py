"""Issue 17 moves every rule into a new shape; this keeps what the rules say exactly as it was.

The record (tests/behaviour/) holds every recommendation (id, facts, variables, focus, in the
order the old modules emitted them) and every rendered card for every synthetic scenario on
each hook (three seeds) and every vignette, taken before the first change. Remove with the
record when the reshaping is done.
"""

from __future__ import annotations

import ast
import json
from typing import Any

import pytest

from tests.behaviour.record import bodies, call_clinical_layers, load

RECORDED = load()
CALLS = dict(bodies())


def test_the_record_covers_every_call_it_names() -> None:
    assert sorted(CALLS) == sorted(RECORDED)
    assert len(CALLS) > 300


# Words a clinician reads that moved from Python into the catalogue on purpose: the variable
# now names what the template spells out (the cards, compared whole, must read the same).
_LIMITS = {"tisagenlecleucel (up to 25 years)": "tisagenlecleucel",
           "brexucabtagene autoleucel (adults)": "brexucabtagene",
           "obecabtagene autoleucel (adults)": "obecabtagene",
           "brexucabtagene and obecabtagene autoleucel (adults)": "adult-car-t",
           "inotuzumab ozogamicin (adult label)": "inotuzumab",
           "rituximab (benefit established under 60)": "rituximab",
           "frontline trials for patients over 55": "frontline-trials",
           "gemtuzumab ozogamicin's relapsed/refractory label (adults)": "gemtuzumab"}


def _moved(rec: dict[str, Any]) -> dict[str, Any]:
    if rec["id"] != "DQ-AGE-UNKNOWN":
        return rec
    depends = tuple(_LIMITS[d] for d in ast.literal_eval(rec["variables"]["depends"]))
    return {**rec, "variables": {**rec["variables"], "depends": repr(depends)}}


def _canon(recs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in recs)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_rules_and_cards_are_unchanged(name: str) -> None:
    now = call_clinical_layers(CALLS[name])
    before = RECORDED[name]
    assert _canon(now["recs"]) == _canon([_moved(r) for r in before["recs"]]), name
    # The sequence in which rules run changed on purpose (the engine runs rules that read only
    # the patient first, then those that react to what fired); what a clinician sees, every
    # card with its order, text and facts, must not.
    assert now["cards"] == before["cards"], name
