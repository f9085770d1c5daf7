"""Recommendations + catalogue -> CDS Hooks cards.

Readable at a glance: recommendations of one catalogue group (and, on order hooks, one drafted
drug) become one card; cards are ordered critical > warning > info, then by the group's priority;
at most `max_cards` are returned and anything beyond is folded into the last card, never dropped.
Each card shows the facts it used, what the record lacks, its sources and how current they are,
and carries the machine-readable `org.leukemia-cds.recommendation` extension.

Rendering is on the hook's hot path, so what does not depend on the patient is computed once:
a card's *layout* for one set of recommendations (their ids and template variables, and the
drafted drug): its summary, the text of each entry, the trials, the sources, label and override
reasons, and each suggested resource's *shape* (validated with fhir.resources once per entry and
variables). A call only fills in what is its own: uuids, the patient reference and the facts
with their resource ids; and it still builds and validates its own `Card` models.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from service.canonical import plan_definition_url
from service.decision import FactUsed, Recommendation
from service.decision.vocabulary import DRUG_TEXT
from service.hooks.models import (
    RECOMMENDATION_EXTENSION,
    Card,
    Coding,
    Link,
    Source,
)
from service.render.catalogue import (
    SUMMARY_MAX,
    TOPIC_SYSTEM,
    TOPICS,
    Catalogue,
    Entry,
    _capitalize,
    _fit,
    _md_escape,
    compose,
    group_summary,
)
from service.render.suggestions import Shape, referral_shape, suggestion_shape
from service.render.uuids import uuid7s

EXTENSION = RECOMMENDATION_EXTENSION
TRIAL_URL = "https://clinicaltrials.gov/study/{nct}"
_RANK = {"info": 0, "warning": 1, "critical": 2}
_INDICATORS = {rank: indicator for indicator, rank in _RANK.items()}
_MEMO_SIZE = 4096
MERGED_LINES = 400  # characters of entry lines a merged card shows before naming the rest

T = TypeVar("T")


# --- memoisation ----------------------------------------------------------------------------------


_SCALARS = frozenset({bool, int, float})


def _freeze(value: Any) -> Hashable:
    """Template variables as a cache key. Scalars keep their type: True, 1 and 1.0 render
    differently ("True", "1", "1.0") and must not share a cached text. Exact type checks:
    this runs for every recommendation of every call."""
    kind = type(value)
    if kind is str or value is None:
        return value
    if kind in _SCALARS:
        return (kind, value)
    if kind is tuple or kind is list:
        return (kind, tuple(_freeze(v) for v in value))
    if isinstance(value, Mapping):
        return (dict, tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    if isinstance(value, set | frozenset):
        return (frozenset, tuple(sorted((_freeze(v) for v in value), key=repr)))
    return (kind, value if isinstance(value, Hashable) else repr(value))


def _variables_key(variables: Mapping[str, Any]) -> Hashable:
    """A recommendation's variables as a cache key, in the order the rule passed them.

    Unlike `_freeze` the pairs are not sorted: one rule passes its variables in one order, so
    sorting them would only buy hits between call sites that never share an id. The key still
    holds every name and every value with its type, so different variables never share it.
    Scalars and text, nearly all variables, are keyed inline: this runs for every
    recommendation of every call."""
    key: list[Hashable] = []
    for name, value in variables.items():
        kind = type(value)
        if kind is str or value is None:
            key.append((name, value))
        elif kind in _SCALARS:
            key.append((name, kind, value))
        else:
            key.append((name, _freeze(value)))
    return tuple(key)


class _Memo(dict[Hashable, Any]):
    """A bounded cache; variables with numbers (ages, blast %) are unbounded over patients."""

    def __init__(self, size: int = _MEMO_SIZE) -> None:
        super().__init__()
        self.size = size

    def get_or(self, key: Hashable, make: Callable[[], T]) -> T:
        try:
            return self[key]  # type: ignore[no-any-return]
        except KeyError:
            if len(self) >= self.size:
                self.clear()
            value = self[key] = make()
            return value


@dataclass(frozen=True, slots=True)
class _Piece:
    """One entry rendered with one set of variables."""

    summary: str
    body: str  # the detail as a card of this entry alone shows it
    titled: str  # the detail as a merged card shows it, under the entry's title
    shapes: tuple[Shape, ...]  # the suggestions whose `when` holds


@dataclass(frozen=True, slots=True)
class _Static:
    """What a card of one set of entries shows whatever the patient."""

    source: Source
    reasons: tuple[Coding, ...]
    sources_text: str  # "**Sources:** ..." with the rule page's link, and the approval note
    ids: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]
    rule_link: Link | None  # the lead rule's page (criteria, trials, quoted passages)
    regulatory: tuple[dict[str, str], ...] = ()  # label changes after the seeds it cites


@dataclass(frozen=True, slots=True)
class _Layout:
    """A whole card but for what is the call's own (uuids, the patient, the facts): one per
    set of recommendations (ids, variables, drafted drug), built once and reused. Its source,
    override reasons and links are output models, validated once; each call's `Card` and
    suggestions are validated when the call builds them."""

    summary: str
    indicator: str
    head: str  # the detail above the facts: each entry's text, then the trials
    tail: str  # the detail below the facts: "**Sources:** ..." and the approval note
    source: Source
    reasons: tuple[Coding, ...]
    links: tuple[Link, ...]
    shapes: tuple[Shape, ...]  # one order per test, however many entries ask for it
    lead: str  # the extension's id: the most important recommendation
    ids: tuple[str, ...]
    evidence: tuple[tuple[str, str], ...]
    regulatory: tuple[dict[str, str], ...] = ()


# --- cards ----------------------------------------------------------------------------------------


@dataclass
class _Draft:
    """One future card: the recommendations it merges (most important first once ranked)."""

    key: tuple[str, str | None]
    members: list[tuple[Recommendation, Entry]] = field(default_factory=list)
    order: int = 0
    rank: int = 0  # of the most urgent indicator among the members

    @property
    def indicator(self) -> str:
        return _INDICATORS[self.rank]

    @property
    def groups(self) -> list[str]:
        return list(dict.fromkeys(e.group for _, e in self.members))


class Renderer:
    """Renders recommendations for one patient with one compiled catalogue."""

    def __init__(self, catalogue: Catalogue, *, max_cards: int = 8,
                 rule_pages: str | None = None) -> None:
        """``rule_pages``: the absolute base URL of the service's `/rules/` pages (from the
        public URL); without one, cards carry no link to them."""
        self.cat = catalogue
        self.max_cards = max_cards
        self.rule_pages = rule_pages
        # ranking inside a card: most urgent indicator, group priority, the group's own order
        self._rank = {
            e.id: (-_RANK[e.indicator], catalogue.groups[e.group].priority,
                   catalogue.groups[e.group].order.index(e.id))
            for e in catalogue.entries.values()
        }
        self._layouts = _Memo()
        self._pieces = _Memo()
        self._statics = _Memo()
        self._trials = _Memo()

    def render(self, recs: Sequence[Recommendation], *, patient_id: str) -> list[Card]:
        drafts: dict[tuple[str, str | None], _Draft] = {}
        entries = self.cat.entries
        for i, rec in enumerate(recs):
            entry = entries[rec.id]
            key = (entry.group, rec.focus)
            draft = drafts.get(key)
            if draft is None:
                draft = drafts[key] = _Draft(key, order=i)
            draft.members.append((rec, entry))
            draft.rank = max(draft.rank, _RANK[entry.indicator])
        groups = self.cat.groups
        ordered = sorted(
            drafts.values(),
            key=lambda d: (-d.rank, groups[d.key[0]].priority_for(r.id for r, _ in d.members),
                           d.order),
        )
        if len(ordered) > self.max_cards:
            keep, rest = ordered[: self.max_cards - 1], ordered[self.max_cards - 1:]
            folded = _Draft(rest[0].key, order=rest[0].order,
                            rank=max(d.rank for d in rest))
            for d in rest:
                folded.members.extend(d.members)
            ordered = [*keep, folded]
        layouts = [self._layout(d) for d in ordered]
        uuids = iter(uuid7s(len(layouts) + sum(len(lay.shapes) for lay in layouts)))
        return [self._card(d.members, lay, patient_id, uuids)
                for d, lay in zip(ordered, layouts, strict=True)]

    # --- one card ------------------------------------------------------------------------

    def _layout(self, draft: _Draft) -> _Layout:
        """Ranks the draft's members, most important first, and finds (or builds) its layout.

        Everything a layout holds follows from the members' ids and variables and, for a
        merged summary, the drafted drug: that is its key."""
        rank = self._rank
        draft.members.sort(key=lambda m: rank[m[0].id])
        key = (draft.key[1], tuple((r.id, _variables_key(r.variables)) for r, _ in draft.members))
        return self._layouts.get_or(key, lambda: self._make_layout(draft, key[1]))  # type: ignore[no-any-return]

    def _make_layout(self, draft: _Draft, members_key: tuple[tuple[str, Hashable], ...]
                     ) -> _Layout:
        members = draft.members
        pieces = [self._piece(r, e, vkey) for (r, e), (_, vkey) in zip(members, members_key,
                                                                        strict=True)]
        shapes: dict[str, Shape] = {}
        for piece in pieces:
            for shape in piece.shapes:  # one order per test, however many entries ask
                shapes.setdefault(shape.key, shape)
        static = self._static(tuple(e.id for _, e in members))
        trials = tuple(dict.fromkeys(n for r, _ in members for n in r.variables.get("trials", ())))
        trial_text, links = self._trial_parts(trials) if trials else ("", ())
        head = [self._merged_head(pieces, members) if len(members) > 1 else pieces[0].body]
        if trial_text:
            head.append(trial_text)
        registry = next((r.variables["registry"] for r, _ in members
                         if r.variables.get("registry")), ())
        if registry:
            registry_text, registry_links, referrals = registry_parts(registry)
            head.append(registry_text)
            links = (*links, *registry_links)
            for shape in referrals:
                shapes.setdefault(shape.key, shape)
        return _Layout(
            summary=_fit(self._summary(draft, pieces), SUMMARY_MAX),
            indicator=draft.indicator,
            head="\n\n".join(head),
            tail=static.sources_text,
            source=static.source,
            reasons=static.reasons,
            links=(*links, static.rule_link) if static.rule_link else links,
            shapes=tuple(shapes.values()),
            lead=members[0][0].id,
            ids=static.ids,
            evidence=static.evidence, regulatory=static.regulatory,
        )

    def _merged_head(self, pieces: list[_Piece], members: list[tuple[Recommendation, Entry]]
                     ) -> str:
        """One line per entry, most important first, while they fit `MERGED_LINES`; the
        remaining info entries are named on one last line (with what to confirm first, if
        anything): their text is on their rule pages, which the lead's page links. A warning
        or critical entry is always shown in full."""
        lines: list[str] = []
        folded: list[str] = []
        used = 0
        for i, (piece, (rec, entry)) in enumerate(zip(pieces, members, strict=True)):
            if (folded or (i >= 2 and used + len(piece.titled) > MERGED_LINES)) \
                    and entry.indicator == "info":
                name = _capitalize(entry.title.render(rec.variables))
                confirm = rec.variables.get("confirm") or ()
                if confirm:
                    name += f" (confirm first: {_md_escape(', '.join(confirm))})"
                folded.append(name)
                continue
            lines.append(piece.titled)
            used += len(piece.titled) + 1
        if folded:
            lines.append("- **Also:** " + "; ".join(folded) + ".")
        return "\n".join(lines)

    def _card(self, members: list[tuple[Recommendation, Entry]], layout: _Layout,
              patient_id: str, uuids: Iterator[str]) -> Card:
        """The call's own parts (facts, uuids, the patient) around the layout; every list and
        dict is new, so what a caller does to a card cannot reach the cached layout."""
        facts_text, facts = self._facts(members)
        detail = (f"{layout.head}\n\n{facts_text}\n\n{layout.tail}" if facts_text
                  else f"{layout.head}\n\n{layout.tail}")
        suggestions = [s.build(patient_id, next(uuids)) for s in layout.shapes]
        return Card(
            uuid=next(uuids),
            summary=layout.summary,
            detail=detail,
            indicator=layout.indicator,  # type: ignore[arg-type]
            source=layout.source,
            suggestions=suggestions or None,
            selectionBehavior="any" if suggestions else None,
            overrideReasons=list(layout.reasons) or None,
            links=list(layout.links) or None,
            extension={EXTENSION: {
                "id": layout.lead, "ids": list(layout.ids),
                # which knowledge the clinician saw (the audit record keeps it too)
                "knowledge_version": self.cat.knowledge_version,
                # CDS Hooks 2.0 forbids empty arrays anywhere: no facts, no key.
                **({"facts": facts} if facts else {}),
                "evidence": [{"seed": s, "section": c} for s, c in layout.evidence],
                # a label change after the seeds (title, URL, date), where the card rests on one
                **({"regulatory": [dict(r) for r in layout.regulatory]}
                   if layout.regulatory else {}),
            }},
        )

    def _piece(self, rec: Recommendation, entry: Entry, key: Hashable) -> _Piece:
        return self._pieces.get_or((entry.id, key), lambda: self._render_piece(rec, entry))

    @staticmethod
    def _render_piece(rec: Recommendation, entry: Entry) -> _Piece:
        variables = rec.variables
        body = entry.detail.render(variables).strip()
        # a merged card lists each entry as one line under its title (details are one
        # paragraph, checked at start-up)
        titled = f"- **{_capitalize(entry.title.render(variables))}.** {body}"
        confirm = variables.get("confirm") or ()
        if confirm:
            missing = _md_escape(", ".join(confirm))
            body += f"\n\n**Confirm first** (not in the record): {missing}."
            titled += f" _Confirm first (not in the record): {missing}._"
        shapes = tuple(suggestion_shape(spec, variables) for spec in entry.suggestions
                       if spec.when is None or spec.when(**variables))
        return _Piece(entry.summary.render(variables), _tidy(body), _tidy(titled), shapes)

    def _summary(self, draft: _Draft, pieces: list[_Piece]) -> str:
        """One entry: its own summary. One group: the group's hand-written merge. Folded past
        the card limit: what else is on the card, by group. The lead's own summary is the
        fallback if a merge cannot fit (tests check it never has to)."""
        own = pieces[0].summary
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

    def _trial_parts(self, trials: tuple[str, ...]) -> tuple[str, tuple[Link, ...]]:
        """The seeds' named trials; with no registry loaded, the only trials a card names."""
        def make() -> tuple[str, tuple[Link, ...]]:
            infos = [self.cat.trials[n] for n in trials]
            # names and numbers only: who each trial is for, and its status as the sources
            # report it, are on the rule's page and behind each link; trials the sources
            # describe alike (003's six "CAR T for MRD+ B-ALL") share one name
            alike: dict[str, list[str]] = {}
            for t in infos:
                alike.setdefault(t.name, []).append(t.nct)
            named = "; ".join(f"{name} ({', '.join(ncts)})" for name, ncts in alike.items())
            text = (f"**Trials named in the sources** (2019-2025; no trial registry is loaded "
                    f"here, so verify recruitment status): {named}.")
            links = tuple(Link(label=f"{t.nct} ({t.name}): verify recruitment status",
                               url=TRIAL_URL.format(nct=t.nct), type="absolute")
                          for t in infos)
            return _tidy(text), links
        return self._trials.get_or(trials, make)  # type: ignore[no-any-return]

    @staticmethod
    def _facts(members: list[tuple[Recommendation, Entry]]) -> tuple[str, list[dict[str, Any]]]:
        """The facts the card's recommendations read, once each: as the detail lists them
        (those in the record, then those it lacks) and as the extension carries them (only
        those in the record)."""
        present: dict[tuple[str, str], FactUsed] = {}
        absent: dict[str, None] = {}
        for rec, _ in members:
            for f in rec.facts:
                if f.resource is None:
                    absent[f.label] = None
                else:
                    key = (f.name, f.resource)
                    if key not in present:
                        present[key] = f
        used = present.values()
        # values and dates; the resource ids are in the recommendation extension
        lines = [f"- {f.label}: {_md_escape(f.value)}" for f in used]
        listed = "\n".join(lines)
        parts: list[str] = []
        if lines:
            parts.append("**Facts used**\n" + listed)
        if absent:
            parts.append("**Not in the record:** " + ", ".join(absent) + ".")
        text = "\n\n".join(parts)
        # each fact line starts with "- " and holds one value, so only a value (or
        # label) with a line break of its own makes more lines than facts; only it needs tidying
        if len(listed.splitlines()) > len(lines):
            text = _tidy(text)
        return text, [{"name": f.name, "value": f.value, "resource": f.resource} for f in used]

    def _static(self, ids: tuple[str, ...]) -> _Static:
        return self._statics.get_or(ids, lambda: self._make_static(ids))  # type: ignore[no-any-return]

    def _make_static(self, ids: tuple[str, ...]) -> _Static:
        cat = self.cat
        entries = [cat.entries[i] for i in ids]
        keys = sorted({cat.seeds[c.seed].key for e in entries for c in e.citations
                       if c.kind == "seed"},
                      key=lambda k: (-cat.seed_by_key[k].year, k))  # newest first
        # regulatory sources (label changes after the seeds) lead: they win for label status
        regs = sorted({c.key: c for e in entries for c in e.citations
                       if c.kind == "regulatory"}.values(), key=lambda c: (c.date, c.key),
                      reverse=True)
        # one line: which sources (the keys the text cites, with their year); their names are
        # in the card's source label, the sections and quotes on the rule's page
        sources = [f"[{c.label}]({c.url})" if c.url else c.label for c in regs]
        sources += [f"{k} ({cat.seed_by_key[k].year})" for k in keys]
        link = None
        line = "**Sources:** " + ", ".join(sources)
        if self.rule_pages:
            url = f"{self.rule_pages}{ids[0]}"
            link = Link(label="Evidence and rule", url=url, type="absolute")
            line += f" · [Evidence and rule]({url})"
        lines = [line]
        if any(e.approval for e in entries):
            approving = [e for e in entries if e.approval]
            newest = max(cat.seed_by_key[cat.seeds[c.seed].key].year for e in approving
                         for c in e.citations if c.kind == "seed")
            dated = [c for e in approving for c in e.citations if c.kind == "regulatory"]
            as_of = f"newest {newest}" + (
                f"; {max(dated, key=lambda c: (c.date, c.key)).label}" if dated else "")
            lines.append("_" + cat.approval_note.render(newest=as_of) + "_")
        seeds = [cat.seed_by_key[k] for k in keys]
        named = [f"{c.agency} ({c.date})" for c in regs] + [f"{s.short} ({s.current})"
                                                            for s in seeds]
        cited = "; ".join(named[:3])
        if len(named) > 3:
            cited += f"; +{len(named) - 3} more"
        lead = entries[0]
        # source.url names the lead rule's FHIR PlanDefinition (`leukemia-cds knowledge
        # export`): a canonical identifier, not an address that must resolve; the page a
        # clinician opens is the "Evidence and rule" link above, when the site publishes it.
        source = Source(label=f"{cat.product} knowledge {cat.knowledge_version} · {cited}",
                        url=plan_definition_url(lead.id),
                        topic=Coding(system=TOPIC_SYSTEM, code=lead.topic,
                                     display=TOPICS[lead.topic]))
        reasons = tuple(Coding(system=cat.override_system or None, code=c, display=d)
                        for c, d in dict.fromkeys(r for e in entries for r in e.override))
        evidence = tuple(dict.fromkeys((c.seed, c.section) for e in entries
                                       for c in e.citations if c.kind == "seed"))
        # id, agency, date, URL: the communication's title is on the rule's page and in the
        # PlanDefinition (source.url), where the superseded passage is quoted beside it
        regulatory = tuple({"id": c.key, "agency": c.agency,
                            "date": c.date.isoformat() if c.date else "",
                            **({"url": c.url} if c.url else {})} for c in regs)
        return _Static(source, reasons, _tidy("\n\n".join(lines)), tuple(dict.fromkeys(ids)),
                       evidence, link, regulatory)


def _tidy(text: str) -> str:
    """Trailing spaces off every line: templates leave them where blocks close."""
    return "\n".join(line.rstrip() for line in text.splitlines()).strip()


def registry_parts(matches: Sequence[Any]
                   ) -> tuple[str, tuple[Link, ...], tuple[Shape, ...]]:
    """The registry's open trials (`decision.prescreen.TrialMatch`) as a list on the card: each
    trial's status and phase, whom to call when it is open here, and its criteria grouped by
    verdict, so "unknown" reads as something to check, never as met. A trial open here whose
    site file names a research team gets a suggested referral to it."""
    lines = []
    links = []
    referrals = []
    for match in matches:
        m = _Fields(match)
        name = m.nct or f"Site study {m.local_id}"
        where = []
        if m.open_here:
            where.append("**open here**" + (f": {_md_escape(m.contact)}" if m.contact else ""))
        elif m.distance_km is not None:
            where.append(f"nearest site {m.distance_km} km")
        by: dict[str, list[str]] = {"met": [], "unknown": [], "not met": []}
        for criterion in m.criteria or ():
            c = _Fields(criterion)
            by[c.verdict].append(f"{c.name} ({_md_escape(c.why)})")
        checks = "; ".join(f"{verdict}: {', '.join(items)}" for verdict, items in by.items()
                           if items)
        lines.append(f"- **{name}** {_md_escape(m.title)} ({m.phase}, {m.status}"
                     + "".join(f"; {w}" for w in where) + f"). Pre-screen: {checks}.")
        if m.nct:
            links.append(Link(label=f"{m.nct}: registry record ({m.status})",
                              url=TRIAL_URL.format(nct=m.nct), type="absolute"))
        if m.open_here and m.research_team:
            referrals.append(referral_shape(
                f"referral-{m.nct or m.local_id}",
                f"Refer to the research team: {name} ({m.title})"[:200],
                team=m.research_team, reason=f"Trial pre-screen: {name} {m.title}",
                note=f"Pre-screen by leukemia-cds, not eligibility: {checks}."))
    return "\n".join(lines), tuple(links), tuple(referrals)


class _Fields:
    """A trial match read by name, whether the rule's dataclass or a catalogue sample's table
    (the catalogue renders every entry with its sample)."""

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getattr__(self, name: str) -> Any:
        if isinstance(self._value, Mapping):
            return self._value.get(name)
        return getattr(self._value, name)
