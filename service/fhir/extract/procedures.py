"""Procedure → allogeneic HCT and CAR-T infusion events, with their dates.

The timing rules count from these events, so a procedure counts only once done, an event without
a date is reported, and a CAR-T product is named only when the procedure names exactly one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.facts import CarTEvent, ProcedureEvent, Provenance, RecognisedBy
from service.fhir.extract.collector import Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_start
from service.fhir.extract.medications import KINDS_DRUG
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.terminology import Match

_PROCEDURE_DONE = frozenset({"completed", "in-progress"})
KINDS_PROCEDURE = frozenset({"procedure", "drug"})


def read_procedure(col: Collector, proc: Mapping[str, Any], ref: str) -> None:
    code = proc.get("code")
    matches = col.term.match_codings(codings(code), KINDS_PROCEDURE)
    text_hit = False
    if not matches:
        text = cc_text(code)
        found = col.term.find_in_text(text, "procedure")
        if not found:
            found = [
                d
                for d in col.term.find_in_text(text, "drug")
                if col.term.concept(d).drug_class == "car-t"
            ]
        matches = [Match(c, "text-match") for c in found]
        text_hit = bool(matches)
    concepts = {m.concept for m in matches}
    is_allo = "allo-hct" in concepts
    car_products = {c for c in concepts if col.term.concept(c).drug_class == "car-t"}
    is_car_t = "car-t-infusion" in concepts or bool(car_products)
    if not (is_allo or is_car_t):
        return
    primary = "allo-hct" if is_allo else "car-t-infusion"
    status = proc.get("status")
    if not col.admit(proc, ref, primary, status):
        return
    if status not in _PROCEDURE_DONE:
        col.finding(
            "ignored-status", ref, f"procedure status {status!r}; not counted as done", primary
        )
        return
    when = parse_fhir_datetime(proc.get("performedDateTime")) or period_start(
        proc.get("performedPeriod")
    )
    if when is None:
        col.finding(
            "missing-date",
            ref,
            f"{col.term.concept(primary).display} without "
            "performedDateTime / performedPeriod; timing rules cannot use it",
            primary,
        )
    recognised_by: RecognisedBy = "text-match" if text_hit else matches[0].recognised_by
    source = Provenance(
        resource=ref, raw=cc_raw(code), recognised_by=recognised_by, effective=when
    )
    if is_allo and is_car_t:
        col.finding(
            "unreadable-value", ref, "coded both as allogeneic HCT and CAR-T; not used", primary
        )
        return
    if is_allo:
        col.allo.append(ProcedureEvent(date=when, source=source))
        return
    # CAR-T: the product may be in usedCode, usedReference display, or the code's text
    for used in proc.get("usedCode") or []:
        for m in col.term.match_codings(codings(used), KINDS_DRUG):
            car_products.add(m.concept)
        car_products.update(col.term.find_in_text(cc_text(used), "drug"))
    for used in proc.get("usedReference") or []:
        if isinstance(used, dict) and isinstance(used.get("display"), str):
            car_products.update(col.term.find_in_text(used["display"], "drug"))
    car_products.update(col.term.find_in_text(cc_text(code), "drug"))
    car_products = {p for p in car_products if col.term.concept(p).drug_class == "car-t"}
    product = next(iter(car_products)) if len(car_products) == 1 else None
    if len(car_products) > 1:
        col.finding(
            "conflict",
            ref,
            "names more than one CAR-T product: " + ", ".join(sorted(car_products)),
            "car-t-infusion",
        )
    col.car_t.append(CarTEvent(product=product, date=when, source=source))  # type: ignore[arg-type]
