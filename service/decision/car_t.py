"""CAR T for B-ALL: which product the record allows, and what to weigh after CAR T.

Age gates follow the newest seed (003: tisagenlecleucel up to 25 years; brexucabtagene and
obecabtagene for adults), superseding 000's tisagenlecleucel-only landscape (D2). Tisagenlecleucel
is gated on 000 Table 3's wording, refractory or second-or-later relapse (D3). Transplant after
CAR T is contested (D18): the card lists what favours and what argues against, never a directive.
"""

from __future__ import annotations

from typing import Any

from service.decision import rules as R
from service.decision.context import REMISSION, RR, Ctx, timing
from service.decision.model import Recommendation

CART_OPTIONS = frozenset({R.CART_TISA.id, R.CART_BREXU.id, R.CART_OBE.id})
TISA_STATUSES = frozenset({"primary-refractory", "relapsed-refractory",
                           "second-or-later-relapse"})


def patient_view(ctx: Ctx) -> list[Recommendation]:
    if not ctx.is_b:
        return []
    return options(ctx) + after_car_t(ctx)


def options(ctx: Ctx) -> list[Recommendation]:
    if ctx.status not in RR or ctx.cd19.expressed is False or ctx.prior_car_t:
        return []
    cd19 = ctx.cd19
    confirm19 = ("CD19",) if cd19.status is None else ()
    age = ctx.age
    out: list[Recommendation] = []
    if ctx.status in TISA_STATUSES and (age is None or age <= 25):
        out.append(ctx.rec(
            R.CART_TISA, ctx.f_age, ctx.f_status, cd19.fact,
            confirm=confirm19 + (("age",) if age is None else ()),
            primary_refractory=ctx.status == "primary-refractory",
        ))
    if age is None or age >= 18:
        adult_vars: dict[str, Any] = {"confirm": confirm19 + (("age",) if age is None else ()),
                      "exactly_18": age == 18}
        out.append(ctx.rec(R.CART_BREXU, ctx.f_age, ctx.f_status, cd19.fact, **adult_vars))
        out.append(ctx.rec(R.CART_OBE, ctx.f_age, ctx.f_status, cd19.fact, **adult_vars))
    if age is not None and age >= 26:
        out.append(ctx.rec(R.CART_AGE_GATE, ctx.f_age))
    if not out:
        return []
    if ctx.prior_hct:
        out.append(ctx.rec(R.CART_PRIOR_HCT, ctx.f_prior_hct))
    else:
        out.append(ctx.rec(R.CART_VS_HCT, ctx.f_prior_hct))
    prior = [d for d in ("blinatumomab", "inotuzumab") if ctx.exposure(d)]
    if prior:
        out.append(ctx.rec(R.CART_AFTER_OTHER_IT, *(ctx.f_exposure(d) for d in prior),
                           drugs=tuple(prior)))
    out.append(ctx.rec(R.CAU_CART_LOGISTICS, ctx.f_status))
    out += cd3_before_collection(ctx)
    return out


def cd3_before_collection(ctx: Ctx, focus: str | None = None) -> list[Recommendation]:
    """DX-PRE-CART-CD3 (002): CD3 >= 150/mm3; collect early in r/r disease."""
    cd3 = ctx._value("cd3_count")
    if cd3 is not None and cd3 >= 150:  # type: ignore[operator]
        return []
    return [ctx.rec(R.DX_PRE_CART_CD3, ctx.f("cd3_count", "CD3+ T cells", None if cd3 is None
                                             else f"{cd3:g}/µL"),
                    ctx.f_status, focus=focus, cd3=cd3, low=cd3 is not None,
                    rr=ctx.status in RR)]


def after_car_t(ctx: Ctx) -> list[Recommendation]:
    """Remission or relapse *after* CAR T: the recorded status must postdate the infusion.

    A status recorded before the latest infusion describes the patient before it (the work-up's
    stale-status card asks for the current one); with a date missing on either side the card
    is shown with what to confirm, never asserting the order.
    """
    if not ctx.prior_car_t or ctx.status_vs_car_t == "before":
        return []
    when = ctx.status_vs_car_t
    out: list[Recommendation] = []
    if ctx.status in REMISSION:
        confirm = () if when == "after" else (ctx.order_gap(
            "the remission", "status", ctx.status_date, ctx.car_t_dates, "CAR T infusion"),)
        m = ctx.mrd
        mrd_date = ctx.facts.mrd.effective if ctx.facts.mrd else None
        mrd_when = timing(mrd_date, ctx.car_t_dates) if ctx.facts.mrd else None
        prior_blin = ctx.exposure("blinatumomab") is not None
        kmt2a = ctx.kmt2a == "positive"
        out.append(ctx.rec(
            R.CART_CONSOLIDATIVE_HCT, ctx.f_car_t, ctx.f_status, m.fact, ctx.f("kmt2a", "KMT2A"),
            ctx.f_exposure("blinatumomab"), ctx.f_prior_hct,
            timing=when, confirm=confirm,
            mrd=m.state if mrd_when == "after" else None,
            mrd_day=ctx.day_after_car_t(mrd_date),
            mrd_before=mrd_when == "before", mrd_undated=mrd_when == "unknown",
            kmt2a=kmt2a, prior_blin=prior_blin, prior_hct=ctx.prior_hct,
        ))
        if ctx.prior_hct:
            out.append(ctx.rec(R.CAU_SECOND_HCT_POST_CART, ctx.f_car_t, ctx.f_status,
                               ctx.f_prior_hct, timing=when, confirm=confirm))
    elif ctx.status in RR:
        cd19 = ctx.cd19
        out.append(ctx.rec(
            R.POSTCART_RELAPSE, ctx.f_car_t, ctx.f_status, cd19.fact, ctx.cd22.fact,
            ctx.f("hct_eligible", "Allo-HCT eligible"),
            blin=cd19.expressed is True, cd19_unknown=cd19.status is None,
            cd19_negative=cd19.expressed is False, hct_eligible=ctx.hct_eligible,
            timing=when, confirm=relapse_after_car_t_gap(ctx),
        ))
    return out


def relapse_after_car_t_gap(ctx: Ctx) -> tuple[str, ...]:
    """What to confirm before calling the recorded relapse a relapse *after* CAR T."""
    if ctx.status_vs_car_t == "after":
        return ()
    return (ctx.order_gap("the relapse", "status", ctx.status_date, ctx.car_t_dates,
                          "CAR T infusion"),)
