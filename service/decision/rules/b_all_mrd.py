"""B-ALL after induction or in remission: what a measurable-residual-disease result opens.

Three MRD bands (clinical-rules.md D4): >= 0.1 % (blinatumomab's label), 0.01 % to < 0.1 %
(below the MRD label: GMALL, SITC; in CR1, within the consolidation approval 003 reports, E1910)
and detected below 0.01 %. "After a drug" is a claim about dates:
an MRD drawn before the latest course says nothing about response to it.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm, status_number
from service.decision.model import Recommendation
from service.decision.registry import Make, rule
from service.decision.timing import Timing, timing

MRD_SETTING = (C.B_ALL, C.AFTER_INDUCTION_OR_CR)
MRD_POSITIVE = (*MRD_SETTING, C.MRD_POSITIVE)


def _facts(ctx: Ctx) -> tuple:
    return (ctx.mrd.fact, ctx.f_status, ctx.cd19.fact)


@rule("ALL-BLIN-MRD-LABEL", "b-all", seeds=("000", "003"), when=MRD_POSITIVE,
      unless=(C.CD19_NEGATIVE,), tags=("blinatumomab",))
def mrd_label(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD >= 0.1 %: blinatumomab's MRD label (000, 003)."""
    if ctx.mrd.band != "label":
        return None
    return rec(*_facts(ctx), confirm=confirm(ctx, "cd19") + status_number(ctx),
               no_method=ctx.mrd.method is None, later_cr=ctx.status == "cr3-or-later",
               confirm_cr=ctx.status == "post-induction")


@rule("ALL-BLIN-MRD-LOW", "b-all", seeds=("000", "001", "003"), when=MRD_POSITIVE,
      unless=(C.CD19_NEGATIVE,), tags=("blinatumomab",))
def mrd_low(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD 0.01 % to < 0.1 %: below the MRD label (>= 0.1 %); GMALL and SITC support
    blinatumomab. In CR1 (or after induction) blinatumomab as part of consolidation is approved
    whatever the MRD level (003; E1910 gave it to MRD-positive patients), so "below the label"
    is said only in a later remission (review W1)."""
    if ctx.mrd.band != "low":
        return None
    cr1 = ctx.cr1_or_early
    return rec(*_facts(ctx), confirm=confirm(ctx, "cd19") + (status_number(ctx) if cr1 else ()),
               no_method=ctx.mrd.method is None, cr1=cr1,
               after_induction=ctx.status == "post-induction")


@rule("ALL-BLIN-MRD-SITC", "b-all", seeds=("000",), when=MRD_POSITIVE,
      unless=(C.CD19_NEGATIVE,), tags=("blinatumomab",))
def mrd_sitc(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD positive after induction or in CR1 at a level below 0.01 % or not given: SITC
    says offer blinatumomab. Below 0.01 % in Ph-negative (or unknown) disease the consolidation
    card (E1910) carries SITC's advice: one card per drug, not two (review M8)."""
    if ctx.mrd.band in ("label", "low") or not ctx.cr1_or_early:
        return None
    if ctx.mrd.band == "sub" and ctx.ph != "positive":
        return None
    return rec(*_facts(ctx), confirm=confirm(ctx, "cd19") + status_number(ctx),
               level_known=ctx.mrd.fraction is not None)


@rule("ALL-BLIN-MRD-EARLY", "b-all", seeds=("002",), when=MRD_POSITIVE,
      unless=(C.CD19_NEGATIVE,))
def mrd_persistent(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Persistent MRD (two positive results in a row): treat early (002, BLAST)."""
    if not ctx.mrd_persistent:
        return None
    return rec(*_facts(ctx), results=len(ctx.facts.mrd_history))


@rule("ALL-FRONT-BLIN-CONSOLIDATION", "b-all", seeds=("000", "003"), when=MRD_SETTING,
      unless=(C.PH_POSITIVE, C.CD19_NEGATIVE), tags=("blinatumomab",))
def frontline_consolidation(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD negative (or detected below 0.01 %) after induction or in CR1: blinatumomab
    consolidation (E1910, 003). MRD detected below 0.01 % is still MRD-positive: SITC's
    "offer blinatumomab" (000) is said here rather than on a second card."""
    m = ctx.mrd
    sub = m.state == "positive" and m.band == "sub"
    if not (m.state == "negative" or sub) or not ctx.cr1_or_early:
        return None
    return rec(m.fact, ctx.f_status, ctx.f_ph, ctx.cd19.fact, ctx.f_age,
               detectable_sub=m.state == "positive",
               sensitivity_ok=m.state == "negative" and m.below_1e4 is True,
               confirm=confirm(ctx, "cd19", ph_negative=True) + status_number(ctx),
               age=ctx.age, under55=ctx.age is not None and ctx.age < 55)


def _mrd_vs(ctx: Ctx, drug: str) -> Timing | None:
    """The latest MRD against the latest course of ``drug`` (None: never given)."""
    if ctx.facts.mrd is None:
        return None
    return timing(ctx.facts.mrd.effective, ctx.exposure_dates(drug))


def _mrd_gap(ctx: Ctx, drug: str) -> tuple[str, ...]:
    if _mrd_vs(ctx, drug) != "unknown":
        return ()
    mrd_date = ctx.facts.mrd.effective if ctx.facts.mrd else None
    return (ctx.order_gap("this MRD result", "MRD", mrd_date, ctx.exposure_dates(drug), drug),)


@rule("ALL-BLIN-MRD-HCT-ROLE", "b-all", seeds=("001",), when=(C.B_ALL, C.IN_REMISSION))
def hct_after_mrd_negative_blinatumomab(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD negative after blinatumomab: the role of transplant is undetermined (001)."""
    when = _mrd_vs(ctx, "blinatumomab")
    if ctx.mrd.state != "negative" or when in (None, "before"):
        return None
    return rec(ctx.mrd.fact, ctx.f_exposure("blinatumomab"), ctx.f_prior_hct,
               prior_hct=ctx.prior_hct, timing=when,
               confirm=(*_mrd_gap(ctx, "blinatumomab"), *ctx.hct_type_gap))


@rule("ALL-SEQ-INO-BLIN", "b-all", seeds=("001",), when=(C.B_ALL, C.MRD_POSITIVE))
def sequence_ino_blin(ctx: Ctx, rec: Make) -> list[Recommendation]:
    """MRD persisting after one CD19/CD22 agent: the other can rescue it (001).

    An MRD drawn before the latest course does not fire; an undated one fires with what to
    confirm."""
    out: list[Recommendation] = []
    for drug, other, target in (("inotuzumab", "blinatumomab", ctx.cd19),
                                ("blinatumomab", "inotuzumab", ctx.cd22)):
        when = _mrd_vs(ctx, drug)
        if when in (None, "before") or target.expressed is False:
            continue
        if other == "inotuzumab" and C.ino_labelled_age(ctx) is False:
            continue  # not offered under its labelled age (criteria.INO_LABEL_MIN_AGE)
        out.append(rec(ctx.mrd.fact, ctx.f_exposure(drug), target.fact,
                       after=drug, next=other, timing=when, confirm=_mrd_gap(ctx, drug)))
    return out
