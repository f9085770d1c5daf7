"""context.draftOrders → DraftOrder: recognised drugs, CAR-T service requests, selections."""

from __future__ import annotations

from typing import Any

from tests.fhir_helpers import extract_draft_orders
from tests.fixtures.fhir.builders import RXNORM, cc, med_request


def _draft(*resources: dict[str, Any], with_type: bool = False) -> dict[str, Any]:
    b: dict[str, Any] = {"resourceType": "Bundle", "entry": [{"resource": r} for r in resources]}
    if with_type:
        b["type"] = "collection"
    return b


def _mr(id_: str, medication: dict[str, Any]) -> dict[str, Any]:
    return med_request(id_, medication, status="draft", authored=None)


def _sr(id_: str, code: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": id_,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "code": code,
        **extra,
    }


def test_typeless_bundle_of_medication_requests() -> None:
    orders = extract_draft_orders(
        _draft(
            _mr("a", {"medicationCodeableConcept": cc("1597258", RXNORM)}),
            _mr("b", {"medicationCodeableConcept": {"text": "Mylotarg 3 mg/m2"}}),
            _mr("c", {"medicationCodeableConcept": {"text": "Ondansetron 8 mg"}}),
        )
    )
    assert [(o.resource, o.drug, o.recognised_by) for o in orders] == [
        ("MedicationRequest/a", "blinatumomab", "standard-code"),
        ("MedicationRequest/b", "gemtuzumab", "text-match"),
        ("MedicationRequest/c", None, None),
    ]
    assert orders[1].drug_class == "immunotherapy" and orders[1].display == "Mylotarg 3 mg/m2"
    assert orders[0].status == "draft"


def test_selections_restrict_to_the_selected_orders() -> None:
    draft = _draft(
        _mr("a", {"medicationCodeableConcept": cc("1597258", RXNORM)}),
        _mr("b", {"medicationCodeableConcept": cc("1942950", RXNORM)}),
        with_type=True,
    )
    chosen = extract_draft_orders(draft, selections=["MedicationRequest/b"])
    assert [o.drug for o in chosen] == ["inotuzumab"]
    assert extract_draft_orders(draft, selections=[]) == []


def test_contained_and_bundled_medications() -> None:
    contained = _mr("a", {"medicationReference": {"reference": "#m"}})
    contained["contained"] = [
        {"resourceType": "Medication", "id": "m", "code": cc("282388", RXNORM)}
    ]
    bundled = _mr("b", {"medicationReference": {"reference": "Medication/x"}})
    med = {"resourceType": "Medication", "id": "x", "code": {"text": "Darzalex"}}
    orders = extract_draft_orders(_draft(contained, bundled, med))
    assert [(o.drug, o.drug_class) for o in orders] == [
        ("imatinib", "tki"),
        ("daratumumab", "immunotherapy"),
    ]


def test_car_t_service_requests() -> None:
    orders = extract_draft_orders(
        _draft(
            _sr(
                "cart", {"text": "CAR T-cell infusion"}, orderDetail=[{"text": "Product: Tecartus"}]
            ),
            _sr("cart2", cc("car-t-infusion")),
            _sr("kym", {"text": "Kymriah infusion"}),
            _sr("lab", {"text": "CBC with differential"}),
        )
    )
    got = [(o.resource, o.drug, o.drug_class, o.is_car_t) for o in orders]
    assert got == [
        ("ServiceRequest/cart", "brexucabtagene", "car-t", True),
        ("ServiceRequest/cart2", None, "car-t", True),
        ("ServiceRequest/kym", "tisagenlecleucel", "car-t", True),
        ("ServiceRequest/lab", None, None, False),
    ]


def test_an_order_naming_two_drugs_yields_both() -> None:
    orders = extract_draft_orders(
        _draft(_mr("a", {"medicationCodeableConcept": {"text": "dasatinib + blinatumomab"}}))
    )
    assert {o.drug for o in orders} == {"dasatinib", "blinatumomab"}
    assert {o.resource for o in orders} == {"MedicationRequest/a"}


def test_garbage_is_tolerated() -> None:
    assert extract_draft_orders(None) == []
    assert extract_draft_orders("x") == []
    assert extract_draft_orders({"resourceType": "Bundle", "entry": [None, {"resource": 3}]}) == []
    single = extract_draft_orders(_mr("a", {"medicationCodeableConcept": {"text": "rituximab"}}))
    assert [o.drug for o in single] == ["rituximab"]
