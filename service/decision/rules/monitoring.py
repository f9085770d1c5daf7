"""Monitoring for the drug being ordered (order-select / order-sign).

Windows and actions are the seeds' (section 3 of clinical-rules.md). The seeds give no
grade-by-grade CRS/ICANS algorithm: cards point to the ASTCT grading and established guidelines
instead of inventing one. Every recommendation carries the drafted drug as its focus, so the
renderer groups one monitoring card per drug; it is said for every draft of the drug, whatever
the order checks found.
"""

from __future__ import annotations

from typing import Literal

from service.decision.context import Ctx
from service.decision.model import Recommendation
from service.decision.registry import ORDER_HOOKS, Make, rule
from service.decision.vocabulary import CD19_CAR_T, REMISSION, RR

BLIN = ("blinatumomab",)
CAR_T = (*sorted(CD19_CAR_T), "car-t")  # the named CD19 products and an unnamed CAR T
IMMUNE_EFFECTOR = (*BLIN, *CAR_T)


def _drug_text(rec: Make) -> str:
    return "blinatumomab" if rec.focus == "blinatumomab" else "CAR T"


def _blin_setting(ctx: Ctx) -> Literal["rr", "mrd", "other", "unknown"]:
    """Relapsed/refractory; MRD-positive after induction or in CR; "other": newly diagnosed,
    or after induction / in CR with MRD negative (frontline or consolidation use, for which
    the seeds give no admission rule, S1); "unknown": the record does not show which."""
    if ctx.status in RR:
        return "rr"
    early = ctx.status in REMISSION or ctx.status == "post-induction"
    if early and ctx.mrd.state == "positive":
        return "mrd"
    if ctx.status == "newly-diagnosed" or (early and ctx.mrd.state == "negative"):
        return "other"
    return "unknown"


def _overt(ctx: Ctx) -> bool | None:
    """Overt disease (r/r, or marrow blasts > 5 %); False in the MRD setting; None: unknown."""
    if ctx.status in RR or (ctx.blasts is not None and ctx.blasts > 5):
        return True
    if _blin_setting(ctx) == "mrd":
        return False
    return None


# --- blinatumomab and CAR T ----------------------------------------------------------------


@rule("MON-IMMUNO-GENERAL", "monitoring", seeds=("000",), hooks=ORDER_HOOKS,
      drugs=IMMUNE_EFFECTOR)
def immune_effector_watch(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab or CAR T: SITC says monitor vigilantly for CRS and neurotoxicity (fever,
    hypotension, altered mental state) and manage them by established guidelines (000)."""
    return rec(drug=_drug_text(rec))


@rule("MON-BLIN-ADMISSION", "monitoring", seeds=("000",), hooks=ORDER_HOOKS, drugs=BLIN)
def blinatumomab_admission(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab cycle 1: hospitalize for the first 9 days in r/r disease, 3 days in the MRD
    setting (SITC text, 000). Frontline or consolidation use (newly diagnosed, or MRD negative
    after induction / in CR): the card says the sources give no admission rule for it."""
    return rec(ctx.f_status, ctx.mrd.fact, setting=_blin_setting(ctx))


@rule("MON-BLIN-CRS-PREVENTION", "monitoring", seeds=("002",), hooks=ORDER_HOOKS, drugs=BLIN)
def blinatumomab_crs_prevention(ctx: Ctx, rec: Make) -> Recommendation | None:
    """Overt disease: pre-phase dexamethasone and stepwise blinatumomab dosing to prevent CRS
    (002). Not said in the MRD setting without overt disease."""
    overt = _overt(ctx)
    if overt is False:
        return None
    child = ctx.age is not None and ctx.age < 18
    return rec(ctx.f_status, ctx.f_blasts, ctx.f_age, overt=overt is True, child=child,
               child_high_burden=child and ctx.blasts is not None and ctx.blasts > 25)


@rule("MON-BLIN-CRS-NEURO-WINDOWS", "monitoring", seeds=("002",), hooks=ORDER_HOOKS, drugs=BLIN)
def blinatumomab_toxicity_windows(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab: CRS typically within the first 2 days; neurotoxicity in about 50 %, median
    onset day 7 (002)."""
    return rec()


@rule("MON-BLIN-TOX-ACTIONS", "monitoring", seeds=("001", "002"), hooks=ORDER_HOOKS,
      drugs=BLIN)
def blinatumomab_toxicity_actions(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab toxicity: tocilizumab for CRS; stop and give dexamethasone for grade >= 3
    neurotoxicity (002); permanent discontinuation if life-threatening (001)."""
    return rec()


@rule("MON-CART-CRS", "monitoring", seeds=("002", "004"), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_crs(ctx: Ctx, rec: Make) -> Recommendation:
    """CAR T CRS: severity rises with disease burden; onset within 3 days is high risk (004);
    tocilizumab, glucocorticoids if no immediate response (002). The grade is dated against the
    latest infusion so an earlier course's grade does not pass for this one."""
    return rec(ctx.f_since_car_t("crs_grade"), ctx.f_blasts,
               high_burden=bool(ctx.high_burden))


@rule("MON-CART-ICANS", "monitoring", seeds=("000", "002"), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_icans(ctx: Ctx, rec: Make) -> Recommendation:
    """CAR T neurotoxicity does not respond to tocilizumab (000): manage CRS and prevent
    seizures (002); extramedullary disease and neurologic comorbidity are risk factors."""
    return rec(ctx.f_since_car_t("icans_grade"),
               ctx.f_since_car_t("ice_score"), *ctx.f_emd,
               ctx.f("neurologic_comorbidity"),
               risk_emd=bool(ctx.extramedullary),  # 000's risk factor; CNS status is shown
               risk_neuro=ctx._value("neurologic_comorbidity") is True)


@rule("MON-CART-INFECTION", "monitoring", seeds=("002",), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_infection(ctx: Ctx, rec: Make) -> Recommendation:
    """Infection after CAR T is most frequent in the first 28 days: prophylaxis and prompt
    broad-spectrum antibiotics (002)."""
    return rec()


@rule("MON-CART-PROXIMITY", "monitoring", seeds=("000",), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_label_safety(ctx: Ctx, rec: Make) -> Recommendation:
    """Every CD19 CAR T order, named or not: the US labels' boxed warning for T-cell
    malignancies with life-long monitoring (FDA 2024, K2), and 2 weeks near the treating
    centre and 2 weeks without driving (FDA 2025, K3). K3 supersedes SITC's "first month" for
    tisagenlecleucel (000), which the entry still cites; the labels now say the same for all
    three products, so the card no longer differs by product (O8)."""
    return rec(drug="CAR T" if rec.focus in (None, "car-t") else rec.focus)


@rule("MON-CART-PERSISTENCE", "monitoring", seeds=("001",), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_persistence(ctx: Ctx, rec: Make) -> Recommendation:
    """After CAR T: track B-cell aplasia (early loss correlates with relapse) and day-28 MRD
    (001)."""
    return rec()


@rule("MON-CART-LABS", "monitoring", seeds=("004",), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_labs(ctx: Ctx, rec: Make) -> Recommendation:
    """After CAR T: cytopenias, hypokalemia, hypophosphatemia and raised liver tests are
    frequent (004)."""
    return rec()


@rule("MON-IGG", "monitoring", seeds=("002",), hooks=ORDER_HOOKS, drugs=IMMUNE_EFFECTOR)
def immunoglobulin_g(ctx: Ctx, rec: Make) -> Recommendation:
    """Blinatumomab or CAR T: B-cell aplasia causes hypogammaglobulinemia; monitor IgG and give
    immunoglobulin as needed (002)."""
    return rec(drug=_drug_text(rec))


@rule("MON-CART-HIV-NAT", "monitoring", seeds=("002",), hooks=ORDER_HOOKS, drugs=CAR_T)
def car_t_hiv_nat(ctx: Ctx, rec: Make) -> Recommendation:
    """After lentiviral CAR T, some HIV-1 nucleic-acid tests can be falsely positive (002)."""
    return rec()


# --- antibody-drug conjugates ---------------------------------------------------------------


@rule("MON-INO-VOD", "monitoring", seeds=("000",), hooks=ORDER_HOOKS, drugs=("inotuzumab",))
def inotuzumab_vod(ctx: Ctx, rec: Make) -> Recommendation:
    """Inotuzumab: weigh often and check liver function (VOD/SOS); prophylaxis before HCT
    (000)."""
    planned = ctx.hct_planned is True
    return rec(ctx.f("hct_planned"), hct=planned or ctx.prior_hct,
               confirm=() if planned else ctx.hct_type_gap)


@rule("MON-GO-HEPATIC", "monitoring", seeds=("000",), hooks=ORDER_HOOKS, drugs=("gemtuzumab",))
def gemtuzumab_hepatic(ctx: Ctx, rec: Make) -> Recommendation:
    """Gemtuzumab ozogamicin: hepatotoxicity/SOS black-box warning; follow liver tests (000)."""
    return rec()


# --- every immunotherapy ---------------------------------------------------------------------


@rule("MON-EDUCATION", "monitoring", seeds=("000",), hooks=ORDER_HOOKS,
      drugs=(*IMMUNE_EFFECTOR, "inotuzumab", "gemtuzumab"))
def patient_education(ctx: Ctx, rec: Make) -> Recommendation:
    """Before immunotherapy, SITC says teach patients and carers the adverse events and when
    to call (000)."""
    return rec()
