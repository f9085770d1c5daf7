"""Patients encoded the way real sources encode them (issue 18), for `leukemia-cds synth`.

The other scenarios speak the input contract's own codes. These speak the public guides'
encodings listed in ``shared/design/real-world-codes.md``: ICD-10-CM with its 5th character and
the mCODE histology-morphology extension, mCODE CancerDiseaseStatus (LOINC 97509-4), Genomics
Reporting variants (69548-6 read by their components), ISCN karyotypes, LOINC marrow blasts and
flow codes, mCODE's narrative immunophenotype, CPT and ICD-10-PCS procedures, RxNorm branded
drugs without a display and brand-only text. So the sandbox, the benchmarks and the coverage
tests exercise the readers of those encodings, not only the contract's.
"""

from __future__ import annotations

from typing import Any

from service.synth import codes
from service.synth.record import Record

Json = dict[str, Any]

ICDO3 = "http://terminology.hl7.org/CodeSystem/icd-o-3"
MCODE_MORPHOLOGY = ("http://hl7.org/fhir/us/mcode/StructureDefinition/"
                    "mcode-histology-morphology-behavior")
HGNC = "http://www.genenames.org/geneId"
HGVS = "http://varnomen.hgvs.org"
ISCN = "https://iscn.karger.com"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
LOINC = codes.LOINC
PRESENT = {"system": LOINC, "code": "LA9633-4", "display": "Present"}
ABSENT = {"system": LOINC, "code": "LA9634-2", "display": "Absent"}


def _cc(system: str, code: str, display: str | None = None) -> Json:
    coding: Json = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def icd10_diagnosis(r: Record, code: str, display: str, *, days_ago: int,
                    clinical: str = "active", morphology: str | None = None) -> Json:
    """A US problem-list Condition: ICD-10-CM, and (mCODE) the ICD-O-3 morphology that says
    what ICD-10-CM cannot (T-lymphoblastic, B-lymphoblastic with BCR::ABL1)."""
    resource = r._condition({"system": codes.ICD10CM, "code": code, "display": display},
                            display, clinical, days_ago)
    if morphology:
        resource["extension"] = [{"url": MCODE_MORPHOLOGY,
                                  "valueCodeableConcept": _cc(ICDO3, morphology)}]
    r.fact(f"{code}{' + ICD-O-3 ' + morphology if morphology else ''}")
    return resource


def mcode_disease_status(r: Record, snomed: str, display: str, *, days_ago: int,
                         condition: Json) -> Json:
    """mCODE CancerDiseaseStatus: LOINC 97509-4, focus the Condition, a ConditionStatusTrend
    value (SNOMED)."""
    res = r.observation("disease-status", {"valueCodeableConcept": _cc(codes.SNOMED, snomed,
                                                                       display)},
                        days_ago=days_ago, code=_cc(LOINC, "97509-4", "Cancer disease status"),
                        category=False)
    res["focus"] = [{"reference": f"Condition/{condition['id']}"}]
    r.fact(f"mCODE disease status: {display}")
    return res


def loinc_blasts(r: Record, percent: float, *, days_ago: int) -> Json:
    """CIBMTR's priority variable: LOINC 11150-0 Blasts/100 cells in Bone marrow."""
    r.fact(f"{percent:g} % marrow blasts (LOINC 11150-0)")
    return r.observation("bm-blasts", r.quantity(percent, "%"), days_ago=days_ago,
                         code=_cc(LOINC, "11150-0", "Blasts/100 cells in Bone marrow"))


def flow_percent_of_cells(r: Record, marker: str, loinc: str, percent: float, *,
                          days_ago: int) -> Json:
    """A lab-to-LOINC flow result, "cells/100 cells": a % of all cells, not of blasts."""
    r.fact(f"{marker.upper()} {percent:g} % of cells (LOINC {loinc})")
    return r.observation(marker, r.quantity(percent, "%"), days_ago=days_ago,
                         code=_cc(LOINC, loinc, f"{marker.upper()} cells/100 cells"))


def narrative_immunophenotype(r: Record, text: str, *, days_ago: int) -> Json:
    """mCODE's narrative immunophenotype (LOINC 101119-6), as its pediatric example words it."""
    r.fact(f"immunophenotype: {text}")
    return r.observation("immunophenotype", {"valueString": text}, days_ago=days_ago,
                         code=_cc(LOINC, "101119-6", "Immunophenotype Narrative"))


def _gene(hgnc: str, symbol: str) -> Json:
    return {"code": _cc(LOINC, "48018-6", "Gene studied [ID]"),
            "valueCodeableConcept": _cc(HGNC, hgnc, symbol)}


def _variant(r: Record, components: list[Json], present: bool, *, days_ago: int) -> Json:
    res = r.observation("genetic-variant",
                        {"valueCodeableConcept": {"coding": [PRESENT if present else ABSENT]},
                         "component": components},
                        days_ago=days_ago,
                        code=_cc(LOINC, "69548-6", "Genetic variant assessment"),
                        category="laboratory")
    return res


def fusion_variant(r: Record, genes: tuple[tuple[str, str], ...], *, present: bool = True,
                   days_ago: int) -> Json:
    """A Genomics Reporting / mCODE fusion: 69548-6 with each gene studied (HGNC)."""
    r.fact("::".join(s for _, s in genes) + (" present" if present else " absent"))
    return _variant(r, [_gene(h, s) for h, s in genes], present, days_ago=days_ago)


def snv_variant(r: Record, hgnc: str, symbol: str, protein: str, *, days_ago: int) -> Json:
    """A Genomics Reporting SNV: 69548-6, gene studied, amino-acid change (48005-3)."""
    r.fact(f"{symbol} {protein} detected")
    change = {"code": _cc(LOINC, "48005-3", "Amino acid change (pHGVS)"),
              "valueCodeableConcept": _cc(HGVS, protein, protein)}
    return _variant(r, [_gene(hgnc, symbol), change], True, days_ago=days_ago)


def karyotype(r: Record, iscn: str, *, days_ago: int) -> Json:
    """CIBMTR cytogenetics: an ISCN karyotype (LOINC 81291-7)."""
    r.fact(f"karyotype {iscn}")
    return r.observation("karyotype", {"valueCodeableConcept": _cc(ISCN, iscn)},
                         days_ago=days_ago, code=_cc(LOINC, "81291-7", "Karyotype"),
                         category="laboratory")


def coded_procedure(r: Record, system: str, code: str, text: str, *, days_ago: int) -> Json:
    """A Procedure as billing sends it (CPT, ICD-10-PCS) or a generic SNOMED code."""
    r.fact(f"{text} ({code})")
    return r.add({"resourceType": "Procedure", "id": r.new_id("proc"), "status": "completed",
                  "code": {"coding": [{"system": system, "code": code}], "text": text},
                  "subject": r.subject, "performedDateTime": r.when(days_ago)})


def branded_drug(r: Record, *, rxnorm: str | None, text: str | None, days_ago: int,
                 status: str = "completed") -> Json:
    """A MedicationAdministration by an RxNorm SBD code without a display, or by brand text
    only (a biosimilar's name): what the CIBMTR medication value sets list."""
    cc: Json = {}
    if rxnorm:
        cc["coding"] = [{"system": codes.RXNORM, "code": rxnorm}]
    if text:
        cc["text"] = text
    r.fact(f"{text or 'RxNorm ' + str(rxnorm)}")
    return r.add({"resourceType": "MedicationAdministration", "id": r.new_id("madm"),
                  "status": status, "medicationCodeableConcept": cc, "subject": r.subject,
                  "effectiveDateTime": r.when(days_ago)})
