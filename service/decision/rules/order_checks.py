"""Order hooks: the drafted drug checked against the record.

A `critical` card is reserved for an order the record contradicts: a CD19 agent in CD19-negative
or non-B disease, a CD22 agent in CD22-negative or non-B disease, tisagenlecleucel above 25 years,
an adult-only CAR T product under 18, GO in CD33-negative or non-AML disease, rituximab in CD20-
negative or non-B disease. An unknown fact is never a contradiction: the work-up and
data-quality rules name what to confirm before the first dose. The engine adds ``order_ref``
(the draft) to every recommendation here.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import status_number
from service.decision.model import Recommendation
from service.decision.registry import ORDER_HOOKS, Make, criterion, rule
from service.decision.vocabulary import CD19_CAR_T, DRUG_TEXT, LINEAGE_TEXT, TISA_STATUSES

CD19_AGENTS = ("blinatumomab", *sorted(CD19_CAR_T))


# local criteria (candidates for criteria.py) -----------------------------------------------


@criterion("lineage recorded and not AML")
def NOT_AML_LINEAGE(ctx: Ctx) -> bool:
    return ctx.lineage is not None and not ctx.is_aml


@criterion("older than 25 years")
def OVER_25(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age > 25


def _cd20_call(ctx: Ctx) -> str | None:
    """CD20 as the lab called it (None: no call, a bare % or no result)."""
    m = ctx.facts.markers.get("cd20")
    return m.call if m is not None else None


def _cd20_negative(ctx: Ctx) -> bool:
    """Called negative, or a bare % under 1 (rituximab's contradiction, not just "low")."""
    call, percent = _cd20_call(ctx), ctx.cd20.percent
    return call == "negative" or (call is None and percent is not None and percent < 1)


@rule("ORDER-CD19-AGENT-LINEAGE", "order", seeds=("000", "002"), hooks=ORDER_HOOKS,
      drugs=CD19_AGENTS, when=(C.T_ALL_OR_AML,))
def cd19_agent_lineage(ctx: Ctx, rec: Make) -> Recommendation:
    """A CD19-directed agent (blinatumomab, CD19 CAR T) ordered for T-ALL or AML: labelled for
    B-cell precursor ALL (000); CD19 is absent on cells of other lineages (002)."""
    return rec(ctx.f_lineage, drug=DRUG_TEXT[rec.focus or ""],
               lineage=LINEAGE_TEXT[ctx.lineage or ""])


@rule("ORDER-CD19-NEG", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=CD19_AGENTS,
      when=(C.CD19_NEGATIVE,), unless=(C.T_ALL_OR_AML,))
def cd19_negative(ctx: Ctx, rec: Make) -> Recommendation:
    """A CD19-directed agent ordered with CD19 negative: CD19 loss renders blinatumomab and
    CD19 CAR T ineffective (000)."""
    loss = ctx.lost_after("cd19", "blinatumomab", *CD19_CAR_T, car_t=True)
    return rec(ctx.cd19.fact, ctx.cd22.fact, drug=DRUG_TEXT[rec.focus or ""], loss=loss,
               cd22_expressed=ctx.cd22.expressed is True)


@rule("ORDER-CD22-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("inotuzumab",))
def cd22_contra(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Inotuzumab ordered in T-ALL or AML, or with CD22 negative: it is for CD22+ B-cell
    precursor ALL (000)."""
    name = DRUG_TEXT["inotuzumab"]
    if ctx.is_t or ctx.is_aml:
        return rec(ctx.f_lineage, drug=name, reason="lineage",
                   lineage=LINEAGE_TEXT[ctx.lineage or ""])
    if ctx.cd22.expressed is False:
        return rec(ctx.cd22.fact, ctx.cd19.fact, drug=name, reason="cd22", lineage="B-ALL",
                   cd19_expressed=ctx.cd19.expressed is True)
    return None


@rule("ORDER-TISA-AGE", "order", seeds=("000", "003"), hooks=ORDER_HOOKS,
      drugs=("tisagenlecleucel",), when=(OVER_25,), unless=(C.T_ALL_OR_AML,))
def tisagenlecleucel_age(ctx: Ctx, rec: Make) -> Recommendation:
    """Tisagenlecleucel ordered above 25 years: approved only up to 25 years (000, 003)."""
    return rec(ctx.f_age, age=ctx.age)


@rule("ORDER-TISA-STATUS", "order", seeds=("000",), hooks=ORDER_HOOKS,
      drugs=("tisagenlecleucel",), unless=(C.T_ALL_OR_AML,))
def tisagenlecleucel_status(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Tisagenlecleucel ordered outside its label's setting: refractory or second or later
    relapse (000 Table 3). An unrecorded status is not a contradiction."""
    if ctx.status is None or ctx.status in TISA_STATUSES:
        return None
    # a relapse without its number may be the second (the label's): confirm it
    number = status_number(ctx) if ctx.status == "relapse" else ()
    return rec(ctx.f_status, status=ctx.status_text, confirm=number)


@rule("ORDER-CART-ADULT-AGE", "order", seeds=("001", "003"), hooks=ORDER_HOOKS,
      drugs=("brexucabtagene", "obecabtagene"), when=(C.CHILD,), unless=(C.T_ALL_OR_AML,))
def adult_car_t_age(ctx: Ctx, rec: Make) -> Recommendation:
    """Brexucabtagene or obecabtagene ordered under 18: both are approved for adults (003;
    ZUMA-3 enrolled patients older than 18, 001)."""
    return rec(ctx.f_age, drug=DRUG_TEXT[rec.focus or ""], age=ctx.age)


@rule("ORDER-CART-PRODUCT-UNKNOWN", "order", seeds=("003",), hooks=ORDER_HOOKS,
      drugs=("car-t",))
def car_t_product_unknown(ctx: Ctx, rec: Make) -> Recommendation:
    """A CAR T order that names no product: eligibility cannot be checked; the approved
    products for r/r B-ALL all target CD19 (003)."""
    return rec(ctx.f_lineage, ctx.cd19.fact, ctx.f_age,
               cd19_negative=ctx.cd19.expressed is False, b_lineage=ctx.is_b)


@rule("ORDER-GO-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("gemtuzumab",))
def gemtuzumab_contra(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Gemtuzumab ozogamicin ordered outside AML or with CD33 negative: GO requires confirmed
    CD33 positivity on the malignant cells (000)."""
    if NOT_AML_LINEAGE(ctx):
        return rec(ctx.f_lineage, reason="lineage", lineage=LINEAGE_TEXT[ctx.lineage or ""])
    if ctx.cd33.expressed is False:
        return rec(ctx.cd33.fact, reason="cd33", lineage="AML")
    return None


@rule("ORDER-RITUX-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("rituximab",))
def rituximab_contra(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Rituximab ordered in T-ALL or AML, or with CD20 negative: recommended in CD20+ B-ALL
    (000)."""
    if ctx.is_t or ctx.is_aml:
        return rec(ctx.f_lineage, reason="lineage", lineage=LINEAGE_TEXT[ctx.lineage or ""])
    if _cd20_negative(ctx):
        return rec(ctx.cd20.fact, reason="cd20", lineage="B-ALL")
    return None


@rule("ORDER-RITUX-CD20-LOW", "order", seeds=("004",), hooks=ORDER_HOOKS, drugs=("rituximab",),
      unless=(C.T_ALL_OR_AML,))
def rituximab_cd20_low(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Rituximab ordered with CD20 on under 20 % of blasts: rituximab has not been studied
    there (ofatumumab is the option with low CD20, 004)."""
    cd20 = ctx.cd20
    if _cd20_negative(ctx) or cd20.percent is None or cd20.percent >= 20 \
            or _cd20_call(ctx) == "positive":
        return None
    return rec(cd20.fact, percent=cd20.percent)


@rule("ORDER-DARA-CD38", "order", seeds=("004",), hooks=ORDER_HOOKS, drugs=("daratumumab",))
def daratumumab_cd38(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Daratumumab ordered with CD38 negative: the evidence is in CD38-positive ALL (004)."""
    cd38 = ctx.marker("cd38")
    if cd38.expressed is not False:
        return None
    return rec(cd38.fact, ctx.f_lineage)
