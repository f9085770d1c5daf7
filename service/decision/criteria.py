"""Named criteria the rules share: one meaning for "relapsed or refractory" everywhere.

Each is a question about the patient, read through ``Ctx`` (missing data answers False: a rule
that needs to say "confirm first" checks inside its own function). The rule book prints their
names as each rule's inclusion (``when``) and exclusion (``unless``) criteria.
"""

from __future__ import annotations

from service.decision.context import Ctx
from service.decision.registry import criterion
from service.decision.vocabulary import REMISSION, RR

# Drugs given for acute leukemia only (their labels): an exposure to one marks a leukemia chart.
# Rituximab, daratumumab and tocilizumab are given far more often for other diseases.
_ACUTE_LEUKEMIA_DRUGS = frozenset({"blinatumomab", "inotuzumab", "gemtuzumab"})
# How contract data arrives: the service's own codes, or a site's map onto them.
_CONTRACT_CODED = frozenset({"local-code", "site-conceptmap"})


@criterion("the record shows an acute leukemia")
def LEUKEMIA_RECORD(ctx: Ctx) -> bool:
    """Other charts get no cards. A diagnosis, status, MRD, CAR T, a marker on blasts or an
    exposure to a drug given only for acute leukemia is enough to count as a leukemia record.
    A marrow blast count or a BCR::ABL1 result counts only in the contract's own codes: in
    standard codes (LOINC 11150-0, BCR::ABL1 PCR or FISH) they fill MDS, myeloma and CML charts
    too. A marker known only as a % of all cells never counts: those are routine labs."""
    f = ctx.facts
    return bool(
        f.lineage or f.disease_status or f.mrd or f.car_t
        or any(m.call is not None or m.percent is not None for m in f.markers.values())
        or any(x.drug in _ACUTE_LEUKEMIA_DRUGS or x.drug_class == "car-t"
               for x in f.exposures)
        or (f.bm_blasts_percent and f.bm_blasts_percent.source.recognised_by in _CONTRACT_CODED)
        or (f.ph and f.ph.source.recognised_by in _CONTRACT_CODED)
    )


# --- diagnosis -----------------------------------------------------------------------------


@criterion("B-ALL")
def B_ALL(ctx: Ctx) -> bool:
    return ctx.is_b


@criterion("T-ALL")
def T_ALL(ctx: Ctx) -> bool:
    return ctx.is_t


@criterion("AML")
def AML(ctx: Ctx) -> bool:
    return ctx.is_aml


@criterion("T-ALL or AML (not B lineage)")
def T_ALL_OR_AML(ctx: Ctx) -> bool:
    return ctx.is_t or ctx.is_aml


@criterion("lineage and disease status recorded")
def LINEAGE_AND_STATUS_KNOWN(ctx: Ctx) -> bool:
    return ctx.lineage is not None and ctx.status is not None


# --- disease status ------------------------------------------------------------------------


@criterion("relapsed or refractory")
def RELAPSED_OR_REFRACTORY(ctx: Ctx) -> bool:
    return ctx.status in RR


@criterion("first relapse, or relapse with its number not recorded")
def FIRST_RELAPSE(ctx: Ctx) -> bool:
    """A relapse whose number the record lacks may be the first: the rule shows its card with
    the number to confirm (gaps.status_number)."""
    return ctx.status in ("first-relapse", "relapse")


@criterion("in complete remission")
def IN_REMISSION(ctx: Ctx) -> bool:
    return ctx.status in REMISSION


@criterion("after induction or in complete remission")
def AFTER_INDUCTION_OR_CR(ctx: Ctx) -> bool:
    return ctx.status in REMISSION or ctx.status == "post-induction"


@criterion("frontline (newly diagnosed, after induction or in CR1, or in a remission whose "
           "number is not recorded)")
def FRONTLINE_THERAPY(ctx: Ctx) -> bool:
    """A remission whose number the record lacks may be CR1: the rule shows its card with the
    number to confirm (gaps.status_number)."""
    return ctx.frontline


@criterion("newly diagnosed or after induction")
def EARLY_FRONTLINE(ctx: Ctx) -> bool:
    return ctx.status in {"newly-diagnosed", "post-induction"}


@criterion("newly diagnosed")
def NEWLY_DIAGNOSED(ctx: Ctx) -> bool:
    return ctx.status == "newly-diagnosed"


# --- age ---------------------------------------------------------------------------------------


@criterion("under 18 years")
def CHILD(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age < 18


@criterion("18 years or older")
def ADULT(ctx: Ctx) -> bool:
    return ctx.age is not None and ctx.age >= 18


# Inotuzumab's labelled age: the sources describe the 2017 approval for adults (001); the US
# label has covered children 1 year and older since 2024-03-06 (knowledge-updates.md K1, which
# wins over the seeds for label status). Every rule that asks "is inotuzumab labelled at this
# age?" asks `ino_labelled_age` or the two criteria below: a label change is an edit here.
INO_LABEL_MIN_AGE = 1


def ino_labelled_age(ctx: Ctx) -> bool | None:
    """Whether inotuzumab's US label covers the patient's age; None when the age is not
    recorded (the card then asks for it)."""
    return None if ctx.age is None else ctx.age >= INO_LABEL_MIN_AGE


@criterion(f"under inotuzumab's labelled age (US label: {INO_LABEL_MIN_AGE} year and older, "
           "FDA 2024-03-06)")
def INO_AGE_UNLABELLED(ctx: Ctx) -> bool:
    return ino_labelled_age(ctx) is False


@criterion(f"within inotuzumab's labelled age (US label: {INO_LABEL_MIN_AGE} year and older, "
           "FDA 2024-03-06)")
def INO_AGE_LABELLED(ctx: Ctx) -> bool:
    return ino_labelled_age(ctx) is True


# Standard risk in childhood B-ALL: the sources report the blinatumomab result for "childhood
# standard-risk B-ALL" (003) without defining it, and the record holds no risk group. What
# rules standard risk out is the product owner's requirement (issue 19), not a seed's claim:
# under 1 year, 10 or older, KMT2A rearranged, CNS3.
STANDARD_RISK_MIN_AGE, STANDARD_RISK_MAX_AGE = 1, 10


@criterion("standard risk ruled out (under 1 year, 10 or older, KMT2A rearranged or CNS3; "
           "product requirement, not from the sources)")
def NOT_STANDARD_RISK(ctx: Ctx) -> bool:
    age = ctx.age
    return ((age is not None and not STANDARD_RISK_MIN_AGE <= age < STANDARD_RISK_MAX_AGE)
            or ctx.kmt2a == "positive" or ctx._value("cns_status") == "cns3")


# --- antigens ------------------------------------------------------------------------------


# "negative" gates the options that need the antigen: a lab call, or a bare % under the site's
# cut-off (site policy). "called negative" is the lab's call only: the one an order can be
# contradicted by (a critical card); a bare % under the cut-off is a "confirm" (W6).


@criterion("CD19 negative (lab call) or a bare % under the site's cut-off")
def CD19_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.cd19.expressed is False


@criterion("CD22 negative (lab call) or a bare % under the site's cut-off")
def CD22_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.cd22.expressed is False


@criterion("CD33 negative (lab call) or a bare % under the site's cut-off")
def CD33_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.cd33.expressed is False


@criterion("CD19 called negative by the lab")
def CD19_CALLED_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.cd19.called_negative


# --- genetics, burden, history -------------------------------------------------------------


@criterion("Ph-positive (BCR::ABL1)")
def PH_POSITIVE(ctx: Ctx) -> bool:
    return ctx.ph == "positive"


@criterion("Ph-negative")
def PH_NEGATIVE(ctx: Ctx) -> bool:
    return ctx.ph == "negative"


@criterion("high burden (marrow blasts >= 50 % or extramedullary, non-CNS, disease)")
def HIGH_BURDEN(ctx: Ctx) -> bool:
    return ctx.high_burden is True


@criterion("low burden (marrow blasts < 50 %, no extramedullary or CNS disease)")
def LOW_BURDEN(ctx: Ctx) -> bool:
    return ctx.high_burden is False


@criterion("extramedullary or CNS disease")
def EXTRAMEDULLARY(ctx: Ctx) -> bool:
    return bool(ctx.emd)


@criterion("MRD positive")
def MRD_POSITIVE(ctx: Ctx) -> bool:
    return ctx.mrd.state == "positive"


@criterion("prior allogeneic HCT (or an HCT of unrecorded donor type: shown with what to "
           "confirm)")
def PRIOR_HCT(ctx: Ctx) -> bool:
    return ctx.prior_hct


@criterion("prior CAR T")
def PRIOR_CAR_T(ctx: Ctx) -> bool:
    return ctx.prior_car_t


@criterion("disease status recorded before the latest allo-HCT")
def STATUS_BEFORE_HCT(ctx: Ctx) -> bool:
    return ctx.status_vs_hct == "before"


@criterion("disease status recorded before the latest CAR T infusion")
def STATUS_BEFORE_CAR_T(ctx: Ctx) -> bool:
    return ctx.status_vs_car_t == "before"


@criterion("not fit for intensive therapy (recorded not eligible for intensive induction)")
def INTENSIVE_UNFIT(ctx: Ctx) -> bool:
    """The team's own record: a patient recorded unfit for intensive induction is not offered
    a hyper-CVAD-based regimen (004's ofatumumab and inotuzumab salvage data)."""
    return ctx._value("intensive_induction_eligible") is False


@criterion("allo-HCT planned or the patient is eligible")
def HCT_PLANNED_OR_ELIGIBLE(ctx: Ctx) -> bool:
    return ctx.hct_planned is True or ctx.hct_eligible is True


@criterion("not eligible for allo-HCT")
def HCT_INELIGIBLE(ctx: Ctx) -> bool:
    return ctx.hct_eligible is False


# --- therapy in progress -------------------------------------------------------------------


@criterion("B-ALL relapse or remission status recorded before the latest CAR T infusion or "
           "before a blinatumomab course still running")
def STATUS_PREDATES_THERAPY(ctx: Ctx) -> bool:
    """The status describes the patient before the therapy now in progress: options and trial
    prompts built on it would be stale (review M5), so patient-view withholds them and
    DQ-STATUS-UNKNOWN says so and asks for the current status. Same-day or undated: not
    asserted (the order in time is unknown)."""
    return ctx.is_b and (ctx.rr or ctx.status in REMISSION) and (
        ctx.status_vs_car_t == "before" or ctx.status_vs_blin_course == "before")
