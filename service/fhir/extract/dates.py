"""FHIR dates, read the one way every reader needs them.

FHIR sends date, dateTime and instant, partial dates ("2024", "2024-03") and periods; the rules
compare aware datetimes. Reading them here, once, is what makes "the latest result wins" mean
the same thing for an Observation, a Condition and a MedicationStatement.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")


def parse_fhir_datetime(value: Any) -> datetime | None:
    """FHIR date / dateTime / instant → aware datetime (partial dates → their first instant)."""
    if not isinstance(value, str):
        return None
    v = value.strip()
    m = PARTIAL_DATE.match(v)
    try:
        if m:
            return datetime(int(m.group(1)), int(m.group(2) or 1), int(m.group(3) or 1), tzinfo=UTC)
        dt = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def period_time(period: Any) -> datetime | None:
    if isinstance(period, dict):
        return parse_fhir_datetime(period.get("end")) or parse_fhir_datetime(period.get("start"))
    return None


def period_start(period: Any) -> datetime | None:
    if isinstance(period, dict):
        return parse_fhir_datetime(period.get("start")) or parse_fhir_datetime(period.get("end"))
    return None


_UNDATED = datetime.min.replace(tzinfo=UTC)


def time_key(t: datetime | None) -> datetime:
    """A sort key where undated comes before every date: a dated result beats an undated one."""
    return t if t is not None else _UNDATED
