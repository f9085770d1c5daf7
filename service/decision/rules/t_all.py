"""T-ALL: no B-lineage agents; CD38 and CD7-directed therapy within trials.

003: "Immunotherapy in T-ALL is still in development and mostly restricted to R/R disease."
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm
from service.decision.model import Recommendation
from service.decision.registry import Make, criterion, either, rule


@criterion("CD38 negative")
def CD38_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.marker("cd38").expressed is False


T_RR = (C.T_ALL, C.RELAPSED_OR_REFRACTORY)


@rule("TALL-NO-B-AGENTS", "t-all", seeds=("003",), when=(C.T_ALL,))
def no_b_lineage_agents(ctx: Ctx, rec: Make) -> Recommendation:
    """T-ALL: blinatumomab, inotuzumab, CD19 CAR T and rituximab do not apply; immunotherapy
    is in development, mostly in r/r disease (003)."""
    return rec(ctx.f_lineage, ctx.f_status, rr=ctx.rr)


@rule("TALL-DARA", "t-all", seeds=("003", "004"),
      when=(C.T_ALL, either(C.RELAPSED_OR_REFRACTORY, C.NEWLY_DIAGNOSED)),
      unless=(CD38_NEGATIVE,), tags=("daratumumab",),
      trials=("NCT05289687", "NCT03384654", "NCT03207542", "NCT06570915",  # r/r
              "NCT06253637"))  # last: newly diagnosed, very high risk (DARATALL-VHR)
def daratumumab(ctx: Ctx, rec: Make) -> Recommendation:
    """Daratumumab (anti-CD38) with chemotherapy: r/r T-ALL (DELPHINUS, 003; 004), and a
    trial for newly diagnosed very-high-risk disease."""
    cd38 = ctx.marker("cd38")
    rr = ctx.rr
    return rec(cd38.fact, ctx.f_status, setting="rr" if rr else "vhr",
               confirm=confirm(ctx, "cd38"), trials=rec.trials[:-1] if rr else rec.trials[-1:])


@rule("TALL-CD7-CART", "t-all", seeds=("000", "003"), when=T_RR, trials=("NCT04033302",))
def cd7_car_t(ctx: Ctx, rec: Make) -> Recommendation:
    """CD7 CAR T in r/r T-ALL is in trials (003: NS7CAR-T; 000)."""
    return rec(ctx.f_status, trials=rec.trials)


@rule("TALL-OTHER-CELLULAR", "t-all", seeds=("003",), when=T_RR, trials=("NCT05038644",))
def other_cellular(ctx: Ctx, rec: Make) -> Recommendation:
    """Other r/r T-ALL trials: CAR T against other T-cell antigens, CAR NK cells (003)."""
    return rec(ctx.f_status, trials=rec.trials)


@rule("TALL-VENETOCLAX-ETP", "t-all", seeds=("004",), when=T_RR)
def venetoclax_etp(ctx: Ctx, rec: Make) -> Recommendation:
    """R/r T-ALL, especially ETP (sensitive to BCL2 inhibition): venetoclax with chemotherapy
    (004)."""
    return rec(ctx.f_status)


@rule("TALL-ALEMTUZUMAB", "t-all", seeds=("003", "004"), when=T_RR)
def avoid_alemtuzumab(ctx: Ctx, rec: Make) -> Recommendation:
    """Avoid alemtuzumab: no responses in r/r T-ALL, with viral reactivations (003),
    neutropenia and CMV viremia (004). Information inside the T-ALL options, not a warning:
    alemtuzumab is not a contract drug, so it is neither ordered nor recorded here (F3)."""
    return rec(ctx.f_status)
