"""How a marker or an MRD result reads for the rules, and the text a card shows for it.

Rules ask questions ("is CD19 expressed?", "which MRD band?") rather than poke at raw fields, so
the interpretation conventions live in one place:

- a marker's explicit call (positive / dim / negative) wins over a bare percentage; a bare
  percentage is judged against the site threshold (CD20: the seed's own >= 20 % definition).
  A bare % under the site threshold reads ``negative`` for gating (options that need the
  antigen are not offered) but is ``below_cutoff``, not ``called_negative``: the seeds give no
  cut-off for CD19, CD22, CD33, CD123 or CD38, so a card says "below the site's cut-off (site
  policy, not evidence): confirm", never "negative", and it is never a contradiction (W6);
  a % of all cells (not of blasts) is read last, as "expressed" at that threshold or unknown,
  never negative, and ``MarkerReading.percent`` stays a % of blasts;
- MRD is positive only on a detected result or a measured level above zero; a "<" result is
  negative *at that limit of detection*; bands follow clinical-rules.md D4;
- everything unknown stays ``None`` so a rule can say what must be confirmed.

The functions take the site threshold rather than the Policy, so they read one result and
nothing else; Ctx caches what they return for the call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from service.decision.model import FactUsed
from service.decision.timing import day_text
from service.decision.vocabulary import FACT_LABEL, MARKER_LABEL, MRD_EPS, MRD_LABEL, MRD_LOW
from service.facts import Marker, MarkerFact, MrdFact

Expression = Literal["positive", "dim", "negative"]

_MRD = FACT_LABEL["mrd"]


@dataclass(frozen=True, slots=True)
class MarkerReading:
    """How a marker reads for the rules. ``status`` None: not in the record (or unreadable)."""

    marker: Marker
    status: Expression | None
    percent: float | None
    by_policy: bool  # judged from a bare % against the site threshold (not a lab call)
    fact: FactUsed

    @property
    def expressed(self) -> bool | None:
        """True for positive or dim, False for negative, None when unknown."""
        if self.status is None:
            return None
        return self.status != "negative"

    @property
    def called_negative(self) -> bool:
        """Negative by the lab's call (or, for CD20, under the seed's own 20 % definition):
        the only negative an order can be contradicted by."""
        return self.status == "negative" and not self.by_policy

    @property
    def below_cutoff(self) -> bool:
        """A bare % under the site's threshold: site policy, not evidence; confirm it."""
        return self.status == "negative" and self.by_policy


@dataclass(frozen=True, slots=True)
class MrdReading:
    """The latest MRD as the rules need it.

    ``state`` is positive / negative / None (unknown). ``band`` (positive only): "label"
    (>= 1e-3), "low" (1e-4 to < 1e-3), "sub" (detected below 1e-4) or None (level not given).
    ``below_1e4`` (negative only): True when the result is known to be < 1e-4, None when the
    assay's sensitivity is not stated.
    """

    state: Literal["positive", "negative"] | None
    band: Literal["label", "low", "sub"] | None
    fraction: float | None
    below_1e4: bool | None
    method: str | None
    fact: FactUsed


def percent_text(value: float) -> str:
    return f"{value:g} %"


def fraction_text(value: float) -> str:
    """MRD as a clinician reads it: both the fraction and the percentage."""
    return f"{value:.0e} ({value * 100:g} %)".replace("e-0", "e-")


def read_marker(name: Marker, m: MarkerFact | None, threshold: float) -> MarkerReading:
    """One marker's reading; ``threshold`` is the site's % for a bare percentage (policy)."""
    label = MARKER_LABEL[name]
    if m is None:
        return MarkerReading(name, None, None, False,
                             FactUsed(f"markers.{name}", label, "not in record"))
    status: Expression | None
    by_policy = False
    parts: list[str] = []
    if m.percent is not None:
        parts.append(f"{percent_text(m.percent)} of blasts")
    if m.call is not None:
        status = m.call
        parts.append(f"reported {m.call}")
    elif m.percent is not None:
        if name == "cd20":
            status = "positive" if m.percent >= 20 else "negative"
            parts.append("positive (CD20 >= 20 %, seed definition)" if status == "positive"
                         else "below the 20 % CD20 cut-off")
        else:
            by_policy = True
            status = "positive" if m.percent >= threshold else "negative"
            parts.append(f"positive at {threshold:g} % (site policy, not evidence)"
                         if status == "positive" else
                         f"below the site's {threshold:g} % cut-off (site policy, not evidence)")
    elif m.cells_percent is not None:
        # a % of ALL cells (LOINC "cells/100 cells"), not of blasts: may support "expressed",
        # never "negative" (MarkerFact.cells_support_expressed)
        parts.append(f"{m.cells_comparator or ''}{percent_text(m.cells_percent)} of all cells, "
                     "not of blasts")
        if m.cells_support_expressed(threshold):
            status, by_policy = "positive", True
            parts.append("read as expressed (site policy, not evidence)")
        else:
            status = None
            parts.append("says nothing about the blasts: unknown, not negative")
    else:
        status = None
        parts.append("value unreadable")
    fact = FactUsed(f"markers.{name}", label, ", ".join(parts), m.source.resource)
    return MarkerReading(name, status, m.percent, by_policy, fact)


def read_mrd(m: MrdFact | None) -> MrdReading:
    """One MRD result's reading: its state, band and the text a card shows for it."""
    if m is None:
        return MrdReading(None, None, None, None, None,
                          FactUsed("mrd", _MRD, "not in record"))
    state: Literal["positive", "negative"] | None = None
    band: Literal["label", "low", "sub"] | None = None
    below: bool | None = None
    if m.detected is True:
        state = "positive"
    elif m.detected is False:
        state = "negative"
    if m.below_lod:
        state = "negative"
        if m.fraction is not None:
            below = m.fraction <= MRD_LOW * (1 + MRD_EPS)
    elif m.fraction is not None and state is None:
        state = "positive" if m.fraction > 0 else "negative"
    if state == "positive" and m.fraction is not None and not m.below_lod:
        if m.fraction >= MRD_LABEL * (1 - MRD_EPS):
            band = "label"
        elif m.fraction >= MRD_LOW * (1 - MRD_EPS):
            band = "low"
        else:
            band = "sub"
    text = []
    if m.fraction is not None:
        text.append(("< " if m.below_lod else "") + fraction_text(m.fraction))
    if m.detected is not None:
        text.append("detected" if m.detected else "not detected")
    text.append(f"by {m.method}" if m.method else "method not recorded")
    text.append(day_text(m.effective) if m.effective else "date not recorded")
    fact = FactUsed("mrd", _MRD, ", ".join(text), m.source.resource)
    return MrdReading(state, band, m.fraction, below, m.method, fact)
