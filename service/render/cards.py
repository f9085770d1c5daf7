"""Recommendations + catalogue -> CDS Hooks cards.

Readable at a glance: recommendations of one catalogue group (and, on order hooks, one drafted
drug) become one card; cards are ordered critical > warning > info, then by the group's priority;
at most `max_cards` are returned and anything beyond is folded into the last card, never dropped.
Each card shows the facts it used, what the record lacks, its sources and how current they are,
and carries the machine-readable `org.leukemia-cds.recommendation` extension.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from pydantic import ValidationError

from service.decision import Recommendation
from service.decision.context import DRUG_TEXT
from service.hooks.models import Action, Card, Coding, Link, Source, Suggestion
from service.render.catalogue import (
    SUMMARY_MAX,
    TOPIC_SYSTEM,
    TOPICS,
    Catalogue,
    Entry,
    SuggestionSpec,
    _capitalize,
    _fit,
    _md_escape,
    compose,
    group_summary,
)

EXTENSION = "org.leukemia-cds.recommendation"
TRIAL_URL = "https://clinicaltrials.gov/study/{nct}"
_RANK = {"info": 0, "warning": 1, "critical": 2}


def build_suggestion(spec: SuggestionSpec, variables: Mapping[str, Any], *, patient_id: str
                     ) -> Suggestion:
    """One suggestion; a created resource is built as FHIR JSON and validated with R4B."""
    label = " ".join(spec.label.render(variables).split())
    if spec.action == "delete":
        ref = spec.resource_id.render(variables) if spec.resource_id else ""
        action = Action(type="delete", description=label, resourceId=ref)
        return Suggestion(label=label, uuid=str(uuid.uuid4()), actions=[action])
    note = spec.note.render(variables) if spec.note else None
    resource: dict[str, Any] = {
        "resourceType": spec.resource,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient_id}"},
    }
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
    _validate(model, json.dumps({k: v for k, v in resource.items() if k != "subject"},
                                sort_keys=True))
    action = Action(type="create", description=label, resource=resource)
    return Suggestion(label=label, uuid=str(uuid.uuid4()), actions=[action])


@lru_cache(maxsize=4096)
def _validate(model: type, resource_json: str) -> None:
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


@dataclass
class _Draft:
    """One future card: the recommendations it merges (most important first once ranked)."""

    key: tuple[str, str | None]
    members: list[tuple[Recommendation, Entry]] = field(default_factory=list)
    order: int = 0

    @property
    def indicator(self) -> str:
        return max((e.indicator for _, e in self.members), key=_RANK.__getitem__)

    @property
    def lead(self) -> tuple[Recommendation, Entry]:
        return self.members[0]

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(e.group for _, e in self.members))


class Renderer:
    """Renders recommendations for one patient with one compiled catalogue."""

    def __init__(self, catalogue: Catalogue, *, max_cards: int = 8) -> None:
        self.cat = catalogue
        self.max_cards = max_cards

    def render(self, recs: Sequence[Recommendation], *, patient_id: str) -> list[Card]:
        drafts: dict[tuple[str, str | None], _Draft] = {}
        for i, rec in enumerate(recs):
            entry = self.cat.entries[rec.id]
            key = (entry.group, rec.focus)
            draft = drafts.setdefault(key, _Draft(key, order=i))
            draft.members.append((rec, entry))
        ordered = sorted(
            drafts.values(),
            key=lambda d: (-_RANK[d.indicator], self.cat.groups[d.key[0]].priority, d.order),
        )
        if len(ordered) > self.max_cards:
            keep, rest = ordered[: self.max_cards - 1], ordered[self.max_cards - 1:]
            folded = _Draft(rest[0].key, order=rest[0].order)
            for d in rest:
                folded.members.extend(d.members)
            ordered = [*keep, folded]
        for d in ordered:
            d.members.sort(key=self._importance)
        return [self._card(d, patient_id) for d in ordered]

    def _importance(self, member: tuple[Recommendation, Entry]) -> tuple[int, int, int]:
        """Most urgent indicator first, then group priority, then the group's own ranking."""
        entry = member[1]
        group = self.cat.groups[entry.group]
        return (-_RANK[entry.indicator], group.priority, group.order.index(entry.id))

    # --- one card ------------------------------------------------------------------------

    def _card(self, draft: _Draft, patient_id: str) -> Card:
        lead_entry = draft.lead[1]
        members = draft.members
        summary = self._summary(draft)
        trials = list(dict.fromkeys(n for r, _ in members for n in r.variables.get("trials", ())))
        suggestions = self._suggestions(members, patient_id)
        reasons = list(dict.fromkeys(c for _, e in members for c in e.override))
        return Card(
            uuid=str(uuid.uuid4()),
            summary=_fit(summary, SUMMARY_MAX),
            detail=self._detail(members, trials),
            indicator=draft.indicator,  # type: ignore[arg-type]
            source=Source(label=self._label(members),
                          topic=Coding(system=TOPIC_SYSTEM, code=lead_entry.topic,
                                       display=TOPICS[lead_entry.topic])),
            suggestions=suggestions or None,
            selectionBehavior="any" if suggestions else None,
            overrideReasons=[Coding(system=self.cat.override_system or None, code=c, display=d)
                             for c, d in reasons] or None,
            links=[Link(label=f"{nct} ({self.cat.trials[nct].name}): verify recruitment status",
                        url=TRIAL_URL.format(nct=nct), type="absolute") for nct in trials] or None,
            extension={EXTENSION: self._extension(members)},
        )

    def _summary(self, draft: _Draft) -> str:
        """One entry: its own summary. One group: the group's hand-written merge. Folded past
        the card limit: what else is on the card, by group. The lead's own summary is the
        fallback if a merge cannot fit (tests check it never has to)."""
        lead_rec, lead_entry = draft.lead
        own = lead_entry.summary.render(lead_rec.variables)
        if len(draft.members) == 1:
            return own
        groups = draft.groups
        if len(groups) > 1:
            return compose("Also to review", [self.cat.groups[g].label for g in groups],
                           most=len(groups), sep=", ") or own
        drug = DRUG_TEXT.get(draft.key[1] or "", "CAR T" if draft.key[1] == "car-t" else "")
        merged = group_summary(self.cat.groups[groups[0]],
                               [(r.id, r.variables) for r, _ in draft.members], drug=drug)
        return merged or own

    def _suggestions(self, members: list[tuple[Recommendation, Entry]], patient_id: str
                     ) -> list[Suggestion]:
        out: dict[str, Suggestion] = {}
        for rec, entry in members:
            for spec in entry.suggestions:
                if spec.when is not None and not spec.when(**rec.variables):
                    continue
                key = spec.code.code if spec.code else spec.label.render(rec.variables)
                if key not in out:  # one order per test, however many members ask for it
                    out[key] = build_suggestion(spec, rec.variables, patient_id=patient_id)
        return list(out.values())

    def _detail(self, members: list[tuple[Recommendation, Entry]], trials: list[str]) -> str:
        parts: list[str] = []
        for rec, entry in members:
            body = entry.detail.render(rec.variables).strip()
            if len(members) > 1:
                title = f"**{_capitalize(entry.title.render(rec.variables))}.**"
                body = f"{title}\n\n{body}" if body.startswith("- ") else f"{title} {body}"
            confirm = rec.variables.get("confirm") or ()
            if confirm:
                body += (f"\n\n**Confirm first** (not in the record): "
                         f"{_md_escape(', '.join(confirm))}.")
            parts.append(body)
        if trials:
            lines = [f"- **{t.name}** ({t.nct}): {t.population}; {t.status}"
                     for t in (self.cat.trials[n] for n in trials)]
            parts.append("**Trials named in the sources** — verify recruitment status at "
                         "clinicaltrials.gov:\n" + "\n".join(lines))
        parts.append(self._footer(members))
        return _tidy("\n\n".join(parts))

    def _footer(self, members: list[tuple[Recommendation, Entry]]) -> str:
        present: dict[tuple[str, str | None], str] = {}
        absent: dict[str, None] = {}
        for rec, _ in members:
            for f in rec.facts:
                if f.resource is None:
                    absent.setdefault(f.label, None)
                else:
                    present.setdefault((f.name, f.resource),
                                       f"- {f.label}: {_md_escape(f.value)} — `{f.resource}`")
        lines: list[str] = []
        if present:
            lines.append("**Facts used**\n" + "\n".join(present.values()))
        if absent:
            lines.append("**Not in the record:** " + ", ".join(absent) + ".")
        sources = []
        for key in self._seed_keys(members):
            seed = self.cat.seed_by_key[key]
            sections = list(dict.fromkeys(c.section for _, e in members for c in e.citations
                                          if c.seed == seed.file))
            sources.append(f"{seed.short} ({seed.key}; {seed.current}): " + "; ".join(sections))
        lines.append("**Sources:** " + " · ".join(sources))
        approval = [e for _, e in members if e.approval]
        if approval:
            newest = max(self.cat.seed_by_key[k].year for _, e in members if e.approval
                         for k in {self.cat.seeds[c.seed].key for c in e.citations})
            lines.append("_" + self.cat.approval_note.render(newest=f"newest {newest}") + "_")
        return "\n\n".join(lines)

    def _seed_keys(self, members: list[tuple[Recommendation, Entry]]) -> list[str]:
        """Seeds a card cites, newest first (003 > 001 > 004 > 000 > 002 by date)."""
        keys = {self.cat.seeds[c.seed].key for _, e in members for c in e.citations}
        return sorted(keys, key=lambda k: (-self.cat.seed_by_key[k].year, k))

    def _label(self, members: list[tuple[Recommendation, Entry]]) -> str:
        seeds = [self.cat.seed_by_key[k] for k in self._seed_keys(members)]
        cited = "; ".join(f"{s.short} ({s.current})" for s in seeds[:3])
        if len(seeds) > 3:
            cited += f"; +{len(seeds) - 3} more"
        return f"{self.cat.product} knowledge {self.cat.knowledge_version} · {cited}"

    def _extension(self, members: list[tuple[Recommendation, Entry]]) -> dict[str, Any]:
        lead_rec, _ = members[0]
        facts: dict[tuple[str, str], dict[str, str]] = {}
        evidence: dict[tuple[str, str], dict[str, str]] = {}
        for rec, entry in members:
            for f in rec.present:
                facts.setdefault((f.name, f.resource or ""),
                                 {"name": f.name, "value": f.value, "resource": f.resource or ""})
            for c in entry.citations:
                evidence.setdefault((c.seed, c.section), {"seed": c.seed, "section": c.section})
        ids = list(dict.fromkeys(r.id for r, _ in members))
        return {"id": lead_rec.id, "ids": ids, "facts": list(facts.values()),
                "evidence": list(evidence.values())}


def _tidy(text: str) -> str:
    """Trailing spaces off every line: templates leave them where blocks close."""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()
