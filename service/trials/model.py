"""A registry trial as the pre-screen reads it: plain frozen data, no I/O.

What the registry holds is what ClinicalTrials.gov says of a study, reduced to the fields a
pre-screen can use (conditions, ages, status, phases, interventions, eligibility text, sites),
plus where it came from and when it was refreshed. Nothing here judges a patient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

# ClinicalTrials.gov overallStatus values a trial prompt may show: the others (COMPLETED,
# TERMINATED, WITHDRAWN, ACTIVE_NOT_RECRUITING, SUSPENDED, ...) are never offered.
OPEN_STATUSES = frozenset({"RECRUITING", "NOT_YET_RECRUITING"})
STATUS_TEXT = {
    "RECRUITING": "recruiting",
    "NOT_YET_RECRUITING": "not yet recruiting",
    "ACTIVE_NOT_RECRUITING": "active, not recruiting",
    "ENROLLING_BY_INVITATION": "enrolling by invitation",
    "COMPLETED": "completed",
    "TERMINATED": "terminated",
    "WITHDRAWN": "withdrawn",
    "SUSPENDED": "suspended",
    "UNKNOWN": "status unknown",
}
PHASE_TEXT = {"EARLY_PHASE1": "early phase 1", "PHASE1": "phase 1", "PHASE2": "phase 2",
              "PHASE3": "phase 3", "PHASE4": "phase 4", "NA": "phase not applicable"}


@dataclass(frozen=True)
class Site:
    """A location of the study, with its coordinates when the registry gives them."""

    facility: str
    city: str | None = None
    country: str | None = None
    status: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class RegistryTrial:
    nct: str
    title: str
    status: str  # overallStatus, e.g. RECRUITING
    phases: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    interventions: tuple[str, ...] = ()
    min_age_years: float | None = None  # None: no lower limit stated
    max_age_years: float | None = None  # None: no upper limit stated
    criteria: str = ""  # eligibilityCriteria as registered (inclusion, then exclusion)
    sites: tuple[Site, ...] = ()
    last_update: date | None = None
    acronym: str | None = None

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(frozen=True)
class SiteStudy:
    """One of the site's own open trials (the site file's ResearchStudy): whom to call here.

    `nct` is None for a site-only study the public registry does not hold."""

    local_id: str
    title: str
    nct: str | None = None
    status: str = "active"  # the ResearchStudy's own status
    contact: str | None = None  # name and phone / email, as the site wrote them
    research_team: str | None = None  # reference a referral ServiceRequest is addressed to
    conditions: tuple[str, ...] = ()  # a site-only study is matched on these
    min_age_years: float | None = None
    max_age_years: float | None = None

    @property
    def open(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class RegistrySnapshot:
    """The registry as one call sees it: imported trials, the site's overlay, and when the
    list was last refreshed (None: never; the cards then keep the seeds' named trials)."""

    trials: tuple[RegistryTrial, ...] = ()
    site: tuple[SiteStudy, ...] = ()
    refreshed_at: datetime | None = None
    stale: bool = False
    site_location: tuple[float, float] | None = None
    demo: bool = False  # the sandbox's synthetic trials (nothing imported)

    @property
    def empty(self) -> bool:
        return not self.trials and not self.site

    @property
    def imported(self) -> bool:
        """A ClinicalTrials.gov registry was imported or synced (the seeds' named trials then
        leave the cards); a site file alone does not make one."""
        return self.refreshed_at is not None


def as_registry_trial(study: SiteStudy) -> RegistryTrial:
    """A site study the registry does not hold (no NCT number, or one not imported) as the
    pre-screen reads registry trials: open while active here, matched on the site's own
    conditions and ages (none given: it matches no disease and is not shown)."""
    return RegistryTrial(nct=study.nct or "", title=study.title,
                         status="RECRUITING" if study.open else "UNKNOWN",
                         conditions=study.conditions, min_age_years=study.min_age_years,
                         max_age_years=study.max_age_years)
