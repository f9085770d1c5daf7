"""The rule book a clinical reviewer reads: every rule's logic and its card, side by side.

Generated from the rule registry (what each rule answers, its named inclusion and exclusion
criteria, its tags, trials and why) and the card catalogue (what the card says and the seed
passages it quotes), so it cannot drift from what the service does. `leukemia-cds rules`
prints it as Markdown.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from service.decision import RULES
from service.decision.registry import Rule
from service.errors import StartupError
from service.render import Catalogue, load_catalogue


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
        lines += _rule(r, catalogue)
    return "\n".join(lines).rstrip() + "\n"


def _rule(r: Rule, catalogue: Catalogue) -> list[str]:
    e = catalogue.entries[r.id]
    title = e.title.render(dict(e.sample))
    out = [f"### {r.id}: {title}", ""]
    if r.doc:
        out += [r.doc, ""]
    out += [
        f"- **Hooks:** {_list(sorted(r.hooks))}"
        + (f"; at order entry for {_list(sorted(r.drugs))}" if r.drugs else ""),
        f"- **Applies when:** {_list((c.text for c in r.when), 'always (see the rule text)')}",
        f"- **Not when:** {_list(c.text for c in r.unless)}",
    ]
    if r.tags or r.reacts_to:
        out.append(f"- **Marks:** {_list(sorted(r.tags))}; **reacts to:** "
                   f"{_list(sorted(r.reacts_to))}")
    if r.trials:
        out.append("- **Trials it can name:** " + ", ".join(
            f"{catalogue.trials[n].name} ({n})" for n in r.trials))
    out += [
        f"- **Card:** {e.indicator}, {e.topic}, group {e.group} (rank {e.rank}); summary "
        f"template: `{' '.join(e.summary_source.split())}`",
        "- **Sources:**",
    ]
    for c in e.citations:
        seed = catalogue.seeds[c.seed]
        out.append(f"  - {seed.short} ({seed.key}), {c.section}: \u201c{c.quote}\u201d")
    return [*out, ""]


def rules_command(cards_dir: Path) -> int:
    try:
        catalogue = load_catalogue(cards_dir)
    except StartupError as exc:
        print(f"leukemia-cds: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(rule_book(RULES, catalogue))
    return 0
