"""Order hooks: the drafted drug checked against the record, and against its indication.

A `critical` card is reserved for an order the record contradicts by a lab call or an explicit
fact: a CD19 agent in CD19-negative or non-B disease, a CD22 agent in CD22-negative or non-B
disease, tisagenlecleucel above 25 years, an adult-only CAR T product under 18, GO in
CD33-negative or non-AML disease, rituximab in CD20-negative or non-B disease, a TKI other than
ponatinib with ABL1 T315I detected. Those rules mark ``CONTRADICTED``: the engine then drops
that draft's routine cautions and monitoring (F4).

An order outside its indication in the record (blinatumomab in newly diagnosed disease or an
MRD-negative CR2, an adult CAR T product outside adult r/r B-ALL, GO in adverse-risk induction,
a TKI in Ph-negative disease) is a `warning` naming it. A bare marker % under the site's
cut-off is site policy, not evidence: a `warning` asking to confirm, never "negative" (W6).
An unknown fact is never a contradiction: ``ORDER-INDICATION-CONFIRM`` names what to confirm.
The engine adds ``order_ref`` (the draft) to every recommendation here.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import status_number
from service.decision.model import Recommendation
from service.decision.readings import MarkerReading
from service.decision.registry import CONTRADICTED, ORDER_HOOKS, Make, criterion, rule
from service.decision.vocabulary import (
    CD19_CAR_T,
    DRUG_TEXT,
    LINEAGE_TEXT,
    MARKER_LABEL,
    RR,
    TISA_STATUSES,
)
from service.facts import Marker

CD19_AGENTS = ("blinatumomab", *sorted(CD19_CAR_T))
ADULT_CAR_T = ("brexucabtagene", "obecabtagene")
TKIS = ("dasatinib", "imatinib", "nilotinib", "ponatinib")
# 003 names ponatinib as "a TKI effective against ABL1 mutations like T315I"; 001 calls T315I
# a resistance mutation. The other TKIs the contract knows are the ones it resists.
T315I_RESISTED = ("dasatinib", "imatinib", "nilotinib")
# the antigen each targeted drug needs (000 Table 2)
_TARGET: dict[str, Marker] = {
    "blinatumomab": "cd19", "tisagenlecleucel": "cd19", "brexucabtagene": "cd19",
    "obecabtagene": "cd19", "inotuzumab": "cd22", "gemtuzumab": "cd33",
}


# local criteria (candidates for criteria.py) -----------------------------------------------


@criterion("lineage recorded and not AML")
def NOT_AML_LINEAGE(ctx: Ctx) -> bool:
    return ctx.lineage is not None and not ctx.is_aml


@criterion("an acute leukemia diagnosis recorded")
def LINEAGE_RECORDED(ctx: Ctx) -> bool:
    """TKIs and daratumumab are given far more often for other diseases (CML, GIST, myeloma):
    their indication is checked only on a chart that records an acute leukemia."""
    return ctx.lineage is not None


@criterion("ABL1 T315I detected")
def T315I_DETECTED(ctx: Ctx) -> bool:
    return ctx._value("t315i") == "detected"


@criterion("CD22 called negative by the lab")
def CD22_CALLED_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.cd22.called_negative


@criterion("older than 25 years")
def OVER_25(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age > 25


def _cd20_call(ctx: Ctx) -> str | None:
    """CD20 as the lab called it (None: no call, a bare % or no result)."""
    m = ctx.facts.markers.get("cd20")
    return m.call if m is not None else None


def _lineage_text(ctx: Ctx) -> str:
    """The diagnosis as the record gives it: an inferred B lineage says so (S2)."""
    text = LINEAGE_TEXT[ctx.lineage or ""]
    if ctx.facts.lineage_inferred:
        return f"ALL ({text} inferred from markers)"
    return text


def _cd20_negative(ctx: Ctx) -> bool:
    """Called negative, or a bare % under 1: rituximab's contradiction, not just "low".

    CD20 is the one marker whose % cut-off is the seeds' own (003: CD20-positive means >= 20 %
    of blasts), so a bare % is evidence, not site policy; under 1 % no blast expresses the
    target at the resolution flow cytometry reports, which is what "negative" means (W6)."""
    call, percent = _cd20_call(ctx), ctx.cd20.percent
    return call == "negative" or (call is None and percent is not None and percent < 1)


@rule("ORDER-CD19-AGENT-LINEAGE", "order", seeds=("000", "002"), hooks=ORDER_HOOKS,
      drugs=CD19_AGENTS, when=(C.T_ALL_OR_AML,), tags=(CONTRADICTED,))
def cd19_agent_lineage(ctx: Ctx, rec: Make) -> Recommendation:
    """A CD19-directed agent (blinatumomab, CD19 CAR T) ordered for T-ALL or AML: labelled for
    B-cell precursor ALL (000); CD19 is absent on cells of other lineages (002)."""
    return rec(ctx.f_lineage, drug=DRUG_TEXT[rec.focus or ""],
               lineage=LINEAGE_TEXT[ctx.lineage or ""])


@rule("ORDER-CD19-NEG", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=CD19_AGENTS,
      when=(C.CD19_CALLED_NEGATIVE,), unless=(C.T_ALL_OR_AML,), tags=(CONTRADICTED,))
def cd19_negative(ctx: Ctx, rec: Make) -> Recommendation:
    """A CD19-directed agent ordered with CD19 called negative by the lab: CD19 loss renders
    blinatumomab and CD19 CAR T ineffective (000). A bare % under the site's cut-off is not a
    call: ORDER-MARKER-BELOW-CUTOFF asks to confirm it instead."""
    loss = ctx.lost_after("cd19", "blinatumomab", *CD19_CAR_T, car_t=True)
    return rec(ctx.cd19.fact, ctx.cd22.fact, drug=DRUG_TEXT[rec.focus or ""], loss=loss,
               cd22_expressed=ctx.cd22.expressed is True)


@rule("ORDER-CD22-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("inotuzumab",),
      tags=(CONTRADICTED,))
def cd22_contra(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Inotuzumab ordered in T-ALL or AML, or with CD22 called negative by the lab: it is for
    CD22+ B-cell precursor ALL (000)."""
    name = DRUG_TEXT["inotuzumab"]
    if ctx.is_t or ctx.is_aml:
        return rec(ctx.f_lineage, drug=name, reason="lineage",
                   lineage=LINEAGE_TEXT[ctx.lineage or ""])
    if CD22_CALLED_NEGATIVE(ctx):
        return rec(ctx.cd22.fact, ctx.cd19.fact, drug=name, reason="cd22", lineage="B-ALL",
                   cd19_expressed=ctx.cd19.expressed is True)
    return None


@rule("ORDER-MARKER-BELOW-CUTOFF", "order", seeds=("000",), hooks=ORDER_HOOKS,
      drugs=tuple(_TARGET))
def marker_below_cutoff(ctx: Ctx, rec: Make) -> Recommendation | None:
    """A targeted drug ordered with its antigen given only as a bare % under the site's cut-off
    (no lab call): the seeds give no % cut-off for CD19, CD22 or CD33 (clinical-rules §5), so
    this is site policy, not evidence. A warning asking to confirm the antigen, never a
    contradiction (W6). A non-matching lineage speaks instead (the lineage checks)."""
    drug = rec.focus or ""
    if (NOT_AML_LINEAGE(ctx) if drug == "gemtuzumab" else C.T_ALL_OR_AML(ctx)):
        return None
    marker = _TARGET[drug]
    reading = ctx.marker(marker)
    if not reading.below_cutoff or reading.percent is None:
        return None
    agents = {"cd19": ("blinatumomab", *CD19_CAR_T), "cd22": ("inotuzumab",), "cd33": ()}
    loss = bool(agents[marker]) and ctx.lost_after(marker, *agents[marker],
                                                   car_t=marker == "cd19")
    return rec(reading.fact, drug=DRUG_TEXT[drug], marker=MARKER_LABEL[marker],
               percent=reading.percent, cutoff=ctx.policy.marker_positive_percent, loss=loss)


@rule("ORDER-TISA-AGE", "order", seeds=("000", "003"), hooks=ORDER_HOOKS,
      drugs=("tisagenlecleucel",), when=(OVER_25,), unless=(C.T_ALL_OR_AML,),
      tags=(CONTRADICTED,))
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
      drugs=ADULT_CAR_T, when=(C.CHILD,), unless=(C.T_ALL_OR_AML,),
      tags=(CONTRADICTED,))
def adult_car_t_age(ctx: Ctx, rec: Make) -> Recommendation:
    """Brexucabtagene or obecabtagene ordered under 18: both are approved for adults (003;
    ZUMA-3 enrolled patients older than 18, 001)."""
    return rec(ctx.f_age, drug=DRUG_TEXT[rec.focus or ""], age=ctx.age)


def _after_car_t(ctx: Ctx) -> str | None:
    """The product of a CAR T infusion with no disease status recorded after it (the status
    predates it, or either date is missing): a new CAR T order has no r/r status to rest on."""
    if not ctx.prior_car_t or ctx.status_vs_car_t == "after":
        return None
    return DRUG_TEXT.get(ctx.facts.car_t[-1].product or "", "a CAR T product")


@rule("ORDER-CART-ADULT-SETTING", "order", seeds=("003",), hooks=ORDER_HOOKS,
      drugs=ADULT_CAR_T, unless=(C.T_ALL_OR_AML,))
def adult_car_t_setting(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Brexucabtagene or obecabtagene ordered outside relapsed/refractory B-ALL: the three
    approved products are for R/R B-ALL and no frontline CAR T study has been conducted (003).
    After a CAR T infusion with no status recorded since, the r/r setting is unconfirmed
    (the status predates the infusion). An unrecorded status is a confirm, not a warning."""
    product = _after_car_t(ctx)
    if product is not None:
        return rec(ctx.f_car_t, ctx.f_status, drug=DRUG_TEXT[rec.focus or ""],
                   setting="after-car-t", product=product, status=ctx.status_text)
    if ctx.status is None or ctx.status in RR:
        return None
    where = {"newly-diagnosed": "in newly diagnosed disease",
             "post-induction": "after induction"}.get(ctx.status, f"in {ctx.status_text}")
    return rec(ctx.f_status, ctx.mrd.fact, drug=DRUG_TEXT[rec.focus or ""], setting="status",
               product="", status=where)


def _blin_setting(ctx: Ctx) -> str | None:
    """Blinatumomab's settings in 003: r/r; MRD >= 0.1 % in CR1 or CR2 (2018); consolidation
    in frontline therapy whatever the MRD (E1910, the third indication). Outside them: overt
    newly diagnosed disease, or CR2 or later with MRD negative. None: inside, or unknown."""
    if ctx.status == "newly-diagnosed":
        return "newly diagnosed disease"
    if ctx.status in ("cr2", "cr3-or-later") and ctx.mrd.state == "negative":
        return f"MRD-negative {_CR_SHORT[ctx.status]}"
    return None


_CR_SHORT = {"cr2": "CR2", "cr3-or-later": "CR3 or later"}


@rule("ORDER-BLIN-SETTING", "order", seeds=("003",), hooks=ORDER_HOOKS,
      drugs=("blinatumomab",), unless=(C.T_ALL_OR_AML,))
def blinatumomab_setting(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Blinatumomab ordered outside the settings 003 lists for it: r/r B-ALL, MRD >= 0.1 % in
    CR1 or CR2, and consolidation (E1910, whatever the MRD). Newly diagnosed overt disease is
    studied only in trials (e.g. ALL2820 with ponatinib in Ph+ ALL)."""
    setting = _blin_setting(ctx)
    if setting is None:
        return None
    return rec(ctx.f_status, ctx.mrd.fact, ctx.f_blasts, setting=setting,
               newdx=ctx.status == "newly-diagnosed")


@rule("ORDER-TKI-T315I", "order", seeds=("001", "003"), hooks=ORDER_HOOKS,
      drugs=T315I_RESISTED, when=(LINEAGE_RECORDED, T315I_DETECTED), tags=(CONTRADICTED,))
def tki_t315i(ctx: Ctx, rec: Make) -> Recommendation:
    """Dasatinib, imatinib or nilotinib ordered with ABL1 T315I detected: T315I causes TKI
    resistance (001), and 003 names ponatinib as the TKI effective against ABL1 mutations like
    T315I (T315I was found in 6 of 8 relapses after dasatinib + blinatumomab, D-ALBA). The lab
    result contradicts the order: critical with the delete action."""
    return rec(ctx.f("t315i"), ctx.f_ph, drug=DRUG_TEXT[rec.focus or ""])


@rule("ORDER-TKI-PH", "order", seeds=("003",), hooks=ORDER_HOOKS, drugs=TKIS,
      when=(LINEAGE_RECORDED, C.PH_NEGATIVE), unless=(T315I_DETECTED,))
def tki_ph_negative(ctx: Ctx, rec: Make) -> Recommendation:
    """A TKI ordered with Ph (BCR::ABL1) recorded negative: the TKI evidence in the seeds is
    in Ph-positive ALL (003). A Ph-like result does not change that: the seeds give no TKI
    evidence in Ph-like ALL, and the card says so. A warning, not a contradiction: the record
    shows no indication, it does not show harm."""
    return rec(ctx.f_ph, ctx.f("ph_like"), drug=DRUG_TEXT[rec.focus or ""],
               ph_like=ctx._value("ph_like") == "positive")


@criterion("ELN adverse risk")
def ADVERSE_RISK(ctx: Ctx) -> bool:
    return ctx._value("aml_risk") == "adverse"


@criterion("fit for intensive induction not recorded as no")
def NOT_UNFIT(ctx: Ctx) -> bool:
    return ctx._value("intensive_induction_eligible") is not False


@rule("ORDER-GO-RISK", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("gemtuzumab",),
      when=(C.AML, C.NEWLY_DIAGNOSED, ADVERSE_RISK, NOT_UNFIT))
def gemtuzumab_risk(ctx: Ctx, rec: Make) -> Recommendation:
    """GO ordered for newly diagnosed ELN adverse-risk AML that is not recorded unfit: SITC adds
    GO to induction in favorable and possibly intermediate risk only (000). Unfit patients
    have their own GO indication (AML-GO-UNFIT), so an unfit record does not fire this."""
    fit = ctx._value("intensive_induction_eligible")
    return rec(ctx.f("aml_risk"), ctx.f("intensive_induction_eligible"), ctx.f_status,
               confirm_fit=fit is None)


def _indication_gaps(ctx: Ctx, drug: str) -> tuple[str, ...]:
    """What the record lacks to check ``drug``'s indication (empty: nothing, or a lineage
    contradiction speaks instead)."""
    if drug == "blinatumomab" or drug in ADULT_CAR_T:
        if C.T_ALL_OR_AML(ctx):
            return ()
        if ctx.status is None:
            return ("disease status",)
        if (drug == "blinatumomab" and ctx.status in ("cr2", "cr3-or-later")
                and ctx.mrd.state is None):
            return ("MRD (the label's setting in CR2 is MRD >= 0.1 %)",)
        return ()
    if drug == "gemtuzumab":
        if not (ctx.is_aml and ctx.status == "newly-diagnosed") or not NOT_UNFIT(ctx):
            return ()
        return ("ELN risk group",) if ctx._value("aml_risk") is None else ()
    if drug in TKIS and ctx.lineage is not None and ctx.ph is None:
        return ("Ph / BCR::ABL1",)
    return ()


@rule("ORDER-INDICATION-CONFIRM", "order", seeds=("000", "003"), hooks=ORDER_HOOKS,
      drugs=("blinatumomab", *ADULT_CAR_T, "gemtuzumab", *TKIS))
def indication_confirm(ctx: Ctx, rec: Make) -> Recommendation | None:
    """The fact a drug's indication turns on is not in the record: blinatumomab and the adult
    CAR T products on the disease status (and MRD in CR2), GO in induction on the ELN risk
    group (000), a TKI on Ph. Missing is not negative: an info card naming what to confirm."""
    drug = rec.focus or ""
    gaps = _indication_gaps(ctx, drug)
    if not gaps:
        return None
    facts = {"Ph / BCR::ABL1": ctx.f_ph, "ELN risk group": ctx.f("aml_risk"),
             "disease status": ctx.f_status}
    return rec(facts.get(gaps[0], ctx.mrd.fact), drug=DRUG_TEXT[drug], confirm=gaps,
               kind=("tki" if drug in TKIS else drug if drug in ("blinatumomab", "gemtuzumab")
                     else "car-t"))


@rule("ORDER-CART-PRODUCT-UNKNOWN", "order", seeds=("003",), hooks=ORDER_HOOKS,
      drugs=("car-t",))
def car_t_product_unknown(ctx: Ctx, rec: Make) -> Recommendation:
    """A CAR T order that names no product: eligibility cannot be checked; the approved
    products for r/r B-ALL all target CD19 (003)."""
    return rec(ctx.f_lineage, ctx.cd19.fact, ctx.f_age,
               cd19_negative=ctx.cd19.called_negative, b_lineage=ctx.is_b)


@rule("ORDER-GO-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("gemtuzumab",),
      tags=(CONTRADICTED,))
def gemtuzumab_contra(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Gemtuzumab ozogamicin ordered outside AML or with CD33 called negative by the lab: GO
    requires confirmed CD33 positivity on the malignant cells (000). "ALL" is a recorded
    fact even when its B lineage is inferred from markers; the card says which (S2)."""
    if NOT_AML_LINEAGE(ctx):
        return rec(ctx.f_lineage, reason="lineage", lineage=_lineage_text(ctx))
    if ctx.cd33.called_negative:
        return rec(ctx.cd33.fact, reason="cd33", lineage="AML")
    return None


@rule("ORDER-RITUX-CONTRA", "order", seeds=("000",), hooks=ORDER_HOOKS, drugs=("rituximab",),
      tags=(CONTRADICTED,))
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


def _cd38(ctx: Ctx) -> MarkerReading:
    return ctx.marker("cd38")


@rule("ORDER-DARA-CD38", "order", seeds=("004",), hooks=ORDER_HOOKS, drugs=("daratumumab",))
def daratumumab_cd38(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Daratumumab ordered with CD38 negative: the evidence is in CD38-positive ALL (004). A
    bare % under the site's cut-off says so (site policy, not evidence), not "negative"."""
    cd38 = _cd38(ctx)
    if cd38.expressed is not False:
        return None
    return rec(cd38.fact, ctx.f_lineage, low=cd38.below_cutoff)


@rule("ORDER-DARA-CD38-CONFIRM", "order", seeds=("004",), hooks=ORDER_HOOKS,
      drugs=("daratumumab",), when=(LINEAGE_RECORDED,))
def daratumumab_cd38_unknown(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Daratumumab ordered for an acute leukemia with CD38 not in the record: the evidence is
    in CD38-positive ALL (004), so confirm CD38 first (as for InO, GO and rituximab, O6).
    Daratumumab is given far more often for myeloma: a chart with no leukemia gets nothing."""
    cd38 = _cd38(ctx)
    if cd38.status is not None:
        return None
    return rec(cd38.fact, ctx.f_lineage)
