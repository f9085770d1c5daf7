"""AML: gemtuzumab ozogamicin by CD33 and setting, MRD, relapse after HCT, trials by target.

The seeds give no CD33 cut-off (000 only requires "confirmation of CD33 positivity"), so a lab
call wins and a bare percentage is read against the site threshold. GO in consolidation is an
FDA-only statement in 000 (no SITC bullet, D37) and the pediatric relapsed label needs checking
(D25); cards say so.
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.b_all import relapse_after_hct_gap
from service.decision.context import REMISSION, RR, Ctx
from service.decision.model import Recommendation

GO_OPTIONS = frozenset({R.AML_GO_INDUCTION.id, R.AML_GO_UNFIT.id, R.AML_GO_RELAPSE.id})

CD123_TRIALS = ("NCT02152956",)
CD33_TRIALS = ("NCT02674763", "NCT03214666")
OTHER_TARGET_TRIALS = ("NCT02665065", "NCT01830777", "NCT03904069", "NCT04033302",
                       "NCT04023071")


def patient_view(ctx: Ctx) -> list[Recommendation]:
    if not ctx.is_aml:
        return []
    out: list[Recommendation] = []
    cd33 = ctx.cd33
    confirm = ("CD33",) if cd33.status is None else ()
    if ctx.status == "newly-diagnosed":
        out += _newly_diagnosed(ctx, confirm)
    if ctx.status in RR:
        if cd33.expressed is not False:
            out.append(ctx.rec(R.AML_GO_RELAPSE, cd33.fact, ctx.f_status, ctx.f_age,
                               confirm=confirm, pediatric=ctx.age is not None and ctx.age < 18))
        if ctx.prior_hct and ctx.status_vs_hct != "before":
            out.append(ctx.rec(R.AML_POSTHCT_RELAPSE, ctx.f_prior_hct, ctx.f_status,
                               timing=ctx.status_vs_hct, confirm=relapse_after_hct_gap(ctx)))
        hct = ctx.prior_hct or ctx.hct_planned is True
        out.append(ctx.rec(R.AML_CHECKPOINT, ctx.f_status, ctx.f_prior_hct, hct=hct))
        if hct:
            out.append(ctx.rec(R.CAU_CHECKPOINT_HCT, ctx.f_prior_hct,
                               ctx.f("hct_planned", "Allo-HCT planned")))
        cd123 = ctx.marker("cd123")
        if cd123.expressed:
            out.append(ctx.rec(R.AML_CD123, cd123.fact, trials=CD123_TRIALS))
        if cd33.expressed:
            out.append(ctx.rec(R.AML_CD33_NOVEL, cd33.fact, ctx.f_prior_hct,
                               trials=CD33_TRIALS))
        out.append(ctx.rec(R.AML_OTHER_TARGETS, ctx.f_status, trials=OTHER_TARGET_TRIALS))
    if cd33.expressed is False and ctx.status in RR | {"newly-diagnosed"}:
        out.append(ctx.rec(R.AML_GO_CD33NEG, cd33.fact))
    if (ctx.status in REMISSION or ctx.status == "post-induction") \
            and ctx.mrd.state == "positive":
        out.append(ctx.rec(R.AML_MRD, ctx.mrd.fact, ctx.f_status,
                           no_method=ctx.mrd.method is None))
    if ctx.age is not None and ctx.age < 18 and ctx.prior_hct and ctx.status in REMISSION:
        out.append(ctx.rec(R.AML_GO_POST_HCT_PEDS, ctx.f_age, ctx.f_prior_hct, ctx.f_status))
    go = any(r.id in GO_OPTIONS for r in out)
    if go:
        out.append(ctx.rec(R.CAU_GO_SOS, ctx.f("hct_planned", "Allo-HCT planned"),
                           hct=ctx.hct_planned is True))
    if (ctx.hct_planned is True or ctx.prior_hct) and (go or ctx.status in RR):
        out.append(ctx.rec(R.CAU_IMMUNE_WITH_HCT, ctx.f("hct_planned", "Allo-HCT planned"),
                           ctx.f_prior_hct))
    return out


def _newly_diagnosed(ctx: Ctx, confirm: tuple[str, ...]) -> list[Recommendation]:
    if ctx.cd33.expressed is False:
        return []
    fit = ctx._value("intensive_induction_eligible")
    risk = ctx._value("aml_risk")
    facts = (ctx.cd33.fact, ctx.f("intensive_induction_eligible", "Fit for intensive induction"),
             ctx.f("aml_risk", "ELN risk group"), ctx.f_status)
    if fit is False:
        return [ctx.rec(R.AML_GO_UNFIT, *facts, confirm=confirm)]
    if risk == "adverse":
        return []
    return [ctx.rec(R.AML_GO_INDUCTION, *facts, confirm=confirm, confirm_fit=fit is None,
                    confirm_risk=risk is None, intermediate=risk == "intermediate")]
