"""B-ALL, frontline (newly diagnosed, after induction, CR1): antibodies, trials, Ph+ and
Ph-like disease. CD20 uses the seed's own >= 20 % definition (004)."""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import confirm, status_number
from service.decision.model import Recommendation
from service.decision.registry import ALL_HOOKS, Make, rule

FRONT = (C.B_ALL, C.FRONTLINE_THERAPY)
EARLY = (C.B_ALL, C.EARLY_FRONTLINE)


@rule("ALL-RITUX-OLDER", "b-all", seeds=("004",), hooks=ALL_HOOKS, drugs=("rituximab",))
def rituximab_older(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Rituximab at 60 or over in CD20-positive B-ALL: reasonable, benefit unproven (004).

    patient-view: frontline CD20-positive, not Ph+ disease. Order entry: a rituximab order for
    a B-ALL patient of 60 or over whose CD20 is positive (>= 20 %, the seed's definition) or
    not in the record (then CD20 is named to confirm). Under 20 % the card would contradict
    ORDER-RITUX-CD20-LOW and call the disease CD20-positive when it is not (W5)."""
    if ctx.age is None or ctx.age < 60:
        return None
    cd20 = ctx.cd20.status
    if rec.focus is None and not (ctx.is_b and ctx.frontline and cd20 == "positive"
                                  and ctx.ph != "positive"):
        return None
    if rec.focus is not None and not (ctx.is_b and cd20 in ("positive", "dim", None)):
        return None
    number = status_number(ctx) if rec.focus is None else ()
    return rec(ctx.cd20.fact, ctx.f_age, ctx.f_ph,
               confirm=confirm(ctx, "cd20") + confirm(ctx, ph_negative=True) + number)


@rule("ALL-RITUX-CD20", "b-all", seeds=("000", "004"), when=FRONT, unless=(C.PH_POSITIVE,))
def rituximab_cd20(ctx: Ctx, rec: Make) -> Recommendation | None:
    """CD20-positive (>= 20 %) frontline B-ALL under 60: add rituximab (SITC, GRAALL)."""
    cd20 = ctx.cd20
    if cd20.status != "positive" or (ctx.age is not None and ctx.age >= 60):
        return None
    return rec(cd20.fact, ctx.f_age, ctx.f_ph,
               confirm=confirm(ctx, age=True, ph_negative=True) + status_number(ctx),
               percent=cd20.percent, pediatric=ctx.age is not None and ctx.age < 18)


@rule("ALL-OFATUMUMAB-CD20LOW", "b-all", seeds=("004",), when=EARLY,
      unless=(C.PH_POSITIVE, C.CHILD, C.INTENSIVE_UNFIT))
def ofatumumab_cd20_low(ctx: Ctx, rec: Make) -> Recommendation | None:
    """CD20 on 1 % to < 20 % of blasts: ofatumumab with hyper-CVAD (adult data, 004). The
    regimen is hyper-CVAD: not for a patient recorded unfit for intensive induction (U4)."""
    cd20 = ctx.cd20
    if cd20.percent is None or not 1 <= cd20.percent < 20 or cd20.status == "positive":
        return None
    return rec(cd20.fact, ctx.f_ph, percent=cd20.percent,
               confirm=confirm(ctx, ph_negative=True))


@rule("ALL-FRONT-PEDS-SR-BLIN", "b-all", seeds=("003",), when=(*FRONT, C.CHILD),
      unless=(C.CD19_NEGATIVE, C.NOT_STANDARD_RISK), tags=("blinatumomab",))
def peds_standard_risk_blinatumomab(ctx: Ctx, rec: Make) -> Recommendation:
    """A standard-risk child: blinatumomab added to chemotherapy (003).

    Shown only where standard risk is possible (criteria.NOT_STANDARD_RISK: the product
    owner's exclusions, review W2); an unknown KMT2A or CNS status is asked for, with the
    risk group the record never holds."""
    risk = tuple(label for label, known in (("KMT2A status", ctx.kmt2a is not None),
                                            ("CNS status", ctx.cns_disease is not None))
                 if not known)
    return rec(ctx.f_age, ctx.f_status, ctx.cd19.fact, ctx.f("kmt2a"), ctx.f("cns_status"),
               confirm=confirm(ctx, "cd19") + risk + status_number(ctx))


@rule("ALL-FRONT-OLDER-TRIAL", "trial", seeds=("003",), when=EARLY, unless=(C.PH_POSITIVE,))
def older_frontline_trial(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Over 55: frontline immunotherapy trials (Golden Gate, 003)."""
    if ctx.age is None or ctx.age <= 55:
        return None
    return rec(ctx.f_age, ctx.f_ph, ctx.f_status, confirm=confirm(ctx, ph_negative=True))


@rule("ALL-FRONT-INO", "trial", seeds=("003",), when=(*EARLY, C.ADULT),
      unless=(C.PH_POSITIVE,))
def frontline_inotuzumab(ctx: Ctx, rec: Make) -> Recommendation:
    """Frontline inotuzumab only in trials (003)."""
    return rec(ctx.f_age, ctx.f_ph, ctx.f_status, confirm=confirm(ctx, ph_negative=True),
               over70=ctx.age is not None and ctx.age > 70)


@rule("ALL-PH-FRONT", "trial", seeds=("003",), when=(*EARLY, C.PH_POSITIVE),
      trials=("NCT04530565", "NCT04722848", "NCT04747912"))
def ph_frontline(ctx: Ctx, rec: Make) -> Recommendation:
    """Ph+ frontline: chemotherapy-free TKI + blinatumomab (phase 2, 003)."""
    return rec(ctx.f_ph, ctx.f_status, ctx.f_age,
               older=ctx.age is not None and ctx.age >= 65, trials=rec.trials)


@rule("ALL-PH-LIKE", "b-all", seeds=("003",), when=FRONT)
def ph_like(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Ph-like signature: no frontline inotuzumab data (003)."""
    if ctx._value("ph_like") != "positive":
        return None
    return rec(ctx.f("ph_like"), ctx.f_status, confirm=status_number(ctx))
