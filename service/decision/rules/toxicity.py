"""Toxicity in progress: recorded CRS / ICANS grades are read, not only shown.

A grade counts only while it is current (``Ctx.current_grade``: within the site's window,
``LEUKEMIA_CDS_TOXICITY_CURRENT_DAYS``, and not before the latest CAR T infusion or blinatumomab
course start), so a grade from an earlier course never passes for this one. The seeds give no
grade-by-grade algorithm; the cards say what they do say (002: stop blinatumomab and give
dexamethasone for grade >= 3 neurotoxicity; 001: permanent discontinuation in higher grade CRS
or neurotoxicity with life-threatening complications; 000: CAR T neurotoxicity does not respond
to tocilizumab, and management follows established guidelines) and nothing more.
"""

from __future__ import annotations

from service.decision.context import Ctx
from service.decision.model import Recommendation
from service.decision.registry import (
    ALL_HOOKS,
    CONTRADICTED,
    ORDER_HOOKS,
    PATIENT_VIEW,
    Make,
    rule,
)

BLIN = ("blinatumomab",)


def _on_blinatumomab(ctx: Ctx, rec: Make, grade: str) -> bool:
    """Order entry: a blinatumomab draft with the grade current, whatever it follows (starting
    or continuing blinatumomab during it is what the seed speaks to). patient-view: a course
    still running, with the grade recorded during it."""
    if rec.focus is not None:
        return True
    return ctx.blin_course is not None and ctx.toxicity_after(grade) == "blinatumomab"


def _icans_card(ctx: Ctx, rec: Make, grade: int, after: str) -> Recommendation:
    """The ICANS card's facts: the grade, ICE score and CRS grade with their days, and what the
    ICANS follows (the CAR T infusion or the blinatumomab course)."""
    crs = ctx.current_grade("crs_grade")
    return rec(ctx.f_toxicity("icans_grade"), ctx.f_toxicity("ice_score"),
               ctx.f_toxicity("crs_grade"), ctx.f_car_t if after == "car-t" else None,
               (ctx.f_blin_course or ctx.f_exposure("blinatumomab")) if after == "blinatumomab"
               else None,
               icans=grade, cart=after == "car-t", crs=crs or 0)


@rule("TOX-BLIN-NEURO", "order", seeds=("002",), hooks=ALL_HOOKS, drugs=BLIN,
      tags=(CONTRADICTED,))
def blinatumomab_neurotoxicity(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Grade >= 3 neurotoxicity (ICANS) is current with a blinatumomab order or a course still
    running: 002 recommends drug discontinuation and dexamethasone. The recorded grade
    contradicts giving it, so the card is critical (order entry offers to remove the draft)."""
    grade = ctx.current_grade("icans_grade")
    if grade is None or grade < 3 or not _on_blinatumomab(ctx, rec, "icans_grade"):
        return None
    course = ctx.blin_course
    return rec(ctx.f_toxicity("icans_grade"), ctx.f_toxicity("ice_score"),
               ctx.f_blin_course,
               icans=grade, draft=rec.focus is not None, running=course is not None)


@rule("TOX-BLIN-CRS", "order", seeds=("001",), hooks=ALL_HOOKS, drugs=BLIN)
def blinatumomab_severe_crs(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Grade >= 3 CRS is current with a blinatumomab order or a course still running: 001 says
    permanent discontinuation is considered in higher grade CRS with life-threatening
    complications. Whether they are present is the clinician's call, so this is a warning."""
    grade = ctx.current_grade("crs_grade")
    if grade is None or grade < 3 or not _on_blinatumomab(ctx, rec, "crs_grade"):
        return None
    return rec(ctx.f_toxicity("crs_grade"),
               ctx.f_blin_course,
               crs=grade, draft=rec.focus is not None)


@rule("TOX-ICANS-CURRENT", "caution", seeds=("000", "002"), hooks=PATIENT_VIEW)
def icans_in_progress(ctx: Ctx, rec: Make) -> Recommendation | None:
    """ICANS (grade >= 1) is current after CAR T or blinatumomab: the chart names it. After CAR
    T it does not respond to tocilizumab (000); management follows established guidelines
    (000); on blinatumomab grade >= 3 means discontinuation and dexamethasone (002), which
    TOX-BLIN-NEURO says while the course runs (this card then stays silent)."""
    grade = ctx.current_grade("icans_grade")
    after = ctx.toxicity_after("icans_grade")
    if grade is None or grade < 1 or after is None:
        return None
    if after == "blinatumomab" and grade >= 3 and ctx.blin_course is not None:
        return None  # the critical TOX-BLIN-NEURO card speaks
    return _icans_card(ctx, rec, grade, after)


@rule("TOX-TOCI-ICANS", "caution", seeds=("000", "002"), hooks=ORDER_HOOKS,
      drugs=("tocilizumab",))
def tocilizumab_during_icans(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Tocilizumab ordered while ICANS is current after CAR T or blinatumomab: it treats CRS,
    and CAR T neurotoxicity does not respond to it (000); for blinatumomab the seeds give it for
    CRS and say stop and give dexamethasone for grade >= 3 neurotoxicity (002). A warning: a
    CRS in progress may be what it is for (the card says so when one is recorded)."""
    grade = ctx.current_grade("icans_grade")
    after = ctx.toxicity_after("icans_grade")
    if grade is None or grade < 1 or after is None:
        return None
    return _icans_card(ctx, rec, grade, after)
