"""`leukemia-cds facts FILE [--json]`: what the service understood from a Bundle or a CDS
Hooks request, and where every resource went.

Hospital IT runs this on an export of their EHR's feed before go-live: every fact is printed
with its value and the resource it came from, every data-quality finding is listed, and every
resource is accounted for (used, superseded, reported, set aside with the reason), ending with
the codes set aside as out of scope, counted: the site's ConceptMap worklist.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from service.facts import DataQualityFinding, DraftOrder, PatientFacts, Provenance
from service.fhir.accounting import Accounting, account
from service.fhir.extract import extract_draft_orders, extract_facts
from service.fhir.terminology import TerminologyError, load_terminology
from service.policy import Policy

EXIT_OK = 0
EXIT_UNREADABLE = 2
EXIT_CONFIG = 3


def _source_text(src: Provenance) -> str:
    when = f", {src.effective.date().isoformat()}" if src.effective else ""
    return f"{src.resource} ({src.recognised_by}{when}; raw {src.raw!r})"


def _value_text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _split_request(doc: Mapping[str, Any]) -> tuple[list[Any], str | None, Any, list[str] | None]:
    """(resources, patient id, draftOrders, selections) of a CDS Hooks request."""
    prefetch = doc.get("prefetch") or {}
    resources = (
        [v for v in prefetch.values() if v is not None] if isinstance(prefetch, Mapping) else []
    )
    context = doc.get("context")
    if not isinstance(context, Mapping):
        context = {}
    patient_id = context.get("patientId") if isinstance(context.get("patientId"), str) else None
    selections = context.get("selections")
    return (
        resources,
        patient_id,
        context.get("draftOrders"),
        [s for s in selections if isinstance(s, str)] if isinstance(selections, list) else None,
    )


def render_report(
    facts: PatientFacts, orders: list[DraftOrder] | None, out: TextIO, title: str,
    accounting: Accounting | None = None,
) -> None:
    """Plain-text report; stable line formats so integrators can grep it."""
    w = out.write
    w(f"leukemia-cds facts: {title}\n")
    as_of = facts.as_of.isoformat() if facts.as_of else "-"
    w(f"patient: {facts.patient_id or 'unknown'}   as of: {as_of}\n")
    listed = list(facts.iter_facts())
    w(f"\nFacts ({len(listed)}):\n")
    if not listed:
        w("  (none recognised)\n")
    for name, value, src in listed:
        w(f"  {name} = {_value_text(value)}  <- {_source_text(src)}\n")
    if facts.lineage_inferred:
        w("  note: lineage is inferred from marker expression, not from a recorded diagnosis\n")
    if orders is not None:
        w(f"\nDraft orders ({len(orders)}):\n")
        for o in orders:
            what = o.drug or ("CAR-T (product not recognised)" if o.is_car_t else "not recognised")
            how = f", {o.recognised_by}" if o.recognised_by else ""
            w(f"  {o.resource}: {what}{how}  ({o.display!r})\n")
    w(f"\nData-quality findings ({len(facts.findings)}):\n")
    if not facts.findings:
        w("  (none)\n")
    for f in facts.findings:
        w(f"  [{f.code}] {f.resource or '-'}: {f.message}\n")
    w(f"\nentered-in-error resources ignored: {facts.entered_in_error_count}\n")
    if accounting is not None:
        _render_accounting(accounting, w)


def _render_accounting(a: Accounting, w: Any) -> None:
    w(f"\nEvery resource ({a.total}): {len(a.used)} used, {len(a.superseded)} superseded, "
      f"{len(a.reported)} reported, {len(a.set_aside)} set aside\n")
    for title, items in (("Used", a.used), ("Superseded (another result was used)",
                                             a.superseded),
                         ("Reported (see the findings)", a.reported),
                         ("Set aside", a.set_aside)):
        w(f"\n{title} ({len(items)}):\n")
        if not items:
            w("  (none)\n")
        for item in items:
            w(f"  {item.resource} [{item.codes}]: {item.why}\n")
    w(f"\nWorklist: codes set aside as out of scope ({len(a.worklist)}); map the ones that "
      "carry leukemia data in fhir_profiles/ConceptMap-site-codes.json:\n")
    if not a.worklist:
        w("  (none)\n")
    for codes, count in a.worklist:
        w(f"  {count:>4} x {codes}\n")


def report_json(facts: PatientFacts, orders: list[DraftOrder] | None, title: str,
                accounting: Accounting) -> dict[str, Any]:
    """The report as data: the same lists, for a script that checks a feed."""
    return {
        "title": title, "patient": facts.patient_id,
        "as_of": facts.as_of.isoformat() if facts.as_of else None,
        "facts": [{"name": n, "value": _value_text(v), "resource": src.resource,
                   "recognised_by": src.recognised_by, "raw": src.raw}
                  for n, v, src in facts.iter_facts()],
        "lineage_inferred": facts.lineage_inferred,
        "draft_orders": None if orders is None else [
            {"resource": o.resource, "drug": o.drug, "recognised_by": o.recognised_by,
             "display": o.display} for o in orders],
        "findings": [{"code": f.code, "resource": f.resource, "message": f.message,
                      "concept": f.concept} for f in facts.findings],
        "entered_in_error": facts.entered_in_error_count,
        "accounting": accounting.to_json(),
    }


def facts_command(path: str, out: TextIO = sys.stdout, *, profiles_dir: Path, policy: Policy,
                  now: datetime | None = None, as_json: bool = False,
                  site_map: Path | None = None) -> int:
    """Print the facts report for FILE; non-zero when FILE is not a Bundle or hook request.

    ``profiles_dir`` and ``policy`` are the site's (from settings), so the report reads the
    record as the service would."""
    err = sys.stderr if out is sys.stdout else out
    # one line each, prefixed as every other command's (issue 22)
    try:
        text = Path(path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except IsADirectoryError:
        err.write(f"leukemia-cds: {path} is a folder; give one Bundle or resource file\n")
        return EXIT_UNREADABLE
    except OSError as exc:
        err.write(f"leukemia-cds: cannot read {path} ({exc.strerror})\n")
        return EXIT_UNREADABLE
    except UnicodeDecodeError as exc:
        err.write(f"leukemia-cds: {path} is not UTF-8 text ({exc.reason})\n")
        return EXIT_UNREADABLE
    except json.JSONDecodeError as exc:
        what = "is empty" if not text.strip() else f"is not JSON ({exc})"
        err.write(f"leukemia-cds: {path} {what}\n")
        return EXIT_UNREADABLE
    try:
        terminology = load_terminology(profiles_dir, site_map)
    except TerminologyError as exc:
        err.write(f"leukemia-cds: fhir_profiles cannot be loaded: {exc}\n")
        return EXIT_CONFIG

    orders: list[DraftOrder] | None = None
    patient_id: str | None = None
    foreign: list[DataQualityFinding] = []  # draft orders for another patient, as a hook does
    if isinstance(doc, Mapping) and doc.get("resourceType") == "Bundle":
        if not isinstance(doc.get("entry", []), list):
            err.write(f"leukemia-cds: {path}: Bundle.entry is not a list\n")
            return EXIT_UNREADABLE
        resources: list[Any] = [doc]
        title = f"{path} (Bundle, {len(doc.get('entry') or [])} entries)"
    elif (
        isinstance(doc, Mapping)
        and isinstance(doc.get("hook"), str)
        and ("prefetch" in doc or "context" in doc)
    ):
        resources, patient_id, draft, selections = _split_request(doc)
        if draft is not None:
            orders = extract_draft_orders(draft, selections=selections, terminology=terminology,
                                          patient_id=patient_id, set_aside=foreign)
        title = f"{path} (CDS Hooks request, hook {doc['hook']})"
    else:
        err.write(
            f"leukemia-cds: {path} is neither a FHIR Bundle nor a CDS Hooks request "
            "(expected resourceType 'Bundle', or 'hook' with 'prefetch' / 'context')\n"
        )
        return EXIT_UNREADABLE

    facts = extract_facts(
        resources, now=now or datetime.now(UTC), terminology=terminology, policy=policy,
        patient_id=patient_id)
    if foreign:
        facts = facts.model_copy(update={"findings": (*facts.findings, *foreign)})
    accounting = account(resources, facts)
    if as_json:
        out.write(json.dumps(report_json(facts, orders, title, accounting), indent=2) + "\n")
    else:
        render_report(facts, orders, out, title, accounting)
    return EXIT_OK
