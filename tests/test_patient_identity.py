"""Only the patient in context's data may reach a decision (issue 18, part 4).

A resource counts as this patient's only when its subject provably is this patient; anything
else (another patient, an identifier-only or urn or Group or malformed subject, none at all) is
set aside with a finding, gives no value, earns a data-quality card naming how many and why, and
a log line without PHI. The same for draft orders. Source of the rule:
../shared/design/real-world-codes.md, "Identity".
"""

from __future__ import annotations

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from service.fhir.extract.identity import subject_problem
from tests.conftest import PATIENT_ID, blinatumomab_order, draft_orders
from tests.fhir_helpers import extract_draft_orders, extract_facts
from tests.test_vignettes import call as _post
from tests.test_vignettes import shown as _ids
from tests.vignettes.build import VIGNETTES, request

EXTENSION = "org.leukemia-cds.recommendation"
RELAPSE = next(v for v in VIGNETTES if v["id"] == "ball-first-relapse-high-burden-adult")
OPTIONS = {"ALL-RR-FIRST-RELAPSE", "ALL-BLIN-RR", "ALL-INO-RR"}


@pytest.mark.parametrize(("subject", "expected"), [
    ({"reference": "Patient/p1"}, None),
    ({"reference": "https://ehr.example/fhir/Patient/p1"}, None),
    ({"reference": "Patient/p1/_history/3"}, None),
    ({"reference": "urn:uuid:6b1c"}, None),  # the fullUrl of Patient p1's entry
    ({"reference": "Patient/p2"}, ("wrong-patient", "belongs to another patient")),
    ({"reference": "https://ehr.example/fhir/Patient/p2"}, ("wrong-patient", "belongs to")),
    ({"identifier": {"system": "urn:oid:1.2.3", "value": "MRN-1"}},
     ("unresolved-subject", "identifier only")),
    ({"reference": "urn:uuid:0000"}, ("unresolved-subject", "urn")),
    ({"reference": "Group/ward-7"}, ("unresolved-subject", "Group")),
    ({"reference": "#contained-patient"}, ("unresolved-subject", "not Patient/<id>")),
    ({"reference": 42}, ("unresolved-subject", "malformed")),
    ({"display": "Jane Doe"}, ("unresolved-subject", "without a reference")),
    ("Patient/p1", ("unresolved-subject", "malformed subject")),
    (None, ("unresolved-subject", "names no subject")),
])
def test_subject_is_this_patient_only_when_provably_so(subject, expected) -> None:
    res: dict[str, Any] = {"resourceType": "Observation"}
    if subject is not None:
        res["subject"] = subject
    got = subject_problem(res, "p1", {"urn:uuid:6b1c": "p1"})
    if expected is None:
        assert got is None
    else:
        assert got is not None and got[0] == expected[0] and expected[1] in got[1]
        assert "p2" not in got[1]  # the other patient's id stays out of this chart


def test_patient_element_counts_where_there_is_no_subject() -> None:
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p2"}}
    assert subject_problem(allergy, "p1", {})[0] == "wrong-patient"


def _relapse_request() -> dict[str, Any]:
    return request(RELAPSE)


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for v in body["prefetch"].values() if v and v.get("entry")
            for e in v["entry"]]


def _with_subject(body: dict[str, Any], subject: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    for res in _resources(body):
        if "subject" in res:
            res["subject"] = copy.deepcopy(subject)
    return body


def test_the_relapse_vignette_as_sent_gives_its_options(client) -> None:
    assert _ids(_post(client, _relapse_request())) >= OPTIONS


@pytest.mark.parametrize(("subject", "reason"), [
    ({"reference": "Patient/someone-else"}, "another patient"),
    ({"identifier": {"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-7"}},
     "cannot be tied to this patient"),
    ({"reference": "Group/ward-7"}, "cannot be tied to this patient"),
])
def test_data_not_provably_this_patients_gives_no_cards_but_one_that_says_so(
        client, caplog, subject, reason) -> None:
    body = _with_subject(_relapse_request(), subject)
    set_aside = sum("subject" in r for r in _resources(body))
    with caplog.at_level(logging.WARNING, logger="service.advice"):
        cards = _post(client, body)
    ids = _ids(cards)
    assert not ids & OPTIONS, "another patient's relapse must not give this patient options"
    [card] = [c for c in cards if c["extension"][EXTENSION]["id"] == "DQ-NOT-THIS-PATIENT"]
    assert card["indicator"] == "warning"
    assert card["summary"].startswith(f"{set_aside} resources set aside")
    assert reason in card["detail"]
    assert len(card["extension"][EXTENSION]["facts"]) == set_aside  # each named by id
    # no value from them: not as a fact on any card
    values = [f["value"] for c in cards for f in c["extension"][EXTENSION].get("facts", ())]
    assert not any("%" in v for v in values)
    [line] = [r for r in caplog.records if getattr(r, "event", "") == "subject_mismatch"]
    assert line.count == set_aside
    logged = json.dumps({k: str(v) for k, v in vars(line).items()})
    assert "someone-else" not in logged and "MRN-7" not in logged


def test_a_urn_subject_that_is_this_patients_bundle_entry_is_used(client) -> None:
    body = _relapse_request()
    urn = "urn:uuid:7f1f6a0e-2a8c-4c47-9d1b-2d3f0f8f2b11"
    body = _with_subject(body, {"reference": urn})
    # the patient as an entry of the same search Bundle as the resources that name it
    patient = body["prefetch"]["patient"]
    key = next(k for k, v in body["prefetch"].items() if v and v.get("entry")
               and any("subject" in e["resource"] for e in v["entry"]))
    body["prefetch"][key]["entry"].append({"fullUrl": urn, "resource": patient})
    cards = _post(client, body)
    assert _ids(cards) >= OPTIONS
    assert "DQ-NOT-THIS-PATIENT" not in _ids(cards)


def test_identifier_only_subject_gives_no_fact_in_extraction() -> None:
    blasts = {"resourceType": "Observation", "id": "bm", "status": "final",
              "subject": {"identifier": {"value": "MRN-1"}},
              "code": {"coding": [{"system": "http://leukemia-cds.org/fhir/CodeSystem/"
                                   "leukemia-cds", "code": "bm-blasts"}]},
              "valueQuantity": {"value": 80, "unit": "%", "system": "http://unitsofmeasure.org",
                                "code": "%"}}
    facts = extract_facts([blasts], patient_id="p1", now=datetime.now(UTC))
    assert facts.bm_blasts_percent is None
    assert [(f.code, f.resource) for f in facts.findings] == [
        ("unresolved-subject", "Observation/bm")]


def test_a_draft_order_for_another_patient_is_not_judged_against_this_chart(client) -> None:
    order = blinatumomab_order()
    order["subject"] = {"reference": "Patient/someone-else"}
    body = _relapse_request()
    body["hook"] = "order-sign"
    body["context"]["draftOrders"] = draft_orders(order)
    cards = _post(client, body)
    # nothing speaks to the order: no monitoring, no order check
    assert not {i for i in _ids(cards) if i.startswith(("MON-", "ORDER-"))}
    [card] = [c for c in cards if c["extension"][EXTENSION]["id"] == "DQ-NOT-THIS-PATIENT"]
    assert "1 draft order" in card["detail"]
    # the same order for this patient is judged: blinatumomab monitoring
    order["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    body["context"]["draftOrders"] = draft_orders(order)
    assert "MON-BLIN-ADMISSION" in _ids(_post(client, body))


def test_draft_orders_without_a_context_patient_are_all_returned() -> None:
    order = blinatumomab_order()
    order["subject"] = {"identifier": {"value": "MRN-1"}}
    assert [o.drug for o in extract_draft_orders(draft_orders(order))] == ["blinatumomab"]
    found: list = []
    assert extract_draft_orders(draft_orders(order), patient_id="pat-1", set_aside=found) == []
    assert [f.code for f in found] == ["unresolved-subject"]
