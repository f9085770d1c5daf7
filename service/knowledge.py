"""The rules as FHIR R4 knowledge artefacts, and what changed between two exports.

`leukemia-cds knowledge export --out DIR` writes what a hospital's CDS governance committee (or
another CDS engine) reads: one `PlanDefinition` per rule and a `Library` listing them with the
knowledge version. Nothing executes these files; they describe, from the same catalogue and rule
registry the service runs, what each rule's card says, when it is shown (hooks), how urgent it
is, what it offers to order and which sources it rests on.

`leukemia-cds knowledge diff OLD_DIR NEW_DIR` compares two such exports in plain text: the rules
added, removed and changed, and for a changed rule which fields changed, with the old and the new
card text, so a committee can sign off a new knowledge version by reading what a clinician would
now read differently.

The output is deterministic (same catalogue, byte-identical files: fixed key order, no clock,
the only dates are the catalogue's own), so the diff of two exports and `git diff` of two
committed exports both show only what changed.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from service.canonical import LIBRARY_ID, library_url, plan_definition_url
from service.decision import RULES
from service.decision.registry import Rule
from service.render.catalogue import (
    TOPIC_SYSTEM,
    TOPICS,
    Catalogue,
    Citation,
    Entry,
    SuggestionSpec,
)

PLAN_TYPE = "http://terminology.hl7.org/CodeSystem/plan-definition-type"
LIBRARY_TYPE = "http://terminology.hl7.org/CodeSystem/library-type"
ACTION_TYPE = "http://terminology.hl7.org/CodeSystem/action-type"
JINJA = "text/x-jinja2"  # the language of the templates and `when` expressions quoted as written

# CDS Hooks indicator -> FHIR request priority (routine | urgent | asap | stat). `warning` asks
# for attention before acting (urgent); `critical` means the drafted order should not go ahead
# as it is (stat: act now). `asap` is not used.
PRIORITY = {"info": "routine", "warning": "urgent", "critical": "stat"}
INDICATOR = {v: k for k, v in PRIORITY.items()}

PLAN_PREFIX = "PlanDefinition-"
LIBRARY_FILE = f"Library-{LIBRARY_ID}.json"


# --- export ------------------------------------------------------------------------------------


def _date(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime.date) else None


def _citation(c: Citation) -> dict[str, Any]:
    """One citation as a RelatedArtifact of type citation.

    A seed citation shows the seed file and section and quotes the passage; a regulatory one
    (`kind = "regulatory"`) shows the regulator's title and URL. R4's RelatedArtifact has no
    date, so the regulatory date (and what it supersedes, and which stands) is in `citation`.
    """
    if c.kind == "regulatory":
        text = [f"Dated {_date(c.date) or 'unknown'}."]
        if c.supersedes:
            text.append(f"Supersedes {c.supersedes}.")
        if c.note:
            text.append(str(c.note))
        out: dict[str, Any] = {"type": "citation", "display": str(c.title),
                               "citation": " ".join(text)}
        if c.url:
            out["url"] = str(c.url)
        return out
    return {"type": "citation", "display": f"{c.seed}: {c.section}", "citation": c.quote}


def _concept(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _activity(spec: SuggestionSpec, raw: Mapping[str, str], ident: str) -> dict[str, Any]:
    """A `create` suggestion as the ActivityDefinition of the draft order it creates."""
    ad: dict[str, Any] = {"resourceType": "ActivityDefinition", "id": ident,
                          "status": "active", "title": raw["label"], "kind": spec.resource,
                          "intent": "order"}
    if "note" in raw:
        ad["description"] = raw["note"]
    if spec.code is not None:
        ad["code"] = _concept(spec.code.system, spec.code.code, spec.code.display)
    elif "text" in raw:
        ad["code"] = {"text": raw["text"]}
    if spec.medication:
        ad["productCodeableConcept"] = {"text": spec.medication}
    return ad


def _suggestions(entry: Entry) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(contained ActivityDefinitions, sub-actions): one sub-action per suggestion, in order.

    The ActivityDefinitions are contained in the PlanDefinition (referenced as `#suggestion-N`)
    rather than separate files: one file per rule is what a committee reads, and a contained
    resource needs no canonical of its own. A `delete` suggestion (remove the contradicted
    draft) creates nothing, so it is a sub-action of type `remove` without a definition.
    """
    contained: list[dict[str, Any]] = []
    actions: list[dict[str, Any]] = []
    for n, spec in enumerate(entry.suggestions, start=1):
        raw = dict(spec.raw)
        action: dict[str, Any] = {"title": raw["label"]}
        if spec.action == "delete":
            action["description"] = f"Remove the drafted {spec.resource} {raw['resource_id']}"
            action["type"] = _concept(ACTION_TYPE, "remove", "Remove")
        else:
            ident = f"suggestion-{n}"
            contained.append(_activity(spec, raw, ident))
            action["type"] = _concept(ACTION_TYPE, "create", "Create")
            action["definitionCanonical"] = f"#{ident}"
        if "when" in raw:
            action["condition"] = [{"kind": "applicability", "expression": {
                "language": JINJA, "expression": raw["when"]}}]
        actions.append(action)
    return contained, actions


def _computable(rule_id: str) -> str:
    """A PlanDefinition.name: a rule id with its hyphens as underscores (ids start with a
    capital letter)."""
    return rule_id.replace("-", "_").replace(".", "_")


def plan_definition(cat: Catalogue, entry: Entry, rule: Rule) -> dict[str, Any]:
    """One rule as a PlanDefinition (type eca-rule) with one action: the card."""
    reviewed = _date(entry.reviewed)
    dated = [d for d in (_date(c.date) for c in entry.citations if c.kind == "regulatory")
             if d]
    topic = _concept(TOPIC_SYSTEM, entry.topic, TOPICS[entry.topic])
    contained, sub_actions = _suggestions(entry)
    action: dict[str, Any] = {
        "title": entry.title_source,
        "description": entry.summary_source,
        "textEquivalent": entry.detail_source,
        "code": [topic],
        "priority": PRIORITY[entry.indicator],
        "trigger": [{"type": "named-event", "name": hook} for hook in sorted(rule.hooks)],
    }
    if sub_actions:
        action["action"] = sub_actions
    pd: dict[str, Any] = {
        "resourceType": "PlanDefinition",
        "id": entry.id,
        "url": plan_definition_url(entry.id),
        "version": cat.knowledge_version,
        "name": _computable(entry.id),
        "title": f"{entry.id}: {entry.title_source}",
        "type": _concept(PLAN_TYPE, "eca-rule", "ECA Rule"),
        "status": "active",
    }
    # `date` (last changed): the entry's review date; before entries record one, the newest
    # regulatory source it cites; else none (never the export's clock).
    date = reviewed or max(dated, default=None)
    if date:
        pd["date"] = date
    pd["publisher"] = cat.product
    if entry.evidence:
        pd["description"] = entry.evidence
    pd["topic"] = [topic]
    if reviewed:
        pd["lastReviewDate"] = reviewed
    pd["relatedArtifact"] = [_citation(c) for c in entry.citations]
    if contained:
        pd["contained"] = contained
    pd["action"] = [action]
    return pd


def library(cat: Catalogue, plans: list[dict[str, Any]]) -> dict[str, Any]:
    """The manifest: every PlanDefinition of this knowledge version (canonical|version)."""
    lib: dict[str, Any] = {
        "resourceType": "Library",
        "id": LIBRARY_ID,
        "url": library_url(),
        "version": cat.knowledge_version,
        "name": "LeukemiaCdsKnowledge",
        "title": f"{cat.product} knowledge {cat.knowledge_version}",
        "status": "active",
        "type": _concept(LIBRARY_TYPE, "asset-collection", "Asset Collection"),
    }
    dates = [p["date"] for p in plans if "date" in p]
    if dates:
        lib["date"] = max(dates)
    lib["publisher"] = cat.product
    lib["description"] = (f"The {len(plans)} rules of {cat.product} knowledge version "
                          f"{cat.knowledge_version}, one PlanDefinition each.")
    lib["relatedArtifact"] = [{"type": "composed-of", "display": p["title"],
                               "resource": f"{p['url']}|{p['version']}"} for p in plans]
    return lib


def resources(cat: Catalogue) -> dict[str, dict[str, Any]]:
    """File name -> resource, sorted by file name: every rule's PlanDefinition and the
    Library. Every resource is checked against fhir.resources (R4B) before it is returned."""
    plans = [plan_definition(cat, cat.entries[rid], RULES[rid]) for rid in sorted(cat.entries)]
    out = {f"{PLAN_PREFIX}{p['id']}.json": p for p in plans}
    out[LIBRARY_FILE] = library(cat, plans)
    for name, res in out.items():
        _check(name, res)
    return dict(sorted(out.items()))


def _check(name: str, res: dict[str, Any]) -> None:
    from fhir.resources.R4B import get_fhir_model_class  # heavy: only when exporting

    try:
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise ValueError(f"{name}: not a valid FHIR R4B {res['resourceType']}: {exc}") from None


def dumps(resource: Mapping[str, Any]) -> str:
    """Stable JSON: the key order as built (resourceType first), two-space indent, UTF-8 text,
    one trailing newline."""
    return json.dumps(resource, indent=2, ensure_ascii=False) + "\n"


def export(cat: Catalogue, out: Path) -> list[Path]:
    """Write every resource into ``out``; returns the files written, sorted.

    Files of an earlier export (PlanDefinition-*.json, the Library) are removed first, so a
    rule removed from the catalogue does not linger; nothing else in ``out`` is touched.
    """
    files = resources(cat)
    out.mkdir(parents=True, exist_ok=True)
    for stale in [*out.glob(f"{PLAN_PREFIX}*.json"), out / LIBRARY_FILE]:
        if stale.name not in files:
            stale.unlink(missing_ok=True)
    written = []
    for name, res in files.items():
        path = out / name
        path.write_text(dumps(res), encoding="utf-8")
        written.append(path)
    return written


# --- diff --------------------------------------------------------------------------------------

# The fields a committee signs off, in the order the diff lists them. Texts show old and new
# in full; lists show the items removed and added.
TEXT_FIELDS = ("title", "summary", "detail", "indicator", "topic", "evidence", "lastReviewDate")
LIST_FIELDS = ("hooks", "citations", "suggestions")


def _artifact(a: Mapping[str, Any]) -> str:
    where = a.get("url") or ""
    return " — ".join(x for x in (a.get("display", ""), a.get("citation", ""), where) if x)


def _suggestion_text(action: Mapping[str, Any], contained: Mapping[str, Any]) -> str:
    kind = action.get("type", {}).get("coding", [{}])[0].get("code", "")
    text = f"{kind}: {action.get('title', '')}"
    ad = contained.get(str(action.get("definitionCanonical", "")).lstrip("#"))
    if ad:
        code = ad.get("code", {})
        what = code.get("text") or "; ".join(
            f"{c.get('system')}|{c.get('code')} {c.get('display', '')}".strip()
            for c in code.get("coding", []))
        product = ad.get("productCodeableConcept", {}).get("text")
        text += f" ({ad.get('kind')}{': ' + what if what else ''}"
        text += f"{'; ' + product if product else ''})"
        if ad.get("description"):
            text += f" note: {ad['description']}"
    if action.get("description"):
        text += f" ({action['description']})"
    for cond in action.get("condition", []):
        text += f" when {cond.get('expression', {}).get('expression', '')}"
    return text


def rule_view(pd: Mapping[str, Any]) -> dict[str, Any]:
    """What the diff compares of one PlanDefinition (as written by `export`)."""
    action = pd["action"][0]
    contained = {r["id"]: r for r in pd.get("contained", [])}
    codes = [c.get("code", "") for cc in action.get("code", []) for c in cc.get("coding", [])]
    return {
        "title": action.get("title", ""),
        "summary": action.get("description", ""),
        "detail": action.get("textEquivalent", ""),
        "indicator": INDICATOR.get(action.get("priority", ""), action.get("priority", "")),
        "topic": ", ".join(codes),
        "evidence": pd.get("description", ""),
        "lastReviewDate": pd.get("lastReviewDate", ""),
        "hooks": [t.get("name", "") for t in action.get("trigger", [])],
        "citations": [_artifact(a) for a in pd.get("relatedArtifact", [])],
        "suggestions": [_suggestion_text(a, contained) for a in action.get("action", [])],
        "version": pd.get("version", ""),
    }


def read_export(folder: Path) -> tuple[str, dict[str, dict[str, Any]]]:
    """(knowledge version, rule id -> its view) of one export folder; ValueError if it is not
    one."""
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a directory")
    lib_path = folder / LIBRARY_FILE
    if not lib_path.is_file():
        raise ValueError(f"{folder} has no {LIBRARY_FILE} (not a knowledge export)")
    try:
        version = str(json.loads(lib_path.read_text(encoding="utf-8")).get("version", ""))
        rules = {}
        for path in sorted(folder.glob(f"{PLAN_PREFIX}*.json")):
            pd = json.loads(path.read_text(encoding="utf-8"))
            rules[str(pd["id"])] = rule_view(pd)
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ValueError(f"{folder}: unreadable export ({exc})") from None
    return version, rules


def _indent(text: str, pad: str) -> str:
    lines = str(text).splitlines() or [""]
    return "\n".join(pad + line for line in lines)


def changed_fields(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The fields that differ, in the committee's order; `version` counts only beside a change
    of content (every rule carries the knowledge version, so a bump alone changes no rule)."""
    fields = [f for f in (*TEXT_FIELDS, *LIST_FIELDS) if old.get(f) != new.get(f)]
    if fields and old.get("version") != new.get("version"):
        fields.append("version")
    return fields


def diff_text(old_dir: Path, new_dir: Path) -> str:
    """The plain-text report of what changed from the old export to the new one."""
    old_version, old = read_export(old_dir)
    new_version, new = read_export(new_dir)
    lines = [f"Knowledge diff: {old_version} -> {new_version}",
             f"  old: {old_dir} ({len(old)} rules)", f"  new: {new_dir} ({len(new)} rules)"]
    if old_version == new_version:
        lines.append("  (same knowledge version)")
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = {rid: changed_fields(old[rid], new[rid]) for rid in sorted(set(old) & set(new))}
    changed = {rid: f for rid, f in changed.items() if f}
    lines += ["", f"Added rules: {len(added)}"]
    lines += [f"  + {rid}: {new[rid]['title']}" for rid in added]
    lines += ["", f"Removed rules: {len(removed)}"]
    lines += [f"  - {rid}: {old[rid]['title']}" for rid in removed]
    lines += ["", f"Changed rules: {len(changed)}"]
    for rid, fields in changed.items():
        lines.append(f"  * {rid}: {', '.join(fields)}")
        for f in fields:
            before, after = old[rid].get(f, ""), new[rid].get(f, "")
            if f in LIST_FIELDS:
                lines.append(f"    {f}:")
                lines += [f"      - {item}" for item in before if item not in after]
                lines += [f"      + {item}" for item in after if item not in before]
                if sorted(before) == sorted(after):
                    lines.append("      (same items, new order)")
            else:
                lines += [f"    {f}:", "      old:", _indent(before or "(none)", "        "),
                          "      new:", _indent(after or "(none)", "        ")]
    unchanged = len(set(old) & set(new)) - len(changed)
    lines += ["", f"Unchanged rules: {unchanged}"]
    if old_version == new_version and (added or removed or changed):
        # every change to what a card says bumps knowledge_version (cards/catalogue.toml)
        lines += ["", f"Note: rules changed but the knowledge version is still {new_version}."]
    return "\n".join(lines) + "\n"


# --- command -----------------------------------------------------------------------------------


def export_command(cards_dir: Path, out: Path) -> int:
    """`leukemia-cds knowledge export`: 0 and a count by resource type on stdout; 2 and one
    line on stderr for a broken catalogue or an unwritable folder."""
    from service.errors import StartupError
    from service.render import load_catalogue

    try:
        cat = load_catalogue(cards_dir)
        written = export(cat, out)
    except StartupError as exc:
        print(f"leukemia-cds: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"leukemia-cds: knowledge export: {exc}", file=sys.stderr)
        return 2
    counts = _count(p.name.split("-", 1)[0] for p in written)
    files = "file" if len(written) == 1 else "files"
    print(f"knowledge {cat.knowledge_version}: wrote {len(written)} {files} to {out} ("
          + ", ".join(f"{n} {kind}" for kind, n in counts) + ")")
    return 0


def _count(kinds: Iterable[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for kind in kinds:
        counts[kind] = counts.get(kind, 0) + 1
    return sorted(counts.items())


def diff_command(old_dir: Path, new_dir: Path) -> int:
    """`leukemia-cds knowledge diff`: 0 and the report on stdout whatever changed (a report,
    not a gate); 2 and one line on stderr when a folder is not an export."""
    try:
        text = diff_text(old_dir, new_dir)
    except ValueError as exc:
        print(f"leukemia-cds: knowledge diff: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0
