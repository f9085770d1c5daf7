"""fhir_profiles/ → in-memory lookup tables, loaded once at start-up.

The conformance resources in ``fhir_profiles/`` are the only place codes live: the CodeSystem
defines the concepts (with synonyms and how each is valued), each concept's ValueSet lists the
standard codes accepted for it, and ``ConceptMap-*.json`` adds a site's local codes. Keeping the
extractor's tables derived from those files means the documentation integrators read is exactly
what the service does.

A broken file raises ``TerminologyError`` so that start-up fails loudly instead of the service
silently recognising less than it promises.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import TerminologyError
from service.facts import RecognisedBy

BASE = "http://leukemia-cds.org/fhir"
LOCAL_SYSTEM = f"{BASE}/CodeSystem/leukemia-cds"
TOPIC_SYSTEM = f"{BASE}/CodeSystem/card-topic"
VALUESET_BASE = f"{BASE}/ValueSet/"
EXT_CODE_STATUS = f"{BASE}/StructureDefinition/external-code-status"
EXT_VALUE_BASIS = f"{BASE}/StructureDefinition/value-basis"
PERCENT_OF_CELLS = "percent-of-cells"  # the one value basis: a % of all cells, not of blasts

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
UCUM = "http://unitsofmeasure.org"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
HGNC = "http://www.genenames.org/geneId"  # gene ids, as Genomics Reporting names the system
HGVS = "http://varnomen.hgvs.org"
GENERIC_CODES = f"{VALUESET_BASE}generic-codes"

# EHRs send the same systems under OIDs or with cosmetic differences; folding them here keeps
# the ValueSets free of aliases.
_SYSTEM_ALIASES = {
    "urn:oid:2.16.840.1.113883.6.96": SNOMED,
    "http://snomed.info/sct/": SNOMED,
    "urn:oid:2.16.840.1.113883.6.1": LOINC,
    "urn:oid:2.16.840.1.113883.6.88": RXNORM,
    "urn:oid:2.16.840.1.113883.6.90": ICD10CM,
    "https://snomed.info/sct": SNOMED,
    "https://loinc.org": LOINC,
    "urn:oid:2.16.840.1.113883.6.12": CPT,
    "urn:oid:2.16.840.1.113883.6.4": ICD10PCS,
    # HGNC as mCODE (http://www.genenames.org) and Genomics Reporting's second alias spell it
    "http://www.genenames.org": HGNC,
    "http://genenames.org/geneId": HGNC,
}
_DOTTED_SYSTEMS = frozenset({ICD10CM})
_MAP_EQUIVALENCES = frozenset({"equivalent", "equal"})
_MAP_NOT = frozenset({"disjoint"})  # R4 ConceptMap equivalence: "this is not that"


def _map_kind(target: Mapping[str, Any]) -> str | None:
    """'same' for a ConceptMap target that says the codes mean the same (R4 equivalence
    equivalent / equal, R5 relationship equivalent), 'not' for one that says they do not (R4
    disjoint, R5 not-related-to), None for wider, narrower or unmatched maps (not identities)."""
    relationship = target.get("relationship")
    if relationship is not None:  # R5, accepted because sites author maps in newer tools
        return {"equivalent": "same", "not-related-to": "not"}.get(relationship)
    equivalence = target.get("equivalence", "equivalent")
    if equivalence in _MAP_EQUIVALENCES:
        return "same"
    return "not" if equivalence in _MAP_NOT else None


def normalise_system(system: str | None) -> str:
    if not system:
        return ""
    s = system.strip()
    s = _SYSTEM_ALIASES.get(s, s)
    if s.endswith("/") and s not in ("http://", "https://"):
        s = _SYSTEM_ALIASES.get(s, s.rstrip("/"))
    return s


def normalise_code(system: str, code: str | None) -> str:
    if code is None:
        return ""
    c = str(code).strip()
    if system in _DOTTED_SYSTEMS:
        c = c.replace(".", "").upper()
    elif system == HGNC:  # mCODE sends the bare number ("1014"), Genomics Reporting "HGNC:1014"
        number = c.upper().removeprefix("HGNC:")
        c = f"HGNC:{number}" if number.isdigit() else c
    return c


_NON_WORD = re.compile(r"[^a-z0-9]+")


def normalise_text(text: str) -> str:
    """Lower-case, punctuation to single spaces: 'Obe-cel' and 'obe cel' compare equal."""
    return _NON_WORD.sub(" ", text.lower()).strip()


@dataclass(frozen=True, slots=True)
class Concept:
    """One concept of the local CodeSystem with the properties the extractor dispatches on."""

    code: str
    display: str
    kind: str  # observation | answer | condition | procedure | drug | component | gene
    value_type: str | None = None
    answers: frozenset[str] = frozenset()
    min: int | None = None
    max: int | None = None
    drug_class: str | None = None
    lineage: str | None = None
    comorbidity: bool = False
    project_addition: bool = False
    synonyms: tuple[str, ...] = ()
    # every property as the CodeSystem states it (code -> value), for readers of structure
    # (genetics: fusion-genes, variant-gene, iscn-translocation ...)
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Match:
    concept: str
    recognised_by: RecognisedBy
    # what the code's value measures when it is not the concept itself (extension value-basis):
    # "percent-of-cells" for LOINC "cells/100 cells" flow codes (a % of all cells, not of blasts)
    basis: str | None = None


@dataclass(frozen=True, slots=True)
class ExternalCode:
    system: str
    code: str
    concept: str
    verified: bool
    basis: str | None = None


@dataclass(slots=True)
class Terminology:
    """Lookup tables built from fhir_profiles/; immutable after ``load_terminology`` returns."""

    source: Path
    concepts: dict[str, Concept]
    codings: dict[tuple[str, str], tuple[Match, ...]]
    external: list[ExternalCode]
    valuesets: dict[str, frozenset[tuple[str, str]]]
    card_topics: frozenset[str]
    site_mappings: int = 0
    _answer_text: dict[str, frozenset[str]] = field(default_factory=dict)
    _free_text: dict[str, dict[str, str]] = field(default_factory=dict)
    _free_text_re: dict[str, re.Pattern[str]] = field(default_factory=dict)
    _detection: dict[str, bool] = field(default_factory=dict)
    # Raw (system, code) -> matches. Charts repeat the same few hundred codes (vitals, routine
    # labs) across every request, so normalising them again each time is most of the cost of
    # skipping what the contract does not cover. Bounded; cleared when full.
    _seen: dict[tuple[Any, Any], tuple[Match, ...]] = field(default_factory=dict)

    # -- code lookups -----------------------------------------------------------------

    def lookup(self, system: str | None, code: str | None) -> tuple[Match, ...]:
        key = (system, code)
        try:
            return self._seen[key]
        except KeyError:
            pass
        except TypeError:  # unhashable junk in place of a string: no match, and no caching
            return ()
        found = self._lookup(system, code)
        if len(self._seen) >= 50_000:
            self._seen.clear()
        self._seen[key] = found
        return found

    def _lookup(self, system: str | None, code: str | None) -> tuple[Match, ...]:
        s = normalise_system(system)
        c = normalise_code(s, code)
        if not c:
            return ()
        hit = self.codings.get((s, c))
        if hit is None and s == LOCAL_SYSTEM:
            hit = self.codings.get((s, c.lower()))
        return hit or ()

    def match_codings(
        self, codings: Iterable[Mapping[str, Any]], kinds: frozenset[str] | None = None
    ) -> list[Match]:
        """Every concept the codings name, in order, restricted to ``kinds`` when given."""
        out: list[Match] = []
        for coding in codings:
            if not isinstance(coding, dict):
                continue
            for m in self.lookup(coding.get("system"), coding.get("code")):
                if (kinds is None or self.concepts[m.concept].kind in kinds) and m not in out:
                    out.append(m)
        return out

    def names_kind(self, cc: Any, kinds: frozenset[str]) -> bool:
        """Whether the raw CodeableConcept ``cc`` names a concept of one of ``kinds``.

        The answer of ``bool(match_codings(dict codings of cc, kinds))`` without building
        lists: the extractor asks it of every Observation, and most (vitals, routine labs) name
        nothing the contract covers. Codings are looked up in the same order and through the
        same ``lookup``, so junk that makes ``match_codings`` raise raises here too; it stops
        at the first hit only because the caller then reads the resource in full.
        """
        if not isinstance(cc, dict):
            return False
        codings = cc.get("coding")
        if not isinstance(codings, list):
            return False
        for coding in codings:
            if not isinstance(coding, dict):
                continue
            for m in self.lookup(coding.get("system"), coding.get("code")):
                if self.concepts[m.concept].kind in kinds:
                    return True
        return False

    # -- text -------------------------------------------------------------------------

    def match_answer_text(self, text: str, allowed: frozenset[str]) -> frozenset[str]:
        """Answer concepts whose display, code or synonym equals ``text`` (whole phrase)."""
        return self._answer_text.get(normalise_text(text), frozenset()) & allowed

    def find_in_text(self, text: str, kind: str) -> list[str]:
        """Concepts of ``kind`` (drug / procedure) whose synonym occurs in ``text`` as words."""
        pattern = self._free_text_re.get(kind)
        if pattern is None or not text:
            return []
        table = self._free_text[kind]
        found: list[str] = []
        for hit in pattern.findall(f" {normalise_text(text)} "):
            concept = table[hit]
            if concept not in found:
                found.append(concept)
        return found

    def detection_phrases(self) -> dict[str, bool]:
        """Normalised wordings of detected (True) / not detected (False), from the synonyms."""
        if not self._detection:
            for code, value in (("detected", True), ("not-detected", False)):
                c = self.concepts[code]
                for phrase in (c.code, c.display, *c.synonyms):
                    self._detection[normalise_text(phrase)] = value
        return self._detection

    # -- for other layers -------------------------------------------------------------

    def concept(self, code: str) -> Concept:
        return self.concepts[code]

    def emittable_codings(self, concept: str) -> list[dict[str, str]]:
        """Codings the service may *emit* for a concept: the local code plus verified codes
        (never one that measures something else, such as a % of all cells for a blast marker)."""
        c = self.concepts[concept]
        out = [{"system": LOCAL_SYSTEM, "code": c.code, "display": c.display}]
        out += [
            {"system": e.system, "code": e.code}
            for e in self.external
            if e.concept == concept and e.verified and e.basis is None
        ]
        return out

    def search_tokens(self, kind: str) -> list[str]:
        """``system|code`` tokens for every accepted code of concepts of ``kind``.

        Prefetch templates built from these cannot filter out the service's own concepts.
        """
        tokens = [
            f"{s}|{c}"
            for (s, c), ms in self.codings.items()
            if any(self.concepts[m.concept].kind == kind for m in ms)
        ]
        return sorted(tokens)


# --- loading ----------------------------------------------------------------------------

_cache: dict[tuple[Path, Path | None], Terminology] = {}
_lock = threading.Lock()


def load_terminology(path: str | Path, site_map: str | Path | None = None) -> Terminology:
    """Load (once per directory and site map) and return the terminology; raises
    TerminologyError.

    The directory is the caller's (settings.profiles_dir): this layer reads no settings.
    `site_map` (settings.site_conceptmap), when given, is the site's ConceptMap used instead
    of the folder's `ConceptMap-*.json`: a site deploys its one edited file (a mounted
    ConfigMap) without copying the whole input contract."""
    root = Path(path).resolve()
    site = Path(site_map).resolve() if site_map is not None else None
    with _lock:
        cached = _cache.get((root, site))
        if cached is None:
            try:
                cached = _build(root, site)
            except OSError as exc:  # a folder or file the service's user may not read
                raise TerminologyError(
                    f"cannot read {exc.filename or root} ({exc.strerror})") from exc
            _cache[(root, site)] = cached
        return cached


def clear_cache() -> None:
    """For tests that point the loader at a temporary profiles directory."""
    with _lock:
        _cache.clear()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TerminologyError(f"cannot read {path} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise TerminologyError(f"{path.name}: not UTF-8 ({exc.reason})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TerminologyError(f"{path.name}: cannot read JSON ({exc})") from exc
    if not isinstance(data, dict) or "resourceType" not in data:
        raise TerminologyError(f"{path.name}: not a FHIR resource")
    return data


def _prop(concept: Mapping[str, Any], name: str) -> Any:
    for p in concept.get("property", []):
        if p.get("code") == name:
            for key in ("valueCode", "valueString", "valueInteger", "valueBoolean"):
                if key in p:
                    return p[key]
    return None


_STRUCTURE_REFERENCES = {"fusion-genes": "gene", "variant-gene": "gene", "detects": "observation"}


def _check_structure_properties(concepts: Mapping[str, Concept]) -> None:
    """The properties that tie a concept to others (a fusion's genes, a level's concept) must
    name concepts of the right kind: a typo would silently read nothing."""
    for c in concepts.values():
        for name, kind in _STRUCTURE_REFERENCES.items():
            value = c.properties.get(name)
            for ref in str(value).split() if value else ():
                if ref not in concepts or concepts[ref].kind != kind:
                    raise TerminologyError(f"concept {c.code}: {name} {ref!r} is not a {kind}")


def _refuse_generic(
    file: str,
    system: str,
    code: Any,
    target: str,
    valuesets: Mapping[str, frozenset[tuple[str, str]]],
    codings: Mapping[tuple[str, str], list[Match]],
) -> None:
    """A site map may not send a generic code (ValueSet generic-codes: 69548-6 and the like,
    read by their components) onto another concept: mapping 69548-6 to 'ph' would make every
    variant, ETV6::RUNX1 included, a Ph result. One line, at start-up."""
    key = (system, normalise_code(system, code))
    if key not in valuesets.get(GENERIC_CODES, frozenset()):
        return
    own = [m.concept for m in codings.get(key, [])]
    if target not in own:
        raise TerminologyError(
            f"{file}: {system}|{code} is a generic code ({', '.join(own)}), read by its "
            f"components and value; it cannot be mapped to {target!r}"
        )


def _build(root: Path, site: Path | None = None) -> Terminology:
    if not root.is_dir():
        raise TerminologyError(f"profiles directory not found: {root}")
    if not os.access(root, os.R_OK | os.X_OK):  # else glob() quietly finds no ValueSets
        raise TerminologyError(f"cannot read the folder {root} (Permission denied)")
    cs_file = root / "CodeSystem-leukemia-cds.json"
    if not cs_file.is_file():
        raise TerminologyError(f"{cs_file.name} missing from {root}")
    cs = _read(cs_file)
    if cs.get("url") != LOCAL_SYSTEM:
        raise TerminologyError(f"{cs_file.name}: url must be {LOCAL_SYSTEM}")

    raw_concepts = {c["code"]: c for c in cs.get("concept", [])}
    valuesets: dict[str, frozenset[tuple[str, str]]] = {}
    vs_docs: dict[str, dict[str, Any]] = {}
    for f in sorted(root.glob("ValueSet-*.json")):
        doc = _read(f)
        vs_docs[doc.get("url", "")] = doc

    def expand(url: str, seen: frozenset[str] = frozenset()) -> frozenset[tuple[str, str]]:
        if url in valuesets:
            return valuesets[url]
        if url in seen or url not in vs_docs:
            raise TerminologyError(f"ValueSet {url} is missing or recursive")
        codes: set[tuple[str, str]] = set()
        for inc in vs_docs[url].get("compose", {}).get("include", []):
            system = normalise_system(inc.get("system"))
            for c in inc.get("concept", []):
                codes.add((system, normalise_code(system, c.get("code"))))
            for ref in inc.get("valueSet", []):
                codes |= expand(ref, seen | {url})
        valuesets[url] = frozenset(codes)
        return valuesets[url]

    for url in vs_docs:
        expand(url)

    concepts: dict[str, Concept] = {}
    for code, c in raw_concepts.items():
        answers_url = _prop(c, "answers")
        answers: frozenset[str] = frozenset()
        if answers_url:
            if answers_url not in valuesets:
                raise TerminologyError(f"concept {code}: answers ValueSet {answers_url} missing")
            answers = frozenset(ac for (s, ac) in valuesets[answers_url] if s == LOCAL_SYSTEM)
        concepts[code] = Concept(
            code=code,
            display=c.get("display", code),
            kind=_prop(c, "kind") or "",
            value_type=_prop(c, "value-type"),
            answers=answers,
            min=_prop(c, "min"),
            max=_prop(c, "max"),
            drug_class=_prop(c, "drug-class"),
            lineage=_prop(c, "lineage"),
            comorbidity=bool(_prop(c, "comorbidity")),
            project_addition=bool(_prop(c, "project-addition")),
            synonyms=tuple(d["value"] for d in c.get("designation", []) if d.get("value")),
            properties={p["code"]: _prop(c, p["code"]) for p in c.get("property", [])},
        )
        if concepts[code].kind not in {
            "observation", "answer", "condition", "procedure", "drug", "component", "gene"
        }:
            raise TerminologyError(f"concept {code}: unknown kind {concepts[code].kind!r}")
    _check_structure_properties(concepts)

    codings: dict[tuple[str, str], list[Match]] = {}

    def add(key: tuple[str, str], match: Match) -> None:
        existing = codings.setdefault(key, [])
        if match in existing:
            return
        kind = concepts[match.concept].kind
        clash = [
            m
            for m in existing
            if kind != "answer"
            and concepts[m.concept].kind != "answer"
            and m.concept != match.concept
        ]
        if clash:
            raise TerminologyError(
                f"code {key[0]}|{key[1]} maps to both {clash[0].concept} and {match.concept}"
            )
        existing.append(match)

    for code in concepts:
        add((LOCAL_SYSTEM, code), Match(code, "local-code"))

    external: list[ExternalCode] = []
    for url, doc in vs_docs.items():
        if not url.startswith(VALUESET_BASE):
            continue
        concept_id = url[len(VALUESET_BASE) :]
        if concept_id not in concepts:
            continue  # a grouping ValueSet (bindings), not a concept's own ValueSet
        for inc in doc.get("compose", {}).get("include", []):
            system = normalise_system(inc.get("system"))
            if not system or system == LOCAL_SYSTEM:
                continue
            for c in inc.get("concept", []):
                code = normalise_code(system, c.get("code"))
                status = next(
                    (
                        e.get("valueCode")
                        for e in c.get("extension", [])
                        if e.get("url") == EXT_CODE_STATUS
                    ),
                    None,
                )
                if status not in ("verified", "secondary"):
                    raise TerminologyError(
                        f"ValueSet-{concept_id}.json: {system}|{code} lacks external-code-status"
                    )
                basis = next(
                    (
                        e.get("valueCode")
                        for e in c.get("extension", [])
                        if e.get("url") == EXT_VALUE_BASIS
                    ),
                    None,
                )
                if basis not in (None, PERCENT_OF_CELLS):
                    raise TerminologyError(
                        f"ValueSet-{concept_id}.json: {system}|{code} has unknown value-basis "
                        f"{basis!r}"
                    )
                add((system, code), Match(concept_id, "standard-code", basis))
                external.append(
                    ExternalCode(system, c.get("code"), concept_id, status == "verified", basis)
                )

    site_mappings = 0
    narrowings: list[tuple[str, tuple[str, str], str]] = []
    if site is not None and not site.is_file():
        raise TerminologyError(f"site ConceptMap not found: {site}")
    for f in [site] if site is not None else sorted(root.glob("ConceptMap-*.json")):
        doc = _read(f)
        if doc.get("resourceType") != "ConceptMap":
            raise TerminologyError(f"{f.name}: not a ConceptMap")
        for group in doc.get("group", []) or []:
            source = normalise_system(group.get("source"))
            if not source:
                raise TerminologyError(f"{f.name}: every group needs a source system")
            if normalise_system(group.get("target")) != LOCAL_SYSTEM:
                raise TerminologyError(f"{f.name}: group target must be {LOCAL_SYSTEM}")
            for element in group.get("element", []) or []:
                for target in element.get("target", []) or []:
                    how = _map_kind(target)
                    if how is None:
                        continue  # wider / narrower / unmatched maps are not identities
                    tcode = target.get("code")
                    if tcode not in concepts:
                        raise TerminologyError(
                            f"{f.name}: {element.get('code')} maps to unknown concept {tcode!r}"
                        )
                    mapped = (source, normalise_code(source, element.get("code")))
                    if how == "not":
                        narrowings.append((f.name, mapped, tcode))
                        continue
                    _refuse_generic(f.name, source, element.get("code"), tcode, valuesets,
                                    codings)
                    add(mapped, Match(tcode, "site-conceptmap"))
                    site_mappings += 1
    # A site's "this code does not mean that concept" (R4 equivalence 'disjoint', R5
    # relationship 'not-related-to') removes a shipped or mapped meaning, after every add.
    for name, narrowed, tcode in narrowings:
        kept = [m for m in codings.get(narrowed, []) if m.concept != tcode]
        if len(kept) == len(codings.get(narrowed, [])):
            raise TerminologyError(f"{name}: {narrowed[0]}|{narrowed[1]} is marked as not "
                                   f"{tcode}, but nothing maps it to that concept")
        codings[narrowed] = kept
        site_mappings += 1

    topics_file = root / "CodeSystem-card-topic.json"
    topics = (
        frozenset(c["code"] for c in _read(topics_file).get("concept", []))
        if topics_file.is_file()
        else frozenset()
    )

    answer_text: dict[str, set[str]] = {}
    free_text: dict[str, dict[str, str]] = {}
    for c in concepts.values():
        if c.kind == "answer":
            for phrase in (c.code, c.display, *c.synonyms):
                answer_text.setdefault(normalise_text(phrase), set()).add(c.code)
        elif c.kind in ("drug", "procedure"):
            for phrase in c.synonyms or ((c.display,) if c.kind == "drug" else ()):
                key = normalise_text(phrase)
                table = free_text.setdefault(c.kind, {})
                if table.get(key, c.code) != c.code:
                    raise TerminologyError(f"synonym {phrase!r} names two concepts")
                table[key] = c.code
    free_re = {
        kind: re.compile(
            r"(?<= )("
            + "|".join(re.escape(k) for k in sorted(t, key=len, reverse=True))
            + r")(?= )"
        )
        for kind, t in free_text.items()
    }

    return Terminology(
        source=root,
        concepts=concepts,
        codings={k: tuple(v) for k, v in codings.items()},
        external=external,
        valuesets=valuesets,
        card_topics=topics,
        site_mappings=site_mappings,
        _answer_text={k: frozenset(v) for k, v in answer_text.items()},
        _free_text=free_text,
        _free_text_re=free_re,
    )
