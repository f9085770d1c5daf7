"""Load, compile and validate the card catalogue (cards/*.toml) once, at start-up.

A broken catalogue must stop the service with one clear line, never surface as a 500 on the
first patient it touches. So everything that can be checked without a patient is checked here:
every rule the decision module can emit has exactly one entry; every entry cites the seeds its
rule rests on, by a section listed in cards/seed-sections.toml; every template compiles and
renders with the entry's sample data; every rendered summary fits CDS Hooks' 140 characters;
every suggested FHIR resource validates with fhir.resources (R4B); every trial a rule can name
is described. Templates are compiled once and reused for every call.
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from service.decision import RULES, referenced_trials
from service.errors import CatalogueError
from service.render.seeds import SeedInfo, parse_index
from service.render.suggestions import build_suggestion

TOPIC_SYSTEM = "http://leukemia-cds.org/fhir/CodeSystem/card-topic"
TOPICS = {
    "immunotherapy-option": "Immunotherapy option",
    "toxicity-monitoring": "Toxicity monitoring",
    "trial-enrollment": "Trial enrollment",
    "safety-caution": "Safety caution",
    "diagnostic-workup": "Diagnostic workup",
    "data-quality": "Data quality",
}
INDICATORS = ("info", "warning", "critical")
SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"
DETAIL_MAX = 320  # an entry's own text on a card: what to do or check, one or two sentences
SEED_INDEX = "seed-sections.toml"
SHARED = "catalogue.toml"


def _md_escape(value: Any) -> Any:
    """Keep record-derived text from turning into HTML when the EHR renders markdown."""
    if isinstance(value, str) and ("&" in value or "<" in value or ">" in value):
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def _fit(text: str, limit: int = SUMMARY_MAX) -> str:
    """Last-resort guard for the CDS Hooks limit; summaries are written to fit (tests check
    every vignette, scenario and property-sweep patient never reaches it)."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(",;:—- ")
    return cut + "…"


MAX_CLAUSES = 3


def compose(head: str, clauses: list[str], *, most: int = MAX_CLAUSES, sep: str = "; ",
            limit: int = SUMMARY_MAX) -> str | None:
    """``head: c1; c2; c3`` with as many whole clauses as fit, in the order given.

    A less important clause is never shown in place of a more important one that did not fit.
    None when not even the head and the first clause fit (the caller falls back).
    """
    head = " ".join(head.split())
    items = list(dict.fromkeys(c for c in (" ".join(x.split()) for x in clauses) if c))
    # a head that already has a colon ("CD19 CAR T: ...") continues with a semicolon
    prefix = (f"{head}; " if ":" in head else f"{head}: ") if head and items else head
    taken: list[str] = []
    for item in items[:most]:
        if len(prefix) + len(sep.join([*taken, item])) > limit:
            break
        taken.append(item)
    if items and not taken:
        return None
    text = _capitalize(prefix + sep.join(taken))
    return text if 0 < len(text) <= limit else None


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _environment(markdown: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, trim_blocks=False,
        keep_trailing_newline=False, finalize=_md_escape if markdown else None,
    )
    env.filters["fit"] = _fit
    env.filters["capitalize"] = _capitalize  # Jinja's lowercases the rest ("CAR T" -> "Car t")
    return env


PLAIN = _environment(markdown=False)
MARKDOWN = _environment(markdown=True)


class _Static:
    """A template without Jinja syntax: most titles and many details. Compiling ~480 templates
    costs most of start-up; text with nothing to substitute needs no compiler."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def render(self, *_args: Any, **_kwargs: Any) -> str:
        return self.text


Tmpl = jinja2.Template | _Static


def _template(env: jinja2.Environment, source: str) -> Tmpl:
    if "{{" not in source and "{%" not in source and "{#" not in source:
        return _Static(source)
    return env.from_string(source)


@dataclass(frozen=True, slots=True)
class Regulatory:
    """A label or safety change after the seeds, as the regulator communicated it
    (catalogue.toml [regulatory.<K>], copied from ../shared/design/knowledge-updates.md)."""

    key: str  # "K1": the row of knowledge-updates.md
    agency: str
    title: str  # the communication's own title
    date: datetime.date
    url: str  # "" only where the verified record gives none (`no_url` says why)
    change: str  # one line: what it changes, for the rule's page and the export


@dataclass(frozen=True, slots=True)
class Citation:
    """What an entry rests on: a seed passage (kind "seed": file, section, verbatim quote) or a
    regulatory communication (kind "regulatory": agency, title, URL, date), which wins over a
    seed for regulatory status. ``supersedes`` names the seed passage ("<file>: <section>") a
    regulatory citation replaces; the entry cites both, and ``note`` says which stands."""

    seed: str = ""
    section: str = ""
    quote: str = ""
    kind: str = "seed"
    key: str = ""  # regulatory: "K1"
    agency: str = ""
    title: str = ""
    url: str = ""
    date: datetime.date | None = None
    supersedes: str = ""
    note: str = ""

    @property
    def label(self) -> str:
        """How the card's sources line names a regulatory citation: "FDA 2024-03-06"."""
        return f"{self.agency} {self.date.isoformat() if self.date else ''}".strip()


@dataclass(frozen=True, slots=True)
class CodeRef:
    system: str
    code: str
    display: str


@dataclass(frozen=True, slots=True)
class SuggestionSpec:
    """A suggestion template. `action` create -> a draft ServiceRequest/MedicationRequest."""

    label: Tmpl
    action: str  # "create" | "delete"
    resource: str  # "ServiceRequest" | "MedicationRequest" (create only)
    code: CodeRef | None
    text: Tmpl | None
    medication: str | None
    note: Tmpl | None
    resource_id: Tmpl | None
    when: Callable[..., Any] | None
    # the TOML table as written (key, text), for the FHIR export (`service.knowledge`): the
    # compiled templates above no longer carry their source
    raw: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    group: str
    rank: int  # importance within its group: the lowest present leads a merged card
    clause: str  # its clause in a merged card's summary (template source; may be empty)
    topic: str
    indicator: str
    title: Tmpl
    summary: Tmpl
    summary_source: str  # as written, for the rule book
    detail_source: str  # as written, for the rule book
    detail: Tmpl  # on the card: what to do or check for this patient (one paragraph)
    evidence: str  # on the rule's public page: trial data, numbers, context (no patient data)
    citations: tuple[Citation, ...]
    suggestions: tuple[SuggestionSpec, ...]
    override: tuple[tuple[str, str], ...]  # (code, display)
    approval: bool
    sample: Mapping[str, Any]
    source_file: str
    # Who last checked this entry against its sources, and when: a role, never a person's name
    # (cards/README.md, "Review dates"). Start-up refuses an entry without them; the freshness
    # gate (service/render/freshness.py) refuses one reviewed too long ago.
    reviewed: datetime.date | None = None
    reviewed_by: str | None = None
    title_source: str = ""  # as written, for the FHIR export (the compiled title has no source)


@dataclass(frozen=True, slots=True)
class Group:
    """How entries of one group merge into one card.

    ``order`` is the group's entries by their own ``rank``, most important first: the first
    present leads the card (its topic and extension id) and the detail follows that order. A
    merged card's summary is ``head`` then as many whole clauses (each entry's own, most
    important first) as fit in 139 characters, at most ``MAX_CLAUSES``: hand-written
    sentences, never cut mid-word. ``clauses`` is those entry clauses compiled as one template,
    each shown only when its entry is on the card. ``label`` names the group on the card that
    folds whatever exceeds the card limit. ``priority_with`` (entry id -> priority): a card
    holding one of these entries sorts at that priority instead, when it is lower (a strong
    recommendation that should be read before the other options only in its own setting).
    """

    id: str
    priority: int
    order: tuple[str, ...]
    head: Tmpl
    clauses: Tmpl
    label: str
    priority_with: tuple[tuple[str, int], ...] = ()

    def priority_for(self, ids: Iterable[str]) -> int:
        """The card's priority among cards of one indicator, given the entry ids it holds."""
        present = set(ids)
        return min((p for rid, p in self.priority_with if rid in present),
                   default=self.priority)


@dataclass(frozen=True, slots=True)
class TrialInfo:
    nct: str
    name: str
    population: str
    status: str


@dataclass(frozen=True)
class Catalogue:
    product: str
    knowledge_version: str
    approval_note: Tmpl
    override_system: str
    override_displays: dict[str, str]  # code -> its one display (the CodeSystem's)
    entries: dict[str, Entry]
    groups: dict[str, Group]
    trials: dict[str, TrialInfo]
    seeds: dict[str, SeedInfo]
    seed_by_key: dict[str, SeedInfo] = field(default_factory=dict)
    regulatory: dict[str, Regulatory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.seed_by_key.update({s.key: s for s in self.seeds.values()})


# --- loading ---------------------------------------------------------------------------------


def load_catalogue(cards_dir: Path) -> Catalogue:
    """Read and validate the catalogue; raises CatalogueError with a one-line reason.

    Memoised on the directory's file contents: every app built in one process (tests, gunicorn
    workers forked after a dry run) shares one compiled catalogue; an edited file reloads.
    """
    if not cards_dir.is_dir():
        raise CatalogueError(f"card catalogue: {cards_dir} is not a directory")
    if not os.access(cards_dir, os.R_OK | os.X_OK):  # else glob() quietly finds no files
        raise CatalogueError(f"card catalogue: cannot read the folder {cards_dir} "
                             "(Permission denied)")
    key = (str(cards_dir.resolve()), tuple((p.name, _bytes(p))
                                           for p in sorted(cards_dir.glob("*.toml"))))
    with _LOCK:
        cached = _CACHE.get(key[0])
        if cached is not None and cached[0] == key[1]:
            return cached[1]
    catalogue = _load(cards_dir)
    with _LOCK:
        _CACHE[key[0]] = (key[1], catalogue)
    return catalogue


_CACHE: dict[str, tuple[tuple[tuple[str, bytes], ...], Catalogue]] = {}
_LOCK = threading.Lock()


def _load(cards_dir: Path) -> Catalogue:
    if not cards_dir.is_dir():
        raise CatalogueError(f"card catalogue: {cards_dir} is not a directory")
    index_path = cards_dir / SEED_INDEX
    seeds = parse_index(_read(index_path)) if index_path.exists() else None
    if seeds is None:
        raise CatalogueError(f"card catalogue: {index_path} is missing")
    shared = _read(cards_dir / SHARED)
    try:
        catalogue = _build(cards_dir, shared, seeds)
    except (KeyError, TypeError, ValueError, jinja2.TemplateError) as exc:
        raise CatalogueError(f"card catalogue: {exc}") from None
    validate(catalogue)
    return catalogue


def _bytes(path: Path) -> bytes:
    """A catalogue file's bytes; unreadable (say, copied into an image without read permission
    for the service's user) is a one-line start-up error, not a traceback."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CatalogueError(f"card catalogue: cannot read {path} ({exc.strerror})") from None


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise CatalogueError(f"card catalogue: {path} is missing") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CatalogueError(f"card catalogue: {path.name}: {exc}") from None


def _build(cards_dir: Path, shared: dict[str, Any], seeds: dict[str, SeedInfo]) -> Catalogue:
    meta = shared["meta"]
    codes = {k: CodeRef(v["system"], v["code"], v["display"])
             for k, v in shared.get("codes", {}).items()}
    reasons = shared.get("override_reasons", {})
    override_system = reasons.get("system", "")
    override_sets = {k: tuple((r["code"], r["display"]) for r in v)
                     for k, v in reasons.items() if k != "system"}
    displays: dict[str, str] = {}
    for code, display in (pair for pairs in override_sets.values() for pair in pairs):
        # one code, one meaning: the CodeSystem (fhir_profiles) gives each code one display
        if displays.setdefault(code, display) != display:
            raise ValueError(f"catalogue.toml: override reason {code!r} has two displays")
    for gid, g in shared["groups"].items():
        extra = sorted(set(g) - GROUP_KEYS)
        if extra:  # rank and clause live in each entry now; a stale key is a reviewer's slip
            raise ValueError(f"catalogue.toml: group {gid}: unknown key {extra[0]!r} "
                             "(an entry's rank and clause belong in its own [rules.<ID>])")
    regulatory = {k: _regulatory(k, v) for k, v in shared.get("regulatory", {}).items()}
    entries: dict[str, Entry] = {}
    trials: dict[str, TrialInfo] = {}
    for path in sorted(cards_dir.glob("*.toml")):
        if path.name in (SEED_INDEX, SHARED):
            continue
        data = _read(path)
        for rid, raw in data.get("rules", {}).items():
            if rid in entries:
                raise ValueError(f"{path.name}: rule {rid} is defined twice")
            entries[rid] = _entry(path.name, rid, raw, codes, override_sets, regulatory)
        for nct, raw in data.get("trials", {}).items():
            trials[nct] = TrialInfo(nct, raw["name"], raw["population"], raw["status"])
    groups = {gid: _group(gid, g, entries) for gid, g in shared["groups"].items()}
    return Catalogue(
        product=meta["product"], knowledge_version=_semver(meta["knowledge_version"]),
        approval_note=_template(PLAIN, meta["approval_note"]),
        override_system=override_system, override_displays=displays, entries=entries,
        groups=groups, trials=trials, seeds=seeds, regulatory=regulatory,
    )


GROUP_KEYS = frozenset({"priority", "label", "head", "priority_with"})
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
ROLE_MAX = 200


def _semver(raw: Any) -> str:
    """The knowledge version is MAJOR.MINOR.PATCH (cards/README.md says when each is bumped):
    a hospital compares versions across releases, and the stale-review acceptance is tied to
    one exact version, so "1.2" or "v1.2.0" must not slip through."""
    text = raw if isinstance(raw, str) else ""
    if not SEMVER.fullmatch(text):
        raise ValueError(f"catalogue.toml: knowledge_version {raw!r} is not MAJOR.MINOR.PATCH "
                         "(e.g. \"1.2.0\")")
    return text


def _review(where: str, raw: dict[str, Any]) -> tuple[datetime.date, str]:
    """An entry's review record: a calendar date (quoted "YYYY-MM-DD" as cards/README.md
    shows, or a bare TOML date) and the reviewer's role, one line. A role, not a person's name:
    the record must outlive staff changes and carry no personal data; the catalogue's reviewers
    keep that rule (a name cannot be told from a role by code)."""
    if "reviewed" not in raw:
        raise ValueError(f"{where}: missing 'reviewed' (the date it was last reviewed, "
                         "\"YYYY-MM-DD\")")
    value = raw["reviewed"]
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        reviewed = value
    else:
        try:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise ValueError
            reviewed = datetime.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where}: reviewed {value!r} is not a date \"YYYY-MM-DD\"") \
                from None
    role = raw.get("reviewed_by")
    if "reviewed_by" not in raw:
        raise ValueError(f"{where}: missing 'reviewed_by' (the reviewer's role, not a name)")
    if not isinstance(role, str) or not role.strip() or len(role) > ROLE_MAX \
            or "\n" in role:
        raise ValueError(f"{where}: reviewed_by {role!r} is not a role (one line of text, "
                         f"at most {ROLE_MAX} characters)")
    return reviewed, role.strip()


def _group(gid: str, raw: dict[str, Any], entries: dict[str, Entry]) -> Group:
    """A group from its own keys and its members' ranks and clauses.

    Each clause is wrapped so it shows only when its entry is on the card, and sees ``this``
    (its entry's variables) beside ``has``, ``v``, ``n`` and ``drug``; the group's clauses are
    compiled as one template, so rendering a merged summary costs what it did."""
    members = sorted((e for e in entries.values() if e.group == gid), key=lambda e: e.rank)
    ranks = [e.rank for e in members]
    if len(set(ranks)) != len(ranks):
        twice = next(e for e in members if ranks.count(e.rank) > 1)
        raise ValueError(f"{twice.source_file}: {twice.id}: rank {twice.rank} is used twice "
                         f"in group {gid}")
    clauses = "\n".join(
        f"{{% if '{e.id}' in has %}}{{% set this = v['{e.id}'] %}}{e.clause}{{% endif %}}"
        for e in members if e.clause.strip())
    raised = tuple((str(rid), int(p)) for rid, p in raw.get("priority_with", {}).items())
    strangers = [rid for rid, _ in raised if rid not in {e.id for e in members}]
    if strangers:
        raise ValueError(f"catalogue.toml: group {gid}: priority_with names {strangers}, "
                         "not entries of this group")
    return Group(gid, int(raw["priority"]), tuple(e.id for e in members),
                 _template(PLAIN, raw.get("head", "")), _template(PLAIN, clauses), raw["label"],
                 raised)


URL = re.compile(r"https://[^\s]+")


def _iso(where: str, value: Any) -> datetime.date:
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"{where}: {value!r} is not a date \"YYYY-MM-DD\"")


def _regulatory(key: str, raw: dict[str, Any]) -> Regulatory:
    """A regulatory source needs what a reader checks it by: the agency, the communication's
    own title, its date and its URL. Where the verified record gives no URL (K3 and K5 in
    knowledge-updates.md), `no_url` must say so: a URL is never written from memory."""
    where = f"catalogue.toml: regulatory {key}"
    for k in ("agency", "title", "date", "change"):
        if not isinstance(raw.get(k), (str, datetime.date)) or not str(raw[k]).strip():
            raise ValueError(f"{where}: missing '{k}'")
    url = raw.get("url", "")
    if url and not URL.fullmatch(url):
        raise ValueError(f"{where}: url {url!r} is not an https:// address")
    if not url and not str(raw.get("no_url", "")).strip():
        raise ValueError(f"{where}: no 'url' (a regulatory source is cited by its URL; where "
                         "the verified record has none, 'no_url' says so)")
    if len(str(raw["title"]).strip()) < 12:
        raise ValueError(f"{where}: title is the communication's own title")
    return Regulatory(key, str(raw["agency"]).strip(), " ".join(str(raw["title"]).split()),
                      _iso(where, raw["date"]), url, " ".join(str(raw["change"]).split()))


def _citation(where: str, raw: dict[str, Any], regulatory: dict[str, Regulatory]) -> Citation:
    if "regulatory" not in raw:
        return Citation(raw["seed"], raw["section"], raw["quote"])
    key = raw["regulatory"]
    reg = regulatory.get(key)
    if reg is None:
        raise ValueError(f"{where}: cites regulatory source {key!r}, which is not in "
                         "catalogue.toml [regulatory]")
    extra = sorted(set(raw) - {"regulatory", "supersedes", "note"})
    if extra:  # title, URL and date live once, in catalogue.toml
        raise ValueError(f"{where}: regulatory citation {key}: unknown key {extra[0]!r}")
    if raw.get("supersedes") and not str(raw.get("note", "")).strip():
        raise ValueError(f"{where}: regulatory citation {key} supersedes a seed passage but "
                         "has no 'note' saying which stands")
    return Citation(kind="regulatory", key=key, agency=reg.agency, title=reg.title,
                    url=reg.url, date=reg.date, supersedes=str(raw.get("supersedes", "")),
                    note=" ".join(str(raw.get("note", "")).split()))


def _entry(file: str, rid: str, raw: dict[str, Any], codes: dict[str, CodeRef],
           override_sets: dict[str, tuple[tuple[str, str], ...]],
           regulatory: dict[str, Regulatory]) -> Entry:
    where = f"{file}: {rid}"
    for key in ("group", "rank", "topic", "indicator", "title", "summary", "detail",
                "citations"):
        if key not in raw:
            raise ValueError(f"{where}: missing '{key}'")
    override = raw.get("override")
    if override not in override_sets:
        raise ValueError(f"{where}: override set {override!r} is not in catalogue.toml")
    suggestions = tuple(_suggestion(where, s, codes) for s in raw.get("suggestions", ()))
    reviewed, reviewed_by = _review(where, raw)
    try:
        return Entry(
            id=rid, group=raw["group"], rank=int(raw["rank"]), clause=raw.get("clause", ""),
            topic=raw["topic"], indicator=raw["indicator"],
            title=_template(PLAIN, raw["title"]), summary=_template(PLAIN, raw["summary"]),
            summary_source=raw["summary"],
            detail_source=raw["detail"].strip(),
            detail=_template(MARKDOWN, raw["detail"].strip()),
            evidence=_evidence(where, raw.get("evidence", "")),
            citations=tuple(_citation(where, c, regulatory) for c in raw["citations"]),
            suggestions=suggestions, override=override_sets[override],
            approval=bool(raw.get("approval", False)), sample=raw.get("sample", {}),
            source_file=file, reviewed=reviewed, reviewed_by=reviewed_by,
            title_source=raw["title"],
        )
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"{where}: template error: {exc}") from None


def _evidence(where: str, text: str) -> str:
    """An entry's evidence is shown on a public page with no patient: plain Markdown, never a
    template (a variable there could only be a patient's)."""
    if "{{" in text or "{%" in text or "{#" in text:
        raise ValueError(f"{where}: evidence is shown without a patient and cannot be a "
                         "template")
    return text.strip()


def _suggestion(where: str, raw: dict[str, Any], codes: dict[str, CodeRef]) -> SuggestionSpec:
    action = raw.get("action", "create")
    resource = raw.get("resource", "ServiceRequest")
    if action not in ("create", "delete"):
        raise ValueError(f"{where}: suggestion action {action!r} is not create or delete")
    if resource not in ("ServiceRequest", "MedicationRequest"):
        raise ValueError(f"{where}: suggestion resource {resource!r} is not supported")
    code = None
    if "code" in raw:
        if raw["code"] not in codes:
            raise ValueError(f"{where}: suggestion code {raw['code']!r} is not in [codes]")
        code = codes[raw["code"]]
    if action == "create" and resource == "ServiceRequest" and code is None and "text" not in raw:
        raise ValueError(f"{where}: a ServiceRequest suggestion needs a code or a text")
    if action == "create" and resource == "MedicationRequest" and not raw.get("medication"):
        raise ValueError(f"{where}: a MedicationRequest suggestion needs a medication")
    if action == "delete" and "resource_id" not in raw:
        raise ValueError(f"{where}: a delete suggestion needs a resource_id")

    def opt(key: str) -> Tmpl | None:
        return _template(PLAIN, raw[key]) if key in raw else None

    return SuggestionSpec(
        label=_template(PLAIN, raw["label"]), action=action, resource=resource, code=code,
        text=opt("text"), medication=raw.get("medication"), note=opt("note"),
        resource_id=opt("resource_id"),
        when=PLAIN.compile_expression(raw["when"]) if raw.get("when") else None,
        raw=tuple(sorted((str(k), str(v)) for k, v in raw.items())),
    )


# --- validation --------------------------------------------------------------------------------


def validate(cat: Catalogue) -> None:
    """Every check that needs no patient; raises CatalogueError naming the first problem."""
    missing = sorted(set(RULES) - set(cat.entries))
    if missing:
        raise CatalogueError(f"card catalogue: no entry for rule {missing[0]}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    orphans = sorted(set(cat.entries) - set(RULES))
    if orphans:
        raise CatalogueError(f"card catalogue: entry {orphans[0]} matches no decision rule")
    unknown = sorted(referenced_trials() - set(cat.trials))
    if unknown:
        raise CatalogueError(f"card catalogue: trial {unknown[0]} is used by a rule but not "
                             "described in [trials]")
    for entry in cat.entries.values():
        _validate_entry(cat, entry)
    for group in cat.groups.values():
        members = [cat.entries[i] for i in group.order]
        try:
            for member in members:  # every clause with each entry's sample, and all together
                group_summary(group, [(member.id, member.sample)] * 2, drug="blinatumomab")
            group_summary(group, [(m.id, m.sample) for m in members], drug="blinatumomab")
        except jinja2.TemplateError as exc:
            raise CatalogueError(f"card catalogue: group {group.id}: summary does not render "
                                 f"({exc})") from None


def detail_problem(detail: str) -> str | None:
    """Why a rendered detail does not fit a card line, or None."""
    if "\n" in detail or detail.startswith("- "):
        return ("detail is one paragraph (it becomes one line of a merged card); lists and "
                "numbers belong in 'evidence'")
    if len(detail) > DETAIL_MAX:
        return (f"detail is {len(detail)} characters with its sample (limit {DETAIL_MAX}); "
                "move the evidence to 'evidence'")
    return None


def group_summary(group: Group, members: list[tuple[str, Mapping[str, Any]]], *, drug: str
                  ) -> str | None:
    """A merged card's summary from its members' (id, variables), most important first.

    Templates see ``has`` (ids present), ``v`` (id -> the first member's variables), ``n`` and
    ``drug`` (the drafted drug on order hooks, else ""). None if it cannot be made to fit.
    """
    v: dict[str, Mapping[str, Any]] = {}
    for rid, variables in members:
        v.setdefault(rid, variables)
    context = {"has": frozenset(v), "v": v, "n": len(members), "drug": drug}
    return compose(group.head.render(context), group.clauses.render(context).splitlines())


def _validate_entry(cat: Catalogue, e: Entry) -> None:
    where = f"card catalogue: {e.source_file}: {e.id}"
    if e.group not in cat.groups:
        raise CatalogueError(f"{where}: group {e.group!r} is not defined in catalogue.toml")
    if e.topic not in TOPICS:
        raise CatalogueError(f"{where}: topic {e.topic!r} is not a card-topic code")
    if e.indicator not in INDICATORS:
        raise CatalogueError(f"{where}: indicator {e.indicator!r} is not info/warning/critical")
    if not e.citations:
        raise CatalogueError(f"{where}: no citation")
    seed_cites = [c for c in e.citations if c.kind == "seed"]
    for c in e.citations:
        if c.kind == "regulatory":
            if c.supersedes and not any(f"{s.seed}: {s.section}" == c.supersedes
                                        for s in seed_cites):
                raise CatalogueError(f"{where}: regulatory citation {c.key} supersedes "
                                     f"{c.supersedes!r}, which the entry does not cite (it "
                                     "cites both, and says which stands)")
            continue
        seed = cat.seeds.get(c.seed)
        if seed is None:
            raise CatalogueError(f"{where}: cites {c.seed!r}, which is not a known seed")
        if seed.section(c.section) is None:
            raise CatalogueError(f"{where}: cites section {c.section!r}, not listed for "
                                 f"{c.seed} in seed-sections.toml")
        if len(c.quote.strip()) < 12:
            raise CatalogueError(f"{where}: citation of {c.section!r} needs a verbatim quote")
    cited = {cat.seeds[c.seed].key for c in seed_cites}
    expected = set(RULES[e.id].seeds)
    if cited != expected:
        raise CatalogueError(f"{where}: cites seeds {sorted(cited)} but the rule rests on "
                             f"{sorted(expected)}")
    sample = dict(e.sample)
    try:
        summary = e.summary.render(sample)
        e.title.render(sample)
        detail = e.detail.render(sample).strip()
        for s in e.suggestions:
            if s.when is None or s.when(**sample):
                build_suggestion(s, sample, patient_id="sample-patient")
    except jinja2.TemplateError as exc:
        raise CatalogueError(f"{where}: template does not render with its sample ({exc})") \
            from None
    except ValueError as exc:
        raise CatalogueError(f"{where}: suggestion is not a valid FHIR resource ({exc})") \
            from None
    if len(" ".join(summary.split())) > SUMMARY_MAX:
        raise CatalogueError(f"{where}: summary is {len(summary)} characters with its sample "
                             f"(limit {SUMMARY_MAX})")
    problem = detail_problem(detail)
    if problem:
        raise CatalogueError(f"{where}: {problem}")
    for nct in sample.get("trials", ()):
        if nct not in cat.trials:
            raise CatalogueError(f"{where}: sample trial {nct} is not described in [trials]")
