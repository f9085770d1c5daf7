"""What a card asks the clinician to confirm first, when a fact it rests on is missing.

Missing is not negative: an option built on an unknown fact is still shown, with a
"confirm first" line naming the fact, in the words the card uses.
"""

from __future__ import annotations

from service.decision.context import Ctx
from service.decision.vocabulary import NUMBER_UNKNOWN


def confirm(ctx: Ctx, *markers: str, age: bool = False, ph_negative: bool = False
            ) -> tuple[str, ...]:
    """Facts an option rests on that the record lacks: marker names, age, Ph-negative status."""
    out = [m.upper() for m in markers if ctx.marker(m).status is None]  # type: ignore[arg-type]
    if age and ctx.age is None:
        out.append("age")
    if ph_negative and ctx.ph is None:
        out.append("Ph-negative status")
    return tuple(out)


def status_number(ctx: Ctx) -> tuple[str, ...]:
    """For a rule that needs which relapse or remission this is: the record's status says
    "relapse" or "remission" without its number (ICD-10-CM, clinicalStatus, mCODE), so the
    card names the number to confirm instead of saying the status is not in the record."""
    wanted = NUMBER_UNKNOWN.get(ctx.status or "")
    return (wanted,) if wanted else ()


def relapse_after_hct(ctx: Ctx) -> tuple[str, ...]:
    """What to confirm before calling the recorded relapse a relapse *after* allo-HCT: that it
    came after the transplant, and that the transplant was allogeneic when the record does not
    say (``Ctx.hct_type_gap``)."""
    if ctx.status_vs_hct == "after":
        return ctx.hct_type_gap
    return (*ctx.hct_type_gap, ctx.order_gap("the relapse", "status", ctx.status_date,
                                             ctx.hct_dates, "allo-HCT"))


def relapse_after_car_t(ctx: Ctx) -> tuple[str, ...]:
    """What to confirm before calling the recorded relapse a relapse *after* CAR T."""
    if ctx.status_vs_car_t == "after":
        return ()
    return (ctx.order_gap("the relapse", "status", ctx.status_date, ctx.car_t_dates,
                          "CAR T infusion"),)
