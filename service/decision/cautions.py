"""Cautions that attach to the options being shown (patient-view) or the drug ordered.

A caution never removes an option by itself (D20: prior blinatumomab is a caution before CD19
CAR T, never an exclusion); it says what to weigh and why. Contradictions between an order and
the record are `orders.py`'s business (critical cards).
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.b_all import BLIN_OPTIONS, BLIN_RR_OPTIONS, INO_OPTIONS
from service.decision.car_t import CART_OPTIONS
from service.decision.context import DRUG_TEXT, Ctx
from service.decision.model import Recommendation

CD19_DIRECTED = ("blinatumomab", "tisagenlecleucel", "brexucabtagene", "obecabtagene")


def patient_view(ctx: Ctx, fired: frozenset[str]) -> list[Recommendation]:
    out: list[Recommendation] = []
    ino = bool(fired & INO_OPTIONS)
    blin = bool(fired & BLIN_OPTIONS)
    cart = bool(fired & CART_OPTIONS)
    if ctx.is_b:
        out += cd19_negative(ctx)
        out += cd22_loss(ctx)
        if blin or cart or ctx.exposure(*CD19_DIRECTED) or ctx.prior_car_t:
            out += lineage_switch(ctx)
        if cart and ctx.exposure("blinatumomab"):
            out.append(sequencing(ctx))
        if ino:
            out += ino_cautions(ctx)
        if ctx._value("hepatic_disease") is True and ino:
            out.append(hepatic(ctx))
        if ctx._value("neurologic_comorbidity") is True and (blin or cart):
            out.append(neuro(ctx, blin=blin, cart=cart))
        if fired & BLIN_RR_OPTIONS and ctx.high_burden:
            out.append(blin_efficacy(ctx))
    if ctx.is_b and (blin or cart or ino):
        out += antigen_heterogeneity(ctx)
    return out


def cd19_negative(ctx: Ctx) -> list[Recommendation]:
    if ctx.cd19.expressed is not False:
        return []
    loss = ctx.lost_after("cd19", *CD19_DIRECTED, car_t=True)
    return [ctx.rec(R.CAU_CD19_NEG, ctx.cd19.fact, ctx.cd22.fact, ctx.f_car_t
                    if ctx.prior_car_t else None, loss=loss,
                    cd22_expressed=ctx.cd22.expressed is True)]


def cd22_loss(ctx: Ctx, focus: str | None = None) -> list[Recommendation]:
    if not ctx.exposure("inotuzumab") or not (ctx.rr or ctx.cd22.expressed is False):
        return []
    return [ctx.rec(R.CAU_CD22_LOSS, ctx.f_exposure("inotuzumab"), ctx.cd22.fact, focus=focus,
                    cd22_negative=ctx.lost_after("cd22", "inotuzumab"))]


def lineage_switch(ctx: Ctx, focus: str | None = None) -> list[Recommendation]:
    fusions = []
    if ctx.kmt2a == "positive":
        fusions.append("KMT2A rearrangement")
    if ctx.ph == "positive":
        fusions.append("BCR::ABL1")
    if not fusions:
        return []
    return [ctx.rec(R.CAU_LINEAGE_SWITCH, ctx.f("kmt2a", "KMT2A"), ctx.f_ph, focus=focus,
                    fusions=tuple(fusions), kmt2a=ctx.kmt2a == "positive")]


def sequencing(ctx: Ctx, focus: str | None = None) -> Recommendation:
    return ctx.rec(R.CAU_SEQUENCING_CD19, ctx.f_exposure("blinatumomab"), ctx.cd19.fact,
                   focus=focus)


def ino_cautions(ctx: Ctx, focus: str | None = None) -> list[Recommendation]:
    """VOD with HCT (planned, prior or possible: D27) and tolerance above 55 years."""
    out: list[Recommendation] = []
    if ctx.hct_planned is True:
        context = "planned"
    elif ctx.prior_hct:
        context = "prior"
    elif ctx.hct_eligible is False:
        context = None
    else:
        context = "possible"
    if context:
        out.append(ctx.rec(R.CAU_INO_VOD_HCT, ctx.f("hct_planned", "Allo-HCT planned"),
                           ctx.f_prior_hct, ctx.f("hct_eligible", "Allo-HCT eligible"),
                           focus=focus, hct=context))
    if ctx.age is not None and ctx.age > 55:
        out.append(ctx.rec(R.CAU_AGE_INO, ctx.f_age, focus=focus, over70=ctx.age > 70,
                           frontline=ctx.frontline))
    return out


def hepatic(ctx: Ctx, focus: str | None = None) -> Recommendation:
    return ctx.rec(R.CAU_HEPATIC, ctx.f("hepatic_disease", "Hepatic disease"), focus=focus)


def neuro(ctx: Ctx, *, blin: bool, cart: bool, focus: str | None = None) -> Recommendation:
    return ctx.rec(R.CAU_NEURO, ctx.f("neurologic_comorbidity", "Neurologic comorbidity"),
                   focus=focus, blin=blin, cart=cart)


def blin_efficacy(ctx: Ctx, focus: str | None = None) -> Recommendation:
    return ctx.rec(R.CAU_BLIN_EFFICACY, ctx.f_blasts, *ctx.f_emd, focus=focus,
                   blasts=ctx.blasts, emd=bool(ctx.emd))


def antigen_heterogeneity(ctx: Ctx) -> list[Recommendation]:
    """DX-ANTIGEN-HETEROGENEITY: a % or a dim call hides density and negative subclones."""
    soft = [r for r in (ctx.cd19, ctx.cd22) if r.status == "dim" or r.by_policy]
    if not soft:
        return []
    return [ctx.rec(R.DX_ANTIGEN_HETEROGENEITY, *(r.fact for r in soft),
                    markers=tuple(r.marker.upper() for r in soft))]


def drug_name(drug: str) -> str:
    return DRUG_TEXT.get(drug, drug)
