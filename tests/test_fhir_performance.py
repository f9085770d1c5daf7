"""Extraction is cheap first: what the contract does not cover is never validated, and a chart
opened again is not validated again. (Speed itself is measured by bench/run.py, not asserted.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from service import paths
from service.fhir.extract import validation
from service.fhir.terminology import load_terminology
from tests.fhir_helpers import extract_facts
from tests.fixtures.fhir.builders import (
    LOINC,
    RXNORM,
    SNOMED,
    cc,
    coded,
    condition,
    med_request,
    obs,
    patient,
    procedure,
    qty,
)

NOW = datetime(2025, 3, 1, tzinfo=UTC)
UNRELATED_LOINC = ["718-7", "6690-2", "777-3", "2951-2", "2823-3", "2160-0", "1742-6", "1920-8"]


def patient_record(tag: str) -> list[dict[str, Any]]:
    """~200 resources: mostly routine labs the contract ignores, ~40 the rules read."""
    out: list[dict[str, Any]] = [patient()]
    for i in range(150):
        day = f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}"
        out.append(
            obs(
                f"lab-{tag}-{i}",
                cc(UNRELATED_LOINC[i % 8], LOINC),
                when=day,
                **qty(4.2 + i, "mmol/L", "mmol/L"),
            )
        )
    for i in range(12):
        day = f"2024-{1 + i:02d}-15"
        out += [
            obs(f"cd19-{tag}-{i}", "cd19", when=day, **qty(80 + i)),
            obs(f"mrd-{tag}-{i}", "mrd", when=day, valueString=f"{0.01 * (i + 1):.2f}%"),
        ]
    out += [
        obs(f"ph-{tag}", cc("51867-0", LOINC), **coded("LA9634-2", LOINC)),
        obs(f"ds-{tag}", "disease-status", **coded("first-relapse")),
        obs(f"crs-{tag}", "crs-grade", valueInteger=1),
        condition(f"dx-{tag}", cc("277571004", SNOMED)),
        procedure(f"hct-{tag}", cc("58390007", SNOMED)),
    ]
    for i in range(20):
        text = "Blincyto" if i % 5 == 0 else "Paracetamol 1 g"
        out.append(med_request(f"rx-{tag}-{i}", {"medicationCodeableConcept": {"text": text}}))
    out.append(med_request(f"rx-{tag}-das", {"medicationCodeableConcept": cc("475342", RXNORM)}))
    return out


def test_only_recognised_resources_are_validated_and_only_once(monkeypatch) -> None:
    load_terminology(paths.profiles_dir())
    record = patient_record(uuid.uuid4().hex[:8])
    assert len(record) >= 200
    validated: list[str] = []
    real = validation._validate_now

    def counting(resource_type: str, res: Any) -> str | None:
        validated.append(res.get("id"))
        return real(resource_type, res)

    monkeypatch.setattr(validation, "_validate_now", counting)
    facts = extract_facts(record, now=NOW, patient_id="p1")
    assert facts.markers["cd19"].percent == 91 and len(facts.mrd_history) == 12
    assert [e.drug for e in facts.exposures].count("blinatumomab") == 4
    assert validated, "recognised resources are validated with fhir.resources"
    assert not [i for i in validated if i and i.startswith("lab-")], \
        "routine labs the contract does not cover must be skipped before validation"
    first = len(validated)
    assert first < 80, "only the ~40 resources the rules read are validated"

    validated.clear()
    again = extract_facts(record, now=NOW, patient_id="p1")  # the same chart opened again
    assert validated == [], "validation results are reused for identical resources"
    assert again == facts
