"""Clinical-trial prompts: SITC's "at each juncture", and the named trials the seeds give.

Trials are listed as the seeds describe them (2019-2025); many will have closed. Cards link each
NCT number to clinicaltrials.gov and say the recruiting status must be verified. Which trial
fits which situation is clinical logic and lives here; a trial's name, population and reported
status live in the catalogue (cards/trials.toml), checked at start-up against these lists.
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.aml import GO_OPTIONS
from service.decision.b_all import BLIN_OPTIONS, INO_OPTIONS
from service.decision.car_t import CART_OPTIONS, relapse_after_car_t_gap
from service.decision.context import REMISSION, RR, Ctx
from service.decision.model import Recommendation

MRD_CAR_T_TRIALS = ("NCT05535855", "NCT04788472", "NCT04740203", "NCT03919526", "NCT06078306",
                    "NCT06481241")
CASSIOPEIA = "NCT03876769"
ADULT_RR_TRIALS = ("NCT03628053", "NCT02879695")
PEDS_RR_TRIALS = ("NCT02625480",)
POST_HCT_TRIALS = ("NCT02807883",)
PEDS_FRONTLINE_TRIALS = ("NCT03914625", "NCT03959085", "NCT03876769", "NCT03643276",
                         "NCT03117751", "NCT04307576")

APPROVED_OPTIONS = BLIN_OPTIONS | INO_OPTIONS | CART_OPTIONS | GO_OPTIONS


def patient_view(ctx: Ctx, fired: frozenset[str]) -> list[Recommendation]:
    if ctx.lineage is None or ctx.status is None:
        return []
    out: list[Recommendation] = [
        ctx.rec(R.TRIAL_EVERY_JUNCTURE, ctx.f_lineage, ctx.f_status, aml=ctx.is_aml)
    ]
    if fired & APPROVED_OPTIONS:
        out.append(ctx.rec(R.TRIAL_APPROVED_FIRST, ctx.f_status))
    if ctx.is_b:
        out += _b_all(ctx)
    investigational = len(out) > 1 or ctx.is_t or (ctx.is_aml and ctx.status in RR)
    if investigational:
        out.append(ctx.rec(R.CAU_EXPERIMENTAL_SITE))
    return out


def _b_all(ctx: Ctx) -> list[Recommendation]:
    out: list[Recommendation] = []
    age = ctx.age
    in_cr = ctx.status in REMISSION or ctx.status == "post-induction"
    if in_cr and ctx.mrd.state == "positive":
        trials: tuple[str, ...] = MRD_CAR_T_TRIALS
        if age is not None and age <= 25 and ctx.status in {"cr1", "post-induction"}:
            trials = (CASSIOPEIA, *trials)
        out.append(ctx.rec(R.TRIAL_MRD_POS_ALL, ctx.mrd.fact, ctx.f_status, ctx.f_age,
                           trials=trials))
    if ctx.prior_car_t and ctx.status in RR and ctx.status_vs_car_t != "before":
        out.append(ctx.rec(R.TRIAL_POST_CART, ctx.f_car_t, ctx.f_status,
                           timing=ctx.status_vs_car_t, confirm=relapse_after_car_t_gap(ctx)))
    if ctx.status in RR:
        trials = ()
        if age is None or age >= 18:
            trials += ADULT_RR_TRIALS
        if age is None or age < 18:
            trials += PEDS_RR_TRIALS
        out.append(ctx.rec(R.TRIAL_SPECIFIC_RR, ctx.f_age, ctx.f_status, trials=trials,
                           adult=age is None or age >= 18, child=age is None or age < 18))
        if "NCT02879695" in trials and (ctx.prior_hct or ctx.hct_planned is True):
            # the blinatumomab + checkpoint-inhibitor trial, with transplant in view
            out.append(ctx.rec(R.CAU_CHECKPOINT_HCT, ctx.f_prior_hct,
                               ctx.f("hct_planned", "Allo-HCT planned")))
    if ctx.prior_hct and ctx.status in REMISSION:
        out.append(ctx.rec(R.TRIAL_SPECIFIC_POST_HCT, ctx.f_prior_hct, ctx.f_status,
                           trials=POST_HCT_TRIALS))
    if age is not None and age < 18 and ctx.frontline:
        out.append(ctx.rec(R.TRIAL_SPECIFIC_PEDS_FRONTLINE, ctx.f_age, ctx.f_status,
                           trials=PEDS_FRONTLINE_TRIALS))
    return out


ALL_TRIAL_LISTS: tuple[tuple[str, ...], ...] = (
    MRD_CAR_T_TRIALS, (CASSIOPEIA,), ADULT_RR_TRIALS, PEDS_RR_TRIALS, POST_HCT_TRIALS,
    PEDS_FRONTLINE_TRIALS,
)
