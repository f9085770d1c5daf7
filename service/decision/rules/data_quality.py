"""Data quality: what is broken or missing in the record that the other rules depend on.

Missing is not negative. These rules never stand in for a result; they name what the record
lacks (lineage, disease status, age) or what the extractor could not read, so the clinician
knows where the record is broken before relying on the cards.
"""

from __future__ import annotations

from service.decision.context import Ctx
from service.decision.criteria import STATUS_PREDATES_THERAPY
from service.decision.model import FactUsed, Recommendation
from service.decision.registry import ALL_HOOKS, Make, criterion, rule
from service.decision.vocabulary import REMISSION
from service.facts import IDENTITY_FINDINGS

# local criteria (candidates for criteria.py) -----------------------------------------------


@criterion("lineage recorded")
def LINEAGE_KNOWN(ctx: Ctx) -> bool:
    return ctx.lineage is not None


@criterion("lineage not recorded or ALL lineage not stated")
def LINEAGE_UNKNOWN_OR_UNSPECIFIED(ctx: Ctx) -> bool:
    return ctx.lineage in (None, "all-unspecified")


@criterion("age not recorded")
def AGE_UNKNOWN(ctx: Ctx) -> bool:
    return ctx.age is None


# The drafted drugs whose label has an age limit (order hooks); the card names each limit.
AGE_LIMITED = ("tisagenlecleucel", "brexucabtagene", "obecabtagene", "inotuzumab")

_LINEAGE_DRUGS = ("blinatumomab", "tisagenlecleucel", "brexucabtagene", "obecabtagene",
                  "inotuzumab", "gemtuzumab", "rituximab")


@rule("DQ-FINDINGS", "data-quality", seeds=("000",), hooks=ALL_HOOKS, any_record=True)
def findings(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Every data-quality finding the extractor reported, in one place (never dropped):
    eligibility rests on specific disease characteristics (000), so check before relying."""
    f = ctx.facts
    # resources set aside as not this patient's have their own card (DQ-NOT-THIS-PATIENT)
    found = [(i, x) for i, x in enumerate(f.findings) if x.code not in IDENTITY_FINDINGS]
    if not found and not f.entered_in_error_count:
        return None
    items = tuple(
        {"code": x.code, "resource": x.resource or "", "message": x.message,
         "concept": x.concept or ""}
        for _, x in found
    )
    mrd_unreadable = any(x.code == "unreadable-mrd" for _, x in found)
    facts = tuple(
        FactUsed(f"findings[{i}]", x.code, x.message, x.resource)
        for i, x in found if x.resource
    )
    return rec(*facts, findings=items, count=len(items),
               entered_in_error=f.entered_in_error_count, mrd_unreadable=mrd_unreadable)


@rule("DQ-NOT-THIS-PATIENT", "data-quality", seeds=("000",), hooks=ALL_HOOKS, every_call=True)
def not_this_patient(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Resources (or draft orders) that are not provably this patient's were set aside: another
    patient, or a subject that cannot be resolved to this one. Mixing two patients' data is the
    worst input error there is; none of their values is used, and the clinician is told how
    many and why, because the cards may then lack data the EHR meant to send. Eligibility
    rests on this patient's disease characteristics (000)."""
    found = [(i, x) for i, x in enumerate(ctx.facts.findings) if x.code in IDENTITY_FINDINGS]
    if not found:
        return None
    facts = tuple(FactUsed(f"findings[{i}]", "Set aside", f"{x.resource}: {x.message}",
                           x.resource) for i, x in found if x.resource)
    other = sum(x.code == "wrong-patient" for _, x in found)
    return rec(*facts, count=len(found), other=other, unresolved=len(found) - other,
               orders=sum(x.concept == "draft-order" for _, x in found))


@rule("DQ-LINEAGE-UNKNOWN", "data-quality", seeds=("000",), hooks=ALL_HOOKS,
      drugs=_LINEAGE_DRUGS, when=(LINEAGE_UNKNOWN_OR_UNSPECIFIED,))
def lineage_unknown(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Lineage missing or ALL lineage not stated: B-lineage options need B lineage and the
    target marker (CD22+ ALL may be eligible for inotuzumab, 000).

    Order entry: any lineage-restricted drug; for gemtuzumab only a missing lineage (an
    unstated ALL lineage is already a contradiction there)."""
    if rec.focus == "gemtuzumab" and ctx.lineage is not None:
        return None
    return rec(ctx.f_lineage, ctx.cd19.fact, ctx.cd22.fact,
               unspecified=ctx.lineage == "all-unspecified")


@rule("DQ-STATUS-UNKNOWN", "data-quality", seeds=("000",), when=(LINEAGE_KNOWN,))
def status_unknown(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Disease status missing, or recorded before a CAR T infusion / allo-HCT that an "after"
    rule depends on, or before a blinatumomab course still running: options depend on it (000
    Table 3), so ask for the current status.

    A stale status holds back relapse after CAR T or allo-HCT and remission after CAR T; the
    card says so instead of leaving the clinician to wonder why those cards are missing. When
    it predates the CAR T infusion or the running blinatumomab course, patient-view withholds
    the options and trial prompts built on it (``withheld``; review M5) and the card says
    that too."""
    if ctx.status is None:
        return rec(ctx.f_status, ctx.f_lineage, stale=None, withheld=False)
    car_t_held = ctx.is_b and ctx.status_vs_car_t == "before" \
        and (ctx.rr or ctx.status in REMISSION)
    hct_held = (ctx.is_b or ctx.is_aml) and ctx.rr and ctx.status_vs_hct == "before"
    blin_held = ctx.is_b and ctx.status_vs_blin_course == "before" \
        and (ctx.rr or ctx.status in REMISSION)
    if not (car_t_held or hct_held or blin_held) or ctx.status_date is None:
        return None
    events = []
    if car_t_held:
        events += [(d, "CAR T infusion", "CAR T", ctx.f_car_t) for d in ctx.car_t_dates if d]
    if hct_held:
        events += [(d, "allo-HCT", "allo-HCT", ctx.f_prior_hct) for d in ctx.hct_dates if d]
    course, running = ctx.blin_course, ctx.f_blin_course
    if blin_held and course is not None and course.date is not None and running is not None:
        events.append((course.date, "blinatumomab course", "blinatumomab", running))
    when, event, short, fact = max(events, key=lambda e: e[0])
    stale = {"status": ctx.status_text, "status_date": ctx.status_date.date().isoformat(),
             "event": event, "event_short": short, "event_date": when.date().isoformat()}
    return rec(ctx.f_status, fact, stale=stale, withheld=STATUS_PREDATES_THERAPY(ctx))


def _age_dependants(ctx: Ctx) -> tuple[str, ...]:
    """What an unknown age leaves unchecked on patient-view, by lineage (the card says each
    limit in words; see DQ-AGE-UNKNOWN's entry)."""
    if ctx.is_aml:
        return ("gemtuzumab",)
    if ctx.is_t:
        return ()
    return ("tisagenlecleucel", "adult-car-t", "inotuzumab", "rituximab", "frontline-trials")


@rule("DQ-AGE-UNKNOWN", "data-quality", seeds=("000", "003"), hooks=ALL_HOOKS,
      drugs=AGE_LIMITED, when=(AGE_UNKNOWN,))
def age_unknown(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Age unknown: the labels' age limits (tisagenlecleucel up to 25 years, 000; brexucabtagene
    and obecabtagene for adults, 003) cannot be checked.

    patient-view: any record with a lineage. Order entry: an age-limited drug (CD19 CAR T
    product, inotuzumab) unless the lineage already contradicts it."""
    if rec.focus is None:
        if ctx.lineage is None:
            return None
        depends = _age_dependants(ctx)
    else:
        if ctx.is_t or ctx.is_aml:
            return None  # the order check says the lineage is wrong
        depends = (rec.focus,)
    return rec(ctx.f_age, ctx.f("birth_date"), depends=depends)
