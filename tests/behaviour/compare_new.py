"""Transitional (issue 17): the new rule engine against the old decide, on every recorded call.

Compares only the rule ids already registered in the new registry, so areas can be converted
one at a time. Tags of rules not yet converted are taken from the old output, so a reacting
rule can be checked before the rules it reacts to exist.

    python -m tests.behaviour.compare_new            # summary; exit 1 on any difference
    python -m tests.behaviour.compare_new -v ID...   # show differences for these ids
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from typing import Any

from service.decision import rulebook  # noqa: F401  (registers the converted rules)
from service.decision.registry import REGISTRY, Rule, freeze

OLD_TAGS = {
    "blinatumomab": {"ALL-BLIN-RR", "ALL-RR-LOW-BURDEN-BLIN", "ALL-PH-RR-BLIN",
                     "ALL-BLIN-MRD-LABEL", "ALL-BLIN-MRD-LOW", "ALL-BLIN-MRD-SITC",
                     "ALL-FRONT-BLIN-CONSOLIDATION", "ALL-FRONT-PEDS-SR-BLIN"},
    "blinatumomab-rr": {"ALL-BLIN-RR", "ALL-RR-LOW-BURDEN-BLIN", "ALL-PH-RR-BLIN"},
    "inotuzumab": {"ALL-INO-RR", "ALL-INO-PEDS", "ALL-PH-RR-INO",
                   "ALL-RR-HIGH-BURDEN-INO-FIRST", "ALL-INO-MINIHCVD-SALVAGE"},
    "car-t": {"CART-TISA", "CART-BREXU", "CART-OBE"},
    "gemtuzumab": {"AML-GO-INDUCTION", "AML-GO-UNFIT", "AML-GO-RELAPSE"},
}


def _key(r: Any) -> str:
    return json.dumps({"id": r.id, "focus": r.focus,
                       "facts": [[f.name, f.label, f.value, f.resource] for f in r.facts],
                       "variables": {k: repr(v) for k, v in sorted(r.variables.items())}},
                      sort_keys=True)


def _new(ctx: Any, hook: str, drafts: Any, old_ids: set[str]) -> list[Any]:
    """The engine's flow, with tags of unconverted rules seeded from the old output."""
    from service.decision.context import focus_drug
    from service.decision.criteria import LEUKEMIA_RECORD
    from service.decision.engine import Engine, _name_order, dedupe
    from service.decision.rules import RULES

    engine = Engine(freeze())
    seed = {t for t, ids in OLD_TAGS.items() if ids & old_ids and not ids <= set(REGISTRY)}

    def run(rules: tuple[Rule, ...], focus: str | None) -> list[Any]:
        out: list[Any] = []
        fired = ctx.fired = set(seed)
        for r in rules:
            if any(not c.test(ctx) for c in r.when) or any(c.test(ctx) for c in r.unless):
                continue
            got = r.func(ctx, r.makers[focus])
            if got is None:
                continue
            got = [got] if not isinstance(got, list) else got
            if got:
                out += got
                fired.update(r.tags)
        return out

    if hook == "patient-view":
        if LEUKEMIA_RECORD(ctx):
            recs = run(engine.patient_view_rules, None)
        elif any(f.concept for f in ctx.facts.findings):
            recs = run(engine.any_record_rules, None)
        else:
            recs = []
    else:
        drugs = [focus_drug(o) for o in drafts]
        recs = []
        if any(drugs):
            recs = run(engine.record_rules[hook], None)
            for order, drug in zip(drafts, drugs, strict=True):
                rules = engine.drug_rules.get((hook, drug)) if drug else None
                if rules:
                    recs += _name_order(run(rules, drug), order.resource, REGISTRY)
    return dedupe(recs, {**RULES, **REGISTRY})  # type: ignore[dict-item]


def compare(verbose: set[str]) -> int:
    from service import advice
    from service.decision import decide
    from service.decision.context import Ctx
    from service.fhir.extract import extract_draft_orders, extract_facts
    from service.hooks.models import CONTEXT_MODELS
    from tests.behaviour.record import NOW, _resources, bodies

    advisor = advice._default_advisor()
    converted = set(REGISTRY)
    compared: Counter[str] = Counter()
    missing: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for name, body in bodies():
        hook = body["hook"]
        context = CONTEXT_MODELS[hook].model_validate(body["context"])
        facts = extract_facts(_resources(body), now=NOW, terminology=advisor.terminology,
                              patient_id=context.patientId,
                              positive_percent_threshold=advisor.policy.marker_positive_percent)
        drafts = []
        if hook != "patient-view":
            drafts = extract_draft_orders(
                context.draftOrders.model_dump(),
                selections=context.selections if hook == "order-select" else None,
                terminology=advisor.terminology)
        old = decide(facts, hook=hook, orders_in_focus=drafts, policy=advisor.policy)
        old_ids = {r.id for r in old}
        new = _new(Ctx(facts, advisor.policy), hook, drafts, old_ids)
        a = Counter(_key(r) for r in old if r.id in converted)
        b = Counter(_key(r) for r in new)
        compared.update(json.loads(k)["id"] for k in a.elements())
        for k in (a - b):
            rid = json.loads(k)["id"]
            missing[rid] += 1
            if rid in verbose:
                print(f"{name}: MISSING {k}")
        for k in (b - a):
            rid = json.loads(k)["id"]
            extra[rid] += 1
            if rid in verbose:
                print(f"{name}: EXTRA   {k}")
    for rid in sorted(converted):
        if missing[rid] or extra[rid]:
            print(f"{rid}: {missing[rid]} missing, {extra[rid]} extra")
    never = sorted(converted - set(compared))
    if never:
        print("never fired in the record (compared by tests only): " + ", ".join(never))
    print(f"{len(converted)} converted rules, {sum(compared.values())} recommendations compared; "
          f"{sum(missing.values())} missing, {sum(extra.values())} extra")
    return 1 if missing or extra else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-v", nargs="*", default=[], help="rule ids to show differences for")
    args = parser.parse_args()
    sys.exit(compare(set(args.v)))


if __name__ == "__main__":
    main()
