"""Condition → the diagnosis (lineage), its ICD-10 remission hint and clinical status, a history
of HCT (allogeneic, autologous or of unstated type), and the comorbidities the rules weigh.

A Condition says different things through its verification status (refuted is not a diagnosis,
but refutes a comorbidity), its clinical status (current or not) and its codes (several may name
different diagnoses); those rules are specific to Conditions and kept together here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from service.facts import Provenance, RecognisedBy
from service.fhir.extract.collector import COMORBIDITY_FIELDS, Cand, Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_start
from service.fhir.extract.procedures import HCT_CONCEPTS, record_hct
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.terminology import ICD10CM, Match

_CURRENT_CONDITION = frozenset({"active", "recurrence", "relapse"})
_NOT_CURRENT_CONDITION = frozenset({"inactive", "remission", "resolved"})
_CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
_ICD_HINT = {"0": "not-in-remission", "1": "in-remission", "2": "in-relapse"}
_KINDS_CONDITION = frozenset({"condition", "procedure"})  # procedure: history-of-HCT Condition
_T_ALL_MORPHOLOGY = re.compile(r"(?<!\d)9837/3(?!\d)")


def _condition_time(cond: Mapping[str, Any]) -> datetime | None:
    return (
        parse_fhir_datetime(cond.get("recordedDate"))
        or parse_fhir_datetime(cond.get("onsetDateTime"))
        or period_start(cond.get("onsetPeriod"))
    )


def _status_code(cc: Any) -> str | None:
    for c in codings(cc):
        if isinstance(c.get("code"), str):
            return c["code"]
    return None


def _t_all_morphology(cond: Mapping[str, Any]) -> RecognisedBy | None:
    """ICD-O-3 9837/3 coded in an extension (mCODE histology) or written in the code's text."""
    for ext in cond.get("extension") or []:
        if isinstance(ext, dict):
            for c in codings(ext.get("valueCodeableConcept")):
                if c.get("code") == "9837/3":
                    return "standard-code"
    if _T_ALL_MORPHOLOGY.search(cc_text(cond.get("code"))):
        return "text-match"
    return None


def read_condition(col: Collector, cond: Mapping[str, Any], ref: str) -> None:
    code = cond.get("code")
    matches = col.term.match_codings(codings(code), _KINDS_CONDITION)
    recognised_by: RecognisedBy | None = None
    morphology = None if matches else _t_all_morphology(cond)
    if morphology is not None:
        matches = [Match("t-all", morphology)]
    if not matches:
        return
    concepts = {m.concept for m in matches}
    primary = matches[0].concept
    verification = _status_code(cond.get("verificationStatus"))
    if not col.admit(cond, ref, primary, verification):
        return
    when = _condition_time(cond)
    clinical = _status_code(cond.get("clinicalStatus"))
    recognised_by = matches[0].recognised_by
    raw = cc_raw(code)

    def prov(r: str = raw) -> Provenance:
        return Provenance(
            resource=ref, raw=r, recognised_by=recognised_by or "local-code", effective=when
        )

    if verification == "refuted":
        for c in concepts:
            if c in COMORBIDITY_FIELDS:
                col.simple[COMORBIDITY_FIELDS[c]].append(Cand(False, prov()))
        col.finding(
            "ignored-status", ref, "verificationStatus refuted; not used as a diagnosis", primary
        )
        return

    lineages = {col.term.concept(c).lineage for c in concepts} - {None}
    if len(lineages) > 1:
        col.finding(
            "unreadable-value",
            ref,
            "codes name different diagnoses: " + ", ".join(sorted(str(x) for x in lineages)),
            primary,
        )
    elif lineages:
        col.lineage.append(Cand(lineages.pop(), prov()))
        for coding in codings(code):
            if str(coding.get("system", "")).rstrip("/") == ICD10CM or coding.get("system") in (
                "urn:oid:2.16.840.1.113883.6.90",
            ):
                digits = str(coding.get("code", "")).replace(".", "").upper()
                if re.fullmatch(r"C9[12]0[012]", digits):
                    col.icd_hint.append(
                        Cand(_ICD_HINT[digits[-1]], prov(f"{coding.get('code')}")))
        if clinical in _CONDITION_CLINICAL:
            col.clinical_status.append(Cand(clinical, prov(f"clinicalStatus {clinical}")))

    if concepts & HCT_CONCEPTS:
        onset = parse_fhir_datetime(cond.get("onsetDateTime")) or period_start(
            cond.get("onsetPeriod")
        )
        record_hct(col, ref, concepts & HCT_CONCEPTS, code, onset, prov(), "an onset date")

    for c in concepts & COMORBIDITY_FIELDS.keys():
        if clinical in _NOT_CURRENT_CONDITION:
            present = False
        elif clinical is None or clinical in _CURRENT_CONDITION:
            present = True
        else:
            col.finding("unreadable-value", ref, f"clinicalStatus {clinical!r} not understood", c)
            continue
        col.simple[COMORBIDITY_FIELDS[c]].append(
            Cand(present, prov(f"{raw} ({clinical or 'no clinicalStatus'})"))
        )
