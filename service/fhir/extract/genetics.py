"""Genetic results read by their structure: variants, karyotypes and BCR::ABL1 levels.

A Genomics Reporting / mCODE variant (LOINC 69548-6, "Genetic variant assessment") names a kind
of test, not a finding: the same code carries BCR::ABL1, ABL1 T315I and ETV6::RUNX1. What a
variant states is in its components (genes studied, DNA or amino-acid change, ISCN) and in its
value (LA9633-4 present / LA9634-2 absent), so it is read by those and never by its code. The
codes and which concept each structure means live in ``fhir_profiles/`` (the gene and change
ValueSets; the CodeSystem properties ``fusion-genes``, ``variant-gene``, ``iscn-translocation``,
``iscn-suggests``, ``detects``); this module only knows how the structures are shaped.

The readings, each conservative where the record is:

- a variant naming every gene of a concept's ``fusion-genes`` (BCR and ABL1: a BCR::ABL1 fusion)
  is that concept, positive or negative by its value. With a DNA / amino-acid change component
  the value is about that change, so "absent" then says nothing about the fusion;
- a variant naming the gene of a concept's ``variant-gene`` (ABL1) and one of the concept's
  HGVS changes (p.Thr315Ile; c.944C>T on the ABL1 transcript of mCODE's example, NM_005157) is
  that concept, detected or not detected by its value. A listed change without that gene is
  reported, not read;
- any other variant (ETV6::RUNX1, an ABL1 change that is not T315I) is not about a contract
  concept and is set aside like any other uncovered Observation;
- an ISCN karyotype with a translocation joining the bands of ``iscn-translocation`` (9q34 and
  22q11) establishes the concept (recognised by text); a karyotype without it establishes
  nothing (cryptic BCR::ABL1 is not seen on a karyotype), so it is never a negative. A
  translocation at an ``iscn-suggests`` band (11q23, where KMT2A lies) suggests without
  establishing: a finding while the concept is unknown, never a value. Only ISCN-shaped values
  are read ("no t(9;22) seen" contains t(9;22)); free text and in situ hybridisation
  nomenclature are reported;
- a BCR::ABL1 level above zero means transcripts detected: the concept of ``detects`` (Ph) is
  positive. Zero or below the limit of detection is a response measure (and 69380-4 measures
  only the b2a2 / b3a2 transcripts), never Ph-negative: a finding while Ph is unknown.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from service.facts import Provenance, RecognisedBy
from service.fhir.extract.answers import read_answer
from service.fhir.extract.collector import SIMPLE_FIELDS, Cand, Collector
from service.fhir.extract.raw import cc_text, codings, raw_value, value_key
from service.fhir.terminology import HGVS, Concept, Terminology, normalise_system, normalise_text
from service.fhir.values import Unreadable

KINDS_COMPONENT = frozenset({"component"})
KINDS_GENE = frozenset({"gene"})
VARIANT = "genetic-variant"  # its answers (pos-neg) are a variant's present / absent
DETECTION = frozenset({"detected", "not-detected"})
# a variant's present / absent, for a concept valued detected / not detected
_AS_DETECTION = {"positive": "detected", "negative": "not-detected"}
GENE_STUDIED = "variant-gene-studied"
CHANGE = "variant-change"


# --- variants -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """What one variant Observation speaks to: a concept, in words, and whether an absent
    value is a negative for it. ``problem`` set: about the concept, but not readable."""

    concept: str
    what: str
    negatable: bool
    problem: str | None = None


_HGVS = re.compile(
    r"^(?:(?P<ref>[A-Za-z][A-Za-z0-9_]*?)(?:\.\d+)?(?:\([^)]*\))?:)?(?P<change>[cgmnrp]\..+)$"
)


def parse_hgvs(expression: str) -> tuple[str | None, str] | None:
    """'NM_005157.6(ABL1):c.944C>T' → ('NM_005157', 'c.944C>T'); 'p.(Thr315Ile)' (predicted)
    → (None, 'p.Thr315Ile'). The reference loses its version; None when not HGVS."""
    m = _HGVS.match(expression.strip().split(" ")[0])
    if not m:
        return None
    change = m.group("change")
    if change.startswith("p.(") and change.endswith(")"):
        change = f"p.{change[3:-1]}"
    return m.group("ref"), change


def change_concepts(term: Terminology, expression: str) -> list[str]:
    """Observation concepts whose ValueSet lists this HGVS change.

    A coding-DNA position depends on its transcript, so a c. / g. change with a reference
    matches only a code naming that reference (NM_005157:c.944C>T); a protein change is named in
    the gene's conventional numbering and matches whatever reference it comes with."""
    parsed = parse_hgvs(expression)
    if parsed is None:
        return []
    ref, change = parsed
    keys = [f"{ref}:{change}"] if ref else []
    if ref is None or change.startswith("p."):
        keys.append(change)
    found: list[str] = []
    for key in keys:
        for m in term.lookup(HGVS, key):
            if term.concept(m.concept).kind == "observation" and m.concept not in found:
                found.append(m.concept)
    return found


def _hgvs_strings(comp: Mapping[str, Any]) -> list[str]:
    value = comp.get("valueCodeableConcept")
    if isinstance(value, dict):
        out = [
            c["code"]
            for c in codings(value)
            if isinstance(c.get("code"), str) and normalise_system(c.get("system")) in (HGVS, "")
        ]
        text = cc_text(value)
        return out or ([text] if text else [])
    string = comp.get("valueString")
    return [string] if isinstance(string, str) else []


def variant_statements(term: Terminology, obs: Mapping[str, Any]) -> list[Statement]:
    """What a variant Observation states, from its components (see the module docstring)."""
    genes: list[str] = []
    changes: list[tuple[str, str]] = []  # (concept, expression)
    has_change = False
    for comp in obs.get("component") or []:
        if not isinstance(comp, dict):
            continue
        roles = {m.concept for m in term.match_codings(codings(comp.get("code")), KINDS_COMPONENT)}
        if GENE_STUDIED in roles:
            for m in term.match_codings(codings(comp.get("valueCodeableConcept")), KINDS_GENE):
                if m.concept not in genes:
                    genes.append(m.concept)
        if CHANGE in roles:
            has_change = True
            for expression in _hgvs_strings(comp):
                changes += [(c, expression) for c in change_concepts(term, expression)]
    out: list[Statement] = []  # one per concept: the first way the variant names it
    for concept in term.concepts.values():
        fusion = str(concept.properties.get("fusion-genes") or "").split()
        if fusion and all(g in genes for g in fusion):
            what = "::".join(term.concept(g).display for g in fusion)
            out.append(Statement(concept.code, what, negatable=not has_change))
    for concept_code, expression in changes:
        if any(s.concept == concept_code for s in out):
            continue
        gene = term.concept(concept_code).properties.get("variant-gene")
        if gene is None or gene in genes:
            what = f"{term.concept(gene).display} {expression}" if gene else expression
            out.append(Statement(concept_code, what, negatable=True))
        else:
            out.append(
                Statement(
                    concept_code, expression, True,
                    problem=f"change {expression} without gene studied "
                    f"{term.concept(gene).display}; not read",
                )
            )
    return out


def variant_concepts(term: Terminology, obs: Mapping[str, Any]) -> list[str]:
    """The contract concepts a variant Observation speaks to; empty: none (not in scope)."""
    return [s.concept for s in variant_statements(term, obs)]


def _target_answer(concept: Concept, presence: str) -> str | None:
    if presence in concept.answers:
        return presence
    as_detection = _AS_DETECTION.get(presence)
    return as_detection if as_detection in concept.answers else None


def read_variant(
    col: Collector,
    obs: Mapping[str, Any],
    ref: str,
    when: datetime | None,
    recognised_by: RecognisedBy,
) -> None:
    """Facts from a variant Observation's components and present / absent value."""
    vkey = value_key(obs)
    for st in variant_statements(col.term, obs):
        concept = col.term.concept(st.concept)
        fieldname = SIMPLE_FIELDS.get(concept.code)
        if fieldname is None:
            continue

        def unreadable(reason: str, concept: Concept = concept, fieldname: str = fieldname
                       ) -> None:
            col.finding("unreadable-value", ref, f"{concept.display}: {reason}", concept.code)
            col.tombstones[fieldname].append((when, ref))

        if st.problem:
            unreadable(f"genetic variant: {st.problem}")
            continue
        if vkey is None:
            col.finding("missing-value", ref,
                        f"{concept.display}: genetic variant {st.what} has no value "
                        "(present / absent)", concept.code)
            continue
        value = obs[vkey]
        presence = read_answer(col, value, vkey, col.term.concept(VARIANT).answers)
        if isinstance(presence, Unreadable):
            unreadable(f"genetic variant {st.what}: {presence.reason}")
            continue
        if presence == "negative" and not st.negatable:
            continue  # the absent change, not an absent fusion
        answer = _target_answer(concept, presence)
        if answer is None:
            unreadable(f"genetic variant {st.what}: {presence} is not an answer of this concept")
            continue
        col.simple[fieldname].append(
            Cand(
                answer,
                Provenance(
                    resource=ref,
                    raw=f"genetic variant {st.what}: {raw_value(value, vkey)}"[:200],
                    recognised_by=recognised_by,
                    effective=when,
                ),
            )
        )


# --- ISCN karyotypes ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Translocation:
    text: str
    chromosomes: tuple[str, ...]
    bands: tuple[str, ...] | None  # one per chromosome, when the breakpoints are given
    cells: int | None  # cells of the clone it was seen in, when given

    def joins(self, wanted: list[tuple[str, str]]) -> bool:
        """Whether this translocation joins exactly the wanted chromosomes, at the wanted bands
        when breakpoints are given ('q34' matches 'q34' and 'q34.1')."""
        if sorted(self.chromosomes) != sorted(c for c, _ in wanted):
            return False
        if self.bands is None:
            return True
        pairs = set(zip(self.chromosomes, self.bands, strict=True))
        return all(any(c == wc and band_in(b, wb) for c, b in pairs) for wc, wb in wanted)

    def at(self, chromosome: str, band: str) -> bool:
        if self.bands is None:
            return False
        return any(
            c == chromosome and band_in(b, band)
            for c, b in zip(self.chromosomes, self.bands, strict=True)
        )


def band_in(band: str, wanted: str) -> bool:
    return band == wanted or band.startswith(wanted + ".")


_TRANSLOCATION = re.compile(r"(?<![a-z])t\(([0-9XY;]+)\)(?:\(([pq0-9.;]+)\))?")
_CELLS = re.compile(r"\[(\d+)\]\s*$")
_BAND = re.compile(r"^(\d{1,2}|X|Y)([pq]\d+(?:\.\d+)?)$")
_IN_SITU = re.compile(r"(?<![a-z])ish(?![a-z])")
# a karyotype ("46,XY,...", "47<2n>,XY,...") or a bare abnormality ("t(9;22)(q34;q11.2)"); free
# text ("no t(9;22) seen") is not ISCN and is not read
_ISCN_START = re.compile(r"^(?:\d{2,3}(?:~\d{2,3})?(?:<\d?n>)?,|[+-]?[a-z]{1,5}\()")


def parse_iscn(karyotype: str) -> list[Translocation]:
    """Every translocation of an ISCN karyotype, with the cell count of its clone.

    '46,XY,t(9;22)(q34.1;q11.2)[18]/46,XY[2]' → [t(9;22) at q34.1 / q11.2 in 18 cells];
    der(22)t(9;22)(...) counts too. Other abnormalities are not read."""
    found: list[Translocation] = []
    for clone in karyotype.split("/"):
        m = _CELLS.search(clone)
        cells = int(m.group(1)) if m else None
        for t in _TRANSLOCATION.finditer(clone):
            chromosomes = tuple(t.group(1).split(";"))
            bands = tuple(t.group(2).split(";")) if t.group(2) else None
            if bands is not None and len(bands) != len(chromosomes):
                bands = None
            found.append(Translocation(t.group(0), chromosomes, bands, cells))
    return found


def parse_bands(spec: str) -> list[tuple[str, str]]:
    """'9q34 22q11' → [('9', 'q34'), ('22', 'q11')] (a CodeSystem property)."""
    out: list[tuple[str, str]] = []
    for part in spec.split():
        m = _BAND.match(part)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def _iscn_text(node: Mapping[str, Any], vkey: str | None) -> str | None:
    value = node.get(vkey) if vkey else None
    if vkey == "valueString" and isinstance(value, str) and value.strip():
        return value.strip()
    if vkey == "valueCodeableConcept" and isinstance(value, dict):
        for c in codings(value):
            if isinstance(c.get("code"), str) and c["code"].strip():
                return str(c["code"]).strip()
        return cc_text(value) or None
    return None


def read_karyotype(
    col: Collector,
    node: Mapping[str, Any],
    obs: Mapping[str, Any],
    ref: str,
    when: datetime | None,
    vkey: str | None,
) -> None:
    """Facts (and findings) from an ISCN karyotype, on its own or as a variant's component."""
    okey = value_key(obs) if node is not obs else None
    presence = col.term.concept(VARIANT).answers
    if okey is not None and read_answer(col, obs[okey], okey, presence) != "positive":
        return  # the ISCN of a variant whose value says it was not found (or cannot say)
    karyotype = col.term.concept("karyotype")
    text = _iscn_text(node, vkey)
    if text is None:
        col.finding("unreadable-value", ref,
                    f"{karyotype.display}: expected ISCN as a string or code, got {vkey}",
                    karyotype.code)
        return
    if _IN_SITU.search(text):
        col.finding("unreadable-value", ref,
                    f"{karyotype.display}: in situ hybridisation nomenclature {text[:80]!r} is "
                    "not read; record the FISH result with its own code", karyotype.code)
        return
    compact = re.sub(r"([,/])\s+", r"\1", text)
    if " " in compact or not _ISCN_START.match(compact):
        col.finding("unreadable-value", ref,
                    f"{karyotype.display}: {text[:80]!r} is not an ISCN karyotype; not read",
                    karyotype.code)
        return
    translocations = parse_iscn(compact)
    for concept in col.term.concepts.values():
        fieldname = SIMPLE_FIELDS.get(concept.code)
        if fieldname is None:
            continue
        wanted = parse_bands(str(concept.properties.get("iscn-translocation") or ""))
        hits = [t for t in translocations if wanted and t.joins(wanted)]
        clonal = [t for t in hits if t.cells != 1]
        if clonal and "positive" in concept.answers:
            col.simple[fieldname].append(
                Cand("positive", Provenance(resource=ref, raw=text[:200],
                                            recognised_by="text-match", effective=when))
            )
        elif hits:
            col.finding_unless_known(
                fieldname, "iscn-single-cell", when, "not-established", ref,
                f"{concept.display}: karyotype {text[:80]!r} shows {hits[0].text} in a single "
                "cell, which is not a clone; not read as a value", concept.code)
        for chromosome, band in parse_bands(str(concept.properties.get("iscn-suggests") or "")):
            near = [t for t in translocations if t.at(chromosome, band)]
            if near:
                col.finding_unless_known(
                    fieldname, "iscn-suggests", when, "not-established", ref,
                    f"{concept.display}: karyotype {text[:80]!r} shows {near[0].text}, a "
                    f"translocation at {chromosome}{band}; a karyotype does not establish "
                    f"{concept.display}, so it is not read as a value", concept.code)


# --- quantitative BCR::ABL1 -----------------------------------------------------------------


def read_transcript_level(
    col: Collector,
    node: Mapping[str, Any],
    concept: Concept,
    ref: str,
    when: datetime | None,
    recognised_by: RecognisedBy,
    vkey: str | None,
) -> None:
    """A level above zero: the ``detects`` concept is positive. Zero or below the limit of
    detection: never a negative, a finding while that concept is unknown."""
    target = col.term.concept(str(concept.properties.get("detects")))
    fieldname = SIMPLE_FIELDS.get(target.code)
    if fieldname is None:
        return
    value = node.get(vkey) if vkey else None
    detected: bool | None = None
    if vkey == "valueQuantity" and isinstance(value, dict):
        number = value.get("value")
        comparator = value.get("comparator")
        if (
            isinstance(number, int | float)
            and not isinstance(number, bool)
            and math.isfinite(number)
            and number >= 0
            and comparator in (None, "<", "<=", ">", ">=")
        ):
            detected = number > 0 and comparator not in ("<", "<=")
    elif vkey == "valueString" and isinstance(value, str):
        detected = col.term.detection_phrases().get(normalise_text(value))
    elif vkey == "valueCodeableConcept":
        answer = read_answer(col, value, vkey, DETECTION)
        detected = None if isinstance(answer, Unreadable) else answer == "detected"
    raw = raw_value(value, vkey) if vkey else ""
    if vkey is None:
        col.finding("missing-value", ref, f"{concept.display}: no value", concept.code)
    elif detected is None:
        col.finding("unreadable-value", ref,
                    f"{concept.display}: value {raw[:80]!r} is not a level or detected / not "
                    "detected", concept.code)
    elif detected:
        col.simple[fieldname].append(
            Cand("positive", Provenance(resource=ref, raw=f"{concept.display} {raw}"[:200],
                                        recognised_by=recognised_by, effective=when))
        )
    else:
        col.finding_unless_known(
            fieldname, "transcripts-not-detected", when, "not-established", ref,
            f"{target.display}: {concept.display} {raw} shows no transcripts; "
            "a response measure (this assay does not measure every BCR::ABL1 transcript), "
            "not read as Ph negative", target.code)
