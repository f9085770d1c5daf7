"""The decision module's own plumbing: what rules hand over, and how a call's readings are kept.

Rules build their FactUsed and Recommendation objects and read Ctx's cached readings many times
a call, so these are tuned for speed; they must still behave as the frozen dataclasses and
cached properties they stand for.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

import pytest

from service.decision import RULES, FactUsed, Policy, Recommendation, dedupe
from service.decision.context import Ctx, per_call
from tests.decision_helpers import patient


def test_fact_used_and_recommendation_are_frozen_dataclasses() -> None:
    fact = FactUsed("markers.cd19", "CD19", "positive", "Observation/1")
    assert fact == FactUsed(name="markers.cd19", label="CD19", value="positive",
                            resource="Observation/1")
    assert hash(fact) == hash(FactUsed("markers.cd19", "CD19", "positive", "Observation/1"))
    assert FactUsed("age_years", "Age", "not in record").resource is None
    rec = Recommendation(id="CART-TISA", seeds=("000",), facts=(fact,))
    assert rec == Recommendation("CART-TISA", ("000",), (fact,), MappingProxyType({}), None)
    assert dict(rec.variables) == {} and rec.focus is None
    assert dataclasses.replace(rec, focus="tisagenlecleucel").focus == "tisagenlecleucel"
    assert [f.name for f in dataclasses.fields(Recommendation)] == \
        ["id", "seeds", "facts", "variables", "focus"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.id = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.value = "negative"  # type: ignore[misc]
    assert repr(fact) == ("FactUsed(name='markers.cd19', label='CD19', value='positive', "
                          "resource='Observation/1')")


def test_a_reading_is_computed_once_per_call() -> None:
    calls: list[int] = []

    class Probe:
        @per_call
        def value(self) -> int:
            """Documented."""
            calls.append(1)
            return len(calls)

    probe, other = Probe(), Probe()
    assert (probe.value, probe.value, other.value) == (1, 1, 2)
    assert len(calls) == 2 and Probe.value.__doc__ == "Documented."
    ctx = Ctx(patient(age=30), Policy())
    assert ctx.f_age is ctx.f_age and ctx.age == 30


def test_dedupe_keeps_one_per_id_focus_and_variables() -> None:
    def rec(rule: str, focus: str | None = None, **variables: object) -> Recommendation:
        return Recommendation(rule, ("000",), (), MappingProxyType(variables), focus)

    recs = [
        rec("CAU-BLIN-DRIVING", "blinatumomab", x=1),
        rec("CAU-BLIN-DRIVING", "inotuzumab", x=1),  # focus counts only for monitoring
        rec("MON-BLIN-ADMISSION", "blinatumomab", x=1),
        rec("MON-BLIN-ADMISSION", "inotuzumab", x=1),
        rec("MON-BLIN-ADMISSION", "blinatumomab", x=1),
        rec("CAU-BLIN-DRIVING", "blinatumomab", x=True),  # True is not 1
        rec("CAU-BLIN-DRIVING", None, x=2),
        rec("CAU-BLIN-DRIVING", None, x=1),
    ]
    kept = dedupe(recs, RULES)
    assert kept == [recs[0], recs[2], recs[3], recs[5], recs[6]]
