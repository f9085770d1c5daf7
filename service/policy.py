"""Site policy: the choices the seeds leave to each hospital, as one object passed down.

A knob is a field of ``Policy`` declared with ``knob(...)``: its default, the environment
variable that sets it (``LEUKEMIA_CDS_<ENV>``), its allowed range and one line for the README's
configuration table (a test checks every knob has its row). ``config.Settings`` reads the
variables and builds one ``Policy`` at start-up; the extractor and the rules receive it and
never read the environment or fall back to a default of their own. Cards label what follows
from policy as site policy, not evidence.

Adding a knob: a field here and its README row; nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Knob:
    env: str  # the variable's name after LEUKEMIA_CDS_
    low: float
    high: float
    doc: str  # what the README's row says


def knob(default: Any, *, env: str, low: float, high: float, doc: str) -> Any:
    """A documented policy field (see the module docstring)."""
    return field(default=default, metadata={"knob": Knob(env, low, high, doc)})


@dataclass(frozen=True, slots=True)
class Policy:
    """Site policy the rules apply; not evidence, and labelled as such on cards."""

    marker_positive_percent: float = knob(
        20.0, env="MARKER_POSITIVE_PERCENT", low=1, high=100,
        doc="a bare marker percentage (no positive/negative call) at or above this counts as "
            "expressed; the seeds define a cut-off only for CD20 (>= 20 %)")
    # The seeds give no time after which a recorded grade stops describing the patient. CRS and
    # ICANS are graded at least daily while they last, so a grade a week old with none since
    # is no longer what the patient has now; 7 days still covers a weekend or a transfer without
    # a new grade, and the blinatumomab neurotoxicity onset the seeds give (median day 7, 002).
    toxicity_current_days: int = knob(
        7, env="TOXICITY_CURRENT_DAYS", low=1, high=60,
        doc="a recorded CRS / ICANS grade counts as current (read by the rules) for this many "
            "days, and only when dated on or after the latest CAR T infusion or blinatumomab "
            "course start; the seeds give no such window")

    @classmethod
    def knobs(cls) -> dict[str, tuple[str, Knob, Any]]:
        """Environment name -> (field, knob, default), for parsing and for the README check."""
        out: dict[str, tuple[str, Knob, Any]] = {}
        for f in fields(cls):
            k: Knob = f.metadata["knob"]
            out[k.env] = (f.name, k, None if f.default is MISSING else f.default)
        return out

    @classmethod
    def parse(cls, raw: Mapping[str, str]) -> Policy:
        """Build from raw values by environment name; ValueError names the variable."""
        values: dict[str, Any] = {}
        for env, (name, k, default) in cls.knobs().items():
            text = raw.get(env)
            if text is None or text.strip() == "":
                continue
            kind = type(default)
            try:
                value = kind(text.strip())
            except ValueError:
                what = "a whole number" if kind is int else "a number"
                raise ValueError(f"{env}={text!r}: must be {what}") from None
            if not k.low <= value <= k.high:
                raise ValueError(f"{env}={text!r}: must be between {k.low:g} and {k.high:g}")
            values[name] = value
        return cls(**values)
