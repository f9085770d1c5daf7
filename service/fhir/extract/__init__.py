"""FHIR R4 resources (plain JSON) → PatientFacts, every fact with its provenance.

Cheap first: each resource is classified on its raw JSON (resource type, then code lookups in
dictionaries built from fhir_profiles/). Only resources the contract recognises are validated
with ``fhir.resources.R4B`` and read; everything else costs a dictionary lookup.

Rules of evidence (input-contract.md):
- only ``final`` / ``amended`` / ``corrected`` observations count; other statuses are reported;
- the latest effective time wins (dated beats undated); two different values at that time are a
  conflict, reported, and the fact is left unset rather than guessed;
- ``entered-in-error`` resources are ignored, counted and reported;
- a recognised resource that cannot be read yields a finding naming the resource and the reason.

Nothing here raises on bad data: the EHR's data are never a reason for a 500.

One unit per seam, so that each rule of extraction has one home (issue 17). A module imports
only modules below it, never this package: raw JSON, dates and the validation memo at the
bottom; the collector, which admits what readers gather; evidence, which picks what stands; one
reader per resource type (observations with markers, mrd and answers; conditions; procedures;
medications; patient); then ``assemble`` (``extract_facts``) and ``draft_orders``. This file
only re-exports the public names.
"""

from __future__ import annotations

from service.fhir.extract.assemble import extract_facts
from service.fhir.extract.dates import parse_fhir_datetime
from service.fhir.extract.draft_orders import extract_draft_orders
from service.fhir.extract.markers import parse_immunophenotype
from service.fhir.extract.medications import resolve_medication
from service.fhir.extract.observations import USABLE_OBSERVATION_STATUS
from service.fhir.extract.raw import iter_resources
from service.fhir.extract.validation import validation_error

__all__ = [
    "USABLE_OBSERVATION_STATUS",
    "extract_draft_orders",
    "extract_facts",
    "iter_resources",
    "parse_fhir_datetime",
    "parse_immunophenotype",
    "resolve_medication",
    "validation_error",
]
