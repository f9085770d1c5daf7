"""Order in time: whether a dated fact comes after an event (CAR T, allo-HCT, a drug).

Rules that say "after X" compare dates, and a missing or same-day date must leave the order
unknown rather than be guessed either way; these helpers are the one place that decides it, by
calendar day (the record mixes naive and aware times, and the day is what a clinician means).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

Timing = Literal["after", "before", "unknown"]
"""Where a dated fact falls against the latest of some events (CAR T, allo-HCT, a drug)."""


def day_text(when: datetime) -> str:
    return when.date().isoformat()


def timing(when: datetime | None, events: Iterable[datetime | None]) -> Timing | None:
    """Whether ``when`` is after the *latest* of ``events``, by calendar day; None: no events.

    "Relapse after CAR T" is a claim about order in time, so it needs both dates. A fact dated
    before the latest event describes the patient before it ("before"); a missing date on
    either side, an undated event (it may be the latest), or the same calendar day leave the
    order unknown, and the rule must say what to confirm rather than assume either way.
    """
    dates = list(events)
    if not dates:
        return None
    days = [d.date() for d in dates if d is not None]  # dates: naive and aware times mix
    if when is None:
        return "unknown"
    if days and max(days) > when.date():
        return "before"
    if len(days) < len(dates) or max(days) == when.date():
        return "unknown"
    return "after"


def follows_any(when: datetime | None, events: Iterable[datetime | None]) -> bool:
    """True only when ``when`` is known to fall on a later day than at least one event.

    For "lost after targeted therapy": a result after any course of the drug is after it.
    """
    return when is not None and any(d is not None and d.date() < when.date() for d in events)


def order_gap(what: str, fact_label: str, fact_date: datetime | None,
              events: Iterable[datetime | None], event: str) -> str:
    """The "confirm first" line for an unknown order in time: which date is missing."""
    dates = list(events)
    if fact_date is None:
        why = f"{fact_label} date not recorded"
    elif any(d is None for d in dates):
        why = f"{event} date not recorded"
    else:
        why = f"recorded the same day as the {event}"
    return f"that {what} came after the {event} ({why})"
