"""Monitoring for the drug being ordered (order-select / order-sign).

Windows and actions are the seeds' (section 3 of clinical-rules.md). The seeds give no
grade-by-grade CRS/ICANS algorithm: cards point to the ASTCT grading and established guidelines
instead of inventing one. Every recommendation here carries ``focus`` (the drug) so the renderer
groups one monitoring card per drug.
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.context import REMISSION, RR, Ctx
from service.decision.model import Recommendation


def blinatumomab(ctx: Ctx) -> list[Recommendation]:
    focus = "blinatumomab"
    if ctx.status in RR:
        setting = "rr"
    elif (ctx.status in REMISSION or ctx.status == "post-induction") and \
            ctx.mrd.state == "positive":
        setting = "mrd"
    else:
        setting = "unknown"
    overt: bool | None
    if ctx.status in RR or (ctx.blasts is not None and ctx.blasts > 5):
        overt = True
    elif setting == "mrd":
        overt = False
    else:
        overt = None
    child = ctx.age is not None and ctx.age < 18
    out = [
        ctx.rec(R.MON_IMMUNO_GENERAL, focus=focus, drug="blinatumomab"),
        ctx.rec(R.MON_BLIN_ADMISSION, ctx.f_status, ctx.mrd.fact, focus=focus, setting=setting),
        ctx.rec(R.MON_BLIN_CRS_NEURO_WINDOWS, focus=focus),
        ctx.rec(R.MON_BLIN_TOX_ACTIONS, focus=focus),
    ]
    if overt is not False:
        out.insert(2, ctx.rec(
            R.MON_BLIN_CRS_PREVENTION, ctx.f_status, ctx.f_blasts, ctx.f_age, focus=focus,
            overt=overt is True, child=child,
            child_high_burden=child and ctx.blasts is not None and ctx.blasts > 25,
        ))
    out += [
        ctx.rec(R.MON_IGG, focus=focus, drug="blinatumomab"),
        ctx.rec(R.CAU_BLIN_DRIVING, focus=focus),
        ctx.rec(R.MON_EDUCATION, focus=focus),
    ]
    return out


def car_t(ctx: Ctx, product: str) -> list[Recommendation]:
    focus = product
    # dated, and placed against the latest infusion: a grade from an earlier course must not
    # read as this course's
    grades = (ctx.f_since_car_t("crs_grade", "CRS grade (ASTCT)"),
              ctx.f_since_car_t("icans_grade", "ICANS grade (ASTCT)"),
              ctx.f_since_car_t("ice_score", "ICE score"))
    out = [
        ctx.rec(R.MON_IMMUNO_GENERAL, focus=focus, drug="CAR T"),
        ctx.rec(R.MON_CART_CRS, grades[0], ctx.f_blasts, focus=focus,
                high_burden=bool(ctx.high_burden)),
        ctx.rec(R.MON_CART_ICANS, grades[1], grades[2], *ctx.f_emd,
                ctx.f("neurologic_comorbidity", "Neurologic comorbidity"), focus=focus,
                risk_emd=bool(ctx.emd),
                risk_neuro=ctx._value("neurologic_comorbidity") is True),
        ctx.rec(R.MON_CART_INFECTION, focus=focus),
    ]
    if product == "tisagenlecleucel":
        out.append(ctx.rec(R.MON_CART_PROXIMITY, focus=focus))
    out += [
        ctx.rec(R.MON_CART_PERSISTENCE, focus=focus),
        ctx.rec(R.MON_CART_LABS, focus=focus),
        ctx.rec(R.MON_IGG, focus=focus, drug="CAR T"),
        ctx.rec(R.MON_CART_HIV_NAT, focus=focus),
        ctx.rec(R.MON_EDUCATION, focus=focus),
    ]
    return out


def inotuzumab(ctx: Ctx) -> list[Recommendation]:
    focus = "inotuzumab"
    return [
        ctx.rec(R.MON_INO_VOD, ctx.f("hct_planned", "Allo-HCT planned"), focus=focus,
                hct=ctx.hct_planned is True or ctx.prior_hct),
        ctx.rec(R.MON_EDUCATION, focus=focus),
    ]


def gemtuzumab(ctx: Ctx) -> list[Recommendation]:
    focus = "gemtuzumab"
    return [
        ctx.rec(R.MON_GO_HEPATIC, focus=focus),
        ctx.rec(R.CAU_GO_SOS, ctx.f("hct_planned", "Allo-HCT planned"), focus=focus,
                hct=ctx.hct_planned is True),
        ctx.rec(R.MON_EDUCATION, focus=focus),
    ]
