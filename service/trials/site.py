"""The site's own open trials: a FHIR R4 Bundle of ResearchStudy resources (the site file,
`LEUKEMIA_CDS_SITE_TRIALS`), read and checked at start-up.

Each ResearchStudy says whether a study is open here (`status` active) and whom to call
(`contact`), and names the research team a referral is addressed to (`principalInvestigator`,
a Practitioner, PractitionerRole or Organization reference). Its NCT number (an identifier of
system https://clinicaltrials.gov, or a value NCT + 8 digits) ties it to the registry; a study
without one is a site-only study, screened on its own `condition` and, when the site gives them,
the ages of a contained `enrollment` Group (characteristic `age`, a Range in years). A file
that is not such a Bundle stops start-up with one line naming the entry and the problem."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fhir.resources.R4B.researchstudy import ResearchStudy
from pydantic import ValidationError

from service import jsonio
from service.errors import StartupError
from service.trials.ctgov import NCT
from service.trials.model import SiteStudy

CTGOV_SYSTEMS = {"https://clinicaltrials.gov", "http://clinicaltrials.gov",
                 "https://www.clinicaltrials.gov", "http://www.clinicaltrials.gov"}
# ResearchStudy.status (R4, required binding research-study-status)
STATUSES = {"active", "administratively-completed", "approved", "closed-to-accrual",
            "closed-to-accrual-and-intervention", "completed", "disapproved", "in-review",
            "temporarily-closed-to-accrual", "temporarily-closed-to-accrual-and-intervention",
            "withdrawn"}
TEAM_TYPES = ("Practitioner/", "PractitionerRole/", "Organization/")
_YEARS = {"a": 1.0, "year": 1.0, "years": 1.0, "mo": 1 / 12, "month": 1 / 12,
          "months": 1 / 12}


class SiteTrialsError(StartupError, ValueError):
    """The site file cannot be used; the message is one line."""


def load_site_trials(path: Path) -> tuple[SiteStudy, ...]:
    where = f"LEUKEMIA_CDS_SITE_TRIALS {path}"
    try:
        doc = jsonio.read_file(path)
    except jsonio.FileProblem as exc:
        raise SiteTrialsError(f"{where}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        raise SiteTrialsError(f"{where}: not a FHIR Bundle of ResearchStudy resources")
    studies = []
    seen: set[str] = set()
    for i, entry in enumerate(doc.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        here = f"{where}: entry {i + 1}"
        if not isinstance(resource, dict) or resource.get("resourceType") != "ResearchStudy":
            kind = resource.get("resourceType") if isinstance(resource, dict) else None
            raise SiteTrialsError(f"{here}: a {kind or 'missing'} resource, not a "
                                  "ResearchStudy")
        study = _study(resource, here)
        key = study.nct or study.local_id
        if key in seen:
            raise SiteTrialsError(f"{here}: {key} is listed twice")
        seen.add(key)
        studies.append(study)
    return tuple(studies)


def _study(resource: dict[str, Any], where: str) -> SiteStudy:
    try:
        rs = ResearchStudy.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first.get("loc", ()))
        raise SiteTrialsError(f"{where}: not valid FHIR R4 ResearchStudy ({path}: "
                              f"{first.get('msg')})") from None
    if not rs.id:
        raise SiteTrialsError(f"{where}: the ResearchStudy has no id")
    where = f"{where} (ResearchStudy/{rs.id})"
    if rs.status not in STATUSES:
        raise SiteTrialsError(f"{where}: status {rs.status!r} is not a ResearchStudy status")
    nct = None
    for ident in rs.identifier or []:
        value = (ident.value or "").strip()
        if (ident.system or "").rstrip("/") in CTGOV_SYSTEMS or NCT.fullmatch(value):
            if not NCT.fullmatch(value):
                raise SiteTrialsError(f"{where}: ClinicalTrials.gov identifier {value!r} is "
                                      "not NCT followed by 8 digits")
            nct = value
    contact = None
    for detail in rs.contact or []:
        parts = [detail.name] + [t.value for t in detail.telecom or [] if t.value]
        contact = ", ".join(p for p in parts if p) or None
        if contact:
            break
    team = rs.principalInvestigator.reference if rs.principalInvestigator else None
    if team is not None and not team.startswith(TEAM_TYPES):
        raise SiteTrialsError(f"{where}: principalInvestigator {team!r} is not a Practitioner,"
                              " PractitionerRole or Organization reference")
    conditions = tuple(
        text for c in rs.condition or [] for text in
        [c.text, *[coding.display for coding in c.coding or []]] if text)
    if nct is None and not conditions:
        raise SiteTrialsError(f"{where}: a site-only study (no NCT number) needs a condition "
                              "to be matched on")
    low, high = _ages(rs, resource, where)
    return SiteStudy(local_id=rs.id, title=rs.title or nct or rs.id, nct=nct, status=rs.status,
                     contact=contact, research_team=team, conditions=conditions,
                     min_age_years=low, max_age_years=high)


def _ages(rs: ResearchStudy, raw: dict[str, Any], where: str) -> tuple[float | None, float | None]:
    """Ages from the contained Group `enrollment` points at (characteristic code text or
    coding code 'age', valueRange), in years; (None, None) when the site gives none."""
    refs = {(e.reference or "").removeprefix("#") for e in rs.enrollment or []}
    for group in raw.get("contained") or []:
        if group.get("resourceType") != "Group" or group.get("id") not in refs:
            continue
        for ch in group.get("characteristic") or []:
            code = ch.get("code") or {}
            names = {str(code.get("text", "")).lower(),
                     *(str(c.get("code", "")).lower() for c in code.get("coding") or [])}
            if "age" not in names or "valueRange" not in ch:
                continue
            return (_years(ch["valueRange"].get("low"), where),
                    _years(ch["valueRange"].get("high"), where))
    return None, None


def _years(quantity: Any, where: str) -> float | None:
    if quantity is None:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").lower()
    value = quantity.get("value")
    if unit not in _YEARS or not isinstance(value, int | float):
        raise SiteTrialsError(f"{where}: enrollment age {quantity!r} is not a value in years "
                              "(a) or months (mo)")
    return float(value) * _YEARS[unit]

