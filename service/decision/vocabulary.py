"""The words the rules and cards share: status groups, display texts, labels, MRD bands.

They are declared once so that two rules cannot describe the same fact, drug or status in two
ways on two cards, and so that a change of wording is one edit. Nothing here reads a patient.
"""

from __future__ import annotations

# --- vocabularies the rules share ---------------------------------------------------------

RELAPSE = frozenset({"first-relapse", "second-or-later-relapse", "relapsed-refractory"})
REFRACTORY = frozenset({"primary-refractory", "relapsed-refractory"})
RR = RELAPSE | REFRACTORY
REMISSION = frozenset({"cr1", "cr2", "cr3-or-later"})
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
    "tisagenlecleucel": "tisagenlecleucel",
    "brexucabtagene": "brexucabtagene autoleucel",
    "obecabtagene": "obecabtagene autoleucel",
}
CD19_CAR_T = frozenset({"tisagenlecleucel", "brexucabtagene", "obecabtagene"})

# Floating-point MRD bands: 0.1 % arrives as 0.001 from many unit conversions; never let a
# rounding error move a result across a band edge.
MRD_EPS = 1e-9
MRD_LABEL = 1e-3
MRD_LOW = 1e-4
