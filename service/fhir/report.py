"""`leukemia-cds facts FILE`: what the service understood from a Bundle or a CDS Hooks request.

Hospital IT runs this on an export of their EHR's feed before go-live: every fact is printed
with its value and the resource it came from, and every data-quality finding is listed, so a
site can see at a glance which codes it still needs to map in the ConceptMap.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from service.facts import DraftOrder, PatientFacts, Provenance
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
    facts: PatientFacts, orders: list[DraftOrder] | None, out: TextIO, title: str
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


def facts_command(path: str, out: TextIO = sys.stdout, *, profiles_dir: Path, policy: Policy,
                  now: datetime | None = None) -> int:
    """Print the facts report for FILE; non-zero when FILE is not a Bundle or hook request.

    ``profiles_dir`` and ``policy`` are the site's (from settings), so the report reads the
    record as the service would."""
    err = sys.stderr if out is sys.stdout else out
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        err.write(f"error: cannot read {path}: {exc}\n")
        return EXIT_UNREADABLE
    except json.JSONDecodeError as exc:
        err.write(f"error: {path} is not JSON: {exc}\n")
        return EXIT_UNREADABLE
    try:
        terminology = load_terminology(profiles_dir)
    except TerminologyError as exc:
        err.write(f"error: fhir_profiles cannot be loaded: {exc}\n")
        return EXIT_CONFIG

    orders: list[DraftOrder] | None = None
    patient_id: str | None = None
    if isinstance(doc, Mapping) and doc.get("resourceType") == "Bundle":
        if not isinstance(doc.get("entry", []), list):
            err.write(f"error: {path}: Bundle.entry is not a list\n")
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
            orders = extract_draft_orders(draft, selections=selections, terminology=terminology)
        title = f"{path} (CDS Hooks request, hook {doc['hook']})"
    else:
        err.write(
            f"error: {path} is neither a FHIR Bundle nor a CDS Hooks request "
            "(expected resourceType 'Bundle', or 'hook' with 'prefetch' / 'context')\n"
        )
        return EXIT_UNREADABLE

    facts = extract_facts(
        resources, now=now or datetime.now(UTC), terminology=terminology, policy=policy,
        patient_id=patient_id)
    render_report(facts, orders, out, title)
    return EXIT_OK
