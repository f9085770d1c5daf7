"""What the readers gather from one request, and what they may gather at all.

Readers write candidates, not facts: which value stands is known only once the whole chart has
been read, since a later resource may be newer or contradict an earlier one (``evidence``
decides). The admission rules every reader applies first (entered-in-error, another patient's
resource, invalid R4) live on the collector so that no reader can skip one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from service.facts import (
    CarTEvent,
    DataQualityFinding,
    Exposure,
    FindingCode,
    ProcedureEvent,
    Provenance,
)
from service.fhir.extract.dates import time_key
from service.fhir.extract.identity import subject_problem
from service.fhir.extract.validation import validation_error
from service.fhir.terminology import Terminology
from service.fhir.values import ParsedMrd

# simple facts: concept code → PatientFacts field
SIMPLE_FIELDS = {
    "disease-status": "disease_status",
    "ph": "ph",
    "ph-like": "ph_like",
    "kmt2a": "kmt2a",
    "abl1-t315i": "t315i",
    "cns-status": "cns_status",
    "extramedullary": "extramedullary",
    "aml-risk": "aml_risk",
    "prior-lines": "prior_lines",
    "hct-planned": "hct_planned",
    "intensive-induction-eligible": "intensive_induction_eligible",
    "hct-eligible": "hct_eligible",
    "crs-grade": "crs_grade",
    "icans-grade": "icans_grade",
    "ice-score": "ice_score",
    "cd3-count": "cd3_count",
    "bm-blasts": "bm_blasts_percent",
}
COMORBIDITY_FIELDS = {
    "hepatic-disease": "hepatic_disease",
    "neurologic-comorbidity": "neurologic_comorbidity",
}
ALL_SIMPLE_FIELDS = (*SIMPLE_FIELDS.items(), *COMORBIDITY_FIELDS.items())


def num_key(value: Any) -> Hashable:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    return value


@dataclass(slots=True)
class Cand:
    value: Any
    source: Provenance
    comparator: str | None = None

    @property
    def key(self) -> Hashable:
        return (num_key(self.value), self.comparator)


@dataclass(slots=True)
class MarkerCand:
    source: Provenance
    percent: float | None = None
    comparator: str | None = None
    call: str | None = None
    unit: str | None = None
    of_cells: bool = False  # a % of all cells (LOINC "cells/100 cells"), not of blasts


@dataclass(slots=True)
class MrdCand:
    parsed: ParsedMrd
    method: str | None
    source: Provenance

    @property
    def key(self) -> Hashable:
        p = self.parsed
        return (num_key(p.fraction), p.comparator, p.detected)


@dataclass
class Collector:
    term: Terminology
    now: datetime
    patient_id: str | None
    threshold: float
    findings: list[DataQualityFinding] = field(default_factory=list)
    entered_in_error: int = 0
    simple: dict[str, list[Cand]] = field(default_factory=lambda: defaultdict(list))
    markers: dict[str, list[MarkerCand]] = field(default_factory=lambda: defaultdict(list))
    mrd: list[MrdCand] = field(default_factory=list)
    lineage: list[Cand] = field(default_factory=list)
    icd_hint: list[Cand] = field(default_factory=list)
    clinical_status: list[Cand] = field(default_factory=list)
    # disease status a Condition's codes state (conditions.py); weighed in assemble
    derived_status: list[Cand] = field(default_factory=list)
    allo: list[ProcedureEvent] = field(default_factory=list)
    auto_hct: list[ProcedureEvent] = field(default_factory=list)
    hct_unknown: list[ProcedureEvent] = field(default_factory=list)  # donor type not stated
    car_t: list[CarTEvent] = field(default_factory=list)
    exposures: list[Exposure] = field(default_factory=list)
    patients: list[tuple[Mapping[str, Any], str]] = field(default_factory=list)
    medications: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    patient_urls: dict[str, str] = field(default_factory=dict)  # fullUrl -> Patient.id
    considered: list[str] = field(default_factory=list)  # resources admitted by a reader
    tombstones: dict[str, list[tuple[datetime | None, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # a count concept sent as a % of cells (CD3 %, LOINC 8124-0): (concept, resource, raw value);
    # never a count, reported only when no count was read (assemble): panels send both
    percent_not_count: list[tuple[str, str, str]] = field(default_factory=list)
    # findings about codes in routine or non-leukemia use ("% of cells" lymphocyte-subset
    # panels; narratives, as LOINC 101119-6 is leukemia *and lymphoma* immunophenotyping):
    # emitted by assemble only on a chart with a leukemia diagnosis, so they never make cards
    # on anyone else's chart
    gated_findings: list[DataQualityFinding] = field(default_factory=list)
    own_reference: str | None = field(init=False, default=None)
    # findings shown only if their fact stays unknown: (field, topic) -> (time, finding)
    unless_known: dict[tuple[str, str], tuple[datetime | None, DataQualityFinding]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        # "Patient/<patient_id>" is how nearly every resource points at its patient; matched as
        # a whole string it needs no regex. Only for ids without "/": for those the regex of
        # reference_id reads exactly <patient_id> back from that string.
        pid = self.patient_id
        if isinstance(pid, str) and "/" not in pid:
            self.own_reference = f"Patient/{pid}"

    def finding(
        self, code: FindingCode, resource: str | None, message: str, concept: str | None = None
    ) -> None:
        self.findings.append(
            DataQualityFinding(code=code, resource=resource, message=message, concept=concept)
        )

    def finding_unless_known(
        self, field_name: str, topic: str, when: datetime | None, code: FindingCode,
        resource: str, message: str, concept: str,
    ) -> None:
        """A finding for a result that was read but does not set ``field_name`` (a zero BCR::ABL1
        level, an 11q23 translocation): shown only when the fact stays unknown, so that "not in
        the record" is not the whole story, and only the latest of each ``topic``."""
        key = (field_name, topic)
        kept = self.unless_known.get(key)
        if kept is None or time_key(when) >= time_key(kept[0]):
            finding = DataQualityFinding(code=code, resource=resource, message=message,
                                         concept=concept)
            self.unless_known[key] = (when, finding)

    # -- gatekeeping ------------------------------------------------------------------

    def valid(self, res: Mapping[str, Any], ref: str, concept: str | None) -> bool:
        error = validation_error(res)
        if error is not None:
            self.finding("invalid-resource", ref, f"fails FHIR R4 validation: {error}", concept)
            return False
        return True

    def other_patient(self, res: Mapping[str, Any], ref: str, concept: str | None = None
                      ) -> bool:
        """True (with a finding) when the resource is not provably this patient's
        (`identity.subject_problem`): it then gives no value."""
        if self.patient_id is None:
            return False
        target = res.get("subject")
        if isinstance(target, dict) and target.get("reference") == self.own_reference:
            return False  # the common case, matched as a whole string
        why = subject_problem(res, self.patient_id, self.patient_urls)
        if why is None:
            return False
        code, reason = why
        self.finding(code, ref, f"{reason}; set aside, not used for this patient", concept)
        return True

    def gated_finding(
        self, code: FindingCode, resource: str | None, message: str, concept: str | None = None
    ) -> None:
        """A finding that stands only on a chart with a leukemia diagnosis (see gated_findings)."""
        self.gated_findings.append(
            DataQualityFinding(code=code, resource=resource, message=message, concept=concept)
        )

    def entered_in_error_seen(self, ref: str, concept: str | None) -> None:
        self.entered_in_error += 1
        self.finding("entered-in-error", ref, "marked entered-in-error; ignored", concept)

    def admit(self, res: Mapping[str, Any], ref: str, concept: str | None,
              status: Any) -> bool:
        """The rules of evidence every reader applies first, in one place: entered-in-error is
        ignored and counted, another patient's resource is a finding, and a resource that fails
        R4 validation is a finding. Each reader then judges its own usable statuses."""
        if status == "entered-in-error":
            self.entered_in_error_seen(ref, concept)
            return False
        if self.other_patient(res, ref, concept) or not self.valid(res, ref, concept):
            return False
        self.considered.append(ref)  # read: used, superseded or reported (facts accounting)
        return True
