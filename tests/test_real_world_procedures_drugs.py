"""Issue 18, procedures and drugs: transplants, CAR T infusions and drug exposures read the way
real EHRs and HL7 guides send them (../shared/design/real-world-codes.md, rows "allogeneic
HCT", "autologous HCT", "CAR T infusion", "drug exposures").

Each test names its public source. The must-NOT cases: the generic SNOMED 234336002 alone is
never an allogeneic HCT (nor "no transplant"), autologous is never allogeneic, a code of the
ICD-10-PCS stem-cell shape that the tables do not hold is reported, not read.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from service.decision.context import Ctx
from service.facts import PatientFacts, ProcedureEvent, Provenance
from service.paths import cards_dir, profiles_dir
from service.policy import Policy
from service.render import Renderer, load_catalogue
from tests.decision_helpers import by_id, ids, patient, run
from tests.fhir_helpers import extract_draft_orders, extract_facts
from tests.fixtures.fhir.builders import RXNORM, SNOMED, condition, med_request, procedure

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
CPT = "http://www.ama-assn.org/go/cpt"
PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
CONFIRM_TYPE = "allogeneic or autologous"


def facts(*resources: Any) -> PatientFacts:
    return extract_facts(list(resources), now=NOW)


def codes(f: PatientFacts) -> list[str]:
    return [x.code for x in f.findings]


def coding(code: str, system: str, display: str | None = None) -> dict[str, Any]:
    c: dict[str, Any] = {"system": system, "code": code}
    if display is not None:
        c["display"] = display
    return {"coding": [c]}


def _valueset(concept: str) -> dict[str, set[str]]:
    doc = json.loads((profiles_dir() / f"ValueSet-{concept}.json").read_text("utf-8"))
    return {inc["system"]: {c["code"] for c in inc["concept"]} for inc in doc["compose"]["include"]}


# --- allogeneic HCT ------------------------------------------------------------------------


def test_cpt_38240_allogeneic_hpc_transplantation_is_allo_hct() -> None:
    """CPT 38240 'Hematopoietic progenitor cell (HPC); allogeneic transplantation per donor'."""
    f = facts(procedure("cpt", coding("38240", CPT), when="2022-05-02"))
    (event,) = f.allo_hct
    assert event.date == datetime(2022, 5, 2, tzinfo=UTC)
    assert event.source.recognised_by == "standard-code" and f.findings == ()


@pytest.mark.parametrize("code", ["30243Y3", "30233Y2", "30243G4", "30233X3", "30243U2"])
def test_icd10pcs_allogeneic_stem_cell_transfusion_is_allo_hct(code: str) -> None:
    """ICD-10-PCS 302 table (CMS FY2026): 7th character 2 / 3 / 4 = allogeneic related /
    unrelated / unspecified (substance G marrow, X cord blood, Y stem cells, U T-depleted)."""
    f = facts(procedure("pcs", coding(code, PCS)))
    assert len(f.allo_hct) == 1 and f.hct_type_unknown == () and f.auto_hct == ()
    assert f.findings == ()


def test_icd10pcs_and_cpt_systems_given_as_oids() -> None:
    """HL7 OIDs 2.16.840.1.113883.6.4 (ICD-10-PCS) and .6.12 (CPT) name the same systems."""
    f = facts(procedure("a", coding("30243Y3", "urn:oid:2.16.840.1.113883.6.4")),
              procedure("b", coding("38240", "urn:oid:2.16.840.1.113883.6.12"), when="2020-01-01"))
    assert len(f.allo_hct) == 2


def test_icd10pcs_retired_nonautologous_codes_are_allogeneic() -> None:
    """ICD-10-PCS 7th character 1 'nonautologous' (codes retired, still in older records; OHDSI
    lists them as deprecated): the codes that replaced them are all allogeneic."""
    f = facts(procedure("old", coding("30243G1", PCS, "Transfusion of Nonautologous Bone "
                                      "Marrow into Central Vein, Percutaneous Approach")))
    assert len(f.allo_hct) == 1 and f.findings == ()


def test_every_listed_icd10pcs_transplant_code_is_filed_by_its_7th_character() -> None:
    """The ValueSets hold the 302 stem-cell codes by donor qualifier: 0 autologous, 1-4 not."""
    allo, auto = _valueset("allo-hct")[PCS], _valueset("auto-hct")[PCS]
    shape = re.compile(r"302[34]3[GXYUC][0-4]")
    assert all(shape.fullmatch(c) for c in allo | auto)
    assert {c[6] for c in allo} == {"1", "2", "3", "4"} and {c[6] for c in auto} == {"0"}
    assert len(allo) == 30 and len(auto) == 8
    # SNOMED 234336002 is in neither: it is the generic concept's
    assert "234336002" not in _valueset("allo-hct")[SNOMED]
    assert "234336002" in _valueset("hct-unspecified")[SNOMED]


def test_icd10pcs_stem_cell_code_not_in_the_tables_is_reported_with_its_qualifier() -> None:
    """An open-approach code (30240G1, OHDSI 'deprecated') is not read, but not dropped."""
    f = facts(procedure("open", coding("30240G1", PCS)))
    assert f.allo_hct == () and f.hct_type_unknown == () and f.auto_hct == ()
    (finding,) = f.findings
    assert finding.code == "unreadable-value" and finding.resource == "Procedure/open"
    assert "30240G1" in finding.message and "nonautologous" in finding.message


def test_synthea_allogeneic_bmt_and_its_history_condition() -> None:
    """Synthea bone_marrow_transplant module: 58390007 then Condition 152621000119105."""
    f = facts(procedure("bmt", coding("58390007", SNOMED), when="2021-03-01"),
              condition("hx", coding("152621000119105", SNOMED), onsetDateTime="2021-03-01"))
    assert len(f.allo_hct) == 1  # the same day: one transplant
    assert f.findings == ()


# --- the generic code: not allogeneic, not "no transplant" --------------------------------


def test_generic_234336002_alone_is_not_allogeneic_and_is_reported() -> None:
    """Synthea codes allogeneic *and* any stem-cell transplant with the generic 234336002
    'Hemopoietic stem cell transplant'; autologous transplants sit under it in SNOMED."""
    f = facts(procedure("g", coding("234336002", SNOMED, "Hemopoietic stem cell transplant "
                                                       "(procedure)"), when="2022-01-10"))
    assert f.allo_hct == () and f.auto_hct == ()
    (event,) = f.hct_type_unknown
    assert event.date == datetime(2022, 1, 10, tzinfo=UTC)
    (finding,) = f.findings
    assert finding.code == "missing-value" and finding.resource == "Procedure/g"
    assert "234336002" in finding.message and "transplant type not stated" in finding.message
    assert ("hct_type_unknown[0]", "2022-01-10") in [(n, v) for n, v, _ in f.iter_facts()]


def test_generic_history_of_peripheral_stem_cell_transplant_condition() -> None:
    """Synthea: 'History of peripheral stem cell transplant' 153351000119102 (generic)."""
    f = facts(condition("hx", coding("153351000119102", SNOMED), onsetDateTime="2020-06-01"))
    assert f.allo_hct == () and len(f.hct_type_unknown) == 1
    assert codes(f) == ["missing-value"]


def test_generic_code_with_autologous_text_is_autologous() -> None:
    """Text 'autologous' in the text or display wins toward autologous."""
    for code in (coding("234336002", SNOMED, "Autologous peripheral blood stem cell transplant"),
                 {**coding("234336002", SNOMED), "text": "Auto-SCT (BEAM)"}):
        f = facts(procedure("a", code))
        assert f.allo_hct == () and f.hct_type_unknown == () and len(f.auto_hct) == 1
        assert f.auto_hct[0].source.recognised_by == "text-match" and f.findings == ()


def test_generic_code_with_allogeneic_text_is_allogeneic_by_text() -> None:
    f = facts(procedure("a", {**coding("234336002", SNOMED), "text": "Allogeneic HCT"}))
    (event,) = f.allo_hct
    assert event.source.recognised_by == "text-match" and f.findings == ()


def test_generic_code_whose_text_names_both_types_is_a_conflict_not_allo() -> None:
    f = facts(procedure("a", {**coding("234336002", SNOMED),
                              "text": "allogeneic or autologous transplant"}))
    assert f.allo_hct == () and f.auto_hct == () and len(f.hct_type_unknown) == 1
    assert codes(f) == ["conflict"]


def test_non_autologous_in_text_is_not_autologous() -> None:
    f = facts(procedure("a", {**coding("234336002", SNOMED), "text": "Non-autologous HSCT"}))
    assert f.auto_hct == () and len(f.hct_type_unknown) == 1


def test_allogeneic_code_with_autologous_text_is_never_counted_as_allo() -> None:
    f = facts(procedure("a", {**coding("58390007", SNOMED), "text": "Autologous BMT"}))
    assert f.allo_hct == () and len(f.hct_type_unknown) == 1
    (finding,) = f.findings
    assert finding.code == "conflict" and "autologous" in finding.message


def test_text_only_transplant_without_type_is_reported() -> None:
    f = facts(procedure("t", {"text": "Stem cell transplant"}))
    assert f.allo_hct == () and len(f.hct_type_unknown) == 1
    assert f.hct_type_unknown[0].source.recognised_by == "text-match"
    assert codes(f) == ["missing-value"]


def test_undated_generic_transplant_is_also_flagged_missing_date() -> None:
    f = facts(procedure("g", coding("234336002", SNOMED), when=None))
    assert sorted(codes(f)) == ["missing-date", "missing-value"]


# --- autologous HCT ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "system"), [
    ("58776007", SNOMED),  # Synthea: Autologous bone marrow transplant (procedure)
    ("38241", CPT),  # CPT 'HPC; autologous transplantation' (OHDSI / PEDSnet listing)
    ("30243Y0", PCS), ("30233G0", PCS), ("30243X0", PCS),  # ICD-10-PCS 7th character 0
])
def test_autologous_hct_is_recorded_and_never_allo(code: str, system: str) -> None:
    f = facts(procedure("auto", coding(code, system)))
    assert f.allo_hct == () and f.hct_type_unknown == () and len(f.auto_hct) == 1
    assert f.findings == ()
    assert [n for n, _, _ in f.iter_facts() if n.startswith("auto_hct")] == ["auto_hct[0]"]


def test_synthea_history_of_autologous_bmt_condition() -> None:
    """Synthea: 'History of autologous bone marrow transplant' 108631000119101."""
    f = facts(condition("hx", coding("108631000119101", SNOMED), onsetDateTime="2019-04-01"))
    assert f.allo_hct == () and len(f.auto_hct) == 1 and f.findings == ()


def test_autologous_text_only() -> None:
    f = facts(procedure("a", {"text": "Autologous stem cell transplantation"}))
    assert f.allo_hct == () and len(f.auto_hct) == 1


def test_an_autologous_hct_fires_no_allo_rule() -> None:
    auto = ProcedureEvent(date=datetime(2023, 1, 10, tzinfo=UTC),
                          source=Provenance(resource="Procedure/auto", raw="58776007",
                                            recognised_by="standard-code"))
    p = patient(status="first-relapse", markers={"cd19": 95, "cd22": 80}).model_copy(
        update={"auto_hct": (auto,)})
    got = ids(run(p))
    assert "ALL-RELAPSE-POST-HCT" not in got and "CART-PRIOR-HCT" not in got


# --- a prior HCT of unstated type on the cards ---------------------------------------------


def _untyped(facts_: PatientFacts, when: datetime = datetime(2023, 1, 10, tzinfo=UTC)
             ) -> PatientFacts:
    ev = ProcedureEvent(date=when, source=Provenance(
        resource="Procedure/hct", raw="http://snomed.info/sct|234336002",
        recognised_by="standard-code"))
    return facts_.model_copy(update={"hct_type_unknown": (ev,)})


def test_relapse_after_untyped_hct_asks_to_confirm_the_donor_type() -> None:
    p = _untyped(patient(status="first-relapse", markers={"cd19": 95, "cd22": 80}))
    recs = run(p)
    rec = by_id(recs, "ALL-RELAPSE-POST-HCT")
    assert any(CONFIRM_TYPE in c for c in rec.variables["confirm"])
    (fact,) = [f for f in rec.facts if f.name == "allo_hct"]
    assert fact.resource == "Procedure/hct" and CONFIRM_TYPE in fact.value
    # CAR T: the prior-transplant card with the question, not "no prior HCT"
    got = ids(recs)
    assert "CART-PRIOR-HCT" in got and "CART-VS-HCT" not in got
    assert any(CONFIRM_TYPE in c for c in by_id(recs, "CART-PRIOR-HCT").variables["confirm"])


def test_aml_relapse_after_untyped_hct_asks_to_confirm() -> None:
    p = _untyped(patient(lineage="aml", status="first-relapse", markers={"cd33": 80}))
    rec = by_id(run(p), "AML-POSTHCT-RELAPSE")
    assert any(CONFIRM_TYPE in c for c in rec.variables["confirm"])


def test_allo_hct_on_record_needs_no_type_question() -> None:
    p = _untyped(patient(status="first-relapse", markers={"cd19": 95}, prior_hct=True))
    assert Ctx(p, Policy()).hct_type_gap == ()
    rec = by_id(run(p), "ALL-RELAPSE-POST-HCT")
    assert not any(CONFIRM_TYPE in c for c in rec.variables["confirm"])


def test_every_rule_citing_the_untyped_hct_asks_for_the_type() -> None:
    """Whatever rule shows the prior-HCT fact of an untyped transplant also says what to
    confirm (no card treats it silently as allogeneic)."""
    p = _untyped(patient(age=12, status="cr2", markers={"cd19": 95, "cd22": 80},
                         car_t="tisagenlecleucel", exposures=("blinatumomab",)))
    citing: set[str] = set()
    for lineage, status in (("b-all", "cr2"), ("b-all", "first-relapse"), ("aml", "cr2"),
                            ("aml", "first-relapse")):
        q = p.model_copy(update={"lineage": patient(lineage=lineage).lineage,
                                 "disease_status": patient(status=status).disease_status})
        for rec in run(q) + run(q, "inotuzumab") + run(q, "gemtuzumab"):
            if any(f.name == "allo_hct" and f.resource for f in rec.facts):
                citing.add(rec.id)
                assert any(CONFIRM_TYPE in c for c in rec.variables.get("confirm", ())), rec.id
    assert len(citing) >= 8, citing


def test_fhir_to_card_generic_transplant_shows_confirm_first() -> None:
    """End to end: a B-ALL relapse with only SNOMED 234336002 on record; the card says to
    confirm the donor type, and the facts report names the resource."""
    f = facts(
        condition("dx", coding("277571004", SNOMED)),
        {"resourceType": "Observation", "id": "st", "status": "final",
         "code": {"coding": [{"system": "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds",
                              "code": "disease-status"}]},
         "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2025-02-01",
         "valueCodeableConcept": {"coding": [{
             "system": "http://leukemia-cds.org/fhir/CodeSystem/leukemia-cds",
             "code": "first-relapse"}]}},
        procedure("hct", coding("234336002", SNOMED), when="2023-06-01"),
    )
    assert f.allo_hct == () and len(f.hct_type_unknown) == 1
    renderer = Renderer(load_catalogue(cards_dir()))
    text = json.dumps([c.to_json() for c in renderer.render(run(f), patient_id="p1")])
    assert "Confirm first" in text and CONFIRM_TYPE in text


# --- CAR T infusion ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "product"), [
    ("XW033C7", None),  # ICD-10-PCS autologous engineered CAR T, generic
    ("XW043C7", None),  # the same, central vein
    ("XW033J7", "tisagenlecleucel"), ("XW043J7", "tisagenlecleucel"),
    ("XW033M7", "brexucabtagene"), ("XW043M7", "brexucabtagene"),
])
def test_icd10pcs_car_t_introduction_codes(code: str, product: str | None) -> None:
    """ICD-10-PCS section X (New Technology group 7), CMS FY2026 table."""
    f = facts(procedure("cart", coding(code, PCS), when="2024-06-03"))
    (event,) = f.car_t
    assert event.product == product and event.date == datetime(2024, 6, 3, tzinfo=UTC)
    assert f.allo_hct == () and f.auto_hct == () and f.hct_type_unknown == ()
    assert f.findings == ()


def test_generic_car_t_code_with_product_in_used_code() -> None:
    f = facts(procedure("cart", coding("XW033C7", PCS), usedCode=[{"text": "Aucatzyl"}]))
    assert f.car_t[0].product == "obecabtagene"


def test_autologous_car_t_text_is_not_an_autologous_transplant() -> None:
    """CAR-T products are autologous: the word does not make a transplant."""
    f = facts(procedure("c", {"text": "Autologous CAR T-cell infusion (Kymriah)"}))
    assert f.auto_hct == () and f.hct_type_unknown == ()
    assert f.car_t[0].product == "tisagenlecleucel"


def test_car_t_service_request_by_icd10pcs_is_a_car_t_draft_order() -> None:
    orders = extract_draft_orders({"resourceType": "Bundle", "entry": [{"resource": {
        "resourceType": "ServiceRequest", "id": "s", "status": "draft", "intent": "order",
        "subject": {"reference": "Patient/p1"}, "code": coding("XW033M7", PCS)}}]})
    (o,) = orders
    assert o.drug == "brexucabtagene" and o.is_car_t


# --- drug exposures ------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "drug"), [
    ("1597262", "blinatumomab"),  # SCD blinatumomab 0.035 MG Injection
    ("1597267", "blinatumomab"),  # SBD ... [Blincyto]
    ("1597263", "blinatumomab"),  # BN Blincyto
    ("2105826", "rituximab"),  # 10 ML rituximab-abbs 10 MG/ML Injection
    ("2105831", "rituximab"),  # ... [Truxima]
    ("2273517", "rituximab"),  # ... [Ruxience]
    ("2472332", "rituximab"),  # ... [Riabni]
    ("1927890", "rituximab"),  # hyaluronidase / rituximab [Rituxan Hycela]
    ("2375141", "daratumumab"),  # daratumumab-fihj / hyaluronidase-fihj [Darzalex Faspro]
    ("1045402", "dasatinib"),  # SCD dasatinib 140 MG Oral Tablet
    ("404589", "imatinib"),  # imatinib 400 MG Oral Tablet [Gleevec]
    ("1942959", "inotuzumab"),  # ... 0.9 MG Injection [Besponsa]
    ("1944704", "gemtuzumab"),  # ... 4.5 MG Injection [Mylotarg]
    ("1657976", "tocilizumab"),  # 4 ML tocilizumab 20 MG/ML Injection [Actemra]
])
def test_rxnorm_clinical_and_branded_drug_codes_without_display(code: str, drug: str) -> None:
    """CIBMTR reporting IG medication value sets (RxNorm ingredient, BN, SCD, SBD): the code
    alone, with no display or text, names the drug."""
    f = facts(med_request("m", {"medicationCodeableConcept": {
        "coding": [{"system": RXNORM, "code": code}]}}))
    (exp,) = f.exposures
    assert exp.drug == drug and exp.source.recognised_by == "standard-code"


def test_blinatumomab_sbd_through_a_referenced_medication_without_display() -> None:
    med = {"resourceType": "Medication", "id": "blin",
           "code": {"coding": [{"system": RXNORM, "code": "1597267"}]}}
    f = facts(med, med_request("m", {"medicationReference": {"reference": "Medication/blin"}}))
    assert [e.drug for e in f.exposures] == ["blinatumomab"]


@pytest.mark.parametrize(("text", "drug"), [
    ("BLINCYTO 35 mcg IV", "blinatumomab"), ("Besponsa 0.5 mg/m2", "inotuzumab"),
    ("Mylotarg 3 mg/m2", "gemtuzumab"), ("Kymriah infusion", "tisagenlecleucel"),
    ("Tecartus", "brexucabtagene"), ("Aucatzyl", "obecabtagene"), ("Rituxan 375", "rituximab"),
    ("TRUXIMA 375 mg/m2", "rituximab"), ("Ruxience", "rituximab"), ("Riabni", "rituximab"),
    ("rituximab-abbs", "rituximab"), ("Darzalex Faspro 1800 mg SC", "daratumumab"),
    ("Sprycel 140 mg", "dasatinib"), ("Gleevec 400 mg", "imatinib"), ("Iclusig", "ponatinib"),
    ("dasatinib 100 mg", "dasatinib"), ("imatinib", "imatinib"), ("Tasigna 300 mg", "nilotinib"),
])
def test_brand_only_text_names_the_drug(text: str, drug: str) -> None:
    """Brand names (CIBMTR medication value sets list them as RxNorm BN) as text synonyms."""
    f = facts(med_request("m", {"medicationCodeableConcept": {"text": text}}))
    assert [e.drug for e in f.exposures] == [drug]
    assert f.exposures[0].source.recognised_by == "text-match"


@pytest.mark.parametrize("medication", [
    {"medicationCodeableConcept": {"text": "Truxima 375 mg/m2 IV"}},
    {"medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "2105831"}]}},
    {"medicationReference": {"display": "RUXIENCE 10 mg/mL"}},
])
def test_rituximab_ordered_by_a_biosimilar_brand_is_rituximab_in_draft_orders(
        medication: dict[str, Any]) -> None:
    draft = {"resourceType": "Bundle", "entry": [{"resource": med_request(
        "d", medication, status="draft", authored=None)}]}
    (order,) = extract_draft_orders(draft)
    assert order.drug == "rituximab" and order.drug_class == "immunotherapy"


def test_every_added_rxnorm_code_names_one_drug_and_is_verified() -> None:
    """The terminology refuses a code naming two concepts; the CIBMTR codes are 'verified'."""
    from service.fhir.terminology import load_terminology

    term = load_terminology(profiles_dir())
    rx = [e for e in term.external if e.system == RXNORM]
    assert len(rx) > 190
    # nilotinib's ingredient code comes from CPIC's drug table, not an HL7 package: secondary
    assert all(e.verified for e in rx
               if e.concept not in {"tisagenlecleucel", "brexucabtagene", "nilotinib"})
    assert {e.concept for e in rx if e.code in {"2105826", "2375141", "1045402"}} == {
        "rituximab", "daratumumab", "dasatinib"}


def test_readme_documents_the_new_concepts() -> None:
    readme = (Path(profiles_dir()) / "README.md").read_text("utf-8")
    assert "| `auto-hct` *(project addition)*" in readme
    assert "| `hct-unspecified` *(project addition)*" in readme
