"""Reading real-world codes must not put cards on other patients' charts (issue 18).

Standard codes for a marrow blast count (LOINC 11150-0) or a BCR::ABL1 result fill MDS,
myeloma and CML charts; daratumumab and rituximab are given far more often for myeloma,
lymphoma or rheumatology. On their own they do not make a chart an acute-leukemia record, so
such charts get no card. The contract's own codes, a diagnosis, or a drug given only for acute
leukemia still do.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.decision import decide
from service.policy import Policy
from tests.fhir_helpers import extract_facts
from tests.fixtures.fhir.builders import cc, med_request, obs, patient, qty

NOW = datetime(2025, 3, 1, tzinfo=UTC)
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def cards(*resources) -> list[str]:
    facts = extract_facts([patient(), *resources], now=NOW, patient_id="p1")
    return [r.id for r in decide(facts, hook="patient-view", policy=Policy())]


@pytest.mark.parametrize(("chart", "resource"), [
    ("MDS marrow (CIBMTR's LOINC 11150-0)", obs("bl", cc("11150-0", LOINC), **qty(8, code="%"))),
    ("CML on treatment (BCR::ABL1 PCR %IS, 69380-4)",
     obs("pcr", cc("69380-4", LOINC), **qty(0.8, code="%"))),
    ("myeloma on Darzalex Faspro (RxNorm 2375141)",
     med_request("dara", {"medicationCodeableConcept": cc("2375141", RXNORM)})),
    ("rheumatology on Truxima (brand text)",
     med_request("ritux", {"medicationCodeableConcept": {"text": "Truxima 1000 mg IV"}})),
])
def test_a_non_leukemia_chart_with_these_codes_gets_no_card(chart: str, resource) -> None:
    assert cards(resource) == [], chart


def test_the_same_data_in_the_contracts_codes_or_beside_a_leukemia_drug_still_counts() -> None:
    local_blasts = obs("bl", "bm-blasts", **qty(40, code="%"))
    assert "DQ-LINEAGE-UNKNOWN" in cards(local_blasts)
    blin = med_request("blin", {"medicationCodeableConcept": cc("1597267", RXNORM)})
    assert "DQ-LINEAGE-UNKNOWN" in cards(blin)
