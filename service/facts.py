"""PatientFacts: the typed, provenance-carrying view of a patient that the decision rules read.

This module is the contract between the FHIR layer (service/fhir, which fills it) and the
decision module (service/decision, which reads it). It deliberately imports nothing from FHIR so
that rules can be written and tested with plain constructors.

Conventions a rule writer can rely on:

- **Missing is not negative.** Every clinical field is ``None`` (or an empty tuple for histories)
  when the record does not say. A negative result is an explicit value (``"negative"``,
  ``"not-detected"``, ``False``), never the absence of one.
- **Every value carries its source.** ``Fact.source`` names the resource, the raw value and how
  the concept was recognised, so a card can show it and an auditor can trace it.
- **Conflicts are not resolved by guessing.** Two different values at the same effective time
  leave the field ``None`` and add a ``conflict`` finding; the rules see "unknown".
- Models are frozen: the extractor builds them once per request and nothing downstream mutates
  them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

# --- vocabularies -------------------------------------------------------------------------

RecognisedBy = Literal["standard-code", "local-code", "site-conceptmap", "text-match", "inferred"]
"""How a concept was recognised; 'text-match' and 'inferred' deserve less trust than codes."""

Lineage = Literal["b-all", "t-all", "aml", "all-unspecified"]
"""Leukemia lineage. ``None`` on PatientFacts.lineage means unknown (no readable diagnosis)."""

DiseaseStatus = Literal[
    "newly-diagnosed",
    "post-induction",
    "cr1",
    "cr2",
    "cr3-or-later",
    "first-relapse",
    "second-or-later-relapse",
    "primary-refractory",
    "relapsed-refractory",
    "relapse",  # in relapse, first or later not recorded (ICD-10-CM, clinicalStatus)
    "remission",  # in complete remission, first or later not recorded (ICD-10-CM, mCODE)
]

Marker = Literal["cd19", "cd20", "cd22", "cd33", "cd123", "cd38"]
MARKERS: tuple[Marker, ...] = ("cd19", "cd20", "cd22", "cd33", "cd123", "cd38")

MarkerCall = Literal["positive", "dim", "negative"]
PosNeg = Literal["positive", "negative"]
Detection = Literal["detected", "not-detected"]
Presence = Literal["present", "absent"]
CnsStatus = Literal["cns1", "cns2", "cns3"]
MrdMethod = Literal["flow-cytometry", "pcr", "ngs"]
Comparator = Literal["<", "<=", ">", ">="]
AmlRisk = Literal["favorable", "intermediate", "adverse"]

IcdRemissionHint = Literal["not-in-remission", "in-remission", "in-relapse"]
"""ICD-10-CM 5th character of C91.0x / C92.0x (0 / 1 / 2)."""

ConditionClinicalStatus = Literal[
    "active", "recurrence", "relapse", "inactive", "remission", "resolved"
]

DrugId = Literal[
    "blinatumomab",
    "inotuzumab",
    "gemtuzumab",
    "rituximab",
    "daratumumab",
    "tocilizumab",
    "dasatinib",
    "imatinib",
    "ponatinib",
    "nilotinib",
    "tisagenlecleucel",
    "brexucabtagene",
    "obecabtagene",
]
DrugClass = Literal["immunotherapy", "tki", "car-t", "other"]

FindingCode = Literal[
    "invalid-resource",  # not a FHIR resource we can read at all, or fails R4 validation
    "unreadable-value",  # recognised concept; value missing, wrong type, bad unit, unknown code
    "unreadable-mrd",  # an MRD result that could not be normalised (never read as negative)
    "conflict",  # two different values at the same effective time; the fact is left unset
    "ignored-status",  # preliminary / cancelled / registered / not-done ... results not used
    "entered-in-error",  # resource marked entered-in-error; ignored and counted
    "missing-date",  # an event (HCT, CAR-T) without a date: kept, but timing rules cannot use it
    "missing-value",  # a resource the rules need lacks the element (e.g. Patient without birthDate)
    "unknown-reference",  # medicationReference that resolves to nothing in the request
    "wrong-patient",  # resource about another patient than the hook's context; not used
    "unresolved-subject",  # subject not provably the context patient (identifier, Group...)
    "not-established",  # read, but does not establish the concept (BCR::ABL1 0 %IS, 11q23)
]
# resources set aside because they are not provably the context patient's
IDENTITY_FINDINGS = frozenset({"wrong-patient", "unresolved-subject"})

_FROZEN = ConfigDict(frozen=True, extra="forbid")

T = TypeVar("T")


# --- provenance and generic facts ----------------------------------------------------------


class Provenance(BaseModel):
    """Where one value came from; enough for a card's source attribution and for audit."""

    model_config = _FROZEN

    resource: str  # "Observation/abc"; a resource sent without id is "Observation/(no id, item 3)"
    raw: str  # the value as the EHR sent it, rendered as text
    recognised_by: RecognisedBy
    effective: datetime | None = None  # effective / performed / authored time, if any


class Fact(BaseModel, Generic[T]):
    """A value plus its source. ``supporting`` lists further resources an inferred fact rests on."""

    model_config = _FROZEN

    value: T
    source: Provenance
    supporting: tuple[Provenance, ...] = ()
    comparator: Comparator | None = None  # numeric facts only: "<5 %" is value 5, comparator "<"

    @property
    def effective(self) -> datetime | None:
        return self.source.effective

    @property
    def resource(self) -> str:
        return self.source.resource


class MarkerFact(BaseModel):
    """Expression of one surface marker on leukemic blasts.

    ``percent`` and ``call`` are kept apart on purpose: the seeds define a % cut-off only for
    CD20, so judging a bare percentage is site policy applied by the decision module, while an
    explicit call (coded value or Observation.interpretation) is the lab's own judgement.
    """

    model_config = _FROZEN

    marker: Marker
    percent: float | None = None  # % of blasts, 0..100
    comparator: Comparator | None = None  # on percent, e.g. "<1 %"
    call: MarkerCall | None = None  # explicit positive / dim / negative
    unit: str | None = None  # unit as sent (normalised percent is always %)
    source: Provenance
    supporting: tuple[Provenance, ...] = ()  # other results at the same time that agree
    percent_source: Provenance | None = None  # where ``percent`` came from (set with percent)
    # A % of ALL cells (or lymphocytes), from LOINC "cells/100 cells" flow codes: kept apart from
    # ``percent`` because it is not a % of blasts. It may support "expressed" (site threshold),
    # never "negative", never lineage; a call or a % of blasts always wins over it.
    cells_percent: float | None = None
    cells_comparator: Comparator | None = None
    cells_source: Provenance | None = None  # where ``cells_percent`` came from

    def cells_support_expressed(self, threshold: float) -> bool:
        """Whether ``cells_percent`` is enough to read the marker as expressed: at or above the
        site ``threshold`` (for CD20 also the seeds' 20 % of blasts: a % of cells cannot pass a
        cut-off a % of blasts would not), and never a "<" result. Below that it says nothing
        about the blasts: the marker stays unknown, never negative."""
        if self.cells_percent is None or self.cells_comparator in ("<", "<="):
            return False
        cut = max(threshold, 20.0) if self.marker == "cd20" else threshold
        return self.cells_percent >= cut


class MrdFact(BaseModel):
    """One MRD result, normalised.

    ``fraction`` is leukemic cells / cells examined (0.001 = 0.1 % = 1e-3). With comparator "<"
    or "<=" the value is an upper bound and ``below_lod`` is True: the assay saw nothing above its
    limit of detection, which is *not* the same as a coded "not detected" at an unknown
    sensitivity. ``detected`` is set only from a coded or textual detected / not-detected result.
    """

    model_config = _FROZEN

    fraction: float | None = None
    comparator: Comparator | None = None
    below_lod: bool = False
    detected: bool | None = None
    method: MrdMethod | None = None
    raw: str
    source: Provenance

    @property
    def effective(self) -> datetime | None:
        return self.source.effective


class ProcedureEvent(BaseModel):
    """An HCT (or history-of Condition). ``date`` None means the record gave none."""

    model_config = _FROZEN

    date: datetime | None
    source: Provenance


class CarTEvent(BaseModel):
    """A CAR T-cell infusion; ``product`` None when only the procedure was recorded."""

    model_config = _FROZEN

    product: DrugId | None
    date: datetime | None
    source: Provenance


class Exposure(BaseModel):
    """A drug the patient has received or been prescribed (not drafts or cancelled orders)."""

    model_config = _FROZEN

    drug: DrugId
    drug_class: DrugClass
    date: datetime | None
    status: str | None  # the resource's status as sent (active, completed, stopped ...)
    resource_type: Literal["MedicationRequest", "MedicationAdministration", "MedicationStatement"]
    source: Provenance


class DataQualityFinding(BaseModel):
    """Something the service saw but could not use, said plainly enough for hospital IT."""

    model_config = _FROZEN

    code: FindingCode
    resource: str | None  # "Type/id" when known
    message: str
    concept: str | None = None  # the contract concept involved (e.g. "mrd", "cd19"), if any


class DraftOrder(BaseModel):
    """An order in ``context.draftOrders`` as far as the rules need it.

    ``drug`` is None when the order is not one the contract recognises; a CAR-T ServiceRequest
    without a recognisable product has ``drug`` None and ``drug_class`` "car-t".
    """

    model_config = _FROZEN

    drug: DrugId | None
    drug_class: DrugClass | None
    resource: str  # "MedicationRequest/x" or "ServiceRequest/y"
    display: str  # best human-readable text of the order
    recognised_by: RecognisedBy | None
    status: str | None = None

    @property
    def is_car_t(self) -> bool:
        return self.drug_class == "car-t"


# --- the patient --------------------------------------------------------------------------


class PatientFacts(BaseModel):
    """Everything the rules may read about one patient, as of ``as_of``."""

    model_config = _FROZEN

    patient_id: str | None = None
    as_of: datetime | None = None  # the request time ages and windows are computed against

    # demographics
    birth_date: Fact[date] | None = None
    age_years: Fact[int] | None = None  # completed years at ``as_of``

    # diagnosis
    lineage: Fact[Lineage] | None = None  # source.recognised_by == "inferred" when from markers
    icd10_remission_hint: Fact[IcdRemissionHint] | None = None
    condition_clinical_status: Fact[ConditionClinicalStatus] | None = None  # a hint only
    disease_status: Fact[DiseaseStatus] | None = None

    # immunophenotype and burden
    markers: dict[Marker, MarkerFact] = Field(default_factory=dict)
    bm_blasts_percent: Fact[float] | None = None
    mrd: MrdFact | None = None  # the latest readable MRD
    mrd_history: tuple[MrdFact, ...] = ()  # every readable MRD, oldest first (for "persistent")

    # genetics
    ph: Fact[PosNeg] | None = None
    ph_like: Fact[PosNeg] | None = None
    kmt2a: Fact[PosNeg] | None = None
    t315i: Fact[Detection] | None = None

    # sites of disease
    cns_status: Fact[CnsStatus] | None = None
    extramedullary: Fact[Presence] | None = None

    # history and plans
    prior_lines: Fact[int] | None = None
    hct_planned: Fact[bool] | None = None
    allo_hct: tuple[ProcedureEvent, ...] = ()  # oldest first, undated last; never autologous
    # an HCT whose record does not say allogeneic or autologous (SNOMED 234336002 alone): not
    # allo, not "no transplant"; rules that depend on a prior allo-HCT ask to confirm the type
    hct_type_unknown: tuple[ProcedureEvent, ...] = ()
    auto_hct: tuple[ProcedureEvent, ...] = ()  # autologous HCT: on record, read by no rule
    car_t: tuple[CarTEvent, ...] = ()  # oldest first, undated last
    exposures: tuple[Exposure, ...] = ()  # oldest first; undated last

    # toxicity and fitness for CAR-T
    crs_grade: Fact[int] | None = None  # ASTCT 0-4, latest
    icans_grade: Fact[int] | None = None  # ASTCT 0-4, latest
    ice_score: Fact[int] | None = None  # 0-10, latest
    cd3_count: Fact[float] | None = None  # cells/uL (= cells/mm3)

    # project additions to the contract (see fhir_profiles/README.md)
    aml_risk: Fact[AmlRisk] | None = None  # ELN risk group as recorded
    intensive_induction_eligible: Fact[bool] | None = None
    hct_eligible: Fact[bool] | None = None
    hepatic_disease: Fact[bool] | None = None  # True: recorded and current; False: refuted/resolved
    neurologic_comorbidity: Fact[bool] | None = None

    # data quality
    findings: tuple[DataQualityFinding, ...] = ()
    entered_in_error_count: int = 0
    # every resource a reader admitted (in scope, this patient's, valid): used, superseded by
    # another result, or reported; what `leukemia-cds facts` accounts for (fhir/accounting.py)
    considered: tuple[str, ...] = ()

    # --- conveniences for rule writers ---------------------------------------------------

    @property
    def lineage_inferred(self) -> bool:
        return self.lineage is not None and self.lineage.source.recognised_by == "inferred"

    def marker(self, name: Marker) -> MarkerFact | None:
        return self.markers.get(name)

    def exposed_to(self, *drugs: DrugId) -> tuple[Exposure, ...]:
        """Exposures to any of ``drugs``, oldest first."""
        wanted = set(drugs)
        return tuple(e for e in self.exposures if e.drug in wanted)

    def has_drug_class(self, drug_class: DrugClass) -> bool:
        return any(e.drug_class == drug_class for e in self.exposures)

    def findings_for(self, concept: str) -> tuple[DataQualityFinding, ...]:
        return tuple(f for f in self.findings if f.concept == concept)

    def iter_facts(self) -> Iterator[tuple[str, Any, Provenance]]:
        """Yield (name, value, source) for every fact that is set, in field order.

        Used by the facts report and by cards' machine-readable ``facts`` extension, so both
        name facts the same way ("markers.cd19.percent", "mrd.fraction", "exposures[0]").
        """
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, Fact):
                yield name, value.value, value.source
            elif name == "markers":
                for key, m in value.items():
                    if m.percent is not None:
                        yield f"markers.{key}.percent", m.percent, m.percent_source or m.source
                    if m.call is not None:
                        yield f"markers.{key}.call", m.call, m.source
                    if m.cells_percent is not None:
                        yield (f"markers.{key}.percent_of_cells", m.cells_percent,
                               m.cells_source or m.source)
            elif name == "mrd" and value is not None:
                yield "mrd", _mrd_text(value), value.source
            elif name in ("allo_hct", "hct_type_unknown", "auto_hct"):
                for i, ev in enumerate(value):
                    yield f"{name}[{i}]", _date_text(ev.date), ev.source
            elif name == "car_t":
                for i, ev in enumerate(value):
                    text = f"{ev.product or 'product not stated'} {_date_text(ev.date)}"
                    yield f"car_t[{i}]", text, ev.source
            elif name == "exposures":
                for i, ex in enumerate(value):
                    text = f"{ex.drug} ({ex.drug_class}) {_date_text(ex.date)}"
                    yield f"exposures[{i}]", text, ex.source


def _date_text(d: datetime | None) -> str:
    return d.date().isoformat() if d is not None else "date unknown"


def _mrd_text(m: MrdFact) -> str:
    parts: list[str] = []
    if m.fraction is not None:
        parts.append(f"{m.comparator or ''}{m.fraction:g}")
    if m.detected is not None:
        parts.append("detected" if m.detected else "not detected")
    if m.below_lod:
        parts.append("below limit of detection")
    if m.method:
        parts.append(f"by {m.method}")
    return " ".join(parts) or m.raw
