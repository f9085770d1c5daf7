"""Clinical-trial prompts: SITC's "at each juncture", and the named trials the seeds give.

Trials are listed as the seeds describe them (2019-2025); many will have closed. Cards link each
NCT number to clinicaltrials.gov and say the recruiting status must be verified. Which trial
fits which situation is clinical logic and lives here (each rule's ``trials``); a trial's name,
population and reported status live in the catalogue (cards/trials.toml).

Every prompt except "at each juncture" sets the tag "trial-prompt": a card that names a trial or
puts approved therapy first carries the investigational-site caution.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import relapse_after_car_t, status_number
from service.decision.model import Recommendation
from service.decision.prescreen import prescreen
from service.decision.registry import ALL_HOOKS, Make, criterion, fired, rule

TRIAL_PROMPT = ("trial-prompt",)
# Prompts whose whole point is the trials the seeds name (2019-2025): once a registry is
# imported its open trials replace them (`without_seed_trials`).
SEED_TRIAL_PROMPTS = frozenset({"TRIAL-SPECIFIC-RR", "TRIAL-SPECIFIC-POST-HCT",
                                "TRIAL-SPECIFIC-PEDS-FRONTLINE"})


def without_seed_trials(recs: list[Recommendation]) -> list[Recommendation]:
    """With a registry imported, the trials a card names are its open ones, not a review's:
    the prompts that only name seed trials go, and the others keep their advice without the
    list."""
    return [replace(r, variables=MappingProxyType({**r.variables, "trials": ()}))
            if r.variables.get("trials") else r
            for r in recs if r.id not in SEED_TRIAL_PROMPTS]
APPROVED_OPTION_SHOWN = fired("blinatumomab", "inotuzumab", "car-t", "gemtuzumab")


@criterion("25 years or younger, after induction or in CR1")
def UP_TO_25_EARLY(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age <= 25 and ctx.status in {"cr1", "post-induction"}


@rule("TRIAL-EVERY-JUNCTURE", "trial", seeds=("000",), when=(C.LINEAGE_AND_STATUS_KNOWN,))
def every_juncture(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: consider clinical trial enrollment at each juncture (000)."""
    return rec(ctx.f_lineage, ctx.f_status, aml=ctx.is_aml)


@rule("TRIAL-APPROVED-FIRST", "trial", seeds=("000",),
      when=(C.LINEAGE_AND_STATUS_KNOWN, APPROVED_OPTION_SHOWN), tags=TRIAL_PROMPT)
def approved_first(ctx: Ctx, rec: Make) -> Recommendation:
    """Where an approved option is shown: SITC says treat with FDA-approved therapy where
    available, considering a trial at each step (000)."""
    return rec(ctx.f_status)


@rule("TRIAL-MRD-POS-ALL", "trial", seeds=("000", "003"),
      when=(C.B_ALL, C.AFTER_INDUCTION_OR_CR, C.MRD_POSITIVE), tags=TRIAL_PROMPT,
      trials=("NCT03876769",  # first: CASSIOPEIA, 25 or younger after induction / in CR1
              "NCT05535855", "NCT04788472", "NCT04740203", "NCT03919526", "NCT06078306",
              "NCT06481241"))
def mrd_positive(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD-positive B-ALL: SITC advises a trial to reach MRD negativity (000); CAR T trials for
    MRD after induction are ongoing (003). Not for MRD detected below 0.01 %: that is under
    E1910's MRD-negative cut-off, where the consolidation card applies (review M8)."""
    if ctx.mrd.band == "sub":
        return None
    trials = rec.trials if UP_TO_25_EARLY(ctx) else rec.trials[1:]
    return rec(ctx.mrd.fact, ctx.f_status, ctx.f_age, trials=trials)


@rule("TRIAL-POST-CART", "trial", seeds=("000",),
      when=(C.B_ALL, C.PRIOR_CAR_T, C.RELAPSED_OR_REFRACTORY),
      unless=(C.STATUS_BEFORE_CAR_T,), tags=TRIAL_PROMPT)
def after_car_t(ctx: Ctx, rec: Make) -> Recommendation:
    """Relapse after CAR T: few options, so SITC says strongly consider a trial (000); an
    undated side is shown with what to confirm."""
    return rec(ctx.f_car_t, ctx.f_status, timing=ctx.status_vs_car_t,
               confirm=relapse_after_car_t(ctx))


@rule("TRIAL-SPECIFIC-RR", "trial", seeds=("001",),
      when=(C.B_ALL, C.RELAPSED_OR_REFRACTORY), tags=TRIAL_PROMPT,
      trials=("NCT03628053", "NCT02879695",  # adults (or age unknown)
              "NCT02625480"))  # last: children (or age unknown), ZUMA-4
def relapsed_trials(ctx: Ctx, rec: Make) -> Recommendation:
    """Named r/r B-ALL trials from 001 (trials in progress), by age; an unknown age gets
    both lists."""
    age = ctx.age
    adult, child = age is None or age >= 18, age is None or age < 18
    trials = (rec.trials[:-1] if adult else ()) + (rec.trials[-1:] if child else ())
    return rec(ctx.f_age, ctx.f_status, trials=trials, adult=adult, child=child)


@rule("TRIAL-SPECIFIC-POST-HCT", "trial", seeds=("001",),
      when=(C.B_ALL, C.PRIOR_HCT, C.IN_REMISSION), tags=TRIAL_PROMPT, trials=("NCT02807883",))
def post_hct_maintenance(ctx: Ctx, rec: Make) -> Recommendation:
    """In remission after allo-HCT: blinatumomab as post-transplant maintenance is in a phase 2
    trial (001)."""
    return rec(ctx.f_prior_hct, ctx.f_status, trials=rec.trials, confirm=ctx.hct_type_gap)


@rule("TRIAL-SPECIFIC-PEDS-FRONTLINE", "trial", seeds=("002", "003"),
      when=(C.B_ALL, C.CHILD, C.FRONTLINE_THERAPY), tags=TRIAL_PROMPT,
      trials=("NCT03914625", "NCT03959085", "NCT03876769", "NCT03643276", "NCT03117751",
              "NCT04307576"))
def peds_frontline(ctx: Ctx, rec: Make) -> Recommendation:
    """Child with frontline B-ALL: several pediatric frontline protocols incorporate
    immunotherapy (002; ALL-Together1, 003). 003's standard-risk result is said only where
    standard risk is possible (not to an infant or a KMT2A-r child: review W2)."""
    return rec(ctx.f_age, ctx.f_status, trials=rec.trials, confirm=status_number(ctx),
               standard_risk=not C.NOT_STANDARD_RISK(ctx))


# Ordering a line of therapy is a juncture too; supportive drugs (tocilizumab) are not.
THERAPY_DRUGS = ("blinatumomab", "inotuzumab", "gemtuzumab", "rituximab", "daratumumab",
                 "dasatinib", "imatinib", "ponatinib", "nilotinib", "tisagenlecleucel",
                 "brexucabtagene", "obecabtagene", "car-t")


@rule("TRIAL-REGISTRY", "trial", seeds=("000",), when=(C.LINEAGE_AND_STATUS_KNOWN,),
      unless=(C.STATUS_PREDATES_THERAPY,), hooks=ALL_HOOKS, drugs=THERAPY_DRUGS,
      tags=TRIAL_PROMPT)
def registry_trials(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Open trials from the site's registry (ClinicalTrials.gov, synced, with the site's own
    overlay) that may fit: SITC's "a trial at each juncture" (000) made concrete, on opening
    the chart and on ordering a line of therapy. A pre-screen per criterion, never "eligible"
    (`decision/prescreen.py`). Nothing when no registry is loaded (the seeds' named trials stay
    on the other trial cards), when no open trial fits the disease and age, or while the
    recorded status predates the therapy in progress (the setting would be read from it)."""
    registry = ctx.registry
    if registry is None or registry.empty:
        return None
    found = prescreen(ctx, registry)
    if not found.shown:
        return None
    return rec(ctx.f_lineage, ctx.f_age, ctx.f_status, registry=found.shown,
               not_met=found.not_met, refreshed=found.refreshed or "never",
               stale=found.stale, here=sum(1 for m in found.shown if m.open_here))
