"""One synthetic patient's chart, built resource by resource.

Scenarios describe a patient in clinical terms (``r.mrd(0.3, "%", method="flow-cytometry")``);
this module turns each statement into the FHIR R4 JSON an EHR would send for it, so the encoding
rules of the input contract live in one place. Every random choice goes through ``self.rng`` (a
``random.Random`` seeded from the scenario, index and seed), so the same inputs give the same
bytes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from service.synth import codes
from service.synth.codes import DRUGS, LOCAL, LOINC, OBS_CATEGORY, SNOMED, UCUM

Json = dict[str, Any]

_CONCEPT_DISPLAY = {
    "cd19": "CD19 on leukemic blasts", "cd20": "CD20 on leukemic blasts",
    "cd22": "CD22 on leukemic blasts", "cd33": "CD33 on leukemic blasts",
    "cd123": "CD123 on leukemic blasts", "cd38": "CD38 on leukemic blasts",
    "bm-blasts": "Bone-marrow blasts", "mrd": "Measurable residual disease",
    "ph": "Philadelphia chromosome / BCR::ABL1", "ph-like": "Ph-like signature",
    "kmt2a": "KMT2A rearrangement", "abl1-t315i": "ABL1 T315I mutation",
    "cns-status": "CNS status", "extramedullary": "Extramedullary disease",
    "disease-status": "Disease status", "prior-lines": "Prior lines of therapy",
    "hct-planned": "Allogeneic HCT planned", "crs-grade": "CRS grade (ASTCT)",
    "icans-grade": "ICANS grade (ASTCT)", "ice-score": "ICE score",
    "cd3-count": "CD3+ T cells in blood", "aml-risk": "AML genetic risk group (ELN)",
    "intensive-induction-eligible": "Eligible for intensive induction",
    "hct-eligible": "Eligible for allogeneic HCT",
}
_LAB_CONCEPTS = frozenset({"cd19", "cd20", "cd22", "cd33", "cd123", "cd38", "bm-blasts", "mrd",
                           "ph", "ph-like", "kmt2a", "abl1-t315i", "cd3-count"})
_LINEAGE = {
    # lineage -> (system, code, display) per the contract, standard codes first
    "b-all": (SNOMED, "277571004", "B-cell acute lymphoblastic leukemia"),
    "t-all": (LOCAL, "t-all", "T-cell acute lymphoblastic leukemia"),
    "aml": (SNOMED, "91861009", "Acute myeloid leukemia"),
    "all-unspecified": (codes.ICD10CM, "C91.0", "Acute lymphoblastic leukemia"),
}
_STATUS_TEXT = {
    "newly-diagnosed": "newly diagnosed", "post-induction": "after induction",
    "cr1": "CR1", "cr2": "CR2", "cr3-or-later": "CR3+", "first-relapse": "first relapse",
    "second-or-later-relapse": "second+ relapse", "primary-refractory": "primary refractory",
    "relapsed-refractory": "relapsed/refractory",
}


def _fmt(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pct(value: float) -> str:
    return f"{value:g} %"


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _mrd_text(value: float, ucum: str) -> str:
    """MRD as a clinician writes it: '0.3 %', '5×10⁻⁴'."""
    if ucum == "%":
        return _pct(value)
    if ucum.startswith("10*"):
        return f"{value:g}×10{ucum[3:].translate(_SUPERSCRIPT)}"
    return f"{value:g} (fraction)"


@dataclass
class Record:
    """The growing chart of one patient plus what the sandbox and tests need to know about it."""

    patient_id: str
    as_of: datetime
    rng: random.Random
    resources: list[Json] = field(default_factory=list)
    key_facts: list[str] = field(default_factory=list)
    display_name: str = ""
    age: int | None = None
    sex: str = "unknown"
    _counters: dict[str, int] = field(default_factory=dict)
    # latest effective day per concept, so generated history never collides with it
    history_days: dict[str, int] = field(default_factory=dict)

    # -- basics ------------------------------------------------------------------------

    def new_id(self, kind: str) -> str:
        n = self._counters.get(kind, 0) + 1
        self._counters[kind] = n
        return f"{self.patient_id}-{kind}-{n}"

    def when(self, days_ago: float) -> str:
        """A clinic-hours time ``days_ago`` days before ``as_of`` (never after it)."""
        day = self.as_of - timedelta(days=int(days_ago))
        hour = self.rng.randint(7, 17)
        minute = self.rng.choice((0, 5, 10, 15, 20, 30, 40, 45, 50))
        stamp = day.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if days_ago < 1:  # same day as as_of: keep it strictly before
            stamp = self.as_of - timedelta(hours=1)
        return _fmt(stamp)

    @property
    def subject(self) -> Json:
        return {"reference": f"Patient/{self.patient_id}"}

    def add(self, resource: Json) -> Json:
        self.resources.append(resource)
        return resource

    def fact(self, text: str) -> None:
        self.key_facts.append(text)

    # -- Patient -------------------------------------------------------------------------

    def patient(self, age: int | None, sex: str, *, given: str, family: str) -> Json:
        """``age`` is exact at ``as_of``; None plants a Patient without a birth date."""
        self.age, self.sex = age, sex
        self.display_name = f"{given} {family}"
        resource: Json = {
            "resourceType": "Patient",
            "id": self.patient_id,
            "identifier": [{"system": codes.SITE_MRN,
                            "value": f"MRN{self.rng.randint(1_000_000, 9_999_999)}"}],
            "active": True,
            "name": [{"use": "official", "family": family, "given": [given]}],
            "gender": sex,
        }
        if age is not None:
            resource["birthDate"] = self._birth_date(age).isoformat()
        self.resources.insert(0, resource)
        return resource

    def _birth_date(self, age: int) -> date:
        today = self.as_of.date()
        anniversary = date(today.year - age, today.month, min(today.day, 28))
        return anniversary - timedelta(days=self.rng.randint(1, 330))

    # -- Conditions ----------------------------------------------------------------------

    def diagnosis(self, lineage: str, *, days_ago: int, clinical: str = "active",
                  icd_suffix: str | None = None, local_code: bool = False) -> Json:
        system, code, display = _LINEAGE[lineage]
        if icd_suffix is not None:
            prefix = "C92.0" if lineage == "aml" else "C91.0"
            system, code = codes.ICD10CM, prefix + icd_suffix
        if local_code:
            system, code = LOCAL, lineage
        coding: Json = {"system": system, "code": code, "display": display}
        resource = self._condition(coding, display, clinical, days_ago,
                                   category="problem-list-item")
        self.fact({"b-all": "B-ALL", "t-all": "T-ALL", "aml": "AML",
                   "all-unspecified": "ALL (lineage not stated)"}[lineage])
        return resource

    def _condition(self, coding: Json, text: str, clinical: str, days_ago: int, *,
                   category: str = "problem-list-item") -> Json:
        return self.add({
            "resourceType": "Condition",
            "id": self.new_id("cond"),
            "clinicalStatus": {"coding": [{"system": codes.COND_CLINICAL, "code": clinical}]},
            "verificationStatus": {"coding": [{"system": codes.COND_VERIFICATION,
                                               "code": "confirmed"}]},
            "category": [{"coding": [{"system": codes.COND_CATEGORY, "code": category}]}],
            "code": {"coding": [coding], "text": text},
            "subject": self.subject,
            "onsetDateTime": self.when(days_ago),
            "recordedDate": self.when(days_ago),
        })

    def comorbidity(self, concept: str, text: str, *, days_ago: int = 400) -> Json:
        self.fact(text)
        return self._condition({"system": LOCAL, "code": concept, "display": text}, text,
                               "active", days_ago)

    def other_condition(self, snomed: str, text: str, *, days_ago: int,
                        clinical: str = "active") -> Json:
        return self._condition({"system": SNOMED, "code": snomed, "display": text}, text,
                               clinical, days_ago)

    # -- Observations --------------------------------------------------------------------

    def observation(self, concept: str, value: Json, *, days_ago: int,
                    code: Json | None = None, status: str = "final", key: str | None = None,
                    method: str | None = None, interpretation: str | None = None,
                    category: str | bool | None = True) -> Json:
        """One Observation of a contract concept; ``value`` is the ``value[x]`` member."""
        resource: Json = {"resourceType": "Observation", "id": self.new_id("obs"),
                          "status": status}
        if category is True:  # the EHR's habit: labs get 'laboratory', assessments vary
            category = ("laboratory" if concept in _LAB_CONCEPTS
                        else self.rng.choice(("exam", "exam", None)))
        if category:
            resource["category"] = [{"coding": [{"system": OBS_CATEGORY, "code": category}]}]
        resource["code"] = code or codes.local(concept, _CONCEPT_DISPLAY.get(concept))
        resource["subject"] = self.subject
        resource["effectiveDateTime"] = self.when(days_ago)
        resource["issued"] = resource["effectiveDateTime"]
        resource.update(value)
        if interpretation:
            resource["interpretation"] = [{"coding": [{"system": codes.INTERPRETATION,
                                                       "code": interpretation}]}]
        if method:
            resource["method"] = codes.local(method, {"flow-cytometry": "Flow cytometry",
                                                      "pcr": "PCR", "ngs": "NGS"}[method])
        self.add(resource)
        self.history_days[concept] = max(self.history_days.get(concept, 0), days_ago)
        if key:
            self.fact(key)
        return resource

    @staticmethod
    def quantity(value: float, unit: str, code: str | None = None,
                 comparator: str | None = None) -> Json:
        q: Json = {"value": value}
        if comparator:
            q["comparator"] = comparator
        q.update({"unit": unit, "system": UCUM, "code": code or unit})
        return {"valueQuantity": q}

    @staticmethod
    def answer(code: str, display: str | None = None) -> Json:
        return {"valueCodeableConcept": codes.local(code, display or code)}

    def marker(self, name: str, percent: float | None = None, *, call: str | None = None,
               days_ago: int, loinc: str | None = None, interpretation: str | None = None,
               history: tuple[tuple[float | str, int], ...] = ()) -> None:
        """A marker as % of blasts and/or an explicit call; ``history`` adds older results.

        With a percentage, the lab's call travels as ``Observation.interpretation`` (POS/NEG),
        the way analysers report it; without one, the call is the coded value itself.
        """
        label = name.upper()
        for old, old_days in history:
            self._marker_value(name, old, old_days, loinc)
        if percent is not None:
            value = self.quantity(percent, "%")
            interpretation = interpretation or {"positive": "POS", "negative": "NEG"}.get(
                call or "")
            key = f"{label} {_pct(percent)}"
            if interpretation:
                key += {"POS": " (positive)", "NEG": " (negative)"}[interpretation]
        else:
            value = self.answer(call or "positive")
            key = label + {"positive": "+", "negative": "−", "dim": " dim"}[call or "positive"]
        code = ({"coding": [{"system": LOINC, "code": loinc}], "text": f"{label} blasts"}
                if loinc else None)
        self.observation(name, value, days_ago=days_ago, code=code,
                         interpretation=interpretation, key=key)

    def _marker_value(self, name: str, value: float | str, days_ago: int,
                      loinc: str | None) -> None:
        body = self.quantity(value, "%") if isinstance(value, float | int) else self.answer(value)
        code = ({"coding": [{"system": LOINC, "code": loinc}]} if loinc else None)
        self.observation(name, body, days_ago=days_ago, code=code)

    def bm_blasts(self, percent: float, *, days_ago: int,
                  history: tuple[tuple[float, int], ...] = ()) -> None:
        for old, old_days in history:
            self.observation("bm-blasts", self.quantity(old, "%"), days_ago=old_days)
        self.observation("bm-blasts", self.quantity(percent, "%"), days_ago=days_ago,
                         key=f"marrow blasts {_pct(percent)}")

    def mrd(self, value: float | None, unit: str = "%", *, days_ago: int,
            method: str | None = "flow-cytometry", comparator: str | None = None,
            detected: bool | None = None, key: bool = True, status: str = "final") -> Json:
        """MRD as the contract allows: a Quantity in %, a fraction (UCUM 1) or 10*-n, or coded."""
        if detected is not None:
            body = self.answer("detected" if detected else "not-detected")
            text = "MRD detected" if detected else "MRD not detected"
        else:
            assert value is not None
            code = {"%": "%", "fraction": "1", "1": "1"}.get(unit, unit)
            body = self.quantity(value, unit, code, comparator)
            text = f"MRD {comparator or ''}{_mrd_text(value, code)}"
        if method:
            text += f" ({ {'flow-cytometry': 'flow', 'pcr': 'PCR', 'ngs': 'NGS'}[method] })"
        return self.observation("mrd", body, days_ago=days_ago, method=method, status=status,
                                key=text if key else None)

    def coded(self, concept: str, code: str, *, days_ago: int, key: str | None = None,
              loinc: str | None = None, loinc_answer: str | None = None) -> Json:
        if loinc:
            answer = {"LA9633-4": "Present", "LA9634-2": "Absent"}
            value = {"valueCodeableConcept": {"coding": [
                {"system": LOINC, "code": loinc_answer, "display": answer[loinc_answer or ""]}]}}
            return self.observation(concept, value, days_ago=days_ago, key=key,
                                    code={"coding": [{"system": LOINC, "code": loinc}],
                                          "text": _CONCEPT_DISPLAY[concept]})
        return self.observation(concept, self.answer(code), days_ago=days_ago, key=key)

    def status(self, code: str, *, days_ago: int,
               history: tuple[tuple[str, int], ...] = ()) -> None:
        for old, old_days in history:
            self.observation("disease-status", self.answer(old), days_ago=old_days)
        self.observation("disease-status", self.answer(code), days_ago=days_ago,
                         key=_STATUS_TEXT[code])

    def integer(self, concept: str, value: int, *, days_ago: int, key: str | None = None) -> Json:
        return self.observation(concept, {"valueInteger": value}, days_ago=days_ago, key=key)

    def boolean(self, concept: str, value: bool, *, days_ago: int,
                key: str | None = None) -> Json:
        return self.observation(concept, {"valueBoolean": value}, days_ago=days_ago, key=key)

    def cd3(self, count: float, *, days_ago: int) -> Json:
        return self.observation("cd3-count", self.quantity(count, "cells/uL", "/uL"),
                                days_ago=days_ago, key=f"CD3 {count:g}/µL")

    # -- Procedures ----------------------------------------------------------------------

    def hct(self, *, days_ago: int, code: str = "234336002",
            text: str = "Allogeneic hematopoietic stem cell transplant") -> Json:
        self.fact(f"allo-HCT {self.when(days_ago)[:7]}")
        return self._procedure({"system": SNOMED, "code": code, "display": text}, text, days_ago)

    def autologous_hct(self, *, days_ago: int) -> Json:
        text = "Autologous bone marrow transplant"
        self.fact("autologous HCT (not allogeneic)")
        return self._procedure({"system": SNOMED, "code": "58776007", "display": text}, text,
                               days_ago)

    def car_t(self, product: str | None, *, days_ago: int | None) -> Json:
        """A CAR T-cell infusion Procedure; ``days_ago`` None plants one without a date."""
        text = "CAR T-cell infusion"
        extra: Json = {}
        if product:
            extra["usedCode"] = [codes.drug_concept(product)]
            text += f" ({product})"
        self.fact(text if days_ago is None else f"{text} {self.when(days_ago)[:7]}")
        return self._procedure({"system": LOCAL, "code": "car-t-infusion",
                                "display": "CAR T-cell infusion"}, text, days_ago, extra)

    def _procedure(self, coding: Json, text: str, days_ago: int | None,
                   extra: Json | None = None) -> Json:
        resource: Json = {"resourceType": "Procedure", "id": self.new_id("proc"),
                          "status": "completed", "code": {"coding": [coding], "text": text},
                          "subject": self.subject}
        if days_ago is not None:
            resource["performedDateTime"] = self.when(days_ago)
        resource.update(extra or {})
        return self.add(resource)

    # -- Medications ---------------------------------------------------------------------

    def medication(self, drug: str, *, days_ago: int, kind: str = "request",
                   encoding: str = "code", status: str | None = None,
                   key: bool = True) -> Json:
        """A drug received or prescribed.

        ``kind``: request | administration | statement. ``encoding``: code (a
        medicationCodeableConcept), contained or bundled (a medicationReference to a Medication
        inside the resource or elsewhere in the bundle), or missing (a reference to nothing, a
        planted data-quality problem).
        """
        rtype = {"request": "MedicationRequest", "administration": "MedicationAdministration",
                 "statement": "MedicationStatement"}[kind]
        resource: Json = {"resourceType": rtype, "id": self.new_id(kind[:4] + "med")}
        concept = codes.drug_concept(drug)
        if encoding == "contained":
            resource["contained"] = [{"resourceType": "Medication", "id": "med",
                                      "code": concept}]
        when = self.when(days_ago)
        if kind == "request":
            resource.update({"status": status or "completed", "intent": "order"})
        elif kind == "administration":
            resource["status"] = status or "completed"
        else:
            resource["status"] = status or "completed"
        if encoding == "code":
            resource["medicationCodeableConcept"] = concept
        elif encoding == "contained":
            resource["medicationReference"] = {"reference": "#med"}
        elif encoding == "bundled":
            med_id = self.new_id("med")
            self.add({"resourceType": "Medication", "id": med_id, "code": concept})
            resource["medicationReference"] = {"reference": f"Medication/{med_id}"}
        elif encoding == "missing":
            resource["medicationReference"] = {"reference": f"Medication/{self.patient_id}-gone"}
        else:
            raise ValueError(f"unknown encoding {encoding!r}")
        resource["subject"] = self.subject
        if kind == "request":
            resource["authoredOn"] = when
        elif kind == "administration":
            resource["effectiveDateTime"] = when
        else:
            resource["effectiveDateTime"] = when
            resource["dateAsserted"] = when
        if key:
            self.fact(f"{drug} {when[:7]}")
        return self.add(resource)


def car_t_product(drug_id: str) -> bool:
    return DRUGS[drug_id].car_t
