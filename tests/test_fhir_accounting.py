"""Every resource accounted for: used, superseded, reported or set aside with the reason
(issue 18, part 2). `leukemia-cds facts` prints the lists and `--json` gives them as data."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

from service import paths
from service.fhir.accounting import account
from service.fhir.report import EXIT_OK, facts_command
from service.policy import Policy
from tests.fhir_helpers import extract_facts

FIXTURES = Path(__file__).parent / "fixtures" / "fhir"
NOW = datetime(2025, 3, 1, tzinfo=UTC)
BUNDLE = json.loads((FIXTURES / "bundle-relapsed-b-all.json").read_text())


def lists(resources, **kwargs):
    facts = extract_facts(resources, now=NOW, **kwargs)
    a = account(resources, facts)
    return {name: {x.resource: x.why for x in getattr(a, name)}
            for name in ("used", "superseded", "reported", "set_aside")}, a


def test_every_resource_is_in_exactly_one_list() -> None:
    got, a = lists([BUNDLE])
    refs = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in BUNDLE["entry"]]
    placed = [r for v in got.values() for r in v]
    assert sorted(placed) == sorted(refs) and a.total == len(refs)
    assert got["used"]["Observation/cd22"] == "markers.cd22.call"
    assert got["used"]["Patient/p1"] == "birth_date, age_years"
    # the older MRD was read, but the newest (unreadable) one decides: superseded, not used
    assert got["superseded"]["Observation/mrd-old"] == "read; another result was used"
    assert got["reported"]["Observation/mrd-bad"] == "unreadable-mrd"
    assert got["set_aside"]["Observation/cns-prelim"] == "status not used"
    assert got["set_aside"]["Observation/hb"].startswith("out of scope")
    assert ("Observation http://loinc.org 718-7", 1) \
        in a.worklist


def obs(oid: str, subject: str, code: str = "bm-blasts", value: float = 40,
        status: str = "final") -> dict:
    return {"resourceType": "Observation", "id": oid, "status": status,
            "subject": {"reference": subject},
            "code": {"coding": [{"system": "http://leukemia-cds.org/fhir/CodeSystem/"
                                           "leukemia-cds", "code": code}]},
            "valueQuantity": {"value": value, "unit": "%",
                              "system": "http://unitsofmeasure.org", "code": "%"}}


def test_another_patients_and_entered_in_error_resources_are_set_aside_with_the_reason() -> None:
    resources = [obs("mine", "Patient/p1"), obs("theirs", "Patient/p2"),
                 obs("oops", "Patient/p1", status="entered-in-error"),
                 {**obs("loinc", "Patient/p1"),
                  "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}},
                 {**obs("loinc2", "Patient/p1"),
                  "code": {"coding": [{"system": "http://loinc.org", "code": "718-7"}]}}]
    got, a = lists(resources, patient_id="p1")
    assert got["used"] == {"Observation/mine": "bm_blasts_percent"}
    assert got["set_aside"]["Observation/theirs"] == "not this patient's"
    assert got["set_aside"]["Observation/oops"] == "entered-in-error"
    assert a.worklist == (("Observation http://loinc.org 718-7", 2),)


def test_a_medication_is_used_when_a_used_resource_takes_its_drug() -> None:
    med = {"resourceType": "Medication", "id": "m1",
           "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                "code": "1597258"}]}}
    spare = {**med, "id": "m2"}
    given = {"resourceType": "MedicationAdministration", "id": "a1", "status": "completed",
             "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-05-01",
             "medicationReference": {"reference": "Medication/m1"}}
    got, _ = lists([med, spare, given], patient_id="p1")
    assert got["used"]["MedicationAdministration/a1"].startswith("exposures[0]")
    assert got["used"]["Medication/m1"] == "the drug of MedicationAdministration/a1"
    assert "Medication/m2" in got["set_aside"]


def test_facts_json_gives_the_same_lists_as_data(tmp_path) -> None:
    out = io.StringIO()
    code = facts_command(str(FIXTURES / "bundle-relapsed-b-all.json"), out, now=NOW,
                         profiles_dir=paths.profiles_dir(), policy=Policy(), as_json=True)
    assert code == EXIT_OK
    doc = json.loads(out.getvalue())
    assert doc["patient"] == "p1"
    assert {"name": "markers.cd22.call", "value": "positive", "resource": "Observation/cd22",
            "recognised_by": "standard-code"}.items() <= doc["facts"][
                [f["name"] for f in doc["facts"]].index("markers.cd22.call")].items()
    acc = doc["accounting"]
    assert sum(len(acc[k]) for k in ("used", "superseded", "reported", "set_aside")) \
        == len(BUNDLE["entry"])
    assert {"resource": "Observation/mrd-old", "codes": acc["superseded"][0]["codes"],
            "why": "read; another result was used"} in acc["superseded"]
    assert acc["worklist"][0]["count"] == 1
