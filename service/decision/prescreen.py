"""Trial pre-screen: which open registry trials may fit this patient, criterion by criterion.

A pre-screen, never an eligibility decision. Three filters decide whether a trial is shown at
all: its status is recruiting or not yet recruiting, its conditions name the patient's disease,
and its age range includes the patient (an unknown age does not exclude; it shows as unknown).
Every other criterion the record can speak to is shown as met, not met or unknown: the setting
(relapsed/refractory, newly diagnosed, MRD-positive, in remission), Ph, CD19 / CD22 / CD33, and
prior blinatumomab, inotuzumab, CAR T or HCT. The trial's side of those is read conservatively from
its registered text: a setting only from its title, conditions and keywords; a marker or Ph
requirement only from the inclusion criteria; a prior therapy only where the exclusion
criteria name it. A criterion the trial's text does not state is not shown.

A trial with a criterion not met is left out of the shown few (counted instead): a prompt
must concern this patient. The shown few are ranked open here first, then by distance from
the site (when both are known), then later phase first.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import Any, Literal

from service.decision.context import Ctx
from service.decision.criteria import REMISSION
from service.trials.model import (
    PHASE_TEXT,
    STATUS_TEXT,
    RegistrySnapshot,
    RegistryTrial,
    SiteStudy,
    as_registry_trial,
)

Verdict = Literal["met", "not met", "unknown"]
SHOWN = 3

_AML = re.compile(r"acute myeloid|acute myelogenous|acute non-?lymphocytic|\bAML\b", re.I)
_ALL = re.compile(r"acute lymphoblastic|acute lymphocytic|lymphoblastic leuk", re.I)
_ALL_TOKEN = re.compile(r"\b[BT]?-?ALL\b")  # case-sensitive: "ALL", "B-ALL", not "all"
_B = re.compile(r"\bB[- ]?ALL\b|\bB[- ]cell (precursor )?acute lymphoblastic|B[- ]lymphoblastic"
                r"|precursor[- ]B|\bBCP[- ]ALL\b|B[- ]cell precursor", re.I)
_T = re.compile(r"\bT[- ]?ALL\b|\bT[- ]cell acute lymphoblastic|T[- ]lymphoblastic|\bT-LBL\b",
                re.I)

_SETTINGS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("relapsed/refractory", re.compile(r"relapsed|refractory|recurrent|\br/r\b", re.I)),
    ("newly diagnosed", re.compile(r"newly[- ]diagnosed|de novo|previously untreated"
                                   r"|\buntreated\b|front[- ]?line|first[- ]line", re.I)),
    ("MRD-positive", re.compile(r"minimal residual disease|measurable residual disease"
                                r"|\bMRD\b", re.I)),
    ("in remission", re.compile(r"\b(first|second|complete) remission|\bin remission"
                                r"|\bCR[12]\b|maintenance", re.I)),
)
_PH_POS = re.compile(r"philadelphia chromosome[- ]positive|\bPh\+|\bPh[- ]positive"
                     r"|BCR[-:]{0,2}ABL1?[- ]positive|\bPh\(\+\)", re.I)
_PH_NEG = re.compile(r"philadelphia chromosome[- ]negative|\bPh-negative|\bPh\(-\)"
                     r"|BCR[-:]{0,2}ABL1?[- ]negative|\bPh-(?=[\s,;.)])", re.I)
_MARKERS = {m: re.compile(rf"\b{m.upper()}[- ]?(\+|positive|expressi|expressing)", re.I)
            for m in ("cd19", "cd22", "cd33")}
_PRIOR = {
    "blinatumomab": re.compile(r"blinatumomab|blincyto", re.I),
    "inotuzumab": re.compile(r"inotuzumab|besponsa", re.I),
    "CAR T": re.compile(r"\bCAR[- ]?T\b|chimeric antigen receptor|tisagenlecleucel"
                        r"|brexucabtagene|obecabtagene", re.I),
    "HCT": re.compile(r"allogeneic (hematopoietic |haematopoietic )?(stem[- ]cell |cell )?"
                      r"transplant|\ballo-?(HSCT|HCT|SCT)\b|stem[- ]cell transplant", re.I),
}
_EXCLUSION = re.compile(r"exclusion criteria", re.I)
_PHASE_ORDER = {"PHASE4": 5, "PHASE3": 4, "PHASE2": 3, "PHASE1": 2, "EARLY_PHASE1": 1}


@dataclass(frozen=True)
class Criterion:
    name: str  # what a clinician reads: "disease", "age", "Ph", "prior blinatumomab"
    verdict: Verdict
    why: str  # the patient's side and the trial's, briefly


@dataclass(frozen=True)
class TrialMatch:
    nct: str
    title: str
    status: str  # as a clinician reads it: "recruiting"
    phase: str
    criteria: tuple[Criterion, ...]
    open_here: bool = False
    contact: str | None = None
    local_id: str | None = None
    distance_km: int | None = None
    research_team: str | None = None  # whom a referral is addressed to (open here only)


@dataclass(frozen=True)
class Prescreen:
    shown: tuple[TrialMatch, ...]
    not_met: int  # open trials for the disease and age with a criterion not met
    refreshed: str | None  # the registry's last refresh, YYYY-MM-DD
    stale: bool


def lineages(trial: RegistryTrial) -> frozenset[str]:
    """The lineages a trial's title, conditions and keywords name (empty: none readable)."""
    text = " ; ".join((trial.title, *trial.conditions, *trial.keywords))
    found: set[str] = set()
    if _AML.search(text):
        found.add("aml")
    if _ALL.search(text) or _ALL_TOKEN.search(text):
        b, t = bool(_B.search(text)), bool(_T.search(text))
        if b and not t:
            found.add("b-all")
        elif t and not b:
            found.add("t-all")
        else:
            found |= {"b-all", "t-all", "all-unspecified"}
    return frozenset(found)


def _sections(trial: RegistryTrial) -> tuple[str, str]:
    """Inclusion and exclusion text (all inclusion when the headings are not found)."""
    cut = _EXCLUSION.search(trial.criteria)
    if cut is None:
        return trial.criteria, ""
    return trial.criteria[:cut.start()], trial.criteria[cut.start():]


@dataclass(frozen=True)
class Profile:
    """What the pre-screen reads of one trial, whatever the patient: its text is searched once
    per registry (and site location), not on every call."""

    trial: RegistryTrial
    study: SiteStudy | None  # the site file's entry for it, if any
    registered: bool  # from ClinicalTrials.gov (False: a study only the site file holds)
    lineages: frozenset[str]
    settings: tuple[str, ...]
    ph: str | None  # "positive" / "negative": the Ph status its inclusion requires
    markers: tuple[str, ...]  # cd19 / cd22 / cd33 its inclusion requires expressed
    priors: tuple[str, ...]  # the prior therapies its exclusions name
    phase: int
    distance_km: int | None
    span: str  # its age range as a clinician reads it


def profile(trial: RegistryTrial, study: SiteStudy | None, *, registered: bool,
            location: tuple[float, float] | None) -> Profile:
    structured = " ; ".join((trial.title, *trial.conditions, *trial.keywords))
    inclusion, exclusion = _sections(trial)
    ph_text = " ; ".join((trial.title, *trial.conditions, inclusion))
    pos, neg = bool(_PH_POS.search(ph_text)), bool(_PH_NEG.search(ph_text))
    lo, hi = trial.min_age_years, trial.max_age_years
    return Profile(
        trial=trial, study=study, registered=registered, lineages=lineages(trial),
        settings=tuple(name for name, pattern in _SETTINGS if pattern.search(structured)),
        ph=None if pos == neg else "positive" if pos else "negative",  # both: open to either
        markers=tuple(m for m, pattern in _MARKERS.items() if pattern.search(inclusion)),
        priors=tuple(name for name, pattern in _PRIOR.items() if pattern.search(exclusion)),
        phase=max((_PHASE_ORDER.get(p, 0) for p in trial.phases), default=0),
        distance_km=_distance_km(location, trial),
        span=(f"{_years(lo) if lo is not None else 'any age'}"
              f"{'–' + _years(hi) if hi is not None else ' and older'}"))


_LABEL = {"b-all": "B-ALL", "t-all": "T-ALL", "aml": "AML", "all-unspecified": "ALL"}


def _disease(ctx: Ctx, p: Profile) -> Criterion | None:
    lineage = ctx.lineage
    if lineage in p.lineages:
        return Criterion("disease", "met", _LABEL.get(lineage or "", "?"))
    if lineage == "all-unspecified" and p.lineages & {"b-all", "t-all"}:
        return Criterion("disease", "unknown",
                         "ALL, B or T lineage not recorded; the trial is for "
                         + " / ".join(_LABEL[x] for x in sorted(p.lineages & {"b-all", "t-all"})))
    return None


def _age(ctx: Ctx, p: Profile) -> Criterion | None:
    lo, hi = p.trial.min_age_years, p.trial.max_age_years
    age = ctx.age
    if age is None:
        return Criterion("age", "unknown", f"not in record; trial {p.span}")
    # completed years: a 17-year-old is inside "up to 17 Years"; older than that is not
    if (lo is not None and age < math.floor(lo)) or (hi is not None and age > hi):
        return None
    return Criterion("age", "met", f"{age} y; trial {p.span}")


def _years(value: float) -> str:
    return f"{value:g} y" if value >= 1 else f"{round(value * 12)} mo"


def _setting(ctx: Ctx, p: Profile) -> Criterion | None:
    wanted = p.settings
    if not wanted:
        return None
    status = ctx.status
    mine: set[str] = set()
    if ctx.rr:
        mine.add("relapsed/refractory")
    if status == "newly-diagnosed":
        mine.add("newly diagnosed")
    if ctx.mrd.state == "positive" and status != "newly-diagnosed":
        mine.add("MRD-positive")
    if status in REMISSION:
        mine.add("in remission")
    trial_side = "trial for " + " or ".join(wanted)
    if status is None:
        return Criterion("setting", "unknown", f"disease status not in record; {trial_side}")
    if mine.intersection(wanted):
        return Criterion("setting", "met", f"{ctx.status_text}; {trial_side}")
    if "MRD-positive" in wanted and ctx.mrd.state is None and status != "newly-diagnosed" \
            and not mine:
        return Criterion("setting", "unknown", f"{ctx.status_text}, MRD not in record; "
                                               f"{trial_side}")
    return Criterion("setting", "not met", f"{ctx.status_text}; {trial_side}")


def _ph(ctx: Ctx, p: Profile) -> Criterion | None:
    wanted = p.ph
    if wanted is None:
        return None
    if ctx.ph is None:
        return Criterion("Ph", "unknown", f"not in record; trial Ph-{wanted}")
    verdict: Verdict = "met" if ctx.ph == wanted else "not met"
    return Criterion("Ph", verdict, f"{ctx.ph}; trial Ph-{wanted}")


def _markers(ctx: Ctx, p: Profile) -> list[Criterion]:
    out = []
    for name in p.markers:
        expressed = ctx.marker(name).expressed  # type: ignore[arg-type]
        label = name.upper()
        if expressed is None:
            out.append(Criterion(label, "unknown", f"not in record; trial requires {label}+"))
        else:
            out.append(Criterion(label, "met" if expressed else "not met",
                                 f"{'expressed' if expressed else 'negative'}; trial "
                                 f"requires {label}+"))
    return out


def _had(ctx: Ctx, name: str) -> bool:
    """A prior therapy the record shows (its absence is not proof it was never given)."""
    if name == "CAR T":
        return ctx.prior_car_t
    if name == "HCT":
        return ctx.prior_hct
    return bool(ctx.facts.exposed_to(name))  # type: ignore[arg-type]


def _prior(ctx: Ctx, p: Profile) -> list[Criterion]:
    out = []
    for name in p.priors:
        if _had(ctx, name):
            out.append(Criterion(f"prior {name}", "not met",
                                 "on record; the trial's exclusions name it"))
        else:  # missing is not "never": the record may not hold treatment given elsewhere
            out.append(Criterion(f"prior {name}", "unknown",
                                 "none recorded; the trial's exclusions name it"))
    return out


def _distance_km(location: tuple[float, float] | None, trial: RegistryTrial) -> int | None:
    if location is None:
        return None
    lat0, lon0 = map(math.radians, location)
    best: float | None = None
    for site in trial.sites:
        if site.lat is None or site.lon is None:
            continue
        lat, lon = math.radians(site.lat), math.radians(site.lon)
        a = (math.sin((lat - lat0) / 2) ** 2
             + math.cos(lat0) * math.cos(lat) * math.sin((lon - lon0) / 2) ** 2)
        km = 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))
        best = km if best is None else min(best, km)
    return None if best is None else round(best)


def assess(ctx: Ctx, p: Profile, memo: dict[tuple[object, ...], Any] | None = None
           ) -> tuple[Criterion, ...] | None:
    """The trial's criteria for this patient, or None when it is not shown at all (closed,
    another disease, an age range that excludes the patient). `memo` (one call's) shares the
    criteria trials have in common: most ask the same few questions of one patient."""
    if not p.trial.open:
        return None
    memo = {} if memo is None else memo
    key: tuple[object, ...] = ("disease", p.lineages)
    disease = memo[key] if key in memo else memo.setdefault(key, _disease(ctx, p))
    if disease is None:
        return None
    key = ("age", p.trial.min_age_years, p.trial.max_age_years)
    age = memo[key] if key in memo else memo.setdefault(key, _age(ctx, p))
    if age is None:
        return None
    key = ("rest", p.settings, p.ph, p.markers, p.priors)
    rest = memo.get(key)
    if rest is None:
        rest = memo[key] = tuple(c for c in (_setting(ctx, p), _ph(ctx, p)) if c is not None) \
            + tuple(_markers(ctx, p)) + tuple(_prior(ctx, p))
    return (disease, age, *rest)


# Profiles of the registries calls have seen: a reader hands every call of one generation the
# same snapshot, so this holds one or two entries (keyed by the snapshot's own tuples, kept
# alive here so their ids cannot be reused).
_PROFILES: dict[tuple[int, int, tuple[float, float] | None],
                tuple[object, object, dict[str, tuple[Profile, ...]]]] = {}
_PROFILES_LOCK = threading.Lock()


def profiles(snapshot: RegistrySnapshot, lineage: str | None) -> tuple[Profile, ...]:
    """The open trials that name `lineage` (for ALL of unrecorded lineage: every ALL trial),
    profiled once per snapshot."""
    key = (id(snapshot.trials), id(snapshot.site), snapshot.site_location)
    cached = _PROFILES.get(key)
    if cached is None or cached[0] is not snapshot.trials or cached[1] is not snapshot.site:
        site = {s.nct: s for s in snapshot.site if s.nct}
        registered = {t.nct for t in snapshot.trials}
        every = [profile(t, site.get(t.nct), registered=True, location=snapshot.site_location)
                 for t in snapshot.trials if t.open]
        every += [profile(as_registry_trial(s), s, registered=False,
                          location=snapshot.site_location)
                  for s in snapshot.site if s.nct not in registered and s.open]
        index: dict[str, list[Profile]] = {}
        for p in every:
            names = set(p.lineages)
            if names & {"b-all", "t-all"}:
                names.add("all-unspecified")
            for name in names:
                index.setdefault(name, []).append(p)
        cached = (snapshot.trials, snapshot.site, {k: tuple(v) for k, v in index.items()})
        with _PROFILES_LOCK:
            if len(_PROFILES) >= 4:
                _PROFILES.clear()
            _PROFILES[key] = cached
    return cached[2].get(lineage or "", ())


def prescreen(ctx: Ctx, snapshot: RegistrySnapshot) -> Prescreen:
    candidates: list[tuple[tuple[object, ...], Profile, tuple[Criterion, ...]]] = []
    not_met = 0
    memo: dict[tuple[object, ...], Any] = {}
    for p in profiles(snapshot, ctx.lineage):
        criteria = assess(ctx, p, memo)
        if criteria is None:
            continue
        if any(c.verdict == "not met" for c in criteria):
            not_met += 1
            continue
        here = p.study is not None and p.study.open
        key = (0 if here else 1,
               p.distance_km if p.distance_km is not None else math.inf, -p.phase, p.trial.nct)
        candidates.append((key, p, criteria))
    candidates.sort(key=lambda c: c[0])
    refreshed = (snapshot.refreshed_at.date().isoformat() if snapshot.refreshed_at
                 else "never: the sandbox's synthetic trials" if snapshot.demo else None)
    return Prescreen(shown=tuple(_match(p, criteria) for _, p, criteria in candidates[:SHOWN]),
                     not_met=not_met, refreshed=refreshed, stale=snapshot.stale)


def _match(p: Profile, criteria: tuple[Criterion, ...]) -> TrialMatch:
    trial, study = p.trial, p.study
    here = study if study is not None and study.open else None
    return TrialMatch(
        nct=trial.nct, title=trial.acronym or trial.title,
        status=STATUS_TEXT.get(trial.status, trial.status.lower())
        if p.registered else "site study, open here",
        phase=" / ".join(PHASE_TEXT.get(ph, ph.lower()) for ph in trial.phases)
        or "phase not stated",
        criteria=criteria, open_here=here is not None,
        contact=here.contact if here else None, local_id=study.local_id if study else None,
        distance_km=p.distance_km, research_team=here.research_team if here else None)
