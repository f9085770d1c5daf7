"""Which of the collected results stands: the rules of evidence of input-contract.md.

The latest effective time wins (dated beats undated); two different values at that time are a
conflict, reported, and the fact is left unset rather than guessed; a result nobody could read
that is as recent as the latest readable one leaves no current value. In one place so that every
kind of fact, simple, marker or MRD, is judged by the same rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast, get_args

from pydantic import ValidationError

from service.facts import Fact, FindingCode, MarkerFact, MrdFact, MrdMethod, PatientFacts
from service.fhir.extract.collector import Cand, Collector, MarkerCand, MrdCand, num_key
from service.fhir.extract.dates import time_key


def _latest_group(items: list[Any], when: Callable[[Any], datetime | None]) -> list[Any]:
    if len(items) == 1:  # the usual case: one result per concept
        return list(items)
    latest = max(time_key(when(i)) for i in items)
    return [i for i in items if time_key(when(i)) == latest]


def superseded(
    col: Collector,
    key: str,
    cands: list[Any],
    name: str,
    concept: str | None,
    code: FindingCode,
    *,
    gated: bool = False,
) -> bool:
    """True when an unreadable result is as recent as the latest readable one.

    An older readable value must not stand in for a newer result nobody could read: the
    newer one may say something different (e.g. MRD detected after an earlier negative).
    """
    stones = col.tombstones.get(key)
    if not stones or not cands:
        return False
    latest = max(time_key(c.source.effective) for c in cands)
    refs = {c.source.resource for c in cands if time_key(c.source.effective) == latest}
    newer = [ref for t, ref in stones if time_key(t) >= latest and ref not in refs]
    if newer:
        message = (
            f"{name}: the latest result ({newer[0]}) is unreadable; earlier results are not "
            "used as current"
        )
        (col.gated_finding if gated else col.finding)(code, newer[0], message, concept)
    return bool(newer)


_FACT_MODELS: dict[str, type[Fact[Any]]] = {
    name: args[0]
    for name, info in PatientFacts.model_fields.items()
    if (args := get_args(info.annotation))
    and isinstance(args[0], type)
    and issubclass(args[0], Fact)
}
"""PatientFacts field → its parametrised ``Fact[T]`` class."""


def typed_fact(field_name: str, **values: Any) -> Fact[Any]:
    """A Fact built as the ``Fact[T]`` of its PatientFacts field.

    PatientFacts validates a plain ``Fact`` again into its field's ``Fact[T]``: a second pydantic
    validation of every fact. Built typed, it is taken as it is. A value that does not fit ``T``
    gets the plain Fact, so that PatientFacts rejects it exactly as it always did.
    """
    try:
        return _FACT_MODELS.get(field_name, Fact)(**values)
    except ValidationError:
        return Fact(**values)


def resolve(
    col: Collector, name: str, cands: list[Cand], concept: str | None = None
) -> Fact[Any] | None:
    if not cands or superseded(col, name, cands, name, concept, "unreadable-value"):
        return None
    group = _latest_group(cands, lambda c: c.source.effective)
    keys = {c.key for c in group}
    if len(keys) > 1:
        values = ", ".join(f"{c.comparator or ''}{c.value} ({c.source.resource})" for c in group)
        when = group[0].source.effective
        col.finding(
            "conflict",
            group[0].source.resource,
            f"{name}: different values at the same time "
            f"({when.isoformat() if when else 'undated'}): {values}; not used",
            concept or name,
        )
        return None
    first = group[0]
    others = tuple(c.source for c in group[1:] if c.source.resource != first.source.resource)
    return typed_fact(
        name, value=first.value, source=first.source, supporting=others, comparator=first.comparator
    )


def _marker_text(c: MarkerCand) -> str:
    parts = [c.call or ""]
    if c.percent is not None:
        parts.append(f"{c.comparator or ''}{c.percent:g}%")
    return " ".join(p for p in parts if p)


def resolve_marker(col: Collector, marker: str, cands: list[MarkerCand]) -> MarkerFact | None:
    """The standing result of one marker.

    A % of all cells (``of_cells``) is a weaker kind of evidence, judged on its own: the latest
    call or % of blasts stands whenever there is one, and a % of cells is used only when the
    record holds no call or % of blasts at all (when those conflict or are superseded, the
    marker is unknown: the weaker evidence does not stand in for them).
    """
    blasts = [c for c in cands if not c.of_cells]
    cells = [c for c in cands if c.of_cells]
    if not blasts:
        return _cells_only(col, marker, cells)
    fact = _resolve_blasts(col, marker, blasts)
    if fact is None or not cells:
        return fact
    extra = _cells_only(col, marker, cells)
    if extra is None:
        return fact
    return fact.model_copy(
        update={
            "cells_percent": extra.cells_percent,
            "cells_comparator": extra.cells_comparator,
            "cells_source": extra.cells_source,
        }
    )


def _cells_only(col: Collector, marker: str, cands: list[MarkerCand]) -> MarkerFact | None:
    """The latest % of all cells by the same rules of evidence (its own unreadable results
    supersede it under the key ``<marker>:cells``), as a MarkerFact with only that. Its findings
    are gated (collector.gated_findings): these codes are routine labs on most charts."""
    key = f"{marker}:cells"
    name = f"{marker.upper()} % of cells"
    if superseded(col, key, cands, name, marker, "unreadable-value", gated=True):
        return None
    group = _latest_group(cands, lambda c: c.source.effective)
    if len({(num_key(c.percent), c.comparator) for c in group}) > 1:
        _conflict(col.gated_finding, group, name, marker)
        return None
    first = group[0]
    return MarkerFact(
        marker=marker,  # type: ignore[arg-type]
        source=first.source,
        supporting=tuple(c.source for c in group[1:] if c.source != first.source),
        cells_percent=first.percent,
        cells_comparator=first.comparator,  # type: ignore[arg-type]
        cells_source=first.source,
    )


def _conflict(report: Callable[..., None], group: list[MarkerCand], name: str,
              marker: str) -> None:
    """Different marker results at one time: reported, none used."""
    described = ", ".join(f"{_marker_text(c)} ({c.source.resource})" for c in group)
    report("conflict", group[0].source.resource,
           f"{name}: different results at the same time: {described}; not used", marker)


def _resolve_blasts(col: Collector, marker: str, cands: list[MarkerCand]) -> MarkerFact | None:
    if superseded(col, marker, cands, marker.upper(), marker, "unreadable-value"):
        return None
    group = _latest_group(cands, lambda c: c.source.effective)
    percents = {(num_key(c.percent), c.comparator) for c in group if c.percent is not None}
    calls = {c.call for c in group if c.call is not None}
    if len(percents) > 1 or len(calls) > 1:
        _conflict(col.finding, group, marker.upper(), marker)
        return None
    with_percent = next((c for c in group if c.percent is not None), None)
    with_call = next((c for c in group if c.call is not None), None)
    main = with_call or with_percent or group[0]
    supporting = tuple(c.source for c in group if c.source != main.source)
    return MarkerFact(
        marker=marker,  # type: ignore[arg-type]
        percent=with_percent.percent if with_percent else None,
        comparator=with_percent.comparator if with_percent else None,  # type: ignore[arg-type]
        call=main.call if with_call else None,  # type: ignore[arg-type]
        unit=with_percent.unit if with_percent else None,
        source=main.source,
        percent_source=with_percent.source if with_percent else None,
        supporting=supporting,
    )


def mrd_facts(col: Collector) -> tuple[MrdFact | None, tuple[MrdFact, ...]]:
    by_time: dict[datetime, list[MrdCand]] = defaultdict(list)
    for c in col.mrd:
        by_time[time_key(c.source.effective)].append(c)
    history: list[MrdFact] = []
    latest: MrdFact | None = None
    latest_time = max(by_time) if by_time else None
    if superseded(col, "mrd", col.mrd, "MRD", "mrd", "unreadable-mrd"):
        latest_time = None  # history stays; no current MRD
    for when in sorted(by_time):
        group = by_time[when]
        methods = {c.method for c in group} - {None}
        if len({c.key for c in group}) > 1 or len(methods) > 1:
            described = ", ".join(
                f"{c.parsed.raw} by {c.method or 'unstated method'} ({c.source.resource})"
                for c in group
            )
            col.finding(
                "conflict",
                group[0].source.resource,
                f"MRD: different results at the same time: {described}; not used",
                "mrd",
            )
            continue
        c = group[0]
        fact = MrdFact(
            fraction=c.parsed.fraction,
            comparator=c.parsed.comparator,
            below_lod=c.parsed.below_lod,
            detected=c.parsed.detected,
            method=cast("MrdMethod | None", next(iter(methods), None)),  # the model checks it
            raw=c.parsed.raw,  # type: ignore[arg-type]
            source=c.source,
        )
        history.append(fact)
        if when == latest_time:
            latest = fact
    return latest, tuple(history)


def dedup_events(events: list[Any]) -> list[Any]:
    """Same event recorded twice (Procedure + MedicationAdministration, same day) → once."""
    out: list[Any] = []
    for ev in sorted(events, key=lambda e: (e.date is None, time_key(e.date), e.source.resource)):
        prev = out[-1] if out else None
        if (
            prev is not None
            and ev.date is not None
            and prev.date is not None
            and prev.date.date() == ev.date.date()
            and getattr(prev, "product", None) in (None, getattr(ev, "product", None))
        ):
            if getattr(prev, "product", None) is None and getattr(ev, "product", None):
                out[-1] = ev
            continue
        out.append(ev)
    return out
