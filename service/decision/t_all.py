"""T-ALL: no B-lineage agents; CD38 and CD7-directed therapy within trials.

003: "Immunotherapy in T-ALL is still in development and mostly restricted to R/R disease."
"""

from __future__ import annotations

from service.decision import rules as R
from service.decision.context import RR, Ctx
from service.decision.model import Recommendation

DARA_RR_TRIALS = ("NCT05289687", "NCT03384654", "NCT03207542", "NCT06570915")
DARA_VHR_TRIALS = ("NCT06253637",)
CD7_TRIALS = ("NCT04033302",)
OTHER_CELLULAR_TRIALS = ("NCT05038644",)


def patient_view(ctx: Ctx) -> list[Recommendation]:
    if not ctx.is_t:
        return []
    out = [ctx.rec(R.TALL_NO_B_AGENTS, ctx.f_lineage, ctx.f_status, rr=ctx.status in RR)]
    cd38 = ctx.marker("cd38")
    if ctx.status in RR:
        if cd38.expressed is not False:
            out.append(ctx.rec(R.TALL_DARA, cd38.fact, ctx.f_status, setting="rr",
                               confirm=("CD38",) if cd38.status is None else (),
                               trials=DARA_RR_TRIALS))
            out.append(ctx.rec(R.CAU_DARA_BLOODBANK, cd38.fact))
        out.append(ctx.rec(R.TALL_CD7_CART, ctx.f_status, trials=CD7_TRIALS))
        out.append(ctx.rec(R.TALL_OTHER_CELLULAR, ctx.f_status, trials=OTHER_CELLULAR_TRIALS))
        out.append(ctx.rec(R.TALL_VENETOCLAX_ETP, ctx.f_status))
        out.append(ctx.rec(R.TALL_ALEMTUZUMAB, ctx.f_status))
    elif ctx.status == "newly-diagnosed" and cd38.expressed is not False:
        out.append(ctx.rec(R.TALL_DARA, cd38.fact, ctx.f_status, setting="vhr",
                           confirm=("CD38",) if cd38.status is None else (),
                           trials=DARA_VHR_TRIALS))
    return out
