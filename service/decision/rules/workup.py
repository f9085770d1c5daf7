"""Diagnostic work-up: the tests a decision waits on that the record lacks.

Missing is not negative. These rules never stand in for a result; they name what is missing
(markers, genetics, MRD, CD3 before CAR T collection) and which decision waits on it, so the
clinician knows what to order before relying on the options shown.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.model import FactUsed, Recommendation
from service.decision.registry import ALL_HOOKS, ORDER_HOOKS, Make, criterion, either, fired, rule
from service.decision.rules.data_quality import LINEAGE_KNOWN
from service.decision.timing import timing
from service.decision.vocabulary import CD19_CAR_T, DRUG_TEXT, REMISSION, RR
from service.facts import DrugId, Marker

_TARGETS: tuple[Marker, ...] = ("cd19", "cd22")
_CD19_CD22_AGENTS: tuple[DrugId, ...] = ("blinatumomab", "inotuzumab", "tisagenlecleucel",
                                         "brexucabtagene", "obecabtagene")


# local criteria (candidates for criteria.py) -----------------------------------------------


@criterion("ALL, lineage not stated")
def ALL_UNSPECIFIED(ctx: Ctx) -> bool:
    return ctx.lineage == "all-unspecified"


CAR_T_SHOWN = fired("car-t")


# --- immunophenotype -------------------------------------------------------------------------


def _wanted_markers(ctx: Ctx) -> tuple[Marker, ...]:
    """The panel the seed asks for: CD33 and CD123 in AML; CD19, CD20 and CD22 in B-ALL, ALL of
    unstated lineage, and T-ALL at diagnosis (or with no status); CD38 in r/r T-ALL (the
    target of daratumumab, 004); none otherwise."""
    if ctx.is_aml:
        return ("cd33", "cd123")
    if ctx.is_t and ctx.rr:
        return ("cd38",)
    if ctx.is_b or ctx.lineage == "all-unspecified" or (
        ctx.is_t and ctx.status in (None, "newly-diagnosed")
    ):
        return ("cd19", "cd20", "cd22")
    return ()


def _marker_facts(ctx: Ctx, wanted: tuple[Marker, ...]) -> list[FactUsed]:
    return [ctx.marker(m).fact for m in wanted]


@rule("DX-MARKERS-DX-RELAPSE", "workup", seeds=("000", "004"),
      when=(C.RELAPSED_OR_REFRACTORY,))
def markers_at_relapse(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Relapse: repeat the immunophenotype; markers at diagnosis and at relapse identify the
    drugs that can be used (000). In T-ALL that is CD38: daratumumab is considered for r/r
    CD38-positive ALL, particularly T-lineage (004; O6)."""
    wanted = _wanted_markers(ctx)
    missing = ctx.missing_markers(*wanted)
    if not missing:
        return None
    return rec(ctx.f_status, *_marker_facts(ctx, wanted), missing=tuple(missing),
               aml=ctx.is_aml, t_all=ctx.is_t)


@rule("DX-ALL-MARKERS", "workup", seeds=("000",),
      when=(either(C.B_ALL, ALL_UNSPECIFIED, C.T_ALL),), unless=(C.RELAPSED_OR_REFRACTORY,))
def all_markers(ctx: Ctx, rec: Make) -> Recommendation | None:
    """ALL work-up: upfront diagnostics should include CD19, CD20 and CD22 (000); T-ALL only
    at diagnosis or with no status."""
    return _upfront_panel(ctx, rec)


@rule("DX-AML-MARKERS", "workup", seeds=("000",), when=(C.AML,),
      unless=(C.RELAPSED_OR_REFRACTORY,))
def aml_markers(ctx: Ctx, rec: Make) -> Recommendation | None:
    """AML work-up: upfront diagnostics should include CD33 and CD123 (000)."""
    return _upfront_panel(ctx, rec)


def _upfront_panel(ctx: Ctx, rec: Make) -> Recommendation | None:
    """The lineage's upfront panel, when part of it is missing."""
    wanted = _wanted_markers(ctx)
    missing = ctx.missing_markers(*wanted)
    if not missing:
        return None
    return rec(ctx.f_lineage, ctx.f_status, *_marker_facts(ctx, wanted),
               missing=tuple(missing))


# --- genetics --------------------------------------------------------------------------------


@rule("DX-GENETICS-ALL", "workup", seeds=("000",), when=(either(C.B_ALL, ALL_UNSPECIFIED),))
def genetics_all(ctx: Ctx, rec: Make) -> Recommendation | None:
    """ALL genetics: Ph / BCR::ABL1 always, KMT2A at diagnosis or relapse (000 Table 1)."""
    missing = []
    if ctx.ph is None:
        missing.append("Ph / BCR::ABL1")
    if ctx.kmt2a is None and (ctx.status in RR or ctx.status in (None, "newly-diagnosed")):
        missing.append("KMT2A rearrangement")
    if not missing:
        return None
    return rec(ctx.f_ph, ctx.f("kmt2a"), ctx.f_age, missing=tuple(missing),
               pediatric=ctx.age is not None and ctx.age < 18)


@rule("DX-GENETICS-AML", "workup", seeds=("000",), when=(C.AML,))
def genetics_aml(ctx: Ctx, rec: Make) -> Recommendation | None:
    """AML risk group (ELN) not recorded at diagnosis: risk stratification (000 Table 1)
    decides GO in induction."""
    if ctx.facts.aml_risk is not None or ctx.status not in (None, "newly-diagnosed"):
        return None
    return rec(ctx.f("aml_risk"), ctx.f_status)


# --- MRD and baseline ------------------------------------------------------------------------


@rule("DX-MRD-BASELINE", "workup", seeds=("000", "003"),
      when=(either(C.B_ALL, C.AML, C.T_ALL),))
def mrd_baseline(ctx: Ctx, rec: Make) -> Recommendation | None:
    """MRD must come with a method and a level; at diagnosis, an assay that can follow it
    (000; sensitivity 1e-4 by flow, 003)."""
    m = ctx.mrd
    issues: list[str] = []
    if ctx.status == "newly-diagnosed":
        issues.append("diagnosis")
    elif m.state is None and (ctx.status in REMISSION or ctx.status == "post-induction"):
        issues.append("missing")
    if ctx.facts.mrd is not None:
        if m.method is None:
            issues.append("no-method")
        if m.state == "positive" and m.fraction is None:
            issues.append("no-level")
    if not issues:
        return None
    return rec(m.fact, ctx.f_status, issues=tuple(issues))


@rule("DX-BASELINE", "workup", seeds=("000",), when=(C.NEWLY_DIAGNOSED, LINEAGE_KNOWN))
def baseline(ctx: Ctx, rec: Make) -> Recommendation:
    """Newly diagnosed: baseline work-up and marrow studies before immunotherapy decisions,
    with HLA typing for allo-HCT candidates (000)."""
    return rec(ctx.f_status, ctx.f_lineage,
               hct_candidate=ctx.hct_eligible is True or ctx.hct_planned is True)


@rule("DX-RETEST-TARGET-AT-RELAPSE", "workup", seeds=("000",),
      when=(C.B_ALL, C.RELAPSED_OR_REFRACTORY))
def retest_target(ctx: Ctx, rec: Make) -> Recommendation | None:
    """After CD19/CD22-directed therapy, re-test the target: relapse after CAR T is sometimes
    due to loss of the target antigen (000)."""
    exposures = list(ctx.facts.exposed_to(*_CD19_CD22_AGENTS))
    if not exposures and not ctx.facts.car_t:
        return None
    given = [e.date for e in exposures] + list(ctx.car_t_dates)
    stale = []
    for name in _TARGETS:
        # a result not known to postdate the last targeted therapy (older, undated or the same
        # day) cannot show the target survived it
        if ctx.marker(name).status is None or timing(ctx.marker_date(name), given) != "after":
            stale.append(name.upper())
    if not stale:
        return None
    drugs = sorted({DRUG_TEXT[e.drug] for e in exposures}
                   | ({"CAR T"} if ctx.facts.car_t else set()))
    facts = [ctx.f_exposure(d) for d in sorted({e.drug for e in exposures})]
    return rec(ctx.f_status, ctx.cd19.fact, ctx.cd22.fact, *facts,
               ctx.f_car_t if ctx.facts.car_t else None,
               markers=tuple(stale), therapies=tuple(drugs))


@rule("DX-PHLIKE-PROXY", "workup", seeds=("003",),
      when=(C.B_ALL, C.EARLY_FRONTLINE, C.PH_NEGATIVE))
def ph_like_proxy(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Ph-negative B-ALL early in frontline therapy without a Ph-like result: flow cytometry
    can suggest Ph-like ALL (003)."""
    if ctx.facts.ph_like is not None:
        return None
    return rec(ctx.f_ph, ctx.f("ph_like"))


@rule("DX-CD20-DEF", "workup", seeds=("003",), when=(C.B_ALL, C.FRONTLINE_THERAPY))
def cd20_definition(ctx: Ctx, rec: Make) -> Recommendation | None:
    """CD20 called without a %: the rituximab evidence defines CD20-positive as >= 20 % of
    blasts (003)."""
    cd20 = ctx.cd20
    if cd20.status is None or cd20.percent is not None or cd20.status == "negative":
        return None
    return rec(cd20.fact, call=cd20.status)


# --- order entry: the target before the first dose -------------------------------------------

_AGENT_MARKER: dict[str, Marker] = {
    "blinatumomab": "cd19", "tisagenlecleucel": "cd19", "brexucabtagene": "cd19",
    "obecabtagene": "cd19", "inotuzumab": "cd22", "rituximab": "cd20",
}


@rule("DX-MARKER-AGENT-MAP", "workup", seeds=("000",), hooks=ORDER_HOOKS,
      drugs=tuple(_AGENT_MARKER), unless=(C.T_ALL_OR_AML,))
def marker_for_agent(ctx: Ctx, rec: Make) -> Recommendation | None:
    """A targeted agent ordered with its target (CD19, CD22, CD20) not in the record: confirm
    it first (000 Table 2 maps each marker to its agents)."""
    marker = _AGENT_MARKER[rec.focus or ""]
    reading = ctx.marker(marker)
    if reading.status is not None:
        return None
    return rec(reading.fact, drug=DRUG_TEXT[rec.focus or ""], marker=marker.upper())


@rule("DX-CD33-FOR-GO", "workup", seeds=("000",), hooks=ORDER_HOOKS, drugs=("gemtuzumab",))
def cd33_for_gemtuzumab(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Gemtuzumab ozogamicin ordered with CD33 not in the record: GO requires confirmation of
    CD33 positivity on the malignant cells (000). A non-AML lineage is a contradiction
    instead (ORDER-GO-CONTRA)."""
    if ctx.lineage is not None and not ctx.is_aml:
        return None
    if ctx.cd33.status is not None:
        return None
    return rec(ctx.cd33.fact)


# --- reacting to the options shown -----------------------------------------------------------


@rule("DX-PRE-CART-CD3", "workup", seeds=("002",), hooks=ALL_HOOKS,
      drugs=(*sorted(CD19_CAR_T), "car-t"), reacts_to=("car-t",))
def cd3_before_collection(ctx: Ctx, rec: Make) -> Recommendation | None:
    """CD3 >= 150/µL is advised before CAR T-cell collection; collect early in r/r disease
    (002).

    patient-view: when a CAR T option is shown. Order entry: a CD19 CAR T product (unless the
    lineage already contradicts it) or an unnamed CAR T."""
    if rec.focus is None:
        if not CAR_T_SHOWN(ctx):
            return None
    elif rec.focus in CD19_CAR_T and (ctx.is_t or ctx.is_aml):
        return None
    cd3 = ctx._value("cd3_count")
    if cd3 is not None and cd3 >= 150:  # type: ignore[operator]
        return None
    return rec(ctx.f("cd3_count", text=None if cd3 is None else f"{cd3:g}/µL"),
               ctx.f_status, cd3=cd3, low=cd3 is not None, rr=ctx.status in RR)


@rule("DX-ANTIGEN-HETEROGENEITY", "workup", seeds=("000",),
      when=(C.B_ALL, fired("blinatumomab", "inotuzumab", "car-t")))
def antigen_heterogeneity(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Before CD19/CD22-directed options: a % or a dim call does not show antigen density or
    antigen-negative subpopulations (000)."""
    soft = [r for r in (ctx.cd19, ctx.cd22) if r.status == "dim" or r.by_policy]
    if not soft:
        return None
    return rec(*(r.fact for r in soft), markers=tuple(r.marker.upper() for r in soft))
