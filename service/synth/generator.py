"""Scenario + index + seed → one synthetic patient as a FHIR R4 Bundle, byte-for-byte repeatable.

Repeatability is what makes these patients usable as test fixtures and benchmark inputs: every
random choice comes from a ``random.Random`` seeded with the seed, scenario and index (string
seeding hashes with SHA-512, stable across processes and Python builds), no clock or UUID4 is
read, and dates are counted back from an explicit ``as_of`` day. Ages are exact on ``as_of``,
which is why it defaults to today: a chart generated today is read by the service today.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, Literal

from service.synth import noise
from service.synth.record import Record
from service.synth.scenarios import SCENARIOS, Scenario

BundleType = Literal["collection", "transaction"]
FULL_URL_BASE = "http://leukemia-cds.org/fhir/synthetic"
DEFAULT_SIZE = 60
SIZES_FOR_BENCHMARKS = (50, 200, 1000)

_MYELOID = {"aml-"}


@dataclass(frozen=True)
class SyntheticPatient:
    """One generated patient: the chart plus what a person needs to pick it from a list."""

    scenario: Scenario
    index: int
    patient_id: str
    display_name: str
    age: int | None
    sex: str
    key_facts: tuple[str, ...]
    resources: tuple[dict[str, Any], ...]
    as_of: date

    def bundle(self, bundle_type: BundleType = "collection") -> dict[str, Any]:
        return to_bundle(self.patient_id, self.resources, bundle_type, self.as_of)

    def core_size(self) -> int:
        return len(self.resources)


def patient_id(scenario_id: str, index: int) -> str:
    return f"{scenario_id}-{index}"


def generate(scenario_id: str, *, index: int = 0, seed: int = 0, size: int = DEFAULT_SIZE,
             as_of: date | None = None) -> SyntheticPatient:
    """Build one patient of ``scenario_id``; ``size`` is the number of resources wanted.

    A scenario needs a minimum number of resources (its facts, history and background); a
    smaller ``size`` yields that minimum rather than a chart missing decisive facts.
    """
    try:
        scenario = SCENARIOS[scenario_id]
    except KeyError:
        raise ValueError(
            f"unknown scenario {scenario_id!r}; known: {', '.join(sorted(SCENARIOS))}"
        ) from None
    day = as_of or datetime.now(UTC).date()
    record = Record(
        patient_id=patient_id(scenario_id, index),
        as_of=datetime.combine(day, time(0, 0), UTC),
        rng=random.Random(f"leukemia-cds-synth:{seed}:{scenario_id}:{index}"),
    )
    scenario.build(record)
    lineage_group = "myeloid" if scenario_id.startswith("aml-") else "lymphoid"
    noise.add_superseded_site_results(record)
    noise.add_background(record, lineage_group)
    noise.fill(record, size)
    return SyntheticPatient(
        scenario=scenario, index=index, patient_id=record.patient_id,
        display_name=record.display_name, age=record.age, sex=record.sex,
        key_facts=tuple(record.key_facts), resources=tuple(record.resources), as_of=day,
    )


def generate_many(scenario_ids: Iterable[str] | None = None, *, count: int = 1, seed: int = 0,
                  size: int = DEFAULT_SIZE, as_of: date | None = None
                  ) -> Iterator[SyntheticPatient]:
    """``count`` patients of each scenario (all scenarios when none are named), in order."""
    ids = list(scenario_ids) if scenario_ids else list(SCENARIOS)
    day = as_of or datetime.now(UTC).date()
    for scenario_id in ids:
        for index in range(count):
            yield generate(scenario_id, index=index, seed=seed, size=size, as_of=day)


def to_bundle(bundle_id: str, resources: Iterable[dict[str, Any]], bundle_type: BundleType,
              as_of: date) -> dict[str, Any]:
    """Wrap resources in a Bundle; a transaction PUTs each by id so references stay literal."""
    if bundle_type not in ("collection", "transaction"):
        raise ValueError(f"bundle type must be collection or transaction, not {bundle_type!r}")
    entries = []
    for resource in resources:
        ref = f"{resource['resourceType']}/{resource['id']}"
        entry: dict[str, Any] = {"fullUrl": f"{FULL_URL_BASE}/{ref}", "resource": resource}
        if bundle_type == "transaction":
            entry["request"] = {"method": "PUT", "url": ref}
        entries.append(entry)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "id": bundle_id, "type": bundle_type}
    if bundle_type == "collection":
        bundle["timestamp"] = f"{as_of.isoformat()}T00:00:00Z"
    bundle["entry"] = entries
    return bundle


def dumps(bundle: dict[str, Any]) -> str:
    """The one serialisation used for files, so equal bundles are equal bytes."""
    return json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
