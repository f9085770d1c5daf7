"""Pydantic models of CDS Hooks 2.0 messages, and of each hook's context per the hook library.

Inputs are validated strictly where the spec says REQUIRED and leniently elsewhere (unknown fields
are kept), because real EHRs add fields. Outputs forbid what 2.0 forbids: `null`, `""`, `[]` and
`{}` are never emitted (optional fields are omitted), except the `cards` array itself.
"""

from __future__ import annotations

from functools import cached_property
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NonEmpty = Field(min_length=1)


class _In(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class FhirAuthorization(_In):
    access_token: str = Field(min_length=1, repr=False)
    token_type: str
    expires_in: int = Field(ge=0)
    scope: str = NonEmpty
    subject: str = NonEmpty
    patient: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError("token_type must be 'Bearer'")
        return "Bearer"


class HookRequest(_In):
    """The body of `POST /cds-services/{id}`; `context` is validated per hook afterwards."""

    hook: str = Field(min_length=1, max_length=128)  # the audit record's column sizes
    hookInstance: str = Field(min_length=1, max_length=256)
    fhirServer: str | None = Field(default=None, max_length=2048)
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _server_with_token(self) -> HookRequest:
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is given")
        return self


class PatientViewContext(_In):
    userId: str = NonEmpty
    patientId: str = NonEmpty
    encounterId: str | None = None


class _DraftOrdersBundle(_In):
    """`draftOrders` is an R4 Bundle; real clients often omit `type`, so it is not required."""

    resourceType: Literal["Bundle"]
    entry: list[dict[str, Any]] = Field(default_factory=list)


class OrderSignContext(_In):
    userId: str = NonEmpty
    patientId: str = NonEmpty
    encounterId: str | None = None
    draftOrders: _DraftOrdersBundle


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)


CONTEXT_MODELS: dict[str, type[PatientViewContext] | type[OrderSignContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


# ---- responses -----------------------------------------------------------------------------


class _Out(BaseModel):
    """Output models: built by us, so unknown fields are a bug.

    `to_json` gives what ``model_dump(mode="json", exclude_none=True)`` gives (tests compare
    the two on every rendered card) at under half the cost, which on the hook's hot path was
    more than writing the cards' text: it reads the validated fields by a per-class plan
    instead of inferring each value's type. Output fields hold text, booleans, other output
    models (or lists of them) and JSON objects (a card's extension, an action's resource, a
    service's prefetch); those objects hold only JSON values and are emitted as they are,
    shared with the model, not copied: serialise the result, and to change a card, change
    the card.
    """

    model_config = ConfigDict(extra="forbid")

    def to_json(self) -> dict[str, Any]:
        cls = type(self)
        plan = _PLANS.get(cls) or _plan(cls)
        fields = self.__dict__  # a pydantic model keeps its field values here
        out: dict[str, Any] = {}
        for name, kind in plan:
            value = fields[name]
            if value is None:
                continue
            if kind == _MODEL:
                value = value.to_json()
            elif kind == _MODELS:
                value = [item.to_json() for item in value]
            out[name] = value
        return out


class _Constant(_Out):
    """An output part made only of text and other constant parts: a card's source and its
    topic, an override reason, a link. Frozen, so its JSON is made once per instance: the
    renderer shows the same instances on every card of a kind, call after call. That JSON is
    shared by every card that shows the part: serialise it, do not edit it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self._json

    @cached_property
    def _json(self) -> dict[str, Any]:
        # kept in the instance's __dict__, which pydantic's dumps, == and hash leave out
        return super().to_json()


_AS_IS, _MODEL, _MODELS = range(3)  # how a field is emitted: as it is, to_json(), each to_json()
_PLANS: dict[type[_Out], tuple[tuple[str, int], ...]] = {}


def _plan(cls: type[_Out]) -> tuple[tuple[str, int], ...]:
    """How `to_json` emits each field of `cls`, in declared order (as pydantic dumps them)."""

    def is_out(t: Any) -> bool:
        return isinstance(t, type) and issubclass(t, _Out)

    def holds_out(t: Any) -> bool:
        return is_out(t) or any(holds_out(a) for a in get_args(t))

    plan = []
    for name, info in cls.model_fields.items():
        annotation = info.annotation
        if get_origin(annotation) in (Union, UnionType):  # X | None: the None is omitted
            options = [a for a in get_args(annotation) if a is not type(None)]
            annotation = options[0] if len(options) == 1 else annotation
        if is_out(annotation):
            kind = _MODEL
        elif get_origin(annotation) is list and is_out(get_args(annotation)[0]):
            kind = _MODELS
        elif holds_out(annotation):
            raise TypeError(f"{cls.__name__}.{name}: to_json cannot emit {annotation}")
        else:
            kind = _AS_IS
        plan.append((name, kind))
    _PLANS[cls] = tuple(plan)
    return _PLANS[cls]


class Coding(_Constant):
    system: str | None = Field(default=None, min_length=1)
    code: str = NonEmpty
    display: str | None = Field(default=None, min_length=1)


class Source(_Constant):
    label: str = NonEmpty
    url: str | None = Field(default=None, min_length=1)
    icon: str | None = Field(default=None, min_length=1)
    topic: Coding | None = None


class Action(_Out):
    type: Literal["create", "update", "delete"]
    description: str = NonEmpty
    resource: dict[str, Any] | None = None
    resourceId: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _payload(self) -> Action:
        if self.type in {"create", "update"} and not self.resource:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("a delete action needs a resourceId")
        return self


class Suggestion(_Out):
    label: str = NonEmpty
    uuid: str | None = Field(default=None, min_length=1)
    isRecommended: bool | None = None
    actions: list[Action] | None = Field(default=None, min_length=1)


class Link(_Constant):
    label: str = NonEmpty
    url: str = NonEmpty
    type: Literal["absolute", "smart"]
    appContext: str | None = Field(default=None, min_length=1)
    autolaunchable: bool | None = None


RECOMMENDATION_EXTENSION = "org.leukemia-cds.recommendation"
"""Card extension carrying our provenance: catalogue id(s), facts used, evidence."""


class Card(_Out):
    # Extensions ride on the card as the spec allows; our provenance extension has a dotted name.
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    uuid: str | None = Field(default=None, min_length=1)
    summary: str = Field(min_length=1, max_length=139)
    detail: str | None = Field(default=None, min_length=1)
    indicator: Literal["info", "warning", "critical"]
    source: Source
    suggestions: list[Suggestion] | None = Field(default=None, min_length=1)
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[Coding] | None = Field(default=None, min_length=1)
    links: list[Link] | None = Field(default=None, min_length=1)
    extension: dict[str, Any] | None = Field(default=None, min_length=1)

    def recommendation(self) -> dict[str, Any]:
        """This card's provenance extension (empty when the card carries none)."""
        value = (self.extension or {}).get(RECOMMENDATION_EXTENSION)
        return value if isinstance(value, dict) else {}

    @model_validator(mode="after")
    def _selection(self) -> Card:
        if self.suggestions and not self.selectionBehavior:
            raise ValueError("selectionBehavior is required when there are suggestions")
        for reason in self.overrideReasons or ():  # a loop: this runs for every card issued
            if not reason.display:
                raise ValueError("every override reason needs a display")
        return self


class CdsResponse(_Out):
    cards: list[Card] = Field(default_factory=list)
    systemActions: list[Action] | None = Field(default=None, min_length=1)


class ServiceDescription(_Out):
    hook: str = NonEmpty
    title: str | None = Field(default=None, min_length=1)
    description: str = NonEmpty
    id: str = NonEmpty
    prefetch: dict[str, str] | None = Field(default=None, min_length=1)
    usageRequirements: str | None = Field(default=None, min_length=1)
    # CDS Hooks 2.0 lets a service carry extensions: ours names the knowledge version it answers
    # with (KNOWLEDGE_EXTENSION), so a hospital can tell which knowledge is installed.
    extension: dict[str, Any] | None = Field(default=None, min_length=1)


KNOWLEDGE_EXTENSION = "org.leukemia-cds.knowledge"
"""Service extension in discovery: {"knowledge_version": "MAJOR.MINOR.PATCH"}."""


class Discovery(_Out):
    services: list[ServiceDescription]


# ---- feedback ------------------------------------------------------------------------------


# Feedback is stored: every field has a size cap (issue 21: none had one). Ids match the audit
# columns (256); a coding's parts and a clinician's comment are bounded generously.
class AcceptedSuggestion(_In):
    id: str = Field(min_length=1, max_length=256)


class ReasonCoding(_In):
    system: str | None = Field(default=None, max_length=1024)
    code: str | None = Field(default=None, max_length=256)
    display: str | None = Field(default=None, max_length=1024)


class OverrideReason(_In):
    reason: ReasonCoding | None = None
    userComment: str | None = Field(default=None, max_length=4000)


class Feedback(_In):
    card: str = Field(min_length=1, max_length=256)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = Field(default=None, max_length=64)
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str = Field(min_length=1, max_length=64)

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> Feedback:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("acceptedSuggestions is required for an accepted outcome")
        return self


class FeedbackRequest(_In):
    feedback: list[Feedback] = Field(min_length=1)
