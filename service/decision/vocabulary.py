"""The words the rules and cards share: status groups, display texts, labels, MRD bands.

They are declared once so that two rules cannot describe the same fact, drug or status in two
ways on two cards, and so that a change of wording is one edit. Nothing here reads a patient.
"""

from __future__ import annotations

# --- vocabularies the rules share ---------------------------------------------------------

# "relapse" and "remission" are statuses recorded without their number (an ICD-10-CM "in
# relapse" code, Condition.clinicalStatus, mCODE "full remission"): they count as relapsed or in
# remission, and a rule that needs the number shows its card with NUMBER_UNKNOWN to confirm.
RELAPSE = frozenset({"first-relapse", "second-or-later-relapse", "relapsed-refractory",
                     "relapse"})
REFRACTORY = frozenset({"primary-refractory", "relapsed-refractory"})
RR = RELAPSE | REFRACTORY
REMISSION = frozenset({"cr1", "cr2", "cr3-or-later", "remission"})
NUMBER_UNKNOWN = {
    "relapse": "relapse number (recorded as relapse, not as first or later relapse)",
    "remission": "remission number (recorded as remission, not as first or later remission)",
}
# tisagenlecleucel's label (000 Table 3): refractory, or second or later relapse (D3)
TISA_STATUSES = frozenset({"primary-refractory", "relapsed-refractory",
                           "second-or-later-relapse"})
FRONTLINE = frozenset({"newly-diagnosed", "post-induction", "cr1"})

STATUS_TEXT = {
    "newly-diagnosed": "newly diagnosed",
    "post-induction": "after induction",
    "cr1": "first complete remission",
    "cr2": "second complete remission",
    "cr3-or-later": "third or later complete remission",
    "first-relapse": "first relapse",
    "second-or-later-relapse": "second or later relapse",
    "primary-refractory": "primary refractory",
    "relapsed-refractory": "relapsed and refractory",
    "relapse": "relapse, first or later not recorded",
    "remission": "remission, first or later not recorded",
}
LINEAGE_TEXT = {
    "b-all": "B-ALL",
    "t-all": "T-ALL",
    "aml": "AML",
    "all-unspecified": "ALL, lineage not stated",
}
MARKER_LABEL = {
    "cd19": "CD19", "cd20": "CD20", "cd22": "CD22", "cd33": "CD33", "cd123": "CD123",
    "cd38": "CD38",
}
DRUG_TEXT = {
    "blinatumomab": "blinatumomab",
    "inotuzumab": "inotuzumab ozogamicin",
    "gemtuzumab": "gemtuzumab ozogamicin",
    "rituximab": "rituximab",
    "daratumumab": "daratumumab",
    "tocilizumab": "tocilizumab",
    "dasatinib": "dasatinib",
    "imatinib": "imatinib",
    "ponatinib": "ponatinib",
    "nilotinib": "nilotinib",
    "tisagenlecleucel": "tisagenlecleucel",
    "brexucabtagene": "brexucabtagene autoleucel",
    "obecabtagene": "obecabtagene autoleucel",
}
CD19_CAR_T = frozenset({"tisagenlecleucel", "brexucabtagene", "obecabtagene"})

# What a card calls each fact it cites, by the fact's name (a PatientFacts field, or the name
# Ctx gives a reading built from several: "allo_hct", "car_t", "mrd"). A rule that names a fact
# without a label gets this one, so the same fact reads the same on every card. Markers have
# MARKER_LABEL; a prior drug is "Prior <DRUG_TEXT>".
FACT_LABEL = {
    "birth_date": "Birth date",
    "age_years": "Age",
    "lineage": "Diagnosis",
    "disease_status": "Disease status",
    "bm_blasts_percent": "Marrow blasts",
    "mrd": "MRD",
    "ph": "Ph / BCR::ABL1",
    "ph_like": "Ph-like signature",
    "kmt2a": "KMT2A",
    "t315i": "ABL1 T315I",
    "cns_status": "CNS status",
    "extramedullary": "Extramedullary disease",
    "prior_lines": "Prior lines",
    "hct_planned": "Allo-HCT planned",
    "allo_hct": "Prior allogeneic HCT",
    "car_t": "Prior CAR T",
    "crs_grade": "CRS grade (ASTCT)",
    "icans_grade": "ICANS grade (ASTCT)",
    "ice_score": "ICE score",
    "cd3_count": "CD3+ T cells",
    "aml_risk": "ELN risk group",
    "intensive_induction_eligible": "Fit for intensive induction",
    "hct_eligible": "Allo-HCT eligible",
    "hepatic_disease": "Hepatic disease",
    "neurologic_comorbidity": "Neurologic comorbidity",
}

# Floating-point MRD bands: 0.1 % arrives as 0.001 from many unit conversions; never let a
# rounding error move a result across a band edge.
MRD_EPS = 1e-9
MRD_LABEL = 1e-3
MRD_LOW = 1e-4
