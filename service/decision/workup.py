"""Diagnostic work-up and data quality: what the record lacks that a decision depends on.

Missing is not negative. These rules never stand in for a result; they name what is missing and
which decision waits on it, so the clinician knows what to order or where the record is broken.
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.context import DRUG_TEXT, REMISSION, RR, Ctx, timing
from service.decision.model import FactUsed, Recommendation

_CD19_CD22_AGENTS = ("blinatumomab", "inotuzumab", "tisagenlecleucel", "brexucabtagene",
                     "obecabtagene")


def leukemia_context(ctx: Ctx) -> bool:
    """Whether the record shows an acute leukemia at all; other charts get no cards."""
    f = ctx.facts
    return bool(
        f.lineage or f.disease_status or f.markers or f.mrd or f.bm_blasts_percent or f.car_t
        or f.ph or any(x.drug_class in {"immunotherapy", "car-t"} for x in f.exposures)
    )


def findings(ctx: Ctx) -> list[Recommendation]:
    """Every data-quality finding the extractor reported, in one place (never dropped)."""
    f = ctx.facts
    if not f.findings and not f.entered_in_error_count:
        return []
    items = tuple(
        {"code": x.code, "resource": x.resource or "", "message": x.message,
         "concept": x.concept or ""}
        for x in f.findings
    )
    mrd_unreadable = any(x.code == "unreadable-mrd" for x in f.findings)
    facts = tuple(
        FactUsed(f"findings[{i}]", x.code, x.message, x.resource)
        for i, x in enumerate(f.findings) if x.resource
    )
    return [ctx.rec(R.DQ_FINDINGS, *facts, findings=items, count=len(items),
                    entered_in_error=f.entered_in_error_count, mrd_unreadable=mrd_unreadable)]


def context_gaps(ctx: Ctx) -> list[Recommendation]:
    """Lineage, disease status or age missing where rules depend on them (patient-view)."""
    out: list[Recommendation] = []
    if ctx.lineage in (None, "all-unspecified"):
        out.append(ctx.rec(R.DQ_LINEAGE_UNKNOWN, ctx.f_lineage, ctx.cd19.fact, ctx.cd22.fact,
                           unspecified=ctx.lineage == "all-unspecified"))
    if ctx.lineage is not None and ctx.status is None:
        out.append(ctx.rec(R.DQ_STATUS_UNKNOWN, ctx.f_status, ctx.f_lineage, stale=None))
    elif ctx.lineage is not None:
        out += _stale_status(ctx)
    if ctx.lineage is not None and ctx.age is None:
        out.append(age_unknown(ctx, _age_dependants(ctx)))
    return out


def _stale_status(ctx: Ctx) -> list[Recommendation]:
    """The status predates a CAR T infusion or allo-HCT that an "after" rule depends on.

    Relapse after CAR T or allo-HCT, and remission after CAR T, are then held back (the status
    describes the patient before that treatment); this card says so and asks for the current
    status instead of leaving the clinician to wonder why those cards are missing.
    """
    car_t_held = ctx.is_b and ctx.status_vs_car_t == "before" \
        and (ctx.rr or ctx.status in REMISSION)
    hct_held = (ctx.is_b or ctx.is_aml) and ctx.rr and ctx.status_vs_hct == "before"
    if not (car_t_held or hct_held) or ctx.status_date is None:
        return []
    events = []
    if car_t_held:
        events += [(d, "CAR T infusion", "CAR T", ctx.f_car_t) for d in ctx.car_t_dates if d]
    if hct_held:
        events += [(d, "allo-HCT", "allo-HCT", ctx.f_prior_hct) for d in ctx.hct_dates if d]
    when, event, short, fact = max(events, key=lambda e: e[0])
    stale = {"status": ctx.status_text, "status_date": ctx.status_date.date().isoformat(),
             "event": event, "event_short": short, "event_date": when.date().isoformat()}
    return [ctx.rec(R.DQ_STATUS_UNKNOWN, ctx.f_status, fact, stale=stale)]


def age_unknown(ctx: Ctx, depends: tuple[str, ...]) -> Recommendation:
    return ctx.rec(R.DQ_AGE_UNKNOWN, ctx.f_age, ctx.f("birth_date", "Birth date"),
                   depends=depends)


def _age_dependants(ctx: Ctx) -> tuple[str, ...]:
    if ctx.is_aml:
        return ("gemtuzumab ozogamicin's relapsed/refractory label (adults)",)
    if ctx.is_t:
        return ()
    return (
        "tisagenlecleucel (up to 25 years)",
        "brexucabtagene and obecabtagene autoleucel (adults)",
        "inotuzumab ozogamicin (adult label)",
        "rituximab (benefit established under 60)",
        "frontline trials for patients over 55",
    )


def patient_view(ctx: Ctx) -> list[Recommendation]:
    out: list[Recommendation] = []
    out += _markers(ctx)
    out += _genetics(ctx)
    out += _mrd(ctx)
    if ctx.status == "newly-diagnosed" and ctx.lineage is not None:
        out.append(ctx.rec(R.DX_BASELINE, ctx.f_status, ctx.f_lineage,
                           hct_candidate=ctx.hct_eligible is True or ctx.hct_planned is True))
    out += _retest_after_targeted_therapy(ctx)
    if (ctx.is_b and ctx.status in {"newly-diagnosed", "post-induction"} and ctx.ph == "negative"
            and ctx.facts.ph_like is None):
        out.append(ctx.rec(R.DX_PHLIKE_PROXY, ctx.f_ph, ctx.f("ph_like", "Ph-like signature")))
    cd20 = ctx.cd20
    if (ctx.is_b and ctx.frontline and cd20.status is not None and cd20.percent is None
            and cd20.status != "negative"):
        out.append(ctx.rec(R.DX_CD20_DEF, cd20.fact, call=cd20.status))
    return out


def _markers(ctx: Ctx) -> list[Recommendation]:
    if ctx.is_aml:
        wanted: tuple = ("cd33", "cd123")
    elif ctx.is_b or ctx.lineage == "all-unspecified" or (
        ctx.is_t and ctx.status in (None, "newly-diagnosed")
    ):
        wanted = ("cd19", "cd20", "cd22")
    else:
        return []
    missing = ctx.missing_markers(*wanted)
    if not missing:
        return []
    facts = [ctx.marker(m).fact for m in wanted]
    if ctx.status in RR:
        return [ctx.rec(R.DX_MARKERS_DX_RELAPSE, ctx.f_status, *facts, missing=tuple(missing),
                        aml=ctx.is_aml)]
    rule = R.DX_AML_MARKERS if ctx.is_aml else R.DX_ALL_MARKERS
    return [ctx.rec(rule, ctx.f_lineage, ctx.f_status, *facts, missing=tuple(missing))]


def _genetics(ctx: Ctx) -> list[Recommendation]:
    if ctx.is_b or ctx.lineage == "all-unspecified":
        missing = []
        if ctx.ph is None:
            missing.append("Ph / BCR::ABL1")
        if ctx.kmt2a is None and (ctx.status in RR or ctx.status in (None, "newly-diagnosed")):
            missing.append("KMT2A rearrangement")
        if not missing:
            return []
        return [ctx.rec(R.DX_GENETICS_ALL, ctx.f_ph, ctx.f("kmt2a", "KMT2A"), ctx.f_age,
                        missing=tuple(missing), pediatric=ctx.age is not None and ctx.age < 18)]
    if ctx.is_aml and ctx.facts.aml_risk is None and ctx.status in (None, "newly-diagnosed"):
        return [ctx.rec(R.DX_GENETICS_AML, ctx.f("aml_risk", "ELN risk group"), ctx.f_status)]
    return []


def _mrd(ctx: Ctx) -> list[Recommendation]:
    """MRD must come with a method and a level; at diagnosis, an assay that can follow it."""
    if not (ctx.is_b or ctx.is_aml or ctx.is_t):
        return []
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
        return []
    return [ctx.rec(R.DX_MRD_BASELINE, m.fact, ctx.f_status, issues=tuple(issues))]


def _retest_after_targeted_therapy(ctx: Ctx) -> list[Recommendation]:
    """DX-RETEST-TARGET-AT-RELAPSE: after CD19/CD22-directed therapy, re-test the target."""
    if not (ctx.is_b and ctx.status in RR):
        return []
    exposures = [e for e in ctx.facts.exposed_to(*_CD19_CD22_AGENTS)]  # type: ignore[arg-type]
    if not exposures and not ctx.facts.car_t:
        return []
    given = [e.date for e in exposures] + list(ctx.car_t_dates)
    stale = []
    for name in ("cd19", "cd22"):
        # a result not known to postdate the last targeted therapy (older, undated or the same
        # day) cannot show the target survived it
        if ctx.marker(name).status is None or timing(ctx.marker_date(name), given) != "after":  # type: ignore[arg-type]
            stale.append(name.upper())
    if not stale:
        return []
    drugs = sorted({DRUG_TEXT[e.drug] for e in exposures}
                   | ({"CAR T"} if ctx.facts.car_t else set()))
    facts = [ctx.f_exposure(d) for d in sorted({e.drug for e in exposures})]
    return [ctx.rec(R.DX_RETEST_TARGET, ctx.f_status, ctx.cd19.fact, ctx.cd22.fact, *facts,
                    ctx.f_car_t if ctx.facts.car_t else None,
                    markers=tuple(stale), therapies=tuple(drugs))]

