"""Code systems and drug codings the synthetic EHR uses.

The generator plays the part of a hospital EHR, so it encodes data the way the input contract
says EHRs send it: standard codes where the contract lists verified ones, the project's local
CodeSystem where no standard code exists, brand or generic text where an EHR would only have
text, and a few site lab codes that only the site ConceptMap can translate.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCAL = "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
COND_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
COND_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
COND_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"

# A fictitious hospital; example.org is reserved for documentation, so it can never be real.
SITE_BASE = "http://hospital.example.org/fhir"
SITE_LAB = f"{SITE_BASE}/CodeSystem/lab-order-codes"
SITE_MRN = f"{SITE_BASE}/sid/mrn"


@dataclass(frozen=True)
class Drug:
    """How the synthetic EHR writes one drug: an RxNorm code when the contract verified one,
    otherwise text only (as many EHR formularies send for new products)."""

    id: str  # the contract concept (service.facts.DrugId)
    label: str  # what a prescriber sees in the order list
    rxnorm: str | None
    text: str
    car_t: bool = False


DRUGS: dict[str, Drug] = {
    d.id: d
    for d in (
        Drug("blinatumomab", "Blinatumomab (Blincyto) continuous IV infusion", "1597258",
             "blinatumomab 35 MCG injection (Blincyto)"),
        Drug("inotuzumab", "Inotuzumab ozogamicin (Besponsa) IV", "1942950",
             "inotuzumab ozogamicin 0.9 MG injection (Besponsa)"),
        Drug("gemtuzumab", "Gemtuzumab ozogamicin (Mylotarg) IV", "1294580",
             "gemtuzumab ozogamicin 4.5 MG injection (Mylotarg)"),
        Drug("rituximab", "Rituximab IV", "121191", "rituximab 10 MG/ML injection"),
        Drug("daratumumab", "Daratumumab (Darzalex) IV", "1721947",
             "daratumumab 20 MG/ML injection (Darzalex)"),
        Drug("tocilizumab", "Tocilizumab IV", "612865", "tocilizumab 20 MG/ML injection"),
        Drug("dasatinib", "Dasatinib oral", "475342", "dasatinib 140 MG oral tablet"),
        Drug("imatinib", "Imatinib oral", "282388", "imatinib 400 MG oral tablet"),
        Drug("ponatinib", "Ponatinib (Iclusig) oral", None, "Iclusig 45 mg tablet"),
        Drug("nilotinib", "Nilotinib (Tasigna) oral", None, "nilotinib 200 MG oral capsule"),
        Drug("tisagenlecleucel", "Tisagenlecleucel (Kymriah) CAR T-cell infusion", None,
             "tisagenlecleucel suspension for IV infusion (Kymriah)", car_t=True),
        Drug("brexucabtagene", "Brexucabtagene autoleucel (Tecartus) CAR T-cell infusion", None,
             "brexucabtagene autoleucel suspension (Tecartus)", car_t=True),
        Drug("obecabtagene", "Obecabtagene autoleucel (Aucatzyl) CAR T-cell infusion", None,
             "obecabtagene autoleucel (Aucatzyl)", car_t=True),
    )
}


def drug_concept(drug_id: str) -> dict[str, object]:
    """The CodeableConcept an EHR would send for ``drug_id``."""
    drug = DRUGS[drug_id]
    concept: dict[str, object] = {}
    if drug.rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": drug.rxnorm, "display": drug.id}]
    concept["text"] = drug.text
    return concept


def local(code: str, display: str | None = None) -> dict[str, object]:
    coding: dict[str, object] = {"system": LOCAL, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding], "text": display or code}
