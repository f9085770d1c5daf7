"""The scenario library: named synthetic patients that together exercise every rule family.

Each scenario is a clinical vignette written against ``Record``. The facts that decide which
rules fire (lineage, status, markers, MRD, age, history) are fixed; only what does not change
the decision (names, exact days, a few percentage points, which encoding the EHR used) is drawn
from the seeded random generator. ``families`` names the sections of
``shared/design/clinical-rules.md`` a scenario is meant to reach, ``rules`` the rule ids, and
``planted`` the data-quality findings the extractor must report for it (and no others).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.synth import real_world as rw
from service.synth.codes import LOINC as LOINC_SYSTEM
from service.synth.codes import SNOMED as SNOMED_SYSTEM
from service.synth.record import Record

# Rule families: the sections of clinical-rules.md section 1, plus the data-quality cards of the
# contract ("unknown or contradictory data produces a data-quality card") and order eligibility.
# The keys are the decision module's family names (service.decision.model.Family).
FAMILIES: dict[str, str] = {
    "workup": "1A Diagnostic workup",
    "b-all": "1B B-ALL treatment options",
    "car-t": "1C CAR-T options and what to do after CAR-T",
    "caution": "1D Cautions and contraindications",
    "monitoring": "1E Monitoring orders",
    "trial": "1F Clinical-trial prompts",
    "aml": "1G AML rules",
    "t-all": "1H T-ALL rules",
    "data-quality": "Data-quality cards (input contract: unknown data is said, not guessed)",
    "order": "Order eligibility against the record (critical when the order contradicts it)",
}


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    summary: str
    families: tuple[str, ...]
    rules: tuple[str, ...]
    orders: tuple[str, ...]  # drugs a reviewer would try ordering for this patient
    build: Callable[[Record], None]
    planted: tuple[str, ...] = ()  # data-quality finding codes planted on purpose


_GIVEN = {
    "female": ("Maria", "Aisha", "Sofia", "Hannah", "Yuki", "Amara", "Elena", "Grace", "Lena",
               "Priya", "Noor", "Chloe"),
    "male": ("James", "Omar", "Lucas", "Daniel", "Kenji", "Mateo", "Samuel", "Arjun", "Felix",
             "Tomas", "Kwame", "Ivan"),
}
_FAMILY = ("Garcia", "Okafor", "Novak", "Larsen", "Tanaka", "Haddad", "Kowalski", "Silva",
           "Moreau", "Fischer", "Nguyen", "Brennan", "Rossi", "Patel", "Lindqvist", "Mensah",
           "Dubois", "Yilmaz", "Kim", "Horvath", "Costa", "Ibrahim", "Petrov", "Walsh")


def _person(r: Record, age: int | None, sex: str | None = None) -> None:
    """Name and sex; the family name follows the scenario's place in the library, so that the
    patients of one library (index 0, as the sandbox lists them) never share a name."""
    sex = sex or r.rng.choice(("female", "male"))
    scenario_id, _, index = r.patient_id.rpartition("-")
    position = list(SCENARIOS).index(scenario_id) if scenario_id in SCENARIOS else 0
    family = _FAMILY[(position + 7 * int(index or 0)) % len(_FAMILY)]
    r.patient(age, sex, given=r.rng.choice(_GIVEN[sex]), family=family)


def _j(r: Record, days: int, spread: int = 2) -> int:
    """Jitter a day offset without reordering events that are further apart than ``spread``."""
    return max(1, days + r.rng.randint(-spread, spread))


# --- B-ALL: MRD and frontline --------------------------------------------------------------

def _b_all_cr1_mrd(r: Record) -> None:
    _person(r, r.rng.randint(30, 45))
    r.diagnosis("b-all", days_ago=_j(r, 150), clinical="remission")
    r.status("cr1", days_ago=_j(r, 9), history=(("newly-diagnosed", 150), ("post-induction", 116)))
    r.marker("cd19", float(r.rng.randint(90, 98)), days_ago=148, history=((97.0, 151),))
    r.marker("cd22", float(r.rng.randint(70, 85)), days_ago=148)
    r.marker("cd20", float(r.rng.randint(4, 12)), days_ago=148)
    r.coded("ph", "negative", days_ago=147, key="Ph−", loinc="51867-0", loinc_answer="LA9634-2")
    r.coded("kmt2a", "negative", days_ago=147)
    r.coded("cns-status", "cns1", days_ago=146)
    r.mrd(1.1, "%", days_ago=115, method="flow-cytometry", key=False)
    r.mrd(0.3, "%", days_ago=_j(r, 7), method="flow-cytometry")
    r.integer("prior-lines", 1, days_ago=9)


def _b_all_cr1_mrd_low(r: Record) -> None:
    _person(r, r.rng.randint(44, 52))
    r.diagnosis("b-all", days_ago=_j(r, 200), clinical="remission")
    r.status("cr1", days_ago=_j(r, 12), history=(("newly-diagnosed", 200), ("post-induction", 165)))
    r.marker("cd19", call="positive", interpretation="POS", days_ago=198)
    r.coded("ph", "negative", days_ago=197, key="Ph−")
    r.mrd(0.8, "%", days_ago=164, method="flow-cytometry", key=False)
    r.mrd(5, "10*-4", days_ago=_j(r, 6), method="ngs")
    r.integer("prior-lines", 1, days_ago=12)


def _b_all_post_induction_mrd_neg(r: Record) -> None:
    _person(r, r.rng.randint(36, 48))
    r.diagnosis("b-all", days_ago=_j(r, 120), clinical="remission")
    r.status("cr1", days_ago=_j(r, 5), history=(("newly-diagnosed", 120), ("post-induction", 88)))
    r.marker("cd19", float(r.rng.randint(93, 99)), days_ago=118)
    r.marker("cd22", float(r.rng.randint(60, 80)), days_ago=118)
    r.marker("cd20", float(r.rng.randint(2, 9)), days_ago=118)
    r.coded("ph", "negative", days_ago=117, key="Ph−")
    r.coded("ph-like", "positive", days_ago=110, key="Ph-like signature")
    r.mrd(0.01, "%", comparator="<", days_ago=_j(r, 6), method="flow-cytometry")


def _b_all_newdx_cd20(r: Record) -> None:
    _person(r, r.rng.randint(21, 27))
    r.diagnosis("b-all", days_ago=_j(r, 6))
    r.status("newly-diagnosed", days_ago=5)
    r.bm_blasts(float(r.rng.randint(80, 92)), days_ago=6)
    r.marker("cd19", float(r.rng.randint(96, 99)), days_ago=5)
    r.marker("cd20", float(r.rng.randint(38, 60)), days_ago=5, loinc="51115-4")
    r.marker("cd22", float(r.rng.randint(72, 90)), days_ago=5)
    r.coded("ph", "negative", days_ago=4, key="Ph−")
    r.coded("kmt2a", "negative", days_ago=4, key="KMT2A not rearranged",
            loinc="78219-3", loinc_answer="LA9634-2")
    r.coded("cns-status", "cns1", days_ago=3, key="CNS1")


def _older_newdx_hepatic(r: Record) -> None:
    _person(r, r.rng.randint(60, 66))
    r.diagnosis("b-all", days_ago=_j(r, 8))
    r.status("newly-diagnosed", days_ago=6)
    r.bm_blasts(float(r.rng.randint(55, 75)), days_ago=7)
    r.marker("cd19", call="positive", days_ago=6)
    r.marker("cd20", float(r.rng.randint(26, 35)), days_ago=6)
    r.marker("cd22", float(r.rng.randint(65, 80)), days_ago=6)
    r.coded("ph", "negative", days_ago=5, key="Ph−")
    r.comorbidity("hepatic-disease", "Chronic hepatitis C with fibrosis", days_ago=900)


# --- Ph-positive -------------------------------------------------------------------------

def _ph_pos_newdx_older(r: Record) -> None:
    _person(r, 70)
    r.diagnosis("b-all", days_ago=_j(r, 10, 1))
    r.status("newly-diagnosed", days_ago=9)
    r.bm_blasts(float(r.rng.randint(75, 90)), days_ago=9)
    r.marker("cd19", float(r.rng.randint(85, 95)), days_ago=8)
    r.coded("ph", "positive", days_ago=7, key="Ph+ (BCR::ABL1)")
    r.medication("dasatinib", days_ago=4, kind="request", status="active")


def _ph_pos_t315i(r: Record) -> None:
    _person(r, r.rng.randint(57, 62))
    r.diagnosis("b-all", days_ago=_j(r, 540), clinical="relapse")
    r.status("first-relapse", days_ago=_j(r, 6),
             history=(("newly-diagnosed", 540), ("cr1", 470)))
    r.bm_blasts(float(r.rng.randint(25, 40)), days_ago=7)
    r.marker("cd19", float(r.rng.randint(85, 95)), days_ago=7)
    r.marker("cd22", float(r.rng.randint(70, 85)), days_ago=7)
    r.coded("ph", "positive", days_ago=538, key="Ph+")
    r.coded("abl1-t315i", "detected", days_ago=5, key="ABL1 T315I detected")
    r.integer("prior-lines", 1, days_ago=6)
    r.boolean("hct-eligible", False, days_ago=6, key="not HCT eligible")
    r.medication("dasatinib", days_ago=520, kind="statement", encoding="bundled",
                 status="stopped")
    r.medication("blinatumomab", days_ago=500, kind="administration", encoding="contained")


# --- B-ALL: relapsed / refractory ------------------------------------------------------------

def _first_relapse_high_burden(r: Record) -> None:
    _person(r, r.rng.randint(34, 42))
    r.diagnosis("b-all", days_ago=_j(r, 620), clinical="relapse")
    r.status("first-relapse", days_ago=_j(r, 5), history=(("newly-diagnosed", 620),
                                                         ("cr1", 560)))
    r.bm_blasts(float(r.rng.randint(65, 80)), days_ago=6, history=((88.0, 619),))
    r.marker("cd19", float(r.rng.randint(80, 90)), days_ago=6)
    r.marker("cd22", float(r.rng.randint(85, 95)), days_ago=6, loinc="51124-6")
    r.coded("ph", "negative", days_ago=618, key="Ph−")
    r.coded("extramedullary", "present", days_ago=5, key="extramedullary disease")
    r.coded("cns-status", "cns1", days_ago=5)
    r.integer("prior-lines", 1, days_ago=5, key="1 prior line")
    r.boolean("hct-planned", True, days_ago=4, key="HCT planned")


def _first_relapse_low_burden_neuro(r: Record) -> None:
    _person(r, r.rng.randint(26, 33))
    r.diagnosis("b-all", days_ago=_j(r, 480), clinical="relapse")
    r.status("first-relapse", days_ago=_j(r, 4), history=(("newly-diagnosed", 480),
                                                         ("cr1", 420)))
    r.bm_blasts(float(r.rng.randint(12, 24)), days_ago=5)
    r.marker("cd19", float(r.rng.randint(94, 99)), days_ago=5)
    r.marker("cd22", call="dim", days_ago=5)
    r.coded("ph", "negative", days_ago=478, key="Ph−")
    r.integer("prior-lines", 1, days_ago=4, key="1 prior line")
    r.boolean("hct-eligible", True, days_ago=4, key="HCT eligible")
    r.comorbidity("neurologic-comorbidity", "Epilepsy, on levetiracetam", days_ago=3000)


def _second_relapse_post_hct(r: Record) -> None:
    _person(r, 19)
    r.diagnosis("b-all", days_ago=_j(r, 1280), clinical="relapse")
    r.status("second-or-later-relapse", days_ago=_j(r, 4),
             history=(("cr1", 1180), ("first-relapse", 520), ("cr2", 400)))
    r.hct(days_ago=_j(r, 330, 5), code="58390007",
          text="Allogeneic bone marrow transplant")
    r.medication("blinatumomab", days_ago=470, kind="administration", encoding="contained")
    r.bm_blasts(float(r.rng.randint(28, 40)), days_ago=5)
    r.marker("cd19", float(r.rng.randint(88, 96)), days_ago=5, history=((98.0, 521),))
    r.marker("cd22", float(r.rng.randint(65, 80)), days_ago=5)
    r.coded("ph", "negative", days_ago=1275, key="Ph−")
    r.coded("cns-status", "cns1", days_ago=4)
    r.integer("prior-lines", 3, days_ago=4, key="3 prior lines")
    r.cd3(float(r.rng.randint(380, 520)), days_ago=3)


def _cd19_negative_after_car_t(r: Record) -> None:
    _person(r, 40)
    r.diagnosis("b-all", days_ago=_j(r, 900), clinical="relapse")
    r.status("second-or-later-relapse", days_ago=_j(r, 5),
             history=(("cr1", 820), ("first-relapse", 640), ("cr2", 170)))
    r.medication("blinatumomab", days_ago=600, kind="statement", encoding="bundled")
    r.car_t("brexucabtagene", days_ago=_j(r, 210, 3))
    r.bm_blasts(float(r.rng.randint(35, 50)), days_ago=6)
    r.marker("cd19", call="negative", interpretation="NEG", days_ago=6,
             history=((96.0, 898), (93.0, 641)))
    r.marker("cd22", float(r.rng.randint(80, 92)), days_ago=6)
    r.coded("ph", "negative", days_ago=895, key="Ph−")
    r.integer("prior-lines", 3, days_ago=5, key="3 prior lines")


def _peds_kmt2a_second_relapse(r: Record) -> None:
    _person(r, 12)
    r.diagnosis("b-all", days_ago=_j(r, 1500), clinical="relapse")
    r.status("second-or-later-relapse", days_ago=_j(r, 4),
             history=(("cr1", 1420), ("first-relapse", 400), ("cr2", 330)))
    r.medication("blinatumomab", days_ago=380, kind="request", status="completed")
    r.bm_blasts(float(r.rng.randint(20, 30)), days_ago=5)
    r.marker("cd19", float(r.rng.randint(94, 99)), days_ago=5)
    r.marker("cd22", float(r.rng.randint(50, 70)), days_ago=5)
    r.coded("kmt2a", "positive", days_ago=1498, key="KMT2A rearranged")
    r.coded("ph", "negative", days_ago=1498, key="Ph−")
    r.coded("cns-status", "cns2", days_ago=4, key="CNS2")
    r.integer("prior-lines", 2, days_ago=4, key="2 prior lines")
    r.cd3(float(r.rng.randint(80, 140)), days_ago=3)


def _car_t_day_28(r: Record) -> None:
    _person(r, r.rng.randint(20, 24))
    r.diagnosis("b-all", days_ago=_j(r, 1100), clinical="remission")
    r.hct(days_ago=_j(r, 700, 5))
    r.status("cr2", days_ago=2, history=(("cr1", 1020), ("first-relapse", 420),
                                         ("second-or-later-relapse", 75)))
    r.marker("cd19", float(r.rng.randint(90, 97)), days_ago=74)
    r.coded("ph", "negative", days_ago=1095, key="Ph−")
    r.coded("kmt2a", "negative", days_ago=1095)
    r.integer("prior-lines", 3, days_ago=40, key="3 prior lines")
    r.cd3(float(r.rng.randint(300, 450)), days_ago=60)
    r.medication("tisagenlecleucel", days_ago=30, kind="administration", encoding="bundled")
    r.integer("crs-grade", 2, days_ago=25, key=None)
    r.integer("icans-grade", 1, days_ago=24, key=None)
    r.integer("ice-score", 7, days_ago=24, key=None)
    r.medication("tocilizumab", days_ago=25, kind="administration", key=False)
    r.fact("CRS grade 2 + ICANS grade 1 on day 5, resolved")
    r.integer("crs-grade", 0, days_ago=3)
    r.integer("icans-grade", 0, days_ago=3)
    r.integer("ice-score", 10, days_ago=3, key="ICE 10/10")
    r.mrd(None, days_ago=2, method="ngs", detected=False)


def _b_all_post_induction_mrd_detected(r: Record) -> None:
    _person(r, r.rng.randint(18, 24))
    r.diagnosis("b-all", days_ago=_j(r, 40))
    r.status("post-induction", days_ago=3, history=(("newly-diagnosed", 40),))
    r.marker("cd19", float(r.rng.randint(95, 99)), days_ago=38)
    r.marker("cd20", float(r.rng.randint(8, 15)), days_ago=38)
    r.marker("cd22", float(r.rng.randint(75, 90)), days_ago=38)
    r.coded("ph", "negative", days_ago=37, key="Ph−")
    r.coded("kmt2a", "negative", days_ago=37)
    r.mrd(None, days_ago=3, method="pcr", detected=True)


# --- T-ALL ---------------------------------------------------------------------------------

def _t_all_relapsed_cd38(r: Record) -> None:
    _person(r, r.rng.randint(24, 30))
    r.diagnosis("t-all", days_ago=_j(r, 700), clinical="relapse")
    r.status("first-relapse", days_ago=_j(r, 5), history=(("newly-diagnosed", 700),
                                                         ("cr1", 640)))
    r.bm_blasts(float(r.rng.randint(40, 55)), days_ago=6)
    r.marker("cd38", float(r.rng.randint(55, 75)), call="positive", days_ago=6)
    r.coded("cns-status", "cns1", days_ago=5)
    r.integer("prior-lines", 1, days_ago=5, key="1 prior line")


# --- AML -----------------------------------------------------------------------------------

def _aml_cd33_unfit(r: Record) -> None:
    _person(r, r.rng.randint(74, 79))
    r.diagnosis("aml", days_ago=_j(r, 9, 1))
    r.status("newly-diagnosed", days_ago=8)
    r.bm_blasts(float(r.rng.randint(35, 55)), days_ago=8)
    r.marker("cd33", float(r.rng.randint(70, 90)), days_ago=7, loinc="51155-0",
             interpretation="POS")
    r.fact("genetics pending")
    r.boolean("intensive-induction-eligible", False, days_ago=5,
              key="not fit for intensive induction")


def _aml_fit_favorable(r: Record) -> None:
    _person(r, r.rng.randint(45, 58))
    r.diagnosis("aml", days_ago=_j(r, 7, 1), icd_suffix="0")
    r.status("newly-diagnosed", days_ago=6)
    r.bm_blasts(float(r.rng.randint(40, 70)), days_ago=6)
    r.marker("cd33", call="positive", days_ago=5)
    r.marker("cd123", float(r.rng.randint(35, 60)), call="positive", days_ago=5)
    r.coded("aml-risk", "favorable", days_ago=4, key="ELN favorable")
    r.boolean("intensive-induction-eligible", True, days_ago=4, key="fit for intensive induction")


def _aml_cd33_negative_relapse(r: Record) -> None:
    _person(r, r.rng.randint(55, 62))
    r.diagnosis("aml", days_ago=_j(r, 800), clinical="relapse")
    r.autologous_hct(days_ago=600)
    r.status("first-relapse", days_ago=_j(r, 5), history=(("newly-diagnosed", 800), ("cr1", 740)))
    r.bm_blasts(float(r.rng.randint(25, 40)), days_ago=6)
    r.marker("cd33", 3.0, interpretation="NEG", days_ago=6, history=(("positive", 799),))
    r.marker("cd123", float(r.rng.randint(40, 60)), call="positive", days_ago=6)
    r.boolean("hct-eligible", True, days_ago=5, key="HCT eligible")


def _aml_relapse_after_allo(r: Record) -> None:
    _person(r, r.rng.randint(44, 52))
    r.diagnosis("aml", days_ago=_j(r, 760), clinical="relapse")
    r.other_condition("152621000119105", "History of allogeneic bone marrow transplant",
                      days_ago=380)
    r.fact("history of allo-HCT (Condition)")
    r.status("first-relapse", days_ago=_j(r, 4), history=(("cr1", 690),))
    r.bm_blasts(float(r.rng.randint(15, 30)), days_ago=5)
    r.marker("cd33", float(r.rng.randint(55, 70)), call="positive", days_ago=5)


def _aml_persistent_mrd(r: Record) -> None:
    _person(r, r.rng.randint(58, 66))
    r.diagnosis("aml", days_ago=_j(r, 160), clinical="remission")
    r.status("cr1", days_ago=_j(r, 8), history=(("newly-diagnosed", 160),
                                               ("post-induction", 125)))
    r.marker("cd33", float(r.rng.randint(60, 80)), days_ago=158)
    r.mrd(0.6, "%", days_ago=124, method="flow-cytometry", key=False)
    r.mrd(0.2, "%", days_ago=_j(r, 9), method="flow-cytometry")
    r.coded("aml-risk", "adverse", days_ago=150, key="ELN adverse")


# --- data quality --------------------------------------------------------------------------

def _data_quality_gaps(r: Record) -> None:
    _person(r, None)
    r.fact("no birth date")
    r.diagnosis("all-unspecified", days_ago=_j(r, 400), clinical="relapse", icd_suffix="2")
    r.status("first-relapse", days_ago=5)
    r.marker("cd19", float(r.rng.randint(88, 96)), days_ago=6)
    cd22 = r.observation("cd22", r.quantity(70.0, "%"), days_ago=6, status="entered-in-error")
    cd22["note"] = [{"text": "Result filed to the wrong patient; see corrected report."}]
    r.fact("CD22 entered in error")
    r.observation("bm-blasts", r.quantity(60.0, "%"), days_ago=2, status="preliminary")
    r.fact("marrow blasts preliminary")
    r.observation("mrd", {"valueQuantity": {"value": 0.02}}, days_ago=30,
                  method="flow-cytometry", key="MRD 0.02 without unit")
    r.medication("inotuzumab", days_ago=200, kind="statement", encoding="missing", key=False)
    r.fact("inotuzumab: Medication reference to nothing")
    r.car_t(None, days_ago=None)


# --- the same clinical pictures as real sources encode them (issue 18) ------------------------

def _mcode_b_all_relapse(r: Record) -> None:
    """mCODE / US problem list: ICD-10-CM plus the ICD-O-3 morphology, a "relapse" with no
    number, LOINC marrow blasts, the narrative immunophenotype, BCR::ABL1 as a variant."""
    _person(r, r.rng.randint(30, 45))
    rw.icd10_diagnosis(r, "C91.00", "Acute lymphoblastic leukemia not having achieved remission",
                       days_ago=_j(r, 420), morphology="9811/3")
    rw.icd10_diagnosis(r, "C91.02", "Acute lymphoblastic leukemia, in relapse",
                       days_ago=_j(r, 10), clinical="relapse", morphology="9811/3")
    rw.loinc_blasts(r, float(r.rng.randint(60, 78)), days_ago=9)
    rw.narrative_immunophenotype(r, "positive for CD10, CD79a, TdT, CD19, and CD22",
                                 days_ago=9)
    rw.fusion_variant(r, (("HGNC:1014", "BCR"), ("HGNC:76", "ABL1")), present=False,
                      days_ago=415)


def _genomics_ph_t315i(r: Record) -> None:
    """Genomics Reporting: BCR::ABL1 fusion and ABL1 p.Thr315Ile as 69548-6 variants, read by
    their components; the karyotype in ISCN."""
    _person(r, r.rng.randint(55, 65))
    r.diagnosis("b-all", days_ago=_j(r, 560))
    r.status("first-relapse", days_ago=_j(r, 6), history=(("cr1", 480),))
    rw.karyotype(r, "46,XY,t(9;22)(q34.1;q11.2)[20]", days_ago=555)
    rw.fusion_variant(r, (("HGNC:1014", "BCR"), ("HGNC:76", "ABL1")), days_ago=555)
    rw.snv_variant(r, "HGNC:76", "ABL1", "p.Thr315Ile", days_ago=5)
    r.marker("cd19", float(r.rng.randint(85, 95)), days_ago=7)
    r.marker("cd22", float(r.rng.randint(70, 85)), days_ago=7)
    r.bm_blasts(float(r.rng.randint(25, 40)), days_ago=7)
    rw.branded_drug(r, rxnorm="1045402", text=None, days_ago=540, status="completed")


def _icd10_t_all(r: Record) -> None:
    """ICD-10-CM has no T-ALL code: C91.02 with the ICD-O-3 morphology 9837/3 is T-ALL in
    relapse; CD38 as a lab-to-LOINC flow result (% of cells)."""
    _person(r, r.rng.randint(20, 35))
    rw.icd10_diagnosis(r, "C91.02", "Acute lymphoblastic leukemia, in relapse",
                       days_ago=_j(r, 8), clinical="relapse", morphology="9837/3")
    rw.flow_percent_of_cells(r, "cd38", "8126-5", float(r.rng.randint(70, 90)), days_ago=7)
    rw.loinc_blasts(r, float(r.rng.randint(40, 70)), days_ago=7)


def _icd10_aml_subtype(r: Record) -> None:
    """An AML subtype code (C92.A2, multilineage dysplasia, in relapse), CD33 as a flow
    "% of cells" result, KMT2A by CIBMTR's presence/absence answer."""
    _person(r, r.rng.randint(50, 68))
    rw.icd10_diagnosis(r, "C92.A2", "Acute myeloid leukemia with multilineage dysplasia, in "
                       "relapse", days_ago=_j(r, 9), clinical="relapse")
    rw.flow_percent_of_cells(r, "cd33", "51293-9", float(r.rng.randint(60, 85)), days_ago=8)
    rw.loinc_blasts(r, float(r.rng.randint(25, 45)), days_ago=8)
    r.observation("kmt2a", {"valueCodeableConcept": {"coding": [
        {"system": SNOMED_SYSTEM, "code": "2667000", "display": "Absent"}]}},
        days_ago=300, code={"coding": [{"system": LOINC_SYSTEM, "code": "78219-3"}]})


def _billing_codes_post_hct(r: Record) -> None:
    """Billing and pharmacy encodings: allogeneic HCT as CPT 38240, blinatumomab as an RxNorm
    branded drug with no display, rituximab by a biosimilar's brand only."""
    _person(r, r.rng.randint(22, 40))
    r.diagnosis("b-all", days_ago=_j(r, 720))
    rw.icd10_diagnosis(r, "C91.02", "Acute lymphoblastic leukemia, in relapse",
                       days_ago=_j(r, 7), clinical="relapse")
    rw.coded_procedure(r, rw.CPT, "38240", "Allogeneic hematopoietic progenitor cell "
                       "transplantation", days_ago=380)
    rw.branded_drug(r, rxnorm="1597267", text=None, days_ago=600)
    rw.branded_drug(r, rxnorm=None, text="Truxima 375 mg/m2 IV", days_ago=650)
    r.marker("cd19", float(r.rng.randint(85, 96)), days_ago=6)
    r.marker("cd22", float(r.rng.randint(60, 80)), days_ago=6)
    r.bm_blasts(float(r.rng.randint(20, 40)), days_ago=6)


def _pcs_car_t_relapse(r: Record) -> None:
    """Tisagenlecleucel as ICD-10-PCS XW033J7, then a coded relapse after it."""
    _person(r, r.rng.randint(16, 24))
    r.diagnosis("b-all", days_ago=_j(r, 900))
    rw.coded_procedure(r, rw.ICD10PCS, "XW033J7", "Introduction of tisagenlecleucel into "
                       "peripheral vein", days_ago=200)
    r.status("second-or-later-relapse", days_ago=_j(r, 5), history=(("cr2", 170),))
    r.marker("cd19", float(r.rng.randint(80, 95)), days_ago=5)
    r.bm_blasts(float(r.rng.randint(15, 35)), days_ago=5)


def _etv6_runx1_child(r: Record) -> None:
    """The issue's misread: a 69548-6 variant about ETV6::RUNX1 is not Ph."""
    _person(r, r.rng.randint(3, 8))
    r.diagnosis("b-all", days_ago=_j(r, 12))
    r.status("newly-diagnosed", days_ago=_j(r, 11))
    rw.fusion_variant(r, (("HGNC:3797", "ETV6"), ("HGNC:10471", "RUNX1")), days_ago=10)
    rw.loinc_blasts(r, float(r.rng.randint(70, 90)), days_ago=11)
    rw.narrative_immunophenotype(r, "positive for CD10, CD19, CD22, CD79a and TdT",
                                 days_ago=11)


SCENARIOS: dict[str, Scenario] = {s.id: s for s in (
    Scenario(
        "b-all-cr1-mrd-positive", "Adult Ph− B-ALL in CR1 with MRD 0.3 %",
        "MRD above the blinatumomab label threshold (≥0.1 %) in first remission, persistent.",
        ("b-all", "trial", "monitoring", "caution", "order"),
        ("ALL-BLIN-MRD-LABEL", "ALL-BLIN-MRD-EARLY", "TRIAL-MRD-POS-ALL", "MON-BLIN-ADMISSION",
         "MON-IMMUNO-GENERAL", "CAU-BLIN-DRIVING", "ORDER-RITUX-CD20-LOW"),
        ("blinatumomab", "inotuzumab", "rituximab"), _b_all_cr1_mrd),
    Scenario(
        "b-all-cr1-mrd-low", "B-ALL in CR1 with low-level MRD 5×10⁻⁴ by NGS",
        "MRD between 10⁻⁴ and 10⁻³: below the blinatumomab label, within GMALL and SITC.",
        ("b-all", "trial", "monitoring", "workup"),
        ("ALL-BLIN-MRD-LOW", "TRIAL-MRD-POS-ALL", "DX-ALL-MARKERS", "MON-BLIN-ADMISSION"),
        ("blinatumomab",), _b_all_cr1_mrd_low),
    Scenario(
        "b-all-post-induction-mrd-detected", "Young adult B-ALL after induction, MRD detected",
        "MRD reported only as 'detected' by PCR: SITC offers blinatumomab; the level is missing.",
        ("b-all", "workup", "monitoring"),
        ("ALL-BLIN-MRD-SITC", "DX-MRD-BASELINE", "MON-BLIN-CRS-NEURO-WINDOWS"),
        ("blinatumomab",), _b_all_post_induction_mrd_detected),
    Scenario(
        "b-all-cr1-mrd-negative", "Ph− B-ALL in CR1 after induction, MRD below 0.01 %",
        "MRD-negative first remission: blinatumomab consolidation (E1910); Ph-like signature.",
        ("b-all", "monitoring"),
        ("ALL-FRONT-BLIN-CONSOLIDATION", "ALL-PH-LIKE", "MON-BLIN-CRS-NEURO-WINDOWS"),
        ("blinatumomab",), _b_all_post_induction_mrd_neg),
    Scenario(
        "b-all-newdx-cd20-young", "Young adult, newly diagnosed Ph− B-ALL, CD20 ≥20 %",
        "Frontline: rituximab for CD20 ≥20 %, MRD assay and baseline work-up at diagnosis.",
        ("b-all", "workup", "trial"),
        ("ALL-RITUX-CD20", "DX-MRD-BASELINE", "DX-BASELINE", "DX-PHLIKE-PROXY", "ALL-FRONT-INO"),
        ("rituximab", "blinatumomab"), _b_all_newdx_cd20),
    Scenario(
        "b-all-newdx-older-hepatic", "Adult over 60, newly diagnosed Ph− B-ALL, liver disease",
        "Older adult frontline: trial prompt, rituximab of unproven benefit ≥60, InO cautions.",
        ("b-all", "trial", "caution", "monitoring"),
        ("ALL-FRONT-OLDER-TRIAL", "ALL-RITUX-OLDER", "ALL-FRONT-INO", "CAU-HEPATIC",
         "CAU-AGE-INO", "MON-INO-VOD"),
        ("inotuzumab", "rituximab"), _older_newdx_hepatic),
    Scenario(
        "ph-pos-newdx-70", "70-year-old newly diagnosed Ph+ B-ALL on dasatinib",
        "Chemotherapy-free TKI + blinatumomab trials; CD20/CD22 not yet tested.",
        ("trial", "workup", "caution"),
        ("ALL-PH-FRONT", "DX-ALL-MARKERS", "DX-GENETICS-ALL", "CAU-PH-CHEMOFREE-CNS"),
        ("blinatumomab", "ponatinib"), _ph_pos_newdx_older),
    Scenario(
        "ph-pos-t315i-relapse", "Ph+ B-ALL relapsed on dasatinib and blinatumomab, T315I",
        "T315I after a dasatinib + blinatumomab regimen; older and not fit for transplant.",
        ("b-all", "car-t", "caution", "monitoring", "order"),
        ("ALL-PH-T315I", "ALL-PH-RR-BLIN", "ALL-PH-RR-INO", "ALL-HCT-INELIGIBLE",
         "CART-AGE-GATE", "CAU-AGE-INO", "MON-INO-VOD", "ORDER-TISA-AGE"),
        ("ponatinib", "inotuzumab", "blinatumomab", "tisagenlecleucel"), _ph_pos_t315i),
    Scenario(
        "b-all-first-relapse-high-burden",
        "First relapse, ~70 % blasts, extramedullary, HCT planned",
        "High burden and extramedullary disease: InO first, bridge to HCT, VOD cautions.",
        ("b-all", "caution", "monitoring", "car-t"),
        ("ALL-RR-FIRST-RELAPSE", "ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-RR-BRIDGE-TO-HCT",
         "ALL-CNS-EMD", "CAU-BLIN-EFFICACY", "CAU-INO-VOD-HCT", "MON-INO-VOD", "CART-BREXU"),
        ("inotuzumab", "blinatumomab"), _first_relapse_high_burden),
    Scenario(
        "b-all-first-relapse-low-burden", "First relapse, low blast count (<25 %), CD19+, epilepsy",
        "Low burden favours blinatumomab; neurologic comorbidity argues for InO.",
        ("b-all", "car-t", "caution", "monitoring", "workup"),
        ("ALL-RR-LOW-BURDEN-BLIN", "ALL-BLIN-RR", "CART-BREXU", "CAU-NEURO",
         "MON-BLIN-CRS-PREVENTION", "MON-CART-ICANS", "DX-PRE-CART-CD3"),
        ("blinatumomab", "inotuzumab", "brexucabtagene"), _first_relapse_low_burden_neuro),
    Scenario(
        "b-all-second-relapse-post-hct", "19-year-old in second relapse after allogeneic HCT",
        "Tisagenlecleucel (≤25 y, 2nd relapse), CAR T favoured after HCT, CD3 count adequate.",
        ("car-t", "b-all", "caution", "monitoring", "trial"),
        ("CART-TISA", "CART-PRIOR-HCT", "ALL-RELAPSE-POST-HCT", "CAU-SEQUENCING-CD19",
         "CAU-INO-VOD-HCT", "MON-CART-PROXIMITY", "MON-CART-CRS", "TRIAL-SPECIFIC-RR"),
        ("tisagenlecleucel", "inotuzumab", "blinatumomab"), _second_relapse_post_hct),
    Scenario(
        "b-all-cd19-negative-after-car-t", "40-year-old CD19-negative relapse after CAR T",
        "Relapse after brexu-cel with CD19 loss: CD22-directed therapy and trials only.",
        ("car-t", "caution", "trial", "b-all", "order"),
        ("POSTCART-RELAPSE", "CAU-CD19-NEG", "TRIAL-POST-CART", "ALL-INO-RR",
         "ORDER-CD19-NEG"),
        ("blinatumomab", "inotuzumab"), _cd19_negative_after_car_t),
    Scenario(
        "peds-kmt2a-second-relapse", "12-year-old KMT2A-rearranged B-ALL in second relapse",
        "Tisagenlecleucel; lineage-switch caution; inotuzumab (US label from 1 year); low CD3.",
        ("car-t", "caution", "b-all", "workup", "order"),
        ("CART-TISA", "CAU-LINEAGE-SWITCH", "ALL-INO-RR", "DX-PRE-CART-CD3",
         "CAU-SEQUENCING-CD19", "ALL-CNS-EMD", "ORDER-CART-ADULT-AGE"),
        ("tisagenlecleucel", "inotuzumab", "brexucabtagene"), _peds_kmt2a_second_relapse),
    Scenario(
        "car-t-day-28-remission", "Day 28 after tisagenlecleucel: MRD-negative CR2",
        "CRS grade 2 and ICANS grade 1 resolved; consolidative HCT is contested after a prior "
        "allo-HCT.",
        ("car-t", "caution"),
        ("CART-CONSOLIDATIVE-HCT", "CAU-SECOND-HCT-POST-CART"),
        ("tocilizumab", "blinatumomab"), _car_t_day_28),
    Scenario(
        "t-all-relapsed-cd38", "T-ALL in first relapse, CD38 positive",
        "Daratumumab and CD7 CAR-T trials; no CD19/CD22/CD20 agents in T-lineage disease.",
        ("t-all", "caution", "order"),
        ("TALL-DARA", "TALL-CD7-CART", "TALL-NO-B-AGENTS", "TALL-VENETOCLAX-ETP",
         "TALL-ALEMTUZUMAB", "CAU-DARA-BLOODBANK", "ORDER-CD19-AGENT-LINEAGE"),
        ("daratumumab", "blinatumomab"), _t_all_relapsed_cd38),
    Scenario(
        "aml-cd33-unfit", "Newly diagnosed AML over 70, CD33+, unfit for intensive induction",
        "Gemtuzumab ozogamicin for unfit CD33+ AML; CD123 and genetics still to do.",
        ("aml", "workup", "caution", "monitoring"),
        ("AML-GO-UNFIT", "DX-AML-MARKERS", "DX-GENETICS-AML", "CAU-GO-SOS", "MON-GO-HEPATIC"),
        ("gemtuzumab",), _aml_cd33_unfit),
    Scenario(
        "aml-newdx-fit-favorable", "Newly diagnosed AML, fit, favourable risk, CD33+ CD123+",
        "GO added to intensive induction.",
        ("aml", "caution"),
        ("AML-GO-INDUCTION", "CAU-GO-SOS"),
        ("gemtuzumab",), _aml_fit_favorable),
    Scenario(
        "aml-cd33-negative-relapse", "AML first relapse, CD33 negative, prior autologous HCT",
        "GO not indicated in CD33-negative AML; CD123-directed trials; autologous is not allo.",
        ("aml", "trial", "order"),
        ("AML-GO-CD33NEG", "AML-CD123", "TRIAL-EVERY-JUNCTURE", "ORDER-GO-CONTRA"),
        ("gemtuzumab",), _aml_cd33_negative_relapse),
    Scenario(
        "aml-relapse-after-allo-hct", "AML relapse after allogeneic HCT, CD33+",
        "Post-transplant relapse: DLI and/or hypomethylating agents, GO at relapse.",
        ("aml", "caution"),
        ("AML-POSTHCT-RELAPSE", "AML-GO-RELAPSE", "CAU-CHECKPOINT-HCT", "CAU-GO-SOS"),
        ("gemtuzumab",), _aml_relapse_after_allo),
    Scenario(
        "aml-cr1-persistent-mrd", "AML in CR1 with persistent MRD",
        "Morphologic remission with persistent MRD: clinical trial.",
        ("aml", "trial"),
        ("AML-MRD", "TRIAL-EVERY-JUNCTURE"),
        ("gemtuzumab",), _aml_persistent_mrd),
    Scenario(
        "data-quality-gaps", "ALL of unstated lineage with gaps and errors in the record",
        "No birth date, MRD without unit, preliminary and entered-in-error results, a "
        "medication reference to nothing, an undated CAR-T infusion.",
        ("data-quality", "workup", "order"),
        ("DQ-FINDINGS", "DQ-AGE-UNKNOWN", "DX-RETEST-TARGET-AT-RELAPSE", "ORDER-TISA-STATUS"),
        ("tisagenlecleucel", "blinatumomab"), _data_quality_gaps,
        planted=("missing-value", "unreadable-mrd", "ignored-status", "entered-in-error",
                 "unknown-reference", "missing-date"),
    ),
    Scenario(
        "mcode-b-all-relapse", "B-ALL in relapse, encoded the mCODE / US problem-list way",
        "ICD-10-CM C91.02 + ICD-O-3 9811/3, relapse number not recorded, LOINC 11150-0 blasts, "
        "narrative immunophenotype (101119-6), BCR::ABL1 absent as a variant.",
        ("b-all", "workup"),
        ("ALL-RR-FIRST-RELAPSE", "ALL-BLIN-RR", "ALL-INO-RR", "ALL-RR-HIGH-BURDEN-INO-FIRST",
         "DX-GENETICS-ALL"),
        ("blinatumomab", "inotuzumab"), _mcode_b_all_relapse),
    Scenario(
        "genomics-ph-t315i", "Ph+ B-ALL relapse with ABL1 T315I, as Genomics Reporting variants",
        "BCR::ABL1 fusion and ABL1 p.Thr315Ile read by their components; t(9;22) in ISCN; "
        "dasatinib as an RxNorm SCD.",
        ("b-all",), ("ALL-PH-T315I", "ALL-PH-RR-BLIN", "ALL-PH-RR-INO"),
        ("blinatumomab",), _genomics_ph_t315i),
    Scenario(
        "icd10-t-all-morphology", "T-ALL in relapse, as C91.02 with ICD-O-3 9837/3",
        "ICD-10-CM has no T-ALL code; the morphology says T-lymphoblastic; CD38 as a % of cells.",
        ("t-all", "caution"), ("TALL-DARA", "TALL-NO-B-AGENTS", "CAU-DARA-BLOODBANK"),
        ("daratumumab", "blinatumomab"), _icd10_t_all),
    Scenario(
        "icd10-aml-subtype", "AML subtype code in relapse, CD33 as a flow % of cells",
        "C92.A2 (multilineage dysplasia, in relapse), LOINC 51293-9 CD33, KMT2A absent (78219-3).",
        ("aml", "caution"), ("AML-GO-RELAPSE", "AML-CD33-NOVEL", "CAU-GO-SOS"),
        ("gemtuzumab",), _icd10_aml_subtype),
    Scenario(
        "billing-codes-post-hct", "B-ALL relapse after allo-HCT, coded by billing and pharmacy",
        "CPT 38240, blinatumomab as RxNorm SBD 1597267 without a display, rituximab as Truxima.",
        ("b-all", "car-t", "caution"),
        ("ALL-RELAPSE-POST-HCT", "CART-PRIOR-HCT", "CAU-SEQUENCING-CD19", "CAU-CHECKPOINT-HCT"),
        ("tisagenlecleucel", "inotuzumab"), _billing_codes_post_hct),
    Scenario(
        "pcs-car-t-relapse", "Relapse after tisagenlecleucel coded as ICD-10-PCS XW033J7",
        "The CAR T infusion as billing codes it, then a later relapse.",
        ("car-t", "trial", "workup"),
        ("POSTCART-RELAPSE", "TRIAL-POST-CART", "DX-RETEST-TARGET-AT-RELAPSE"),
        ("blinatumomab",), _pcs_car_t_relapse),
    Scenario(
        "etv6-runx1-child", "Child with newly diagnosed B-ALL and ETV6::RUNX1 as a variant",
        "A 69548-6 variant about ETV6::RUNX1 is not Ph: no Ph+ card.",
        ("b-all", "workup"), ("ALL-FRONT-PEDS-SR-BLIN", "DX-GENETICS-ALL"),
        ("blinatumomab",), _etv6_runx1_child),
)}
