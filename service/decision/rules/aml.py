"""AML: gemtuzumab ozogamicin by CD33 and setting, MRD, relapse after HCT, trials by target.

The seeds give no CD33 cut-off (000 only requires "confirmation of CD33 positivity"), so a lab
call wins and a bare percentage is read against the site threshold. GO in consolidation is an
FDA-only statement in 000 (no SITC bullet, D37) and the pediatric relapsed label needs checking
(D25); cards say so.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm, relapse_after_hct
from service.decision.model import FactUsed, Recommendation
from service.decision.registry import Make, criterion, either, rule


@criterion("fit for intensive induction not recorded as no")
def NOT_UNFIT(ctx: Ctx) -> bool:
    return ctx._value("intensive_induction_eligible") is not False


@criterion("not fit for intensive induction")
def UNFIT_FOR_INDUCTION(ctx: Ctx) -> bool:
    return ctx._value("intensive_induction_eligible") is False


@criterion("ELN adverse risk")
def ADVERSE_RISK(ctx: Ctx) -> bool:
    return ctx._value("aml_risk") == "adverse"


@criterion("CD33 expressed")
def CD33_EXPRESSED(ctx: Ctx) -> bool:
    return ctx.cd33.expressed is True


@criterion("CD123 expressed")
def CD123_EXPRESSED(ctx: Ctx) -> bool:
    return ctx.marker("cd123").expressed is True


AML_RR = (C.AML, C.RELAPSED_OR_REFRACTORY)
AML_NEW = (C.AML, C.NEWLY_DIAGNOSED)


def _go_frontline_facts(ctx: Ctx) -> tuple[FactUsed, ...]:
    return (ctx.cd33.fact, ctx.f("intensive_induction_eligible"),
            ctx.f("aml_risk"), ctx.f_status)


@rule("AML-GO-INDUCTION", "aml", seeds=("000",), when=(*AML_NEW, NOT_UNFIT),
      unless=(C.CD33_NEGATIVE, ADVERSE_RISK), tags=("gemtuzumab",))
def go_induction(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: GO may be added to induction in favorable and possibly intermediate-risk newly
    diagnosed AML (000)."""
    fit, risk = ctx._value("intensive_induction_eligible"), ctx._value("aml_risk")
    return rec(*_go_frontline_facts(ctx), confirm=confirm(ctx, "cd33"), confirm_fit=fit is None,
               confirm_risk=risk is None, intermediate=risk == "intermediate")


@rule("AML-GO-UNFIT", "aml", seeds=("000",), when=(*AML_NEW, UNFIT_FOR_INDUCTION),
      unless=(C.CD33_NEGATIVE,), tags=("gemtuzumab",))
def go_unfit(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: consider GO in newly diagnosed AML not eligible for intensive induction (000).
    The seeds are immunotherapy guidance: the card says it covers immunotherapy only and makes
    no claim about non-immunotherapy regimens for unfit patients (M9)."""
    return rec(*_go_frontline_facts(ctx), confirm=confirm(ctx, "cd33"))


@rule("AML-GO-RELAPSE", "aml", seeds=("000",), when=AML_RR, unless=(C.CD33_NEGATIVE,),
      tags=("gemtuzumab",))
def go_relapse(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: consider GO at AML relapse; approved as monotherapy for adults in r/r AML, the
    pediatric label needs checking (000, D25)."""
    return rec(ctx.cd33.fact, ctx.f_status, ctx.f_age, confirm=confirm(ctx, "cd33"),
               pediatric=ctx.age is not None and ctx.age < 18)


@rule("AML-POSTHCT-RELAPSE", "aml", seeds=("000",), when=(*AML_RR, C.PRIOR_HCT),
      unless=(C.STATUS_BEFORE_HCT,))
def relapse_after_allo_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """AML relapse after allo-HCT: donor lymphocyte infusion and/or hypomethylating agents, or
    a trial (000); an undated side is shown with what to confirm."""
    return rec(ctx.f_prior_hct, ctx.f_status, timing=ctx.status_vs_hct,
               confirm=relapse_after_hct(ctx))


@rule("AML-CHECKPOINT", "aml", seeds=("000",), when=AML_RR)
def checkpoint(ctx: Ctx, rec: Make) -> Recommendation:
    """Checkpoint inhibitors in r/r AML are investigational (000)."""
    planned = ctx.hct_planned is True
    return rec(ctx.f_status, ctx.f_prior_hct, hct=ctx.prior_hct or planned,
               confirm=() if planned else ctx.hct_type_gap)


@rule("AML-CD123", "aml", seeds=("000",), when=(*AML_RR, CD123_EXPRESSED),
      trials=("NCT02152956",))
def cd123_directed(ctx: Ctx, rec: Make) -> Recommendation:
    """CD123-directed agents in r/r AML are in trials (000)."""
    return rec(ctx.marker("cd123").fact, trials=rec.trials)


@rule("AML-CD33-NOVEL", "aml", seeds=("000",), when=(*AML_RR, CD33_EXPRESSED),
      trials=("NCT02674763", "NCT03214666"))
def cd33_novel(ctx: Ctx, rec: Make) -> Recommendation:
    """New CD33-directed agents in r/r AML are in trials (000)."""
    return rec(ctx.cd33.fact, ctx.f_prior_hct, trials=rec.trials)


@rule("AML-OTHER-TARGETS", "aml", seeds=("000",), when=AML_RR,
      trials=("NCT02665065", "NCT01830777", "NCT03904069", "NCT04033302", "NCT04023071"))
def other_targets(ctx: Ctx, rec: Make) -> Recommendation:
    """Other r/r AML trials the seed names (anti-CD45, CD30 ADC, FLT3 and CD7 CAR T, NK
    cells; 000)."""
    return rec(ctx.f_status, trials=rec.trials)


@rule("AML-GO-CD33NEG", "aml", seeds=("000",),
      when=(C.AML, C.CD33_NEGATIVE, either(C.RELAPSED_OR_REFRACTORY, C.NEWLY_DIAGNOSED)))
def go_cd33_negative(ctx: Ctx, rec: Make) -> Recommendation:
    """CD33-negative AML: GO is not indicated (000: CD33+ patients may be eligible). A bare %
    under the site's cut-off is site policy, not evidence (the seeds give no CD33 cut-off):
    the card asks to confirm CD33 instead of calling the AML CD33-negative (W6)."""
    cd33 = ctx.cd33
    return rec(cd33.fact, low=cd33.below_cutoff, percent=cd33.percent or 0.0)


@rule("AML-MRD", "aml", seeds=("000",), when=(C.AML, C.AFTER_INDUCTION_OR_CR, C.MRD_POSITIVE))
def mrd_positive(ctx: Ctx, rec: Make) -> Recommendation:
    """Morphological remission with persistent MRD: worse outcomes after allo-HCT; SITC
    advises a trial (000)."""
    return rec(ctx.mrd.fact, ctx.f_status, no_method=ctx.mrd.method is None)


@rule("AML-GO-POST-HCT-PEDS", "aml", seeds=("000",),
      when=(C.AML, C.CHILD, C.PRIOR_HCT, C.IN_REMISSION))
def go_after_hct_child(ctx: Ctx, rec: Make) -> Recommendation:
    """A child in remission after allo-HCT: GO consolidation after reduced-intensity HCT has
    phase 1 data (000)."""
    return rec(ctx.f_age, ctx.f_prior_hct, ctx.f_status, confirm=ctx.hct_type_gap)
