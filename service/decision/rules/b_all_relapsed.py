"""B-ALL, relapsed or refractory: which immunotherapy options the record allows.

Every option needs B lineage and its target antigen not negative. An unknown antigen does not
block an option (missing is not negative): the card carries ``confirm`` naming the fact to
confirm first, and the work-up card asks for it.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm, relapse_after_hct, status_number
from service.decision.model import Recommendation
from service.decision.registry import ALL_HOOKS, Make, rule
from service.decision.timing import timing

R_R = (C.B_ALL, C.RELAPSED_OR_REFRACTORY)


def _adult(ctx: Ctx) -> bool | None:
    return None if ctx.age is None else ctx.age >= 18


def _ino(ctx: Ctx) -> bool:
    """Inotuzumab can be named on an option card: CD22 not negative and the age not under its
    labelled age (criteria.ino_labelled_age; unknown age is not a no)."""
    return ctx.cd22.expressed is not False and C.ino_labelled_age(ctx) is not False


def _relapse_after_blinatumomab(ctx: Ctx) -> bool:
    """The recorded relapse follows a course of blinatumomab (both dated, relapse later)."""
    return timing(ctx.status_date, ctx.exposure_dates("blinatumomab")) == "after"


@rule("ALL-RR-FIRST-RELAPSE", "b-all", seeds=("000",), when=(C.B_ALL, C.FIRST_RELAPSE))
def first_relapse(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: after one line, a trial, blinatumomab, inotuzumab or allo-HCT (000). A relapse
    recorded without its number is shown with the number to confirm."""
    return rec(ctx.f_status, ctx.cd19.fact, ctx.cd22.fact, ctx.f_age,
               ctx.f("prior_lines"),
               blin=ctx.cd19.expressed is not False, ino=_ino(ctx),
               hct=ctx.hct_eligible is not False,
               number_unknown=ctx.status == "relapse",
               confirm=confirm(ctx, "cd19", "cd22") + status_number(ctx))


@rule("ALL-BLIN-RR", "b-all", seeds=("000", "001", "003"), when=R_R, unless=(C.CD19_NEGATIVE,),
      tags=("blinatumomab", "blinatumomab-rr"))
def blinatumomab_rr(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab's label: r/r B-cell precursor ALL in adults and children (000, 001)."""
    cd19, adult = ctx.cd19, _adult(ctx)
    return rec(ctx.f_status, cd19.fact, ctx.f_ph, ctx.f_age, confirm=confirm(ctx, "cd19"),
               dim=cd19.status == "dim", ph_positive=ctx.ph == "positive",
               pediatric_ph=ctx.ph == "positive" and adult is False)


@rule("ALL-INO-RR", "b-all", seeds=("000", "001"), when=R_R,
      unless=(C.CD22_NEGATIVE, C.INO_AGE_UNLABELLED), tags=("inotuzumab",))
def inotuzumab_rr(ctx: Ctx, rec: Make) -> Recommendation:
    """Inotuzumab ozogamicin: r/r B-ALL, any Ph status (000, 001); the US label covers adults
    and, since 2024, children 1 year and older (K1)."""
    return rec(ctx.f_status, ctx.cd22.fact, ctx.f_age, ctx.f_ph, child=C.CHILD(ctx),
               confirm=confirm(ctx, "cd22", age=True))


@rule("ALL-INO-PEDS", "b-all", seeds=("001", "002"), hooks=ALL_HOOKS, drugs=("inotuzumab",),
      when=(C.INO_AGE_UNLABELLED,), tags=("inotuzumab",))
def inotuzumab_child(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Inotuzumab under its labelled age: under 1 year, outside the US label (K1; the sources
    knew only the 2017 adult approval, 001), so the card carries "confirm the current label"
    and points to a trial; the pediatric data the sources have are from compassionate use (002).

    patient-view: relapsed/refractory CD22-expressing B-ALL. Order entry: any inotuzumab
    order for an infant with B-lineage (or unknown lineage) disease."""
    if rec.focus is not None:
        if ctx.is_t or ctx.is_aml:
            return None  # the order check says the lineage is wrong
        return rec(ctx.f_age, ctx.cd22.fact, confirm=())
    if not (ctx.is_b and ctx.rr) or ctx.cd22.expressed is False:
        return None
    return rec(ctx.f_status, ctx.cd22.fact, ctx.f_age, confirm=confirm(ctx, "cd22"))


@rule("ALL-RR-HIGH-BURDEN-INO-FIRST", "b-all", seeds=("000", "001"),
      when=(*R_R, C.HIGH_BURDEN), unless=(C.CD22_NEGATIVE, C.INO_AGE_UNLABELLED),
      tags=("inotuzumab",))
def high_burden_inotuzumab_first(ctx: Ctx, rec: Make) -> Recommendation:
    """High burden (>= 50 % blasts or extramedullary, non-CNS, disease): inotuzumab first
    (001, D14). Not under inotuzumab's labelled age: a headline "inotuzumab first" for a child
    the same card leaves inotuzumab out for contradicts itself (review W3)."""
    return rec(ctx.f_blasts, ctx.f("extramedullary"), ctx.cd22.fact, ctx.cd19.fact,
               blasts=ctx.blasts, emd=bool(ctx.extramedullary),
               confirm=confirm(ctx, "cd22", age=True))


@rule("ALL-RR-LOW-BURDEN-BLIN", "b-all", seeds=("001",), when=(*R_R, C.LOW_BURDEN),
      unless=(C.CD19_NEGATIVE,), tags=("blinatumomab", "blinatumomab-rr"))
def low_burden_blinatumomab(ctx: Ctx, rec: Make) -> Recommendation:
    """Low burden: blinatumomab preferred (001 Table 3). When the recorded relapse followed a
    course of blinatumomab the card says so: the preference was not written for a relapse on
    or after it (review M6)."""
    after_blin = _relapse_after_blinatumomab(ctx)
    facts = (ctx.f_exposure("blinatumomab"),) if after_blin else ()
    return rec(ctx.f_blasts, ctx.cd19.fact, *facts, blasts=ctx.blasts,
               after_blin=after_blin, confirm=confirm(ctx, "cd19"))


@rule("ALL-RR-BRIDGE-TO-HCT", "b-all", seeds=("000", "001"),
      when=(*R_R, C.HCT_PLANNED_OR_ELIGIBLE))
def bridge_to_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """Immunotherapy to reach remission before a planned or possible allo-HCT."""
    return rec(ctx.f_status, ctx.f("hct_planned"),
               ctx.f("hct_eligible"), planned=ctx.hct_planned is True)


@rule("ALL-HCT-INELIGIBLE", "b-all", seeds=("001",), when=(*R_R, C.HCT_INELIGIBLE))
def hct_ineligible(ctx: Ctx, rec: Make) -> Recommendation:
    """Not a transplant candidate: inotuzumab may continue up to 6 cycles (001)."""
    return rec(ctx.f("hct_eligible"), ctx.cd19.fact, ctx.cd22.fact, ctx.f_age,
               blin=ctx.cd19.expressed is not False, ino=_ino(ctx))


@rule("ALL-RELAPSE-POST-HCT", "b-all", seeds=("000", "001"), when=(*R_R, C.PRIOR_HCT),
      unless=(C.STATUS_BEFORE_HCT,))
def relapse_after_allo_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """Relapse after allo-HCT: the relapse must follow the transplant; an undated side is
    shown with what to confirm, never assumed."""
    return rec(ctx.f_prior_hct, ctx.f_status, ctx.cd19.fact, ctx.cd22.fact,
               blin=ctx.cd19.expressed is not False, ino=_ino(ctx),
               timing=ctx.status_vs_hct, confirm=relapse_after_hct(ctx))


@rule("ALL-INO-MINIHCVD-SALVAGE", "b-all", seeds=("004",), when=(*R_R, C.PH_NEGATIVE),
      unless=(C.CD22_NEGATIVE, C.INO_AGE_UNLABELLED, C.CHILD, C.INTENSIVE_UNFIT),
      tags=("inotuzumab",))
def inotuzumab_mini_hcvd(ctx: Ctx, rec: Make) -> Recommendation:
    """Inotuzumab with mini-hyper-CVD in Ph-negative salvage (004, phase 2, adults). Adults
    only: the regimen was studied in adults, and inotuzumab's pediatric label (K1) is for the
    drug alone. Not for a patient the team recorded unfit for intensive therapy: it is a
    chemotherapy regimen (review U4)."""
    return rec(ctx.f_ph, ctx.f_status, ctx.cd22.fact,
               first_salvage=ctx.status == "first-relapse", confirm=confirm(ctx, "cd22"))


@rule("ALL-PH-RR-BLIN", "b-all", seeds=("001",), when=(*R_R, C.PH_POSITIVE),
      unless=(C.CD19_NEGATIVE,), tags=("blinatumomab", "blinatumomab-rr"))
def ph_blinatumomab(ctx: Ctx, rec: Make) -> Recommendation:
    """Ph+ r/r B-ALL: blinatumomab, often with a TKI (001)."""
    return rec(ctx.f_ph, ctx.cd19.fact, ctx.f("t315i"),
               t315i=ctx._value("t315i") == "detected", confirm=confirm(ctx, "cd19"))


@rule("ALL-PH-RR-INO", "b-all", seeds=("001",), when=(*R_R, C.PH_POSITIVE),
      unless=(C.CD22_NEGATIVE, C.INO_AGE_UNLABELLED), tags=("inotuzumab",), trials=("NCT02311998",))
def ph_inotuzumab(ctx: Ctx, rec: Make) -> Recommendation:
    """Ph+ r/r B-ALL: inotuzumab after TKI failure (001)."""
    return rec(ctx.f_ph, ctx.cd22.fact, ctx.f_age, confirm=confirm(ctx, "cd22", age=True),
               trials=rec.trials)


@rule("ALL-PH-T315I", "b-all", seeds=("001", "003"), when=R_R)
def t315i(ctx: Ctx, rec: Make) -> Recommendation | None:
    """ABL1 T315I: detected, favour blinatumomab and/or ponatinib; not tested after
    dasatinib then blinatumomab (D-ALBA's relapses), test for it."""
    found = ctx._value("t315i")
    if found == "detected":
        return rec(ctx.f("t315i"), ctx.f_ph, mode="detected", timing=None)
    if not (found is None and ctx.ph == "positive" and ctx.exposure("dasatinib")
            and ctx.exposure("blinatumomab")):
        return None
    # D-ALBA's relapses came *after* dasatinib then blinatumomab: the relapse must follow
    given = ctx.exposure_dates("dasatinib", "blinatumomab")
    when = timing(ctx.status_date, given)
    if when == "before":
        return None
    gap = () if when == "after" else (ctx.order_gap(
        "the relapse", "status", ctx.status_date, given, "dasatinib + blinatumomab"),)
    return rec(ctx.f("t315i"), ctx.f_ph, ctx.f_status,
               ctx.f_exposure("dasatinib"), ctx.f_exposure("blinatumomab"),
               mode="test", timing=when, confirm=gap)


@rule("ALL-CNS-EMD", "b-all", seeds=("000", "001", "003"), when=(*R_R, C.EXTRAMEDULLARY))
def cns_or_extramedullary(ctx: Ctx, rec: Make) -> Recommendation:
    """CNS or extramedullary relapse: CD19 CAR T and inotuzumab act there."""
    return rec(*ctx.f_emd, ctx.cd19.fact, ctx.cd22.fact,
               cns=ctx._value("cns_status") in {"cns2", "cns3"},
               extramedullary=ctx._value("extramedullary") == "present",
               car_t=ctx.cd19.expressed is not False, ino=_ino(ctx))
