"""What makes a synthetic chart look like a real one: the data the rules must ignore.

Real records are mostly vital signs, routine labs, supportive medications and unrelated
problems, with older results that newer ones supersede and a few results under the hospital's
own lab codes. The generator adds these so that tests and benchmarks exercise the extractor's
filtering, its "latest result wins" logic and the site ConceptMap, not just the happy path. None
of it may change a decision: superseded copies are strictly older than the scenario's own
result, and only concepts with a usable (final) result get them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

from service.synth import codes
from service.synth.codes import LOCAL, LOINC, OBS_CATEGORY, RXNORM, SITE_LAB, UCUM
from service.synth.record import Record

Json = dict[str, Any]

# Site lab codes and the contract concepts they mean; site-conceptmap.json says the same thing
# in FHIR, and a test keeps the two in step.
SITE_CODES: dict[str, tuple[str, str]] = {
    "cd19": ("FC-CD19-PCT", "Flow: CD19 % of blasts"),
    "cd22": ("FC-CD22-PCT", "Flow: CD22 % of blasts"),
    "cd33": ("FC-CD33-PCT", "Flow: CD33 % of blasts"),
    "bm-blasts": ("BM-BLAST-PCT", "Marrow aspirate blast count"),
    "cd3-count": ("LYM-CD3-ABS", "Absolute CD3 count"),
}

_OTHER_PROBLEMS = (
    ("38341003", "Hypertensive disorder"),
    ("44054006", "Type 2 diabetes mellitus"),
    ("40930008", "Hypothyroidism"),
    ("235595009", "Gastroesophageal reflux disease"),
    ("195967001", "Asthma"),
)
_SUPPORTIVE = (("281", "acyclovir 400 MG oral tablet"), ("519", "allopurinol 300 MG oral tablet"),
               ("26225", "ondansetron 8 MG oral tablet"))
_CHEMO = {
    "lymphoid": (("11202", "vincristine 1 MG/ML injection"), ("3264", "dexamethasone 4 MG tablet"),
                 ("6851", "methotrexate 25 MG/ML injection"),
                 ("3002", "cyclophosphamide 500 MG injection")),
    "myeloid": (("3041", "cytarabine 100 MG/ML injection"),
                ("3109", "daunorubicin 20 MG injection"),
                ("1251", "azacitidine 100 MG injection")),
}


def add_background(r: Record, lineage_group: str) -> None:
    """Unrelated problems, supportive and chemotherapy orders: always present, never decisive."""
    older = (r.age or 50) >= 50
    for snomed, text in r.rng.sample(_OTHER_PROBLEMS, 2 if older else 1):
        r.other_condition(snomed, text, days_ago=r.rng.randint(800, 4000))
    r.other_condition("409089005", "Febrile neutropenia", days_ago=r.rng.randint(60, 200),
                      clinical="resolved")
    for code, text in _CHEMO[lineage_group][:2] + _SUPPORTIVE[:2]:
        r.add({
            "resourceType": "MedicationRequest", "id": r.new_id("rxmed"),
            "status": r.rng.choice(("completed", "active")), "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code}],
                                          "text": text},
            "subject": r.subject, "authoredOn": r.when(r.rng.randint(20, 150)),
        })


def add_superseded_site_results(r: Record) -> None:
    """An older copy, under a site lab code, of each site-mappable concept the chart has."""
    for concept, (site_code, text) in SITE_CODES.items():
        current = _final_result(r, concept)
        if current is None:
            continue
        days = r.history_days[concept] + r.rng.randint(20, 40)
        value = _older_value(r, concept, current)
        resource: Json = {
            "resourceType": "Observation", "id": r.new_id("obs"), "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
            "code": {"coding": [{"system": SITE_LAB, "code": site_code, "display": text}],
                     "text": text},
            "subject": r.subject,
        }
        resource["effectiveDateTime"] = r.when(days)
        resource.update(value)
        r.add(resource)
        r.history_days[concept] = days


def _final_result(r: Record, concept: str) -> Json | None:
    for res in r.resources:
        if res["resourceType"] != "Observation" or res.get("status") != "final":
            continue
        if any(c.get("system") == LOCAL and c.get("code") == concept
               for c in res["code"].get("coding", [])):
            return res
    return None


def _older_value(r: Record, concept: str, current: Json) -> Json:
    if "valueCodeableConcept" in current:
        return {"valueCodeableConcept": current["valueCodeableConcept"]}
    q = dict(current["valueQuantity"])
    q.pop("comparator", None)
    if concept == "bm-blasts":
        q["value"] = float(r.rng.randint(70, 95))
    elif concept == "cd3-count":
        q["value"] = float(round(q["value"] * r.rng.uniform(1.1, 1.6)))
    else:
        q["value"] = float(min(100, max(0, q["value"] + r.rng.randint(-4, 4))))
    return {"valueQuantity": q}


# --- vital signs and routine labs --------------------------------------------------------

Maker = Callable[[Record, int], Json]


def _obs(r: Record, days: int, loinc: str, text: str, value: float, unit: str,
         ucum: str, category: str) -> Json:
    return {
        "resourceType": "Observation", "id": r.new_id("obs"), "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": text}], "text": text},
        "subject": r.subject, "effectiveDateTime": r.when(days),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": ucum},
    }


def _simple(loinc: str, text: str, lo: float, hi: float, digits: int, unit: str, ucum: str,
            category: str = "laboratory") -> Maker:
    def make(r: Record, days: int) -> Json:
        value = round(r.rng.uniform(lo, hi), digits)
        return _obs(r, days, loinc, text, value if digits else float(int(value)), unit, ucum,
                    category)
    return make


def _blood_pressure(r: Record, days: int) -> Json:
    systolic, diastolic = r.rng.randint(95, 150), r.rng.randint(55, 95)
    res = {
        "resourceType": "Observation", "id": r.new_id("obs"), "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
        "code": {"coding": [{"system": LOINC, "code": "85354-9",
                             "display": "Blood pressure panel"}], "text": "Blood pressure"},
        "subject": r.subject, "effectiveDateTime": r.when(days),
        "component": [
            {"code": {"coding": [{"system": LOINC, "code": code}]},
             "valueQuantity": {"value": value, "unit": "mmHg", "system": UCUM,
                               "code": "mm[Hg]"}}
            for code, value in (("8480-6", systolic), ("8462-4", diastolic))
        ],
    }
    return res


_VITALS: tuple[Maker, ...] = (
    _simple("8867-4", "Heart rate", 58, 118, 0, "/min", "/min", "vital-signs"),
    _simple("9279-1", "Respiratory rate", 12, 24, 0, "/min", "/min", "vital-signs"),
    _simple("8310-5", "Body temperature", 36.1, 38.9, 1, "Cel", "Cel", "vital-signs"),
    _simple("59408-5", "Oxygen saturation by pulse oximetry", 92, 100, 0, "%", "%",
            "vital-signs"),
    _blood_pressure,
    _simple("29463-7", "Body weight", 48, 95, 1, "kg", "kg", "vital-signs"),
)
_LABS: tuple[Maker, ...] = (
    _simple("6690-2", "Leukocytes [#/volume] in Blood", 0.3, 14.0, 1, "10*3/uL", "10*3/uL"),
    _simple("718-7", "Hemoglobin [Mass/volume] in Blood", 7.0, 13.5, 1, "g/dL", "g/dL"),
    _simple("777-3", "Platelets [#/volume] in Blood", 8, 260, 0, "10*3/uL", "10*3/uL"),
    _simple("751-8", "Neutrophils [#/volume] in Blood", 0.1, 7.0, 2, "10*3/uL", "10*3/uL"),
    _simple("2951-2", "Sodium [Moles/volume] in Serum", 133, 145, 0, "mmol/L", "mmol/L"),
    _simple("2823-3", "Potassium [Moles/volume] in Serum", 3.2, 5.1, 1, "mmol/L", "mmol/L"),
    _simple("2160-0", "Creatinine [Mass/volume] in Serum", 0.5, 1.4, 2, "mg/dL", "mg/dL"),
    _simple("1742-6", "ALT [Enzymatic activity/volume] in Serum", 10, 85, 0, "U/L", "U/L"),
    _simple("1920-8", "AST [Enzymatic activity/volume] in Serum", 12, 70, 0, "U/L", "U/L"),
    _simple("1975-2", "Bilirubin.total [Mass/volume] in Serum", 0.2, 1.6, 1, "mg/dL", "mg/dL"),
    _simple("2532-0", "LDH [Enzymatic activity/volume] in Serum", 140, 900, 0, "U/L", "U/L"),
    _simple("3084-1", "Urate [Mass/volume] in Serum", 2.5, 8.5, 1, "mg/dL", "mg/dL"),
    _simple("6301-6", "INR in Platelet poor plasma", 0.9, 1.5, 2, "{INR}", "{INR}"),
    _simple("3255-7", "Fibrinogen [Mass/volume] in Plasma", 150, 480, 0, "mg/dL", "mg/dL"),
)


def routine_observations(r: Record) -> Iterator[Json]:
    """An endless, dated stream of vitals and labs going back in time from ``as_of``."""
    for visit in itertools.count():
        days = 1 + visit * 2 + r.rng.randint(0, 1)
        for make in _VITALS + _LABS:
            yield make(r, days)


def fill(r: Record, size: int) -> None:
    """Top the chart up with routine observations until it holds ``size`` resources."""
    stream = routine_observations(r)
    while len(r.resources) < size:
        r.add(next(stream))


__all__ = ["SITE_CODES", "add_background", "add_superseded_site_results", "codes", "fill"]
