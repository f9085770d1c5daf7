"""The CDS services this server offers, as shown by discovery.

One service per hook. Prefetch templates stay inside the spec's recommended query subset
(instance read of Patient, type-level searches by `patient=`) and deliberately filter nothing
by code or category: sites map their own codes through the ConceptMap, so a code filter here would
silently hide data the rules need. The one step outside the subset is `_include` of the
Medication a medication resource points at: real FHIR servers code the drug there, and without it
the prior exposure is lost. A client that cannot include it may send the search without; the
service then reads each referenced Medication itself (`prefetch.read_referenced_medications`).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.hooks.models import KNOWLEDGE_EXTENSION, ServiceDescription

PATIENT = "{{context.patientId}}"

PREFETCH: dict[str, str] = {
    "patient": f"Patient/{PATIENT}",
    "conditions": f"Condition?patient={PATIENT}",
    "observations": f"Observation?patient={PATIENT}",
    "procedures": f"Procedure?patient={PATIENT}",
    "medicationRequests": f"MedicationRequest?patient={PATIENT}"
                          "&_include=MedicationRequest:medication",
    "medicationAdministrations": f"MedicationAdministration?patient={PATIENT}"
                                 "&_include=MedicationAdministration:medication",
    "medicationStatements": f"MedicationStatement?patient={PATIENT}"
                            "&_include=MedicationStatement:medication",
}

_USAGE = (
    "Needs the patient's Conditions, Observations, Procedures and medication history (all "
    "prefetch keys), or a fhirServer with fhirAuthorization so the service can fetch what is "
    "missing. Codes are described in the input contract (fhir_profiles/)."
)


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str

    def describe(self, knowledge_version: str | None = None) -> ServiceDescription:
        """The discovery entry; with the knowledge version the running catalogue carries."""
        return ServiceDescription(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=PREFETCH,
            usageRequirements=_USAGE,
            extension=({KNOWLEDGE_EXTENSION: {"knowledge_version": knowledge_version}}
                       if knowledge_version else None),
        )


SERVICES: dict[str, CdsService] = {
    s.id: s
    for s in (
        CdsService(
            id="leukemia-immunotherapy",
            hook="patient-view",
            title="Acute leukemia immunotherapy guidance",
            description=(
                "When the chart of a patient with **B-ALL, T-ALL or AML** is opened: "
                "immunotherapy options for where the patient is in the disease course "
                "(blinatumomab, inotuzumab, CAR T, rituximab, gemtuzumab, daratumumab), "
                "clinical-trial prompts, safety cautions, and the diagnostic work-up or data "
                "still missing. Every card cites the review it rests on."
            ),
        ),
        CdsService(
            id="leukemia-immunotherapy-order-select",
            hook="order-select",
            title="Acute leukemia immunotherapy: order selection",
            description=(
                "When an immunotherapy for acute leukemia is **selected**: eligibility against "
                "the record (CD19/CD22/CD33 status, lineage, age), cautions, and the monitoring "
                "orders the drug needs (CRS, neurotoxicity, VOD)."
            ),
        ),
        CdsService(
            id="leukemia-immunotherapy-order-sign",
            hook="order-sign",
            title="Acute leukemia immunotherapy: order signing",
            description=(
                "When an immunotherapy order for acute leukemia is **signed**: the same checks "
                "as at selection on the final orders, so nothing contradicting the record is "
                "signed unseen."
            ),
        ),
    )
}
