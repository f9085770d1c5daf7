"""The freshness gate: the service does not start on knowledge nobody has reviewed for too long.

The seeds age, labels change (issue 20), and a card that was right when it was last reviewed can
be wrong today without anything in the code noticing. So every catalogue entry records when it
was last reviewed (cards/README.md, "Review dates"), and start-up refuses, with one line naming
the entries, when any review is older than the site's limit
(`LEUKEMIA_CDS_REVIEW_MAX_MONTHS`, default 18). A site that has looked and decided to run anyway
says so explicitly with `LEUKEMIA_CDS_ACCEPT_STALE_REVIEW=<knowledge version>`: the acceptance
names the exact knowledge version it was given for, so it cannot carry over silently to new
knowledge (a new release with other stale entries is refused again until the site accepts that
version too). Accepted, start-up logs a warning naming the entries on every start.

"Today" is a parameter: the tests pass a date instead of freezing the clock.
"""

from __future__ import annotations

import calendar
import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from service.errors import CatalogueError
from service.render.catalogue import Catalogue

log = logging.getLogger(__name__)

MAX_MONTHS_ENV = "LEUKEMIA_CDS_REVIEW_MAX_MONTHS"
ACCEPT_ENV = "LEUKEMIA_CDS_ACCEPT_STALE_REVIEW"
SHOWN = 8  # ids named on the one line before "(+N more)"


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day ``months`` calendar months earlier (the month's last day when it is
    shorter: 31 August minus 6 months is 28 or 29 February)."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    return day.replace(year=year, month=month,
                       day=min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Freshness:
    """What the gate found: the oldest review date still allowed, and the entries older."""

    cutoff: datetime.date
    stale: tuple[str, ...]  # entry ids, oldest review first
    accepted: bool


def stale_entries(cat: Catalogue, today: datetime.date, max_months: int) -> Freshness:
    """Entries whose last review is older than ``max_months`` months before ``today``.

    An entry without a review date counts as stale (the loader refuses one anyway; this keeps
    the gate safe for a catalogue built some other way)."""
    cutoff = months_before(today, max_months)
    old = sorted((getattr(e, "reviewed", None) or datetime.date.min, e.id)
                 for e in cat.entries.values())
    return Freshness(cutoff, tuple(rid for day, rid in old if day < cutoff), accepted=False)


def _named(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:SHOWN])
    return shown + (f" (+{len(ids) - SHOWN} more)" if len(ids) > SHOWN else "")


def check_freshness(cat: Catalogue, *, today: datetime.date, max_months: int,
                    accept: str | None) -> Freshness:
    """Refuse stale knowledge (CatalogueError, one line), or log the site's acceptance of it.

    ``accept`` is the knowledge version the site accepted stale reviews for; it counts only when
    it is this catalogue's version."""
    found = stale_entries(cat, today, max_months)
    if not found.stale:
        return found
    what = (f"{len(found.stale)} catalogue entr{'y' if len(found.stale) == 1 else 'ies'} "
            f"last reviewed before {found.cutoff.isoformat()} (more than {max_months} months "
            f"ago, {MAX_MONTHS_ENV}): {_named(found.stale)}")
    if accept == cat.knowledge_version:
        log.warning(f"stale reviews accepted for knowledge {cat.knowledge_version} "
                    f"({ACCEPT_ENV}): {what}",
                    extra={"event": "stale_review_accepted", "count": len(found.stale)})
        return Freshness(found.cutoff, found.stale, accepted=True)
    if accept:
        hint = (f"{ACCEPT_ENV}={accept} accepts knowledge {accept}, not "
                f"{cat.knowledge_version}")
    else:
        hint = (f"have them reviewed, or set {ACCEPT_ENV}={cat.knowledge_version} to run this "
                "knowledge as it is")
    raise CatalogueError(f"card catalogue: knowledge {cat.knowledge_version}: {what}; {hint}")
