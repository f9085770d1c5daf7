"""What a decision rule hands to the renderer: a catalogue id, the facts it read, its sources.

A `Recommendation` carries no card text. Wording, indicator, topic and the exact seed passages
live in the reviewable catalogue (`cards/`), keyed by `id`; the rule only says *that* it fired,
*on what* (facts with their resources), and *with which* template variables. Keeping text out of
Python is what lets clinicians review the catalogue without reading code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Literal

Family = Literal[
    "workup", "data-quality", "b-all", "car-t", "caution", "monitoring", "trial", "aml",
    "t-all", "order",
]


# Rules build a few dozen FactUsed and Recommendation per call. The __init__ a dataclass
# writes for a frozen class sets each field through object.__setattr__, which costs nearly as
# much as the rule that calls it; these two classes set their slots directly instead (they are
# still frozen: assigning a field afterwards raises FrozenInstanceError).


@dataclass(frozen=True, slots=True, init=False)
class FactUsed:
    """One fact a rule read, as shown on the card and in the provenance extension.

    `resource` is None for a fact the record lacks: the card lists it under "not in record"
    (missing is not negative) but the machine-readable extension only carries real values.
    """

    name: str  # PatientFacts path, e.g. "markers.cd19", "age_years", "mrd"
    label: str  # what a clinician reads, e.g. "CD19"
    value: str  # display text, e.g. "92 % of blasts (positive: site threshold 20 %)"
    resource: str | None = None

    def __init__(self, name: str, label: str, value: str, resource: str | None = None
                 ) -> None:
        _FACT_NAME(self, name)
        _FACT_LABEL(self, label)
        _FACT_VALUE(self, value)
        _FACT_RESOURCE(self, resource)


_FACT_NAME, _FACT_LABEL, _FACT_VALUE, _FACT_RESOURCE = (
    getattr(FactUsed, f.name).__set__ for f in fields(FactUsed))


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True, init=False)
class Recommendation:
    """A fired rule. `focus` names the drafted drug an order-hook recommendation speaks to."""

    id: str
    seeds: tuple[str, ...]
    facts: tuple[FactUsed, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    focus: str | None = None

    def __init__(self, id: str, seeds: tuple[str, ...], facts: tuple[FactUsed, ...] = (),
                 variables: Mapping[str, Any] = _EMPTY, focus: str | None = None) -> None:
        _REC_ID(self, id)
        _REC_SEEDS(self, seeds)
        _REC_FACTS(self, facts)
        _REC_VARIABLES(self, variables)
        _REC_FOCUS(self, focus)

    @property
    def missing(self) -> tuple[FactUsed, ...]:
        return tuple(f for f in self.facts if f.resource is None)

    @property
    def present(self) -> tuple[FactUsed, ...]:
        return tuple(f for f in self.facts if f.resource is not None)


_REC_ID, _REC_SEEDS, _REC_FACTS, _REC_VARIABLES, _REC_FOCUS = (
    getattr(Recommendation, f.name).__set__ for f in fields(Recommendation))
