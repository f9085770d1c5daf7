"""A catalogue entry's suggestion template -> a CDS Hooks suggestion (a draft FHIR order).

Both the renderer (`cards`, on every call) and the catalogue (`catalogue`, checking every entry
at start-up) build suggestions, so the building lives here, below both: the catalogue must not
import the renderer, which imports the catalogue. For the same reason this module does not
import the catalogue's `SuggestionSpec`; it states, as the protocols below, the little it reads
of one.

A suggestion's *shape* (everything but its uuid and patient) is rendered and validated with
fhir.resources once per entry and variables; a call only fills in its uuid and patient.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import BaseModel, ValidationError

from service import jsonio
from service.hooks.models import Action, Suggestion
from service.render.uuids import uuid7s


class Template(Protocol):
    """A compiled catalogue template (Jinja's, or the catalogue's plain text)."""

    def render(self, *args: Any, **kwargs: Any) -> str: ...


class Code(Protocol):
    """The coding of a suggested test."""

    @property
    def system(self) -> str: ...
    @property
    def code(self) -> str: ...
    @property
    def display(self) -> str: ...


class Spec(Protocol):
    """What a suggestion template (the catalogue's `SuggestionSpec`) offers to build from."""

    @property
    def label(self) -> Template: ...
    @property
    def action(self) -> str: ...  # "create" | "delete"
    @property
    def resource(self) -> str: ...  # "ServiceRequest" | "MedicationRequest" (create only)
    @property
    def code(self) -> Code | None: ...
    @property
    def text(self) -> Template | None: ...
    @property
    def medication(self) -> str | None: ...
    @property
    def note(self) -> Template | None: ...
    @property
    def resource_id(self) -> Template | None: ...


@dataclass(frozen=True, slots=True)
class Shape:
    """A suggestion with everything but its uuid and patient: built and validated once."""

    key: str  # one order per test on a card, however many entries ask for it
    label: str
    action: str  # "create" | "delete"
    resource: bytes | None  # create: the resource without its subject, as JSON
    resource_id: str | None  # delete: the draft order to remove

    def build(self, patient_id: str, suggestion_uuid: str) -> Suggestion:
        """This call's suggestion: the shape passed R4B validation with a placeholder subject,
        and only the uuid and the (plain) Patient reference are new. The resource is parsed
        from its JSON, so every card gets its own (a caller cannot alter the cached shape;
        parsing is quicker than copying). The CDS Hooks models still validate it."""
        action: dict[str, Any] = {"type": self.action, "description": self.label}
        if self.action == "delete":
            action["resourceId"] = self.resource_id
        else:
            resource = jsonio.loads(self.resource)  # type: ignore[arg-type]
            resource["subject"] = {"reference": f"Patient/{patient_id}"}
            action["resource"] = resource
        # one validation for the suggestion and its action
        return Suggestion.model_validate({"label": self.label, "uuid": suggestion_uuid,
                                          "actions": [action]})


def suggestion_shape(spec: Spec, variables: Mapping[str, Any]) -> Shape:
    """Render and validate one suggestion template; raises ValueError for an invalid resource."""
    label = " ".join(spec.label.render(variables).split())
    key = spec.code.code if spec.code else label
    if spec.action == "delete":
        ref = spec.resource_id.render(variables) if spec.resource_id else ""
        Action(type="delete", description=label, resourceId=ref)  # the model's own checks
        return Shape(key, label, "delete", None, ref)
    note = spec.note.render(variables) if spec.note else None
    resource: dict[str, Any] = {"resourceType": spec.resource, "status": "draft",
                                "intent": "order"}
    if spec.resource == "ServiceRequest":
        concept: dict[str, Any] = {"text": spec.text.render(variables) if spec.text
                                   else spec.code.display if spec.code else label}
        if spec.code:
            concept["coding"] = [{"system": spec.code.system, "code": spec.code.code,
                                  "display": spec.code.display}]
        resource["code"] = concept
        model: type = ServiceRequest
    else:
        resource["medicationCodeableConcept"] = {"text": spec.medication}
        model = MedicationRequest
    if note:
        resource["note"] = [{"text": note}]
    _validate(model, json.dumps(resource, sort_keys=True))
    Action(type="create", description=label, resource=resource)
    return Shape(key, label, "create", jsonio.dumps(resource), None)


def referral_shape(key: str, label: str, *, team: str, reason: str, note: str) -> Shape:
    """A draft referral to the site's research team for one trial (issue 23): a ServiceRequest
    addressed to the team the site file names, carrying the pre-screen as its note. Validated
    with R4B like every suggested order."""
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "code": {"text": "Referral to the research team for clinical-trial screening"},
        "performer": [{"reference": team}],
        "reasonCode": [{"text": reason}],
        "note": [{"text": note}],
    }
    _validate(ServiceRequest, json.dumps(resource, sort_keys=True))
    Action(type="create", description=label, resource=resource)
    return Shape(key, label, "create", jsonio.dumps(resource), None)


def build_suggestion(spec: Spec, variables: Mapping[str, Any], *, patient_id: str
                     ) -> Suggestion:
    """One suggestion; a created resource is built as FHIR JSON and validated with R4B."""
    return suggestion_shape(spec, variables).build(patient_id, uuid7s(1)[0])


@lru_cache(maxsize=4096)
def _validate(model: type[BaseModel], resource_json: str) -> None:
    """Validate a suggested resource with fhir.resources (R4B), once per distinct content.

    The subject differs per patient but is always a plain Patient reference, so the content is
    validated with a placeholder subject and the verdict reused: validation is most of a card's
    cost. Failures raise (and are not cached)."""
    resource = json.loads(resource_json)
    resource["subject"] = {"reference": "Patient/placeholder"}
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        raise ValueError(f"{resource['resourceType']}: {exc.errors()[0]['msg']}") from None
