"""CAR T for B-ALL: which product the record allows, and what to weigh after CAR T.

Age gates follow the newest seed (003: tisagenlecleucel up to 25 years; brexucabtagene and
obecabtagene for adults), superseding 000's tisagenlecleucel-only landscape (D2). Tisagenlecleucel
is gated on 000 Table 3's wording, refractory or second-or-later relapse (D3). Transplant after
CAR T is contested (D18): the card lists what favours and what argues against, never a directive.

The product options need B-ALL, relapsed or refractory, CD19 not negative (unknown is shown with
"confirm CD19") and no CAR T yet; what to weigh alongside them (transplant, prior immunotherapy)
is shown only when a product option is. After CAR T, the recorded status must not predate the
latest infusion.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm, relapse_after_car_t, status_number
from service.decision.model import Recommendation
from service.decision.registry import Make, criterion, fired, rule
from service.decision.timing import timing
from service.decision.vocabulary import TISA_STATUSES


@criterion("refractory or second or later relapse (tisagenlecleucel's label), or relapse "
           "with its number not recorded")
def TISA_STATUS(ctx: Ctx) -> bool:
    """A relapse whose number the record lacks may be the second: the card is shown with the
    number to confirm (gaps.status_number)."""
    return ctx.status in TISA_STATUSES or ctx.status == "relapse"


@criterion("25 years or younger, or age not recorded")
def UP_TO_25_OR_UNKNOWN(ctx: Ctx) -> bool:
    return ctx.age is None or ctx.age <= 25


@criterion("18 years or older, or age not recorded")
def ADULT_OR_UNKNOWN(ctx: Ctx) -> bool:
    return ctx.age is None or ctx.age >= 18


@criterion("26 years or older")
def AGE_26_OR_OVER(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age >= 26


# SITC's "after second-line and/or third-line therapy" (000), read from the status: a relapse
# after a second line, refractory to salvage, or primary refractory after two or more lines.
_LATER_LINE = frozenset({"second-or-later-relapse", "relapsed-refractory"})


@criterion("after second-line therapy (second or later relapse, relapsed and refractory, or "
           "primary refractory with two or more prior lines or their number not recorded), or "
           "relapse with its number not recorded")
def AFTER_SECOND_LINE(ctx: Ctx) -> bool:
    """Missing is not negative: a relapse without its number, or primary refractory disease
    without a count of prior lines, is shown with what to confirm."""
    if ctx.status in _LATER_LINE or ctx.status == "relapse":
        return True
    lines = ctx._value("prior_lines")
    return ctx.status == "primary-refractory" and (lines is None or lines >= 2)  # type: ignore[operator]


CAR_T_SETTING = (C.B_ALL, C.RELAPSED_OR_REFRACTORY)
CAR_T_EXCLUDED = (C.CD19_NEGATIVE, C.PRIOR_CAR_T)
WITH_CAR_T_OPTION = (*CAR_T_SETTING, fired("car-t"))
AFTER_CAR_T_EXCLUDED = (C.STATUS_BEFORE_CAR_T,)


def _product(ctx: Ctx, rec: Make, number: tuple[str, ...] = (), **variables: object
             ) -> Recommendation:
    return rec(ctx.f_age, ctx.f_status, ctx.cd19.fact,
               confirm=confirm(ctx, "cd19", age=True) + number, **variables)


@rule("CART-TISA", "car-t", seeds=("000",),
      when=(*CAR_T_SETTING, TISA_STATUS, UP_TO_25_OR_UNKNOWN), unless=CAR_T_EXCLUDED,
      tags=("car-t",))
def tisagenlecleucel(ctx: Ctx, rec: Make) -> Recommendation:
    """Tisagenlecleucel: B-ALL up to 25 years, refractory or in second or later relapse
    (000 Table 3); SITC strongly recommends CAR T after second- and/or third-line therapy."""
    return _product(ctx, rec, status_number(ctx),
                    primary_refractory=ctx.status == "primary-refractory")


@rule("CART-BREXU", "car-t", seeds=("001", "003"), when=(*CAR_T_SETTING, ADULT_OR_UNKNOWN),
      unless=CAR_T_EXCLUDED, tags=("car-t",))
def brexucabtagene(ctx: Ctx, rec: Make) -> Recommendation:
    """Brexucabtagene autoleucel: adults with r/r B-ALL (ZUMA-3 enrolled patients older than
    18; 001, 003)."""
    return _product(ctx, rec, exactly_18=ctx.age == 18)


@rule("CART-OBE", "car-t", seeds=("003",), when=(*CAR_T_SETTING, ADULT_OR_UNKNOWN),
      unless=CAR_T_EXCLUDED, tags=("car-t",))
def obecabtagene(ctx: Ctx, rec: Make) -> Recommendation:
    """Obecabtagene autoleucel: approved for adults with r/r B-ALL per 003 (FELIX)."""
    return _product(ctx, rec, exactly_18=ctx.age == 18)


@rule("CART-AGE-GATE", "car-t", seeds=("000", "003"), when=(*CAR_T_SETTING, AGE_26_OR_OVER),
      unless=CAR_T_EXCLUDED)
def age_gate(ctx: Ctx, rec: Make) -> Recommendation:
    """From 26, tisagenlecleucel is not approved (000); the adult products are brexucabtagene
    and obecabtagene (003)."""
    return rec(ctx.f_age)


@rule("CART-SITC-LATER-LINE", "car-t", seeds=("000",),
      when=(*WITH_CAR_T_OPTION, AFTER_SECOND_LINE), unless=CAR_T_EXCLUDED)
def sitc_strong_recommendation(ctx: Ctx, rec: Make) -> Recommendation:
    """After second-line therapy SITC's only "strongly recommended" immunotherapy is CAR T
    (000): this entry leads the CAR T card and puts that card before the other options
    (catalogue.toml `priority_with`), instead of 001's blinatumomab preference (review M7).
    Shown only beside a CAR T product option the record allows."""
    lines = ctx._value("prior_lines")
    gap = (("number of prior lines (at least two: after second-line therapy)",)
           if ctx.status == "primary-refractory" and lines is None else ())
    return rec(ctx.f_status, ctx.f("prior_lines"), confirm=status_number(ctx) + gap)


@rule("CART-PRIOR-HCT", "car-t", seeds=("000", "001"), when=(*WITH_CAR_T_OPTION, C.PRIOR_HCT),
      unless=CAR_T_EXCLUDED)
def after_allo_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """Prior transplantation favours CAR T (001 Table 2); tisagenlecleucel caused no new GVHD
    (000). An HCT of unrecorded donor type is shown with the type to confirm."""
    return rec(ctx.f_prior_hct, confirm=ctx.hct_type_gap)


@rule("CART-VS-HCT", "car-t", seeds=("001",), when=WITH_CAR_T_OPTION,
      unless=(*CAR_T_EXCLUDED, C.PRIOR_HCT, C.HCT_INELIGIBLE))
def car_t_or_transplant(ctx: Ctx, rec: Make) -> Recommendation:
    """No prior HCT: with a suitable donor HCT may be preferable; patients avoiding HCT may do
    better with CAR T (001). Not for a patient recorded as not HCT-eligible: the record has
    already answered the question (review M6)."""
    return rec(ctx.f_prior_hct)


@rule("CART-AFTER-OTHER-IT", "car-t", seeds=("001",), when=WITH_CAR_T_OPTION,
      unless=CAR_T_EXCLUDED)
def after_other_immunotherapy(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Failure of other immunotherapy favours CAR T; it can lengthen remission after
    inotuzumab and/or blinatumomab (001)."""
    prior = tuple(d for d in ("blinatumomab", "inotuzumab") if ctx.exposure(d))
    if not prior:
        return None
    return rec(*(ctx.f_exposure(d) for d in prior), drugs=prior)


@rule("CART-CONSOLIDATIVE-HCT", "car-t", seeds=("000", "001"),
      when=(C.B_ALL, C.PRIOR_CAR_T, C.IN_REMISSION), unless=AFTER_CAR_T_EXCLUDED)
def consolidative_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """Remission after CAR T: consolidative allo-HCT is contested (D18); the card lists the
    factors on each side (001 for, 000 and 001 against), never a directive.

    The remission must follow the infusion; an undated side is shown with what to confirm."""
    when = ctx.status_vs_car_t
    gap = () if when == "after" else (ctx.order_gap(
        "the remission", "status", ctx.status_date, ctx.car_t_dates, "CAR T infusion"),)
    m = ctx.mrd
    mrd_date = ctx.facts.mrd.effective if ctx.facts.mrd else None
    mrd_when = timing(mrd_date, ctx.car_t_dates) if ctx.facts.mrd else None
    return rec(ctx.f_car_t, ctx.f_status, m.fact, ctx.f("kmt2a"),
               ctx.f_exposure("blinatumomab"), ctx.f_prior_hct,
               timing=when, confirm=(*gap, *ctx.hct_type_gap),
               mrd=m.state if mrd_when == "after" else None,
               mrd_day=ctx.day_after_car_t(mrd_date),
               mrd_before=mrd_when == "before", mrd_undated=mrd_when == "unknown",
               kmt2a=ctx.kmt2a == "positive",
               prior_blin=ctx.exposure("blinatumomab") is not None,
               prior_hct=ctx.prior_hct)


@rule("POSTCART-RELAPSE", "car-t", seeds=("000",),
      when=(C.B_ALL, C.PRIOR_CAR_T, C.RELAPSED_OR_REFRACTORY), unless=AFTER_CAR_T_EXCLUDED)
def relapse_after_car_t_infusion(ctx: Ctx, rec: Make) -> Recommendation:
    """Relapse after CAR T: SITC could not agree on one preferred treatment; CAR T against
    another antigen, blinatumomab or allo-HCT if eligible are options (000)."""
    cd19 = ctx.cd19
    return rec(ctx.f_car_t, ctx.f_status, cd19.fact, ctx.cd22.fact,
               ctx.f("hct_eligible"),
               blin=cd19.expressed is True, cd19_unknown=cd19.status is None,
               cd19_negative=cd19.expressed is False, hct_eligible=ctx.hct_eligible,
               timing=ctx.status_vs_car_t, confirm=relapse_after_car_t(ctx))

