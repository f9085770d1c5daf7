"""B-ALL immunotherapy options: relapsed/refractory, MRD-positive and frontline disease.

Every option is gated on B lineage and on its target antigen not being negative. An unknown
antigen does not block an option (missing is not negative) but the recommendation carries
``confirm`` so the card says which fact must be confirmed first; the work-up card asks for it.
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.context import REMISSION, RR, Ctx, Timing, timing
from service.decision.model import Recommendation

BLIN_OPTIONS = frozenset({
    R.ALL_BLIN_RR.id, R.ALL_RR_LOW_BURDEN_BLIN.id, R.ALL_PH_RR_BLIN.id, R.ALL_BLIN_MRD_LABEL.id,
    R.ALL_BLIN_MRD_LOW.id, R.ALL_BLIN_MRD_SITC.id, R.ALL_FRONT_BLIN_CONSOLIDATION.id,
    R.ALL_FRONT_PEDS_SR_BLIN.id,
})
BLIN_RR_OPTIONS = frozenset({R.ALL_BLIN_RR.id, R.ALL_RR_LOW_BURDEN_BLIN.id, R.ALL_PH_RR_BLIN.id})
INO_OPTIONS = frozenset({
    R.ALL_INO_RR.id, R.ALL_INO_PEDS.id, R.ALL_PH_RR_INO.id, R.ALL_RR_HIGH_BURDEN_INO_FIRST.id,
    R.ALL_INO_MINIHCVD_SALVAGE.id,
})
PH_FRONT_TRIALS = ("NCT04530565", "NCT04722848", "NCT04747912")
PH_RR_INO_TRIALS = ("NCT02311998",)


def _confirm(ctx: Ctx, *markers: str, age: bool = False, ph_negative: bool = False
             ) -> tuple[str, ...]:
    """Facts an option rests on that the record lacks, in the words a card uses."""
    out = [m.upper() for m in markers if ctx.marker(m).status is None]  # type: ignore[arg-type]
    if age and ctx.age is None:
        out.append("age")
    if ph_negative and ctx.ph is None:
        out.append("Ph-negative status")
    return tuple(out)


def relapse_after_hct_gap(ctx: Ctx) -> tuple[str, ...]:
    """What to confirm before calling the recorded relapse a relapse *after* allo-HCT."""
    if ctx.status_vs_hct == "after":
        return ()
    return (ctx.order_gap("the relapse", "status", ctx.status_date, ctx.hct_dates,
                          "allo-HCT"),)


def patient_view(ctx: Ctx) -> list[Recommendation]:
    if not ctx.is_b:
        return []
    return relapsed(ctx) + mrd(ctx) + sequencing(ctx) + frontline(ctx)


def relapsed(ctx: Ctx) -> list[Recommendation]:
    if ctx.status not in RR:
        return []
    out: list[Recommendation] = []
    cd19, cd22 = ctx.cd19, ctx.cd22
    blin_ok = cd19.expressed is not False
    ino_ok = cd22.expressed is not False
    adult = None if ctx.age is None else ctx.age >= 18
    base = (ctx.f_status, cd19.fact, cd22.fact)

    if ctx.status == "first-relapse":
        out.append(ctx.rec(
            R.ALL_RR_FIRST_RELAPSE, *base, ctx.f_age, ctx.f("prior_lines", "Prior lines"),
            blin=blin_ok, ino=ino_ok and adult is not False,
            confirm=_confirm(ctx, "cd19", "cd22"),
        ))
    if blin_ok:
        out.append(ctx.rec(
            R.ALL_BLIN_RR, *base[:2], ctx.f_ph, ctx.f_age,
            confirm=_confirm(ctx, "cd19"), dim=cd19.status == "dim",
            ph_positive=ctx.ph == "positive",
            pediatric_ph=ctx.ph == "positive" and adult is False,
        ))
    if ino_ok and adult is not False:
        out.append(ctx.rec(R.ALL_INO_RR, ctx.f_status, cd22.fact, ctx.f_age, ctx.f_ph,
                           confirm=_confirm(ctx, "cd22", age=True)))
    if ino_ok and adult is False:
        out.append(ctx.rec(R.ALL_INO_PEDS, ctx.f_status, cd22.fact, ctx.f_age,
                           confirm=_confirm(ctx, "cd22")))
    burden = ctx.high_burden
    if ino_ok and burden:
        out.append(ctx.rec(
            R.ALL_RR_HIGH_BURDEN_INO_FIRST, ctx.f_blasts, *ctx.f_emd, cd22.fact, cd19.fact,
            blasts=ctx.blasts, emd=bool(ctx.emd), confirm=_confirm(ctx, "cd22"),
        ))
    if blin_ok and burden is False:
        out.append(ctx.rec(R.ALL_RR_LOW_BURDEN_BLIN, ctx.f_blasts, cd19.fact,
                           blasts=ctx.blasts, confirm=_confirm(ctx, "cd19")))
    if ctx.hct_planned is True or ctx.hct_eligible is True:
        out.append(ctx.rec(R.ALL_RR_BRIDGE_TO_HCT, ctx.f_status,
                           ctx.f("hct_planned", "Allo-HCT planned"),
                           ctx.f("hct_eligible", "Allo-HCT eligible"),
                           planned=ctx.hct_planned is True))
    if ctx.hct_eligible is False:
        out.append(ctx.rec(R.ALL_HCT_INELIGIBLE, ctx.f("hct_eligible", "Allo-HCT eligible"),
                           cd19.fact, cd22.fact, blin=blin_ok, ino=ino_ok))
    if ctx.prior_hct and ctx.status_vs_hct != "before":
        out.append(ctx.rec(R.ALL_RELAPSE_POST_HCT, ctx.f_prior_hct, ctx.f_status, cd19.fact,
                           cd22.fact, blin=blin_ok, ino=ino_ok, timing=ctx.status_vs_hct,
                           confirm=relapse_after_hct_gap(ctx)))
    if ctx.ph == "negative" and ino_ok and adult is not False:
        out.append(ctx.rec(R.ALL_INO_MINIHCVD_SALVAGE, ctx.f_ph, ctx.f_status, cd22.fact,
                           first_salvage=ctx.status == "first-relapse",
                           confirm=_confirm(ctx, "cd22")))
    if ctx.ph == "positive":
        t315i = ctx._value("t315i")
        if blin_ok:
            out.append(ctx.rec(R.ALL_PH_RR_BLIN, ctx.f_ph, cd19.fact,
                               ctx.f("t315i", "ABL1 T315I"),
                               t315i=t315i == "detected", confirm=_confirm(ctx, "cd19")))
        if ino_ok and adult is not False:
            out.append(ctx.rec(R.ALL_PH_RR_INO, ctx.f_ph, cd22.fact, ctx.f_age,
                               confirm=_confirm(ctx, "cd22", age=True),
                               trials=PH_RR_INO_TRIALS))
    out += _t315i(ctx)
    if ctx.emd:
        out.append(ctx.rec(
            R.ALL_CNS_EMD, *ctx.f_emd, cd19.fact, cd22.fact,
            cns=ctx._value("cns_status") in {"cns2", "cns3"},
            extramedullary=ctx._value("extramedullary") == "present",
            car_t=blin_ok, ino=ino_ok,
        ))
    return out


def _t315i(ctx: Ctx) -> list[Recommendation]:
    t315i = ctx._value("t315i")
    if t315i == "detected":
        return [ctx.rec(R.ALL_PH_T315I, ctx.f("t315i", "ABL1 T315I"), ctx.f_ph, mode="detected",
                        timing=None)]
    if (t315i is None and ctx.ph == "positive" and ctx.status in RR
            and ctx.exposure("dasatinib") and ctx.exposure("blinatumomab")):
        # D-ALBA's relapses came *after* dasatinib then blinatumomab: the relapse must follow
        given = ctx.exposure_dates("dasatinib", "blinatumomab")
        when = timing(ctx.status_date, given)
        if when == "before":
            return []
        confirm = () if when == "after" else (ctx.order_gap(
            "the relapse", "status", ctx.status_date, given, "dasatinib + blinatumomab"),)
        return [ctx.rec(R.ALL_PH_T315I, ctx.f("t315i", "ABL1 T315I"), ctx.f_ph, ctx.f_status,
                        ctx.f_exposure("dasatinib"), ctx.f_exposure("blinatumomab"),
                        mode="test", timing=when, confirm=confirm)]
    return []


def mrd(ctx: Ctx) -> list[Recommendation]:
    """Three MRD bands (D4) for B-ALL after induction or in CR."""
    if ctx.status not in REMISSION and ctx.status != "post-induction":
        return []
    m = ctx.mrd
    cd19 = ctx.cd19
    blin_ok = cd19.expressed is not False
    out: list[Recommendation] = []
    facts = (m.fact, ctx.f_status, cd19.fact)
    no_method = m.method is None
    if m.state == "positive" and blin_ok:
        confirm = _confirm(ctx, "cd19")
        if m.band == "label":
            out.append(ctx.rec(
                R.ALL_BLIN_MRD_LABEL, *facts, confirm=confirm, no_method=no_method,
                later_cr=ctx.status == "cr3-or-later", confirm_cr=ctx.status == "post-induction",
            ))
        elif m.band == "low":
            out.append(ctx.rec(R.ALL_BLIN_MRD_LOW, *facts, confirm=confirm,
                               no_method=no_method))
        elif ctx.status in {"post-induction", "cr1"}:
            out.append(ctx.rec(R.ALL_BLIN_MRD_SITC, *facts, confirm=confirm,
                               level_known=m.fraction is not None))
        if ctx.mrd_persistent:
            out.append(ctx.rec(R.ALL_BLIN_MRD_EARLY, *facts,
                               results=len(ctx.facts.mrd_history)))
    consolidation = m.state == "negative" or (m.state == "positive" and m.band == "sub")
    if consolidation and ctx.status in {"post-induction", "cr1"} and ctx.ph != "positive" \
            and blin_ok:
        out.append(ctx.rec(
            R.ALL_FRONT_BLIN_CONSOLIDATION, m.fact, ctx.f_status, ctx.f_ph, cd19.fact, ctx.f_age,
            detectable_sub=m.state == "positive",
            sensitivity_ok=m.state == "negative" and m.below_1e4 is True,
            confirm=_confirm(ctx, "cd19", ph_negative=True),
            age=ctx.age, under55=ctx.age is not None and ctx.age < 55,
        ))
    blin_when = _mrd_vs(ctx, "blinatumomab")
    if m.state == "negative" and blin_when not in (None, "before") and ctx.status in REMISSION:
        out.append(ctx.rec(R.ALL_BLIN_MRD_HCT_ROLE, m.fact, ctx.f_exposure("blinatumomab"),
                           ctx.f_prior_hct, prior_hct=ctx.prior_hct, timing=blin_when,
                           confirm=_mrd_gap(ctx, "blinatumomab")))
    return out


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


def sequencing(ctx: Ctx) -> list[Recommendation]:
    """ALL-SEQ-INO-BLIN: MRD persisting after one CD19/CD22 agent -> the other (001).

    "After" is a claim about dates: an MRD drawn before the latest course says nothing about
    response to it, so it does not fire; an undated one fires with what to confirm.
    """
    if ctx.mrd.state != "positive":
        return []
    out: list[Recommendation] = []
    for drug, other, target in (("inotuzumab", "blinatumomab", ctx.cd19),
                                ("blinatumomab", "inotuzumab", ctx.cd22)):
        when = _mrd_vs(ctx, drug)
        if when in (None, "before") or target.expressed is False:
            continue
        out.append(ctx.rec(R.ALL_SEQ_INO_BLIN, ctx.mrd.fact, ctx.f_exposure(drug), target.fact,
                           after=drug, next=other, timing=when, confirm=_mrd_gap(ctx, drug)))
    return out


def frontline(ctx: Ctx) -> list[Recommendation]:
    if not ctx.frontline:
        return []
    out: list[Recommendation] = []
    cd20 = ctx.cd20
    ph_ok = ctx.ph != "positive"
    if cd20.status == "positive" and ph_ok:
        if ctx.age is not None and ctx.age >= 60:
            out.append(ctx.rec(R.ALL_RITUX_OLDER, cd20.fact, ctx.f_age, ctx.f_ph,
                               confirm=_confirm(ctx, ph_negative=True)))
        else:
            out.append(ctx.rec(R.ALL_RITUX_CD20, cd20.fact, ctx.f_age, ctx.f_ph,
                               confirm=_confirm(ctx, age=True, ph_negative=True),
                               percent=cd20.percent,
                               pediatric=ctx.age is not None and ctx.age < 18))
    elif (cd20.percent is not None and 1 <= cd20.percent < 20 and cd20.status != "positive"
          and ph_ok and ctx.status in {"newly-diagnosed", "post-induction"}
          and (ctx.age is None or ctx.age >= 18)):  # ofatumumab data are adult (hyper-CVAD)
        out.append(ctx.rec(R.ALL_OFATUMUMAB_CD20LOW, cd20.fact, ctx.f_ph,
                           percent=cd20.percent, confirm=_confirm(ctx, ph_negative=True)))
    if ctx.age is not None and ctx.age < 18 and ctx.cd19.expressed is not False:
        out.append(ctx.rec(R.ALL_FRONT_PEDS_SR_BLIN, ctx.f_age, ctx.f_status, ctx.cd19.fact,
                           confirm=_confirm(ctx, "cd19")))
    early = ctx.status in {"newly-diagnosed", "post-induction"}
    if early and ph_ok and ctx.age is not None and ctx.age > 55:
        out.append(ctx.rec(R.ALL_FRONT_OLDER_TRIAL, ctx.f_age, ctx.f_ph, ctx.f_status,
                           confirm=_confirm(ctx, ph_negative=True)))
    if early and ph_ok and ctx.age is not None and ctx.age >= 18:
        out.append(ctx.rec(R.ALL_FRONT_INO, ctx.f_age, ctx.f_ph, ctx.f_status,
                           confirm=_confirm(ctx, ph_negative=True), over70=ctx.age > 70))
    if ctx.ph == "positive" and early:
        out.append(ctx.rec(R.ALL_PH_FRONT, ctx.f_ph, ctx.f_status, ctx.f_age,
                           older=ctx.age is not None and ctx.age >= 65,
                           trials=PH_FRONT_TRIALS))
        out.append(ctx.rec(R.CAU_PH_CHEMOFREE_CNS, ctx.f_ph, ctx.f_status))
    if ctx._value("ph_like") == "positive":
        out.append(ctx.rec(R.ALL_PH_LIKE, ctx.f("ph_like", "Ph-like signature"), ctx.f_status))
    return out
