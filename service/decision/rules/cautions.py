"""Cautions that attach to the options being shown (patient-view) or the drug ordered.

A caution never removes an option by itself (D20: prior blinatumomab is a caution before CD19
CAR T, never an exclusion); it says what to weigh and why. Contradictions between an order and
the record are the order checks' business (critical cards).

At order entry a caution about a B-lineage agent is said unless the record shows T-ALL or AML:
there the order check already says the lineage is wrong. On patient-view the same caution
attaches to B-ALL when an option carrying the drug's tag was shown.
"""

from __future__ import annotations

from service.decision import criteria as C
from service.decision.context import Ctx
from service.decision.gaps import status_number
from service.decision.model import Recommendation
from service.decision.registry import ALL_HOOKS, ORDER_HOOKS, Make, criterion, either, fired, rule
from service.decision.timing import follows_any
from service.decision.vocabulary import CD19_CAR_T, RR

CD19_DIRECTED = ("blinatumomab", "tisagenlecleucel", "brexucabtagene", "obecabtagene")
CD19_CAR_T_PRODUCTS = tuple(sorted(CD19_CAR_T))


# --- criteria of this module (candidates for criteria.py) -----------------------------------


@criterion("KMT2A rearrangement or BCR::ABL1")
def LINEAGE_SWITCH_FUSION(ctx: Ctx) -> bool:
    return ctx.kmt2a == "positive" or ctx.ph == "positive"


@criterion("prior blinatumomab")
def PRIOR_BLINATUMOMAB(ctx: Ctx) -> bool:
    return ctx.exposure("blinatumomab") is not None


@criterion("CD19 called dim on a result drawn after a blinatumomab course")
def CD19_DIM_AFTER_BLINATUMOMAB(ctx: Ctx) -> bool:
    """A lab's dim call (not a bare % against the site threshold) dated after blinatumomab:
    003's "loss/alteration of CD19 expression". Dim before the course, or no course, is not
    an alteration after it; either date missing does not assert it."""
    cd19 = ctx.cd19
    if cd19.status != "dim" or cd19.by_policy:
        return False
    return follows_any(ctx.marker_date("cd19"), ctx.exposure_dates("blinatumomab"))


@criterion("prior inotuzumab")
def PRIOR_INOTUZUMAB(ctx: Ctx) -> bool:
    return ctx.exposure("inotuzumab") is not None


@criterion("over 55 years")
def OVER_55(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age > 55


@criterion("hepatic disease on record")
def HEPATIC_DISEASE(ctx: Ctx) -> bool:
    return ctx._value("hepatic_disease") is True


@criterion("neurologic comorbidity on record")
def NEUROLOGIC_COMORBIDITY(ctx: Ctx) -> bool:
    return ctx._value("neurologic_comorbidity") is True


@criterion("allo-HCT planned or a prior allo-HCT (or HCT of unrecorded donor type)")
def HCT_PLANNED_OR_PRIOR(ctx: Ctx) -> bool:
    return ctx.hct_planned is True or ctx.prior_hct


def _hct_history_gap(ctx: Ctx) -> tuple[str, ...]:
    """With no transplant planned, a history of HCT of unrecorded donor type is what the
    caution rests on: ask for the type."""
    return () if ctx.hct_planned is True else ctx.hct_type_gap


@criterion("relapsed or refractory AML")
def AML_RELAPSED_OR_REFRACTORY(ctx: Ctx) -> bool:
    return ctx.is_aml and ctx.status in RR


# --- helpers ---------------------------------------------------------------------------------


def _for_b_lineage(ctx: Ctx, rec: Make) -> bool:
    """patient-view: B-ALL; order entry of a B-lineage agent: anything but T-ALL or AML, which
    get the order check's lineage card instead."""
    return ctx.is_b if rec.focus is None else not C.T_ALL_OR_AML(ctx)


def _b_all_shown(ctx: Ctx, rec: Make, *tags: str) -> bool:
    """patient-view: B-ALL with an option tagged ``tags`` shown; order entry: not T-ALL/AML."""
    if rec.focus is None:
        return ctx.is_b and not ctx.fired.isdisjoint(tags)
    return _for_b_lineage(ctx, rec)


# --- CD19-directed therapy ----------------------------------------------------------------


@rule("CAU-CD19-NEG", "caution", seeds=("000",), when=(C.B_ALL, C.CD19_NEGATIVE))
def cd19_negative(ctx: Ctx, rec: Make) -> Recommendation:
    """CD19-negative B-ALL: blinatumomab is rendered ineffective by CD19 loss and CD19 CAR T
    needs the antigen; consider CD22-directed therapy or a trial (000). A bare % under the
    site's cut-off is site policy, not evidence: the card asks to confirm CD19 (W6)."""
    cd19 = ctx.cd19
    return rec(cd19.fact, ctx.cd22.fact, ctx.f_car_t if ctx.prior_car_t else None,
               loss=ctx.lost_after("cd19", *CD19_DIRECTED, car_t=True),
               cd22_expressed=ctx.cd22.expressed is True, low=cd19.below_cutoff,
               percent=cd19.percent or 0.0)


def _fusions(ctx: Ctx) -> tuple[str, ...]:
    fusions: list[str] = []
    if ctx.kmt2a == "positive":
        fusions.append("KMT2A rearrangement")
    if ctx.ph == "positive":
        fusions.append("BCR::ABL1")
    return tuple(fusions)


@rule("CAU-LINEAGE-SWITCH", "caution", seeds=("001", "002"), hooks=ORDER_HOOKS,
      drugs=(*CD19_CAR_T_PRODUCTS, "car-t"), when=(LINEAGE_SWITCH_FUSION,))
def lineage_switch(ctx: Ctx, rec: Make) -> Recommendation | None:
    """A CD19 CAR T order with a KMT2A or BCR::ABL1 fusion: sustained CD19 pressure from
    persisting CAR T cells can select a switch to myeloid lineage (002), often seen with KMT2A
    rearrangement (001). A warning on the CAR T order only: the passage is about persisting
    CAR T cells, not the TKI + blinatumomab backbone 003 endorses (M1). Order entry: a CD19
    CAR T product unless T-ALL/AML; an unnamed CAR T only for B-ALL."""
    if rec.focus == "car-t":
        if not ctx.is_b:
            return None
    elif C.T_ALL_OR_AML(ctx):
        return None
    return rec(ctx.f("kmt2a"), ctx.f_ph, fusions=_fusions(ctx), kmt2a=ctx.kmt2a == "positive")


@rule("CAU-LINEAGE-SWITCH-NOTE", "caution", seeds=("001", "002"),
      when=(C.B_ALL, LINEAGE_SWITCH_FUSION, either(fired("car-t"), C.PRIOR_CAR_T)))
def lineage_switch_note(ctx: Ctx, rec: Make) -> Recommendation:
    """patient-view, KMT2A or BCR::ABL1 fusion with CAR T options shown or a CAR T infusion on
    record: the lineage-switch risk as information inside the CAR T card; the warning is for
    the CAR T order (CAU-LINEAGE-SWITCH)."""
    return rec(ctx.f("kmt2a"), ctx.f_ph, ctx.f_car_t if ctx.prior_car_t else None,
               fusions=_fusions(ctx), kmt2a=ctx.kmt2a == "positive")


@rule("CAU-SEQUENCING-CD19", "caution", seeds=("001",), hooks=ALL_HOOKS,
      drugs=(*CD19_CAR_T_PRODUCTS, "car-t"), when=(PRIOR_BLINATUMOMAB,), reacts_to=("car-t",))
def sequencing_cd19(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Blinatumomab before CD19 CAR T: a potential antigen-escape risk, though CIBMTR saw no
    loss of efficacy (001); a caution, never an exclusion (D20). A course still running
    (``ongoing``) is said as such, not as "prior blinatumomab" (review M5).

    patient-view: B-ALL shown with CAR T options. Order entry: a CD19 CAR T product unless
    T-ALL/AML; an unnamed CAR T only for B-ALL."""
    if rec.focus == "car-t":
        if not ctx.is_b:
            return None
    elif not _b_all_shown(ctx, rec, "car-t"):
        return None
    running = ctx.f_blin_course
    return rec(running or ctx.f_exposure("blinatumomab"), ctx.cd19.fact,
               ongoing=running is not None)


@rule("CAU-NEURO", "caution", seeds=("001", "002"), hooks=ALL_HOOKS,
      drugs=("blinatumomab", *CD19_CAR_T_PRODUCTS, "car-t"), when=(NEUROLOGIC_COMORBIDITY,),
      reacts_to=("blinatumomab", "car-t"))
def neurologic_comorbidity(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Neurologic comorbidity: a risk factor for CAR T neurotoxicity (002); blinatumomab's own
    neurotoxicity (about 50 %, 15 % grade >= 3, median day 7; 002); 001 Table 2 lists
    neurologic disease under inotuzumab. The summary speaks of the drug at hand (M2).

    patient-view: B-ALL shown with blinatumomab or CAR T options. Order entry: blinatumomab or
    a CD19 CAR T product unless T-ALL/AML; an unnamed CAR T only for B-ALL."""
    if rec.focus == "car-t":
        if not ctx.is_b:
            return None
    elif not _b_all_shown(ctx, rec, "blinatumomab", "car-t"):
        return None
    if rec.focus is None:
        blin, cart = "blinatumomab" in ctx.fired, "car-t" in ctx.fired
    else:
        blin, cart = rec.focus == "blinatumomab", rec.focus != "blinatumomab"
    return rec(ctx.f("neurologic_comorbidity"), blin=blin, cart=cart)


@rule("CAU-BLIN-EFFICACY", "caution", seeds=("003",), hooks=ALL_HOOKS, drugs=("blinatumomab",),
      when=(C.RELAPSED_OR_REFRACTORY, either(C.HIGH_BURDEN, CD19_DIM_AFTER_BLINATUMOMAB)),
      reacts_to=("blinatumomab-rr",))
def blinatumomab_efficacy(ctx: Ctx, rec: Make) -> Recommendation | None:
    """High burden (>= 50 % blasts or extramedullary disease outside the CNS), or CD19 called
    dim after a blinatumomab course (a re-challenge, O5): blinatumomab was less effective
    (003). "Inotuzumab first" is said only within inotuzumab's labelled age (criteria).

    patient-view: B-ALL shown with a relapsed/refractory blinatumomab option. Order entry:
    blinatumomab unless T-ALL/AML."""
    if not _b_all_shown(ctx, rec, "blinatumomab-rr"):
        return None
    dim = CD19_DIM_AFTER_BLINATUMOMAB(ctx)
    return rec(ctx.f_blasts, *ctx.f_emd, ctx.cd19.fact if dim else None,
               ctx.f_exposure("blinatumomab") if dim else None,
               blasts=ctx.blasts, emd=bool(ctx.extramedullary), burden=C.HIGH_BURDEN(ctx),
               cd19_dim=dim, ino_age=C.ino_labelled_age(ctx) is not False)


@rule("CAU-PH-CHEMOFREE-CNS", "caution", seeds=("003",), hooks=ALL_HOOKS,
      drugs=("blinatumomab",), when=(C.PH_POSITIVE, C.EARLY_FRONTLINE))
def ph_chemotherapy_free_cns(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Chemotherapy-free Ph+ regimens (TKI + blinatumomab): CNS relapse remains a significant
    concern; trials raised intrathecal doses (003).

    patient-view: newly diagnosed or post-induction Ph+ B-ALL. Order entry: blinatumomab
    unless T-ALL/AML."""
    if not _for_b_lineage(ctx, rec):
        return None
    return rec(ctx.f_ph, ctx.f_status)


# --- inotuzumab ----------------------------------------------------------------------------


def _hct_outlook(ctx: Ctx) -> str | None:
    """Planned, prior, possible (not recorded either way), or None: recorded not eligible."""
    if ctx.hct_planned is True:
        return "planned"
    if ctx.prior_hct:
        return "prior"
    if ctx.hct_eligible is False:
        return None
    return "possible"


def _ino_offered(ctx: Ctx) -> bool:
    """patient-view: an inotuzumab option is offered, not only mentioned: within its labelled
    age (1 year and older, K1; an infant gets ALL-INO-PEDS, which points to a trial). The VOD
    caution applies to children too (K1)."""
    return ctx.is_b and "inotuzumab" in ctx.fired and not C.INO_AGE_UNLABELLED(ctx)


@rule("CAU-INO-VOD-HCT", "caution", seeds=("000",), hooks=ALL_HOOKS, drugs=("inotuzumab",),
      reacts_to=("inotuzumab",))
def inotuzumab_vod_with_hct(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Inotuzumab carries a black-box warning for fatal SOS/VOD in patients who undergo HCT
    after it: limit cycles when HCT is planned or possible (000; D27). The card counts the
    inotuzumab already on record (O4).

    A warning where the order or the record involves inotuzumab (F2): order entry of
    inotuzumab unless T-ALL/AML; patient-view only with inotuzumab on record, HCT planned or an
    inotuzumab option offered. Otherwise an offered option carries CAU-INO-VOD-NOTE (info).
    Not said when the patient is recorded as not eligible for HCT."""
    if rec.focus is None:
        if not (ctx.is_b and PRIOR_INOTUZUMAB(ctx)
                and (ctx.hct_planned is True or _ino_offered(ctx))):
            return None
    elif C.T_ALL_OR_AML(ctx):
        return None
    hct = _hct_outlook(ctx)
    if hct is None:
        return None
    n, last = ctx.exposure_count("inotuzumab")
    return rec(ctx.f("hct_planned"), ctx.f_prior_hct, ctx.f("hct_eligible"),
               ctx.f_exposure("inotuzumab"), hct=hct, n=n,
               last=last.date().isoformat() if last else None,
               confirm=ctx.hct_type_gap if hct == "prior" else ())


@rule("CAU-INO-VOD-NOTE", "caution", seeds=("000",), when=(C.B_ALL, fired("inotuzumab")),
      unless=(C.INO_AGE_UNLABELLED, PRIOR_INOTUZUMAB))
def inotuzumab_vod_note(ctx: Ctx, rec: Make) -> Recommendation | None:
    """patient-view, an inotuzumab option offered and no inotuzumab on record: the VOD / 2-cycle
    caution as information inside the options card (F2); the warning is for the order."""
    hct = _hct_outlook(ctx)
    if hct is None:
        return None
    return rec(ctx.f("hct_planned"), ctx.f_prior_hct, ctx.f("hct_eligible"), hct=hct,
               confirm=ctx.hct_type_gap if hct == "prior" else ())


@rule("CAU-AGE-INO", "caution", seeds=("001", "003"), hooks=ALL_HOOKS, drugs=("inotuzumab",),
      when=(OVER_55,), reacts_to=("inotuzumab",))
def inotuzumab_over_55(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Over 55: grade >= 3 inotuzumab toxicity is less well tolerated (001); over 70, deaths
    in remission after inotuzumab + mini-hyper-CVD (003).

    patient-view: B-ALL shown with inotuzumab options. Order entry: inotuzumab unless
    T-ALL/AML."""
    if not _b_all_shown(ctx, rec, "inotuzumab"):
        return None
    return rec(ctx.f_age, over70=ctx.age is not None and ctx.age > 70, frontline=ctx.frontline)


@rule("CAU-HEPATIC", "caution", seeds=("001",), hooks=ALL_HOOKS, drugs=("inotuzumab",),
      when=(HEPATIC_DISEASE,), reacts_to=("inotuzumab",))
def hepatic_disease(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Hepatic disease: inotuzumab is hepatotoxic (hyperbilirubinemia, transaminitis, SOS/VOD);
    001 Table 2 lists hepatic disease under blinatumomab.

    patient-view: B-ALL shown with inotuzumab options. Order entry: inotuzumab unless
    T-ALL/AML."""
    if not _b_all_shown(ctx, rec, "inotuzumab"):
        return None
    return rec(ctx.f("hepatic_disease"))


@rule("CAU-CD22-LOSS", "caution", seeds=("002",), hooks=ALL_HOOKS, drugs=("inotuzumab",),
      when=(PRIOR_INOTUZUMAB, either(C.RELAPSED_OR_REFRACTORY, C.CD22_NEGATIVE)))
def cd22_loss(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Prior inotuzumab: CD22 downregulation, a resistance mechanism, has been reported (002);
    re-test CD22.

    patient-view: B-ALL. Order entry: inotuzumab unless T-ALL/AML."""
    if not _for_b_lineage(ctx, rec):
        return None
    return rec(ctx.f_exposure("inotuzumab"), ctx.cd22.fact,
               cd22_negative=ctx.lost_after("cd22", "inotuzumab"))


@rule("CAU-INO-FRONTLINE-TOX", "caution", seeds=("003",), hooks=ORDER_HOOKS,
      drugs=("inotuzumab",), when=(C.FRONTLINE_THERAPY,), unless=(C.PH_POSITIVE, C.T_ALL_OR_AML))
def inotuzumab_frontline_toxicity(ctx: Ctx, rec: Make) -> Recommendation:
    """Inotuzumab ordered in frontline therapy: more grade 5 events in A041501; frontline
    inotuzumab belongs in trials (003; D15)."""
    return rec(ctx.f_status, ctx.f_age, confirm=status_number(ctx))


# --- blinatumomab at order entry -------------------------------------------------------------


@rule("CAU-BLIN-DRIVING", "caution", seeds=("000",), hooks=ORDER_HOOKS, drugs=("blinatumomab",))
def blinatumomab_driving(ctx: Ctx, rec: Make) -> Recommendation:
    """During blinatumomab: no driving, hazardous work or heavy machinery (SITC text, 000).
    Shown with the monitoring for every blinatumomab order."""
    return rec()


# --- CAR T -----------------------------------------------------------------------------------


@rule("CAU-CART-LOGISTICS", "caution", seeds=("001",), when=(C.B_ALL, fired("car-t")))
def car_t_logistics(ctx: Ctx, rec: Make) -> Recommendation:
    """CAR T manufacturing is time-consuming (001 Table 3): plan T-cell collection early. Shown
    with the CAR T options."""
    return rec(ctx.f_status)


def _remission_after_car_t(ctx: Ctx) -> tuple[str, ...]:
    """What to confirm before calling the recorded remission a remission *after* CAR T."""
    if ctx.status_vs_car_t == "after":
        return ()
    return (ctx.order_gap("the remission", "status", ctx.status_date, ctx.car_t_dates,
                          "CAR T infusion"),)


@rule("CAU-SECOND-HCT-POST-CART", "caution", seeds=("001",),
      when=(C.B_ALL, C.PRIOR_CAR_T, C.IN_REMISSION, C.PRIOR_HCT),
      unless=(C.STATUS_BEFORE_CAR_T,))
def second_hct_after_car_t(ctx: Ctx, rec: Make) -> Recommendation:
    """Prior allo-HCT and remission after CAR T: a second transplant may bring more toxicity
    than efficacy (001). An undated side is shown with what to confirm, never assumed."""
    return rec(ctx.f_car_t, ctx.f_status, ctx.f_prior_hct, timing=ctx.status_vs_car_t,
               confirm=(*_remission_after_car_t(ctx), *ctx.hct_type_gap))


# --- transplant and immune therapy ---------------------------------------------------------


@rule("CAU-CHECKPOINT-HCT", "caution", seeds=("000",),
      when=(C.RELAPSED_OR_REFRACTORY, HCT_PLANNED_OR_PRIOR))
def checkpoint_with_hct(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Checkpoint inhibitors around allo-HCT raise GVHD risk (acute 56 %, chronic 29 %, 000).

    Information inside the trial prompt, never a warning: checkpoint inhibitors are not
    contract drugs, so nobody has ordered or recorded one (F1). Shown with the
    checkpoint-inhibitor prompts when transplant is planned or in the history:
    r/r AML (AML-CHECKPOINT), and r/r B-ALL when the adult blinatumomab + checkpoint-inhibitor
    trial NCT02879695 is named (age 18 or over, or unknown)."""
    if ctx.is_aml or (ctx.is_b and not C.CHILD(ctx)):
        return rec(ctx.f_prior_hct, ctx.f("hct_planned"), confirm=_hct_history_gap(ctx))
    return None


@rule("CAU-IMMUNE-WITH-HCT", "caution", seeds=("000",),
      when=(C.AML, HCT_PLANNED_OR_PRIOR,
            either(fired("gemtuzumab"), C.RELAPSED_OR_REFRACTORY)))
def immune_therapy_with_hct(ctx: Ctx, rec: Make) -> Recommendation:
    """AML with transplant planned or in the history, shown with gemtuzumab or r/r options:
    graft-versus-leukemia matters, so caution with any immune-targeting therapy (000)."""
    return rec(ctx.f("hct_planned"), ctx.f_prior_hct, confirm=_hct_history_gap(ctx))


@rule("CAU-GO-SOS", "caution", seeds=("000", "002"), hooks=ALL_HOOKS, drugs=("gemtuzumab",),
      reacts_to=("gemtuzumab",))
def gemtuzumab_sos(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Gemtuzumab ozogamicin: hepatotoxicity/SOS black-box warning (000); a longer GO-to-HCT
    interval was associated with less SOS (002).

    patient-view: AML shown with a gemtuzumab option. Order entry: every gemtuzumab order
    (with its monitoring)."""
    if rec.focus is None and not (ctx.is_aml and "gemtuzumab" in ctx.fired):
        return None
    return rec(ctx.f("hct_planned"), hct=ctx.hct_planned is True)


# --- T-ALL -----------------------------------------------------------------------------------


@rule("CAU-DARA-BLOODBANK", "caution", seeds=("004",), hooks=ORDER_HOOKS,
      drugs=("daratumumab",))
def daratumumab_blood_bank(ctx: Ctx, rec: Make) -> Recommendation:
    """Every daratumumab order: it binds CD38 on red cells and makes the indirect Coombs test
    positive, interfering with blood-group testing (004). A warning on the order only (F3)."""
    return rec(ctx.marker("cd38").fact)


@rule("CAU-DARA-BLOODBANK-NOTE", "caution", seeds=("004",),
      when=(C.T_ALL, fired("daratumumab")))
def daratumumab_blood_bank_note(ctx: Ctx, rec: Make) -> Recommendation:
    """patient-view, T-ALL shown with daratumumab: the blood-bank note as information inside
    the T-ALL options (F3); the warning is for the daratumumab order."""
    return rec(ctx.marker("cd38").fact)


# --- trials ----------------------------------------------------------------------------------


@rule("CAU-EXPERIMENTAL-SITE", "caution", seeds=("000",),
      when=(C.LINEAGE_AND_STATUS_KNOWN,
            either(fired("trial-prompt"), C.T_ALL, AML_RELAPSED_OR_REFRACTORY)))
def experimental_site(ctx: Ctx, rec: Make) -> Recommendation:
    """SITC: give new, experimental drugs only at centres with the support, infrastructure and
    subspecialties to manage them (000). Shown with trial prompts, and in T-ALL and r/r AML
    (whose options are investigational)."""
    return rec()
