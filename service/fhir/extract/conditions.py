"""Condition → the diagnosis (lineage), the disease status its codes state, its ICD-10 remission
hint and clinical status, a history of HCT (allogeneic, autologous or of unstated type), and the
comorbidities the rules weigh.

A Condition says different things through its verification status (refuted is not a diagnosis,
but refutes a comorbidity), its clinical status (current or not), its codes (several may name
different diagnoses) and its mCODE histology-morphology extension; those rules are specific to
Conditions and kept together here.

**Diagnosis.** Every code of ``Condition.code`` and every ICD-O-3 morphology on the Condition
(the mCODE ``histologyMorphologyBehavior`` extension, or a code such as "9837/3" written in the
code's text) is read, even when the code alone is recognised: US problem lists say C91.0- for
every ALL (ICD-10-CM has no T-ALL code), and only the morphology says T-lymphoblastic. A less
specific diagnosis is refined by a more specific one (``_REFINED_BY``); two that cannot both be
true (B-ALL code, T-lymphoblastic morphology) are a ``conflict`` and give no lineage.

**Disease status.** An ICD-10-CM leukemia code says in its 5th character whether the leukemia is
in remission (1) or in relapse (2), and ``Condition.clinicalStatus`` may say relapse, recurrence
or remission. Neither says which relapse or remission, so they give the statuses "relapse" and
"remission" (number not recorded), as candidates that ``assemble`` weighs against any explicit
disease-status Observation. The 5th character 0 ("not having achieved remission") is also the
code of the leukemia NOS, so it states no status and contradicts none.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from service.facts import Provenance, RecognisedBy
from service.fhir.extract.collector import COMORBIDITY_FIELDS, Cand, Collector
from service.fhir.extract.dates import parse_fhir_datetime, period_start
from service.fhir.extract.procedures import HCT_CONCEPTS, record_hct
from service.fhir.extract.raw import cc_raw, cc_text, codings
from service.fhir.terminology import ICD10CM, ICDO3, Match, normalise_code, normalise_system

_CURRENT_CONDITION = frozenset({"active", "recurrence", "relapse"})
_NOT_CURRENT_CONDITION = frozenset({"inactive", "remission", "resolved"})
_CONDITION_CLINICAL = frozenset(
    {"active", "recurrence", "relapse", "inactive", "remission", "resolved"}
)
_ICD_HINT = {"0": "not-in-remission", "1": "in-remission", "2": "in-relapse"}
# what each reading says of the disease status (number not recorded); others say nothing
_ICD_STATUS = {"in-remission": "remission", "in-relapse": "relapse"}
_CLINICAL_STATUS = {"relapse": "relapse", "recurrence": "relapse", "remission": "remission"}
_KINDS_CONDITION = frozenset({"condition", "procedure"})  # procedure: history-of-HCT Condition

# The lineages a diagnosis concept still allows when a more specific code is read with it
# (another coding, or the morphology); a lineage concept allows its own lineage too. "ALL,
# lineage not stated" becomes B- or T-ALL; an acute leukemia of unspecified cell type (C95.0-)
# any lineage; "other myeloid leukemia" (C92.Z-, not stated acute) only AML. The last two give
# no lineage on their own: they are reported, not guessed.
_REFINED_BY: dict[str, frozenset[str]] = {
    "all-unspecified": frozenset({"b-all", "t-all"}),
    "acute-leukemia-unspecified": frozenset({"b-all", "t-all", "aml", "all-unspecified"}),
    "myeloid-leukemia-other": frozenset({"aml"}),
}
# of the lineage-less diagnoses, the one not stated acute: without a lineage from the
# morphology, its remission or relapse is not this service's to read
_NOT_STATED_ACUTE = frozenset({"myeloid-leukemia-other"})
# diagnoses that themselves state t(9;22) BCR::ABL1 (ICD-O-3 9812/3): Ph positive
_PH_POSITIVE = frozenset({"b-all-bcr-abl1"})

_MORPHOLOGY_EXTENSION = "histology-morphology-behavior"  # mCODE's, under any base URL
_ICDO3_CODE = re.compile(r"(?<![\d/])(9\d{3}/\d)(?![\d/])")


def _condition_time(cond: Mapping[str, Any]) -> datetime | None:
    return (
        parse_fhir_datetime(cond.get("recordedDate"))
        or parse_fhir_datetime(cond.get("onsetDateTime"))
        or period_start(cond.get("onsetPeriod"))
    )


def _earliest_date(cond: Mapping[str, Any]) -> tuple[datetime | None, str]:
    """The earliest of onset and recordedDate, with its name.

    Neither element dates a relapse or a remission; the earliest is the date the record
    supports at most, so an old "in relapse" code is never taken for a relapse after a later
    CAR T infusion or transplant (the rules then ask for the current status instead)."""
    dated = [
        (d, name)
        for d, name in (
            (parse_fhir_datetime(cond.get("onsetDateTime"))
             or period_start(cond.get("onsetPeriod")), "onset"),
            (parse_fhir_datetime(cond.get("recordedDate")), "recordedDate"),
        )
        if d is not None
    ]
    if not dated:
        return None, "undated"
    return min(dated, key=lambda x: x[0])


def _status_code(cc: Any) -> str | None:
    for c in codings(cc):
        if isinstance(c.get("code"), str):
            return c["code"]
    return None


def _is_diagnosis(col: Collector, concept: str) -> bool:
    return col.term.concept(concept).lineage is not None or concept in _REFINED_BY


def _morphology(col: Collector, cond: Mapping[str, Any]) -> list[tuple[Match, str]]:
    """ICD-O-3 morphologies on the Condition that name a diagnosis, with their raw text.

    Coded in the mCODE histologyMorphologyBehavior extension (or any extension coded in
    ICD-O-3; a code without a system is read as ICD-O-3 there), else written in the code's
    text ("T-lymphoblastic leukaemia 9837/3", recognised by text match)."""
    found: list[tuple[Match, str]] = []
    for ext in cond.get("extension") or []:
        if not isinstance(ext, dict):
            continue
        named = _MORPHOLOGY_EXTENSION in str(ext.get("url", ""))
        for c in codings(ext.get("valueCodeableConcept")):
            system = normalise_system(c.get("system"))
            code = c.get("code")
            if not system and named and isinstance(code, str) and _ICDO3_CODE.fullmatch(code):
                system = ICDO3
            if system != ICDO3 and not named:
                continue
            for m in col.term.lookup(system, code):
                if _is_diagnosis(col, m.concept):
                    found.append((m, f"ICD-O-3 {normalise_code(system, code)}"))
    if found:
        return found
    for code in _ICDO3_CODE.findall(cc_text(cond.get("code"))):
        for m in col.term.lookup(ICDO3, code):
            if _is_diagnosis(col, m.concept):
                found.append((Match(m.concept, "text-match"), f"'{code}' in the text"))
    return found


def read_condition(col: Collector, cond: Mapping[str, Any], ref: str) -> None:
    code = cond.get("code")
    matches = col.term.match_codings(codings(code), _KINDS_CONDITION)
    morphology = _morphology(col, cond)
    if not matches and not morphology:
        return
    concepts = {m.concept for m in matches}
    primary = (matches or [m for m, _ in morphology])[0].concept
    verification = _status_code(cond.get("verificationStatus"))
    if not col.admit(cond, ref, primary, verification):
        return
    when = _condition_time(cond)
    clinical = _status_code(cond.get("clinicalStatus"))
    recognised_by: RecognisedBy = (matches or [m for m, _ in morphology])[0].recognised_by
    raw = cc_raw(code)

    def prov(r: str = raw, by: RecognisedBy = recognised_by) -> Provenance:
        return Provenance(resource=ref, raw=r, recognised_by=by, effective=when)

    if verification == "refuted":
        for c in concepts:
            if c in COMORBIDITY_FIELDS:
                col.simple[COMORBIDITY_FIELDS[c]].append(Cand(False, prov()))
        col.finding(
            "ignored-status", ref, "verificationStatus refuted; not used as a diagnosis", primary
        )
        return

    _read_diagnosis(col, cond, ref, matches, morphology, clinical, prov)

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


def _code_claims(
    col: Collector, code: Any, matches: list[Match]
) -> list[tuple[Match, str]]:
    """The diagnosis concepts Condition.code names, each with the coding that names it."""
    out: list[tuple[Match, str]] = []
    for coding in codings(code):
        for m in col.term.lookup(coding.get("system"), coding.get("code")):
            if m in matches and _is_diagnosis(col, m.concept):
                out.append((m, cc_raw({"coding": [coding]})))
    return out


def _read_diagnosis(
    col: Collector,
    cond: Mapping[str, Any],
    ref: str,
    matches: list[Match],
    morphology: list[tuple[Match, str]],
    clinical: str | None,
    prov: Callable[..., Provenance],
) -> None:
    """Lineage (codes and morphology together), Ph from the diagnosis, and the status hints."""
    code = cond.get("code")
    claims = _code_claims(col, code, matches) + [
        (m, f"morphology {raw}") for m, raw in morphology
    ]
    if not claims:
        return
    term = col.term

    def allows(concept: str) -> frozenset[str]:
        own = term.concept(concept).lineage
        return _REFINED_BY.get(concept, frozenset()) | ({own} if own else frozenset())

    allowed = frozenset.intersection(*(allows(m.concept) for m, _ in claims))
    described = ", ".join(f"{term.concept(m.concept).display} ({raw})" for m, raw in claims)
    if not allowed:
        col.finding(
            "conflict", ref, f"the diagnosis codes disagree: {described}; not used", "diagnosis"
        )
        return
    chosen = [(m, raw) for m, raw in claims if term.concept(m.concept).lineage in allowed]
    if not chosen:
        col.finding(
            "missing-value",
            ref,
            f"{described}: no lineage is stated (and no ICD-O-3 morphology states it); "
            "record the diagnosis with its lineage",
            claims[0][0].concept,
        )
        if any(m.concept in _NOT_STATED_ACUTE for m, _ in claims):
            return
    else:
        # every chosen claim names the one lineage the intersection leaves; codes come first
        lead = chosen[0][0]
        lineage = term.concept(lead.concept).lineage
        raws = "; ".join(raw for _, raw in claims)
        col.lineage.append(Cand(lineage, prov(raws, lead.recognised_by)))
        for m, raw in claims:
            if m.concept in _PH_POSITIVE:
                col.simple["ph"].append(
                    Cand("positive", prov(f"{raw}: {term.concept(m.concept).display}",
                                          m.recognised_by)))
    _read_status(col, cond, ref, code, clinical, prov)


def _read_status(
    col: Collector, cond: Mapping[str, Any], ref: str, code: Any, clinical: str | None,
    prov: Callable[..., Provenance],
) -> None:
    """The ICD-10-CM 5th character and clinicalStatus: hints, and the status they state."""
    hints: list[tuple[str, str]] = []
    for coding in codings(code):
        if normalise_system(coding.get("system")) != ICD10CM:
            continue
        digits = normalise_code(ICD10CM, coding.get("code"))
        matched = col.term.lookup(ICD10CM, digits)
        if len(digits) == 5 and digits[-1] in _ICD_HINT and any(
            _is_diagnosis(col, m.concept) for m in matched
        ):
            hint = _ICD_HINT[digits[-1]]
            hints.append((hint, f"ICD-10-CM {coding.get('code')}"))
            col.icd_hint.append(Cand(hint, prov(f"{coding.get('code')}")))
    if clinical in _CONDITION_CLINICAL:
        col.clinical_status.append(Cand(clinical, prov(f"clinicalStatus {clinical}")))

    said = [(_ICD_STATUS[h], f"{raw} ({h.replace('-', ' ')})") for h, raw in hints
            if h in _ICD_STATUS]
    if clinical in _CLINICAL_STATUS:
        said.append((_CLINICAL_STATUS[clinical], f"clinicalStatus {clinical}"))
    if not said:
        return
    statuses = {s for s, _ in said}
    if len(statuses) > 1:
        col.finding(
            "conflict",
            ref,
            "disease status: " + ", ".join(raw for _, raw in said) + " disagree; not used",
            "disease-status",
        )
        return
    status = statuses.pop()
    when, named = _earliest_date(cond)
    if status == "remission":
        abated = parse_fhir_datetime(cond.get("abatementDateTime")) or period_start(
            cond.get("abatementPeriod")
        )
        if abated is not None:
            when, named = abated, "abatement"
    raw = "; ".join(r for _, r in said) + f" (dated by {named})"
    col.derived_status.append(Cand(status, Provenance(
        resource=ref, raw=raw, recognised_by="standard-code", effective=when)))
