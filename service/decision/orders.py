"""Order hooks: check the drafted drug against the record, then its cautions and monitoring.

A `critical` card is reserved for an order the record contradicts: a CD19 agent in CD19-negative
or non-B disease, a CD22 agent in CD22-negative or non-B disease, tisagenlecleucel above 25 years,
an adult-only CAR T product under 18, GO in CD33-negative or non-AML disease, rituximab in CD20-
negative or non-B disease. An unknown fact is never a contradiction: it yields a work-up card
naming what to confirm before the first dose.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from service.decision import cautions, monitoring, workup
from service.decision import rules as R
from service.decision.car_t import TISA_STATUSES, cd3_before_collection
from service.decision.context import CD19_CAR_T, DRUG_TEXT, LINEAGE_TEXT, Ctx, focus_drug
from service.decision.model import Recommendation
from service.facts import DraftOrder

_AGE_DEPENDS = {
    "tisagenlecleucel": ("tisagenlecleucel (up to 25 years)",),
    "brexucabtagene": ("brexucabtagene autoleucel (adults)",),
    "obecabtagene": ("obecabtagene autoleucel (adults)",),
    "inotuzumab": ("inotuzumab ozogamicin (adult label)",),
}


def for_order(ctx: Ctx, order: DraftOrder) -> list[Recommendation]:
    """Eligibility, cautions and monitoring for one draft; ORDER-* cards name the draft."""
    return [
        replace(r, variables=MappingProxyType({**r.variables, "order_ref": order.resource}))
        if r.id.startswith("ORDER-") else r
        for r in _for_drug(ctx, order)
    ]


def _for_drug(ctx: Ctx, order: DraftOrder) -> list[Recommendation]:
    drug = focus_drug(order)
    if drug == "blinatumomab":
        return _cd19_agent(ctx, drug) + monitoring.blinatumomab(ctx)
    if drug in CD19_CAR_T:
        return _cd19_agent(ctx, drug) + _car_t_product(ctx, drug) + monitoring.car_t(ctx, drug)
    if drug == "car-t":
        return _unknown_car_t(ctx) + monitoring.car_t(ctx, drug)
    if drug == "inotuzumab":
        return _inotuzumab(ctx) + monitoring.inotuzumab(ctx)
    if drug == "gemtuzumab":
        return _gemtuzumab(ctx) + monitoring.gemtuzumab(ctx)
    if drug == "rituximab":
        return _rituximab(ctx)
    if drug == "daratumumab":
        return _daratumumab(ctx)
    return []


def _lineage_gap(ctx: Ctx, drug: str) -> list[Recommendation]:
    if ctx.lineage in (None, "all-unspecified"):
        return [ctx.rec(R.DQ_LINEAGE_UNKNOWN, ctx.f_lineage, ctx.cd19.fact, ctx.cd22.fact,
                        focus=drug, unspecified=ctx.lineage == "all-unspecified")]
    return []


def _age_gap(ctx: Ctx, drug: str) -> list[Recommendation]:
    if ctx.age is None and drug in _AGE_DEPENDS:
        rec = workup.age_unknown(ctx, _AGE_DEPENDS[drug])
        return [ctx.rec(R.DQ_AGE_UNKNOWN, *rec.facts, focus=drug, **rec.variables)]
    return []


def _marker_gap(ctx: Ctx, drug: str, marker: str) -> list[Recommendation]:
    reading = ctx.marker(marker)  # type: ignore[arg-type]
    if reading.status is not None:
        return []
    return [ctx.rec(R.DX_MARKER_AGENT_MAP, reading.fact, focus=drug, drug=DRUG_TEXT[drug],
                    marker=marker.upper())]


def _cd19_agent(ctx: Ctx, drug: str) -> list[Recommendation]:
    name = DRUG_TEXT[drug]
    if ctx.is_t or ctx.is_aml:
        return [ctx.rec(R.ORDER_CD19_LINEAGE, ctx.f_lineage, focus=drug, drug=name,
                        lineage=LINEAGE_TEXT[ctx.lineage or ""])]
    out = _lineage_gap(ctx, drug) + _age_gap(ctx, drug)
    if ctx.cd19.expressed is False:
        loss = ctx.lost_after("cd19", "blinatumomab", *CD19_CAR_T, car_t=True)
        out.append(ctx.rec(R.ORDER_CD19_NEG, ctx.cd19.fact, ctx.cd22.fact, focus=drug,
                           drug=name, loss=loss, cd22_expressed=ctx.cd22.expressed is True))
    else:
        out += _marker_gap(ctx, drug, "cd19")
    out += cautions.lineage_switch(ctx, focus=drug)
    if ctx._value("neurologic_comorbidity") is True:
        out.append(cautions.neuro(ctx, blin=drug == "blinatumomab",
                                  cart=drug != "blinatumomab", focus=drug))
    if drug == "blinatumomab":
        if ctx.rr and ctx.high_burden:
            out.append(cautions.blin_efficacy(ctx, focus=drug))
        if ctx.ph == "positive" and ctx.status in {"newly-diagnosed", "post-induction"}:
            out.append(ctx.rec(R.CAU_PH_CHEMOFREE_CNS, ctx.f_ph, ctx.f_status, focus=drug))
    return out


def _car_t_product(ctx: Ctx, drug: str) -> list[Recommendation]:
    out: list[Recommendation] = []
    if ctx.is_t or ctx.is_aml:
        return out
    if drug == "tisagenlecleucel":
        if ctx.age is not None and ctx.age > 25:
            out.append(ctx.rec(R.ORDER_TISA_AGE, ctx.f_age, focus=drug, age=ctx.age))
        if ctx.status is not None and ctx.status not in TISA_STATUSES:
            out.append(ctx.rec(R.ORDER_TISA_STATUS, ctx.f_status, focus=drug,
                               status=ctx.status_text))
    elif ctx.age is not None and ctx.age < 18:
        out.append(ctx.rec(R.ORDER_CART_ADULT_AGE, ctx.f_age, focus=drug,
                           drug=DRUG_TEXT[drug], age=ctx.age))
    if ctx.exposure("blinatumomab"):
        out.append(cautions.sequencing(ctx, focus=drug))
    out += cd3_before_collection(ctx, focus=drug)
    return out


def _unknown_car_t(ctx: Ctx) -> list[Recommendation]:
    out = [ctx.rec(R.ORDER_CART_PRODUCT_UNKNOWN, ctx.f_lineage, ctx.cd19.fact, ctx.f_age,
                   focus="car-t", cd19_negative=ctx.cd19.expressed is False,
                   b_lineage=ctx.is_b)]
    if ctx.is_b:
        out += cautions.lineage_switch(ctx, focus="car-t")
        if ctx.exposure("blinatumomab"):
            out.append(cautions.sequencing(ctx, focus="car-t"))
    out += cd3_before_collection(ctx, focus="car-t")
    return out


def _inotuzumab(ctx: Ctx) -> list[Recommendation]:
    drug = "inotuzumab"
    name = DRUG_TEXT[drug]
    if ctx.is_t or ctx.is_aml:
        return [ctx.rec(R.ORDER_CD22_CONTRA, ctx.f_lineage, focus=drug, drug=name,
                        reason="lineage", lineage=LINEAGE_TEXT[ctx.lineage or ""])]
    out = _lineage_gap(ctx, drug) + _age_gap(ctx, drug)
    if ctx.cd22.expressed is False:
        out.append(ctx.rec(R.ORDER_CD22_CONTRA, ctx.cd22.fact, ctx.cd19.fact, focus=drug,
                           drug=name, reason="cd22", lineage="B-ALL",
                           cd19_expressed=ctx.cd19.expressed is True))
    else:
        out += _marker_gap(ctx, drug, "cd22")
    if ctx.age is not None and ctx.age < 18:
        out.append(ctx.rec(R.ALL_INO_PEDS, ctx.f_age, ctx.cd22.fact, focus=drug, confirm=()))
    out += cautions.ino_cautions(ctx, focus=drug)
    if ctx._value("hepatic_disease") is True:
        out.append(cautions.hepatic(ctx, focus=drug))
    out += cautions.cd22_loss(ctx, focus=drug)
    if ctx.frontline and ctx.ph != "positive":
        out.append(ctx.rec(R.CAU_INO_FRONTLINE_TOX, ctx.f_status, ctx.f_age, focus=drug))
    return out


def _gemtuzumab(ctx: Ctx) -> list[Recommendation]:
    drug = "gemtuzumab"
    if ctx.lineage is not None and not ctx.is_aml:
        return [ctx.rec(R.ORDER_GO_CONTRA, ctx.f_lineage, focus=drug, reason="lineage",
                        lineage=LINEAGE_TEXT[ctx.lineage])]
    out = _lineage_gap(ctx, drug) if ctx.lineage is None else []
    if ctx.cd33.expressed is False:
        out.append(ctx.rec(R.ORDER_GO_CONTRA, ctx.cd33.fact, focus=drug, reason="cd33",
                           lineage="AML"))
    elif ctx.cd33.status is None:
        out.append(ctx.rec(R.DX_CD33_FOR_GO, ctx.cd33.fact, focus=drug))
    return out


def _rituximab(ctx: Ctx) -> list[Recommendation]:
    drug = "rituximab"
    if ctx.is_t or ctx.is_aml:
        return [ctx.rec(R.ORDER_RITUX_CONTRA, ctx.f_lineage, focus=drug, reason="lineage",
                        lineage=LINEAGE_TEXT[ctx.lineage or ""])]
    out = _lineage_gap(ctx, drug)
    cd20 = ctx.cd20
    raw_call = ctx.facts.markers["cd20"].call if "cd20" in ctx.facts.markers else None
    if raw_call == "negative" or (raw_call is None and cd20.percent is not None
                                  and cd20.percent < 1):
        out.append(ctx.rec(R.ORDER_RITUX_CONTRA, cd20.fact, focus=drug, reason="cd20",
                           lineage="B-ALL"))
    elif cd20.percent is not None and cd20.percent < 20 and raw_call != "positive":
        out.append(ctx.rec(R.ORDER_RITUX_CD20_LOW, cd20.fact, focus=drug,
                           percent=cd20.percent))
    elif cd20.status is None:
        out += _marker_gap(ctx, drug, "cd20")
    if ctx.age is not None and ctx.age >= 60 and ctx.is_b:
        out.append(ctx.rec(R.ALL_RITUX_OLDER, cd20.fact, ctx.f_age, ctx.f_ph, focus=drug,
                           confirm=("Ph-negative status",) if ctx.ph is None else ()))
    return out


def _daratumumab(ctx: Ctx) -> list[Recommendation]:
    drug = "daratumumab"
    cd38 = ctx.marker("cd38")
    out = [ctx.rec(R.CAU_DARA_BLOODBANK, cd38.fact, focus=drug)]
    if cd38.expressed is False:
        out.append(ctx.rec(R.ORDER_DARA_CD38, cd38.fact, ctx.f_lineage, focus=drug))
    return out
