"""The behaviour record for the rule-shape reshaping (issue 17): every rule's output and every
rendered card, for every synthetic scenario (three seeds) on each hook and for every vignette.

Recorded once before the reshaping began (`python -m tests.behaviour.record --write`) and
compared by `tests/test_behaviour_record.py` after every step, so moving code cannot move a
decision. Time is frozen: ages and "days since" read the same on any day the suite runs.
Delete this folder and its test when the issue is done.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from unittest import mock

RECORD = Path(__file__).with_name("record.json.gz")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SEEDS = (0, 7, 31337)
ORDER_HOOKS = ("order-select", "order-sign")


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return NOW if tz is not None else NOW.replace(tzinfo=None)


class _FrozenDate(date):
    @classmethod
    def today(cls) -> date:  # type: ignore[override]
        return NOW.date()


def _resources(body: dict[str, Any]) -> list[dict[str, Any]]:
    from service.hooks.prefetch import resources_of

    out: list[dict[str, Any]] = []
    for value in body.get("prefetch", {}).values():
        if value is not None:
            out += resources_of(value)
    return out


def call_clinical_layers(body: dict[str, Any]) -> dict[str, Any]:
    """One hook call through the clinical layers: recommendations and rendered cards."""
    from service import advice
    from service.decision import decide
    from service.hooks.models import CONTEXT_MODELS
    from tests.fhir_helpers import extract_draft_orders, extract_facts

    hook = body["hook"]
    context = CONTEXT_MODELS[hook].model_validate(body["context"])
    resources = _resources(body)
    advisor = _advisor()
    facts = extract_facts(resources, now=NOW, terminology=advisor.terminology,
                          patient_id=context.patientId,
                          policy=advisor.policy)
    orders = []
    if hook in ORDER_HOOKS:
        orders = extract_draft_orders(
            context.draftOrders.model_dump(),
            selections=context.selections if hook == "order-select" else None,
            terminology=advisor.terminology)
    recs = decide(facts, hook=hook, orders_in_focus=orders, policy=advisor.policy)
    call = advice.HookCall(service_id="", hook=hook, hook_instance=body["hookInstance"],
                           context=context, resources=resources, now=NOW)
    cards = [c.model_dump(mode="json", exclude_none=True) for c in advice.advise(call, advisor)]
    return {"recs": [_rec(r) for r in recs], "cards": [_strip(c) for c in cards]}


@functools.cache
def _advisor() -> Any:
    from service import advice
    from service.config import Settings

    return advice.build_advisor(Settings())


def _rec(r: Any) -> dict[str, Any]:
    return {"id": r.id, "focus": r.focus,
            "facts": [[f.name, f.label, f.value, f.resource] for f in r.facts],
            "variables": {k: repr(v) for k, v in sorted(r.variables.items())}}


def _strip(card: dict[str, Any]) -> dict[str, Any]:
    """A card without its per-call uuids."""
    card = {k: v for k, v in card.items() if k != "uuid"}
    if "suggestions" in card:
        card["suggestions"] = [{k: v for k, v in s.items() if k != "uuid"}
                               for s in card["suggestions"]]
    return card


def bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, request body) for every call in the record."""
    from service.synth import SCENARIOS, draft_order, generate, hook_request
    from tests.vignettes import build

    for scenario_id, scenario in sorted(SCENARIOS.items()):
        for seed in SEEDS:
            patient = generate(scenario_id, seed=seed, index=seed % 3, size=80, as_of=NOW.date())
            pid = patient.patient_id
            name = f"synth/{scenario_id}/seed{seed}"
            yield f"{name}/patient-view", hook_request(patient.resources,
                                                        hook_instance=f"{name}-pv")
            orders = [draft_order(d, pid, order_id=f"draft-{i}")
                      for i, d in enumerate(scenario.orders)]
            for i, order in enumerate(orders):
                yield f"{name}/order-select/{scenario.orders[i]}", hook_request(
                    patient.resources, "order-select", orders=orders,
                    selections=[f"MedicationRequest/{order['id']}"],
                    hook_instance=f"{name}-os{i}")
            if orders:
                yield f"{name}/order-sign", hook_request(patient.resources, "order-sign",
                                                         orders=orders,
                                                         hook_instance=f"{name}-sign")
    with mock.patch.object(build, "datetime", _FrozenDatetime), \
            mock.patch.object(build, "date", _FrozenDate):
        for v in build.VIGNETTES:
            hooks = [v.get("hook", "patient-view")]
            if v.get("orders"):
                hooks = ["patient-view", *ORDER_HOOKS]
            for hook in hooks:
                build._ids = __import__("itertools").count()
                body = build.request(v, hook)
                body["hookInstance"] = f"vignette-{v['id']}-{hook}"
                yield f"vignette/{v['id']}/{hook}", body


def record() -> dict[str, Any]:
    return {name: call_clinical_layers(body) for name, body in bodies()}


def load() -> dict[str, Any]:
    with gzip.open(RECORD, "rt", encoding="utf-8") as fh:
        return json.load(fh)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="write the record (baseline only)")
    args = parser.parse_args()
    data = record()
    if args.write:
        text = json.dumps(data, sort_keys=True, ensure_ascii=False, indent=0)
        with gzip.GzipFile(RECORD, "wb", mtime=0) as fh:
            fh.write(text.encode("utf-8"))
    print(f"{len(data)} calls, {sum(len(c['recs']) for c in data.values())} recommendations, "
          f"{sum(len(c['cards']) for c in data.values())} cards")


if __name__ == "__main__":
    main()
