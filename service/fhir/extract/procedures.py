"""Procedure → hematopoietic cell transplants and CAR-T infusion events, with their dates.

The timing rules count from these events, so a procedure counts only once done, an event without
a date is reported, and a CAR-T product is named only when the procedure names exactly one.

A transplant is allogeneic, autologous, or of a donor type the record does not state. Only an
allogeneic one is ``allo_hct``: the generic SNOMED 234336002 "hemopoietic stem cell transplant"
has autologous transplants under it, so alone it is ``hct_type_unknown`` (reported, and the
rules that depend on a prior allogeneic HCT ask to confirm the donor type), never allogeneic and
never "no transplant". The same readers serve history-of-transplant Conditions (``record_hct``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.facts import CarTEvent, ProcedureEvent, Provenance, RecognisedBy
from service.fhir.extract.collector import Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_start
from service.fhir.extract.medications import KINDS_DRUG
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.terminology import ICD10PCS, Match, normalise_system, normalise_text

_PROCEDURE_DONE = frozenset({"completed", "in-progress"})
KINDS_PROCEDURE = frozenset({"procedure", "drug"})
HCT_CONCEPTS = frozenset({"allo-hct", "auto-hct", "hct-unspecified"})

# What the resource's own words say of the donor, read only once it is known to be a transplant
# (CAR-T products are autologous too, so "autologous" alone names no procedure). "non-autologous"
# says "not autologous", not "allogeneic"; it is removed before looking.
_NOT_AUTOLOGOUS = re.compile(r"(?<![a-z0-9])non ?autologous(?![a-z0-9])")
_AUTOLOGOUS = re.compile(r"(?<![a-z0-9])(?:autologous|auto)(?![a-z0-9])")
_ALLOGENEIC = re.compile(r"(?<![a-z0-9])(?:allogeneic|allogenic|allo)(?![a-z0-9])")

# ICD-10-PCS 302 table, transfusion into a vein or artery of bone marrow (G), cord blood (X),
# hematopoietic stem cells (Y), T-cell depleted ones (U) or genetically modified ones (C). The
# ValueSets list the percutaneous-vein codes the tables hold, each under the donor type its 7th
# character (the donor qualifier) gives; any other code of this shape (open approach, artery)
# is reported with what its 7th character says, not read as a fact.
_PCS_STEM_CELLS = re.compile(r"302[3-6][03][GXYUC][0-9]")
_PCS_QUALIFIER = {"0": "autologous", "1": "nonautologous", "2": "allogeneic related",
                  "3": "allogeneic unrelated", "4": "allogeneic unspecified"}


def _donor_words(cc: Any) -> frozenset[str]:
    """'auto-hct' / 'allo-hct' for each donor type the code's text or displays name."""
    if not isinstance(cc, dict):
        return frozenset()
    parts = [cc.get("text"), *(c.get("display") for c in codings(cc))]
    text = normalise_text(" ".join(p for p in parts if isinstance(p, str)))
    text = _NOT_AUTOLOGOUS.sub(" ", text)
    said = set()
    if _AUTOLOGOUS.search(text):
        said.add("auto-hct")
    if _ALLOGENEIC.search(text):
        said.add("allo-hct")
    return frozenset(said)


def _donor_type(col: Collector, ref: str, coded: set[str], cc: Any, raw: str
                ) -> tuple[str, bool]:
    """The transplant's donor type as the resource states it, and whether its text decided it.

    A code that says allogeneic or autologous stands unless the text names only the other type
    (then neither is believed: a conflict). A generic code takes the type its text names (so
    "autologous" in the text of SNOMED 234336002 is autologous); text naming both, or neither,
    leaves the type not stated. Every outcome but a plain one is a finding."""
    typed = coded & {"allo-hct", "auto-hct"}
    said = _donor_words(cc)
    if len(typed) == 2:
        col.finding("conflict", ref, f"{raw}: coded both allogeneic and autologous HCT; "
                    "transplant type not stated", "hct-unspecified")
        return "hct-unspecified", False
    if typed:
        (kind,) = typed
        if said and kind not in said:
            col.finding("conflict", ref, f"{raw}: coded as {_TYPE_WORD[kind]} HCT but its text "
                        f"says {_TYPE_WORD[next(iter(said))]}; transplant type not stated",
                        "hct-unspecified")
            return "hct-unspecified", False
        return kind, False
    if len(said) == 1:
        return next(iter(said)), True
    why = "its text names both allogeneic and autologous" if said else \
        "neither its code nor its text says allogeneic or autologous"
    col.finding("conflict" if said else "missing-value", ref,
                f"{raw}: hematopoietic cell transplant, transplant type not stated ({why}); "
                "rules that depend on a prior allogeneic HCT ask to confirm it",
                "hct-unspecified")
    return "hct-unspecified", False


_TYPE_WORD = {"allo-hct": "allogeneic", "auto-hct": "autologous"}


def record_hct(col: Collector, ref: str, coded: set[str], cc: Any, when: datetime | None,
               source: Provenance, date_element: str) -> None:
    """File one transplant (Procedure or history-of Condition) under its donor type.

    Allogeneic and not-stated transplants feed the timing rules, so a missing date is reported
    for them; an autologous one is kept only so that it is seen (no rule reads it)."""
    kind, by_text = _donor_type(col, ref, coded, cc, source.raw)
    if by_text:
        source = source.model_copy(update={"recognised_by": "text-match"})
    event = ProcedureEvent(date=when, source=source)
    if kind == "auto-hct":
        col.auto_hct.append(event)
        return
    if when is None:
        col.finding("missing-date", ref, f"{col.term.concept(kind).display} without "
                    f"{date_element}; timing rules cannot use it", kind)
    (col.allo if kind == "allo-hct" else col.hct_unknown).append(event)


def _unlisted_stem_cell_code(col: Collector, proc: Mapping[str, Any], ref: str) -> None:
    """An ICD-10-PCS stem-cell transfusion the contract's tables do not list: said, not read."""
    for c in codings(proc.get("code")):
        code = c.get("code")
        if normalise_system(c.get("system")) != ICD10PCS or not isinstance(code, str):
            continue
        code = code.strip().upper()
        if not _PCS_STEM_CELLS.fullmatch(code):
            continue
        if not col.admit(proc, ref, "hct-unspecified", proc.get("status")):
            return
        qualifier = _PCS_QUALIFIER.get(code[6], "not a donor qualifier")
        col.finding("unreadable-value", ref, f"ICD-10-PCS {code} (hematopoietic cell transfusion, "
                    f"7th character {code[6]}: {qualifier}) is not a code of the current "
                    "ICD-10-PCS tables the contract lists; not used", "hct-unspecified")
        return


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
    if not matches:
        _unlisted_stem_cell_code(col, proc, ref)
        return
    concepts = {m.concept for m in matches}
    hct = concepts & HCT_CONCEPTS
    car_products = {c for c in concepts if col.term.concept(c).drug_class == "car-t"}
    is_car_t = "car-t-infusion" in concepts or bool(car_products)
    if not (hct or is_car_t):
        return
    primary = min(hct) if hct else "car-t-infusion"  # allo-hct < auto-hct < hct-unspecified
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
    recognised_by: RecognisedBy = "text-match" if text_hit else matches[0].recognised_by
    source = Provenance(
        resource=ref, raw=cc_raw(code), recognised_by=recognised_by, effective=when
    )
    if hct and is_car_t:
        col.finding(
            "unreadable-value", ref, "coded both as a transplant and as CAR-T; not used", primary
        )
        return
    if hct:
        record_hct(col, ref, hct, code, when, source, "performedDateTime / performedPeriod")
        return
    if when is None:
        col.finding(
            "missing-date",
            ref,
            f"{col.term.concept(primary).display} without "
            "performedDateTime / performedPeriod; timing rules cannot use it",
            primary,
        )
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
