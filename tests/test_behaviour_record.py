"""Issue 17 moves every rule into a new shape; this keeps what the rules say exactly as it was.

The record (tests/behaviour/) holds every recommendation (id, facts, variables, focus, in the
order the old modules emitted them) and every rendered card for every synthetic scenario on
each hook (three seeds) and every vignette, taken before the first change. Remove with the
record when the reshaping is done.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.behaviour.record import bodies, call_clinical_layers, load

RECORDED = load()
CALLS = dict(bodies())


def test_the_record_covers_every_call_it_names() -> None:
    assert sorted(CALLS) == sorted(RECORDED)
    assert len(CALLS) > 300


def _canon(recs: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True) for r in recs)


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_rules_and_cards_are_unchanged(name: str) -> None:
    now = call_clinical_layers(CALLS[name])
    before = RECORDED[name]
    assert _canon(now["recs"]) == _canon(before["recs"]), name
    # The sequence in which rules run changed on purpose (the engine runs rules that read only
    # the patient first, then those that react to what fired); what a clinician sees, every
    # card with its order, text and facts, must not.
    assert now["cards"] == before["cards"], name
