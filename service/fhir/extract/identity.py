"""Whose is this resource? Only the patient in context's data may reach a decision.

Mixing two patients' data is the worst input error there is, so a resource counts as this
patient's only when its subject provably is: a reference to Patient/<id> (relative, absolute
or versioned), or a `urn:uuid:` fullUrl of this patient's Patient entry in the same request.
Another patient is `wrong-patient`; a subject that names no one we can check (an identifier
only, a display, a Group, a contained or malformed reference, none at all) is
`unresolved-subject`. The caller sets such a resource aside and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.facts import FindingCode
from service.fhir.extract.raw import reference_id


def subject_problem(res: Mapping[str, Any], patient_id: str, patient_urls: Mapping[str, str]
                    ) -> tuple[FindingCode, str] | None:
    """None when ``res`` is about ``patient_id``; else (finding code, why, without the other
    patient's id: this patient's chart is no place for it). ``patient_urls``: fullUrl ->
    Patient.id of the Patient entries in the request."""
    target = res.get("subject")
    if target is None:
        target = res.get("patient")
    if target is None:
        return "unresolved-subject", "names no subject"
    if not isinstance(target, dict):
        return "unresolved-subject", "has a malformed subject"
    reference = target.get("reference")
    if isinstance(reference, str):
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            if patient_urls.get(reference) == patient_id:
                return None
            return ("unresolved-subject",
                    "names its subject by a urn that is not this patient's Patient entry")
        pid = reference_id(reference, "Patient")
        if pid == patient_id:
            return None
        if pid is not None:
            return "wrong-patient", "belongs to another patient"
        if reference_id(reference, "Group") is not None:
            return "unresolved-subject", "is about a Group, not one patient"
        return "unresolved-subject", "has a subject reference that is not Patient/<id>"
    if reference is not None:
        return "unresolved-subject", "has a malformed subject reference"
    if target.get("identifier") is not None:
        return "unresolved-subject", "names its subject by identifier only"
    return "unresolved-subject", "names its subject without a reference"
