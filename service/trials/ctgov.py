"""ClinicalTrials.gov API v2 `/studies` responses -> `RegistryTrial`s.

The response is `{"studies": [...], "nextPageToken": "..."}`, each study a `protocolSection` of
modules (identification, status, conditions, design, armsInterventions, eligibility,
contactsLocations). Anything a pre-screen would misread is refused with one line naming the
study: a study without an NCT id, an age that is not "<n> Years|Months|Weeks|Days|Hours|Minutes",
a missing status. A refused page imports nothing (the caller keeps the registry it had)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from service.trials.model import RegistryTrial, Site

NCT = re.compile(r"NCT\d{8}")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.I)
_PER_YEAR = {"year": 1.0, "month": 12.0, "week": 52.1775, "day": 365.25, "hour": 8766.0,
             "minute": 525960.0}


class RegistryInputError(ValueError):
    """A file or page that is not what the registry can hold; the message is one line."""


def parse_age(raw: Any, *, where: str) -> float | None:
    """Years as a float; None for no limit ("N/A", absent)."""
    if raw is None or (isinstance(raw, str) and raw.strip().upper() in {"", "N/A", "NA"}):
        return None
    match = _AGE.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise RegistryInputError(f"{where}: age {raw!r} is not '<number> Years' (or Months, "
                                 "Weeks, Days)")
    return float(match.group(1)) / _PER_YEAR[match.group(2).lower()]


def _texts(values: Any) -> tuple[str, ...]:
    return tuple(v.strip() for v in values if isinstance(v, str) and v.strip()) \
        if isinstance(values, list) else ()


def _date(raw: Any) -> date | None:
    if not isinstance(raw, str):
        return None
    try:
        return date.fromisoformat(raw if len(raw) == 10 else f"{raw[:7]}-01")
    except ValueError:
        return None


def _float(raw: Any) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def parse_study(study: Any, *, where: str) -> RegistryTrial:
    if not isinstance(study, dict) or not isinstance(study.get("protocolSection"), dict):
        raise RegistryInputError(f"{where}: no protocolSection")
    section = study["protocolSection"]

    def module(name: str) -> dict[str, Any]:
        value = section.get(name)
        return value if isinstance(value, dict) else {}

    ident = module("identificationModule")
    nct = ident.get("nctId")
    if not isinstance(nct, str) or not NCT.fullmatch(nct):
        raise RegistryInputError(f"{where}: no NCT id (identificationModule.nctId "
                                 f"{nct!r})")
    where = f"{where} ({nct})"
    status_module = module("statusModule")
    status = status_module.get("overallStatus")
    if not isinstance(status, str) or not status:
        raise RegistryInputError(f"{where}: no statusModule.overallStatus")
    eligibility = module("eligibilityModule")
    conditions = module("conditionsModule")
    interventions = module("armsInterventionsModule").get("interventions")
    sites = []
    for loc in module("contactsLocationsModule").get("locations") or []:
        if not isinstance(loc, dict):
            continue
        geo = loc.get("geoPoint")
        point: dict[str, Any] = geo if isinstance(geo, dict) else {}
        sites.append(Site(facility=str(loc.get("facility") or "").strip() or "site not named",
                          city=loc.get("city"), country=loc.get("country"),
                          status=loc.get("status"), lat=_float(point.get("lat")),
                          lon=_float(point.get("lon"))))
    last = status_module.get("lastUpdatePostDateStruct")
    return RegistryTrial(
        nct=nct,
        title=str(ident.get("briefTitle") or ident.get("officialTitle") or nct).strip(),
        acronym=ident.get("acronym") if isinstance(ident.get("acronym"), str) else None,
        status=status,
        phases=_texts(module("designModule").get("phases")),
        conditions=_texts(conditions.get("conditions")),
        keywords=_texts(conditions.get("keywords")),
        interventions=tuple(str(i.get("name")).strip() for i in interventions or []
                            if isinstance(i, dict) and i.get("name")),
        min_age_years=parse_age(eligibility.get("minimumAge"), where=f"{where} minimumAge"),
        max_age_years=parse_age(eligibility.get("maximumAge"), where=f"{where} maximumAge"),
        criteria=str(eligibility.get("eligibilityCriteria") or ""),
        sites=tuple(sites),
        last_update=_date(last.get("date") if isinstance(last, dict) else None),
    )


def parse_response(doc: Any, *, where: str) -> tuple[list[RegistryTrial], str | None]:
    """The trials of one `/studies` page and its `nextPageToken` (None on the last page)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("studies"), list):
        raise RegistryInputError(f"{where}: not a ClinicalTrials.gov API v2 /studies response "
                                 "(no \"studies\" list)")
    trials = [parse_study(s, where=f"{where}: study {i + 1}")
              for i, s in enumerate(doc["studies"])]
    token = doc.get("nextPageToken")
    return trials, token if isinstance(token, str) and token else None
