"""The rule book a clinical reviewer reads: every rule's logic and its card, side by side.

Generated from the rule registry (what each rule answers, its named inclusion and exclusion
criteria, its tags, trials and why) and the card catalogue (what the card says and the seed
passages it quotes), so it cannot drift from what the service does. `leukemia-cds rules`
prints it as Markdown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from service.decision import RULES
from service.decision.registry import Rule
from service.errors import StartupError
from service.render import Catalogue, load_catalogue
from service.render.catalogue import Citation, TrialInfo


@dataclass(frozen=True, slots=True)
class Source:
    seed: str  # its short name
    key: str  # "000".."004"
    current: str  # how current the seed is
    section: str
    quote: str
    url: str = ""  # a regulatory source's address


def _source(catalogue: Catalogue, c: Citation) -> Source:
    """A seed passage as (seed, key, how current, section, quote); a regulatory communication
    as (agency, its key in knowledge-updates.md, date, title, what it supersedes)."""
    if c.kind == "regulatory":
        reg = catalogue.regulatory[c.key]
        said = " ".join(x for x in (reg.change + ".",
                                    f"Supersedes {c.supersedes}." if c.supersedes else "",
                                    c.note) if x)
        return Source(c.agency, f"regulatory {c.key}", str(c.date), c.title, said, c.url)
    seed = catalogue.seeds[c.seed]
    return Source(seed.short, seed.key, seed.current, c.section, c.quote)


@dataclass(frozen=True, slots=True)
class RuleView:
    """One rule as a reviewer reads it: plain texts from the registry and the catalogue, which
    the book (Markdown) and the rule's page (HTML, `service.rule_pages`) both present."""

    id: str
    module: str
    title: str
    why: str
    hooks: tuple[str, ...]
    drugs: tuple[str, ...]
    when: tuple[str, ...]
    unless: tuple[str, ...]
    tags: tuple[str, ...]
    reacts_to: tuple[str, ...]
    trials: tuple[TrialInfo, ...]
    indicator: str
    topic: str
    group: str
    rank: int
    summary: str  # the summary template, whitespace folded
    detail: str  # the card text template, as written
    evidence: str  # Markdown: what the card's text rests on (trial data, numbers, context)
    siblings: tuple[str, ...]  # the other rules of its group: they can share its card
    sources: tuple[Source, ...]


def view(r: Rule, catalogue: Catalogue) -> RuleView:
    e = catalogue.entries[r.id]
    return RuleView(
        id=r.id, module=r.module, title=e.title.render(dict(e.sample)), why=r.doc,
        hooks=tuple(sorted(r.hooks)), drugs=tuple(sorted(r.drugs)),
        when=tuple(c.text for c in r.when), unless=tuple(c.text for c in r.unless),
        tags=tuple(sorted(r.tags)), reacts_to=tuple(sorted(r.reacts_to)),
        trials=tuple(catalogue.trials[n] for n in r.trials), indicator=e.indicator,
        topic=e.topic, group=e.group, rank=e.rank, summary=" ".join(e.summary_source.split()),
        detail=e.detail_source, evidence=e.evidence,
        siblings=tuple(i for i in catalogue.groups[e.group].order if i != r.id),
        sources=tuple(_source(catalogue, c) for c in e.citations))


def _list(items: Iterable[str], empty: str = "—") -> str:
    got = list(items)
    return ", ".join(got) if got else empty


def rule_book(rules: Mapping[str, Rule], catalogue: Catalogue) -> str:
    """The whole book as Markdown, area by area in the order rules run."""
    import importlib

    lines = [f"# leukemia-cds rule book (knowledge {catalogue.knowledge_version}, "
             f"{len(rules)} rules)", "",
             "Each rule: when it applies (all of *Applies when*, none of *Not when*; the rule's "
             "own function may narrow further, as its text says), what it answers, and the "
             "card it puts before the clinician with the passages it rests on.", ""]
    module = ""
    for r in rules.values():
        if r.module != module:
            module = r.module
            doc = importlib.import_module(f"service.decision.rules.{module}").__doc__ or ""
            lines += [f"## {module.replace('_', ' ')}", "", doc.strip().split("\n\n")[0], ""]
        lines += _rule(view(r, catalogue))
    return "\n".join(lines).rstrip() + "\n"


def _rule(v: RuleView) -> list[str]:
    out = [f"### {v.id}: {v.title}", ""]
    if v.why:
        out += [v.why, ""]
    out += [
        f"- **Hooks:** {_list(v.hooks)}"
        + (f"; at order entry for {_list(v.drugs)}" if v.drugs else ""),
        f"- **Applies when:** {_list(v.when, 'always (see the rule text)')}",
        f"- **Not when:** {_list(v.unless)}",
    ]
    if v.tags or v.reacts_to:
        out.append(f"- **Marks:** {_list(v.tags)}; **reacts to:** {_list(v.reacts_to)}")
    if v.trials:
        out.append("- **Trials it can name:** " + ", ".join(
            f"{t.name} ({t.nct})" for t in v.trials))
    out += [
        f"- **Card:** {v.indicator}, {v.topic}, group {v.group} (rank {v.rank}); summary "
        f"template: `{v.summary}`",
        f"- **Card text:** `{' '.join(v.detail.split())}`",
        "- **Sources:**",
    ]
    out += [_source_line(s) for s in v.sources]
    if v.evidence:
        out += ["", "**Evidence** (on the rule's page):", "", v.evidence]
    return [*out, ""]


def _source_line(s: Source) -> str:
    if not s.key.startswith("regulatory"):
        return f"  - {s.seed} ({s.key}), {s.section}: \u201c{s.quote}\u201d"
    where = s.url or "no URL in the verified record (knowledge-updates.md)"
    return f"  - {s.seed} ({s.key}, {s.current}), \u201c{s.section}\u201d, {where}: {s.quote}"


def rules_command(cards_dir: Path) -> int:
    try:
        catalogue = load_catalogue(cards_dir)
    except StartupError as exc:
        print(f"leukemia-cds: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(rule_book(RULES, catalogue))
    return 0
