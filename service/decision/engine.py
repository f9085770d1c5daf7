"""Runs the registered rules for one hook call, in a stable order.

patient-view: on a record that shows an acute leukemia, every patient-view rule runs: first the
rules that read only the patient, then those that react to what fired (cautions that attach to
the options shown, trial prompts), each pass in registration order. A record with no leukemia
gets only the data-quality rules that apply to any record, and only when a finding concerns a
leukemia concept (otherwise nothing: other charts get no cards).

order-select / order-sign: only drafts of a drug the service knows are spoken to; the record's
data-quality rules run once, then for each draft the rules that concern its drug, each
recommendation focused on that drug. A draft the record contradicts (an order check marked
CONTRADICTED: a critical card offering to delete it) keeps only its order checks: routine
cautions and monitoring for an order the service has just said to remove are noise (F4).

A rule declared `every_call` (data set aside as not this patient's) runs last on every call,
whatever the record and the drafts: what it reports is about the request itself.

The result is deterministic, so order-select and order-sign agree card for card.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from service.decision.context import Ctx, focus_drug
from service.decision.criteria import LEUKEMIA_RECORD, STATUS_PREDATES_THERAPY
from service.decision.model import Recommendation
from service.decision.registry import CONTRADICTED, ORDER_HOOKS, Rule
from service.facts import DraftOrder

# rule families built on the disease status (options and trial prompts): see _patient_view
WITHHELD_WHEN_STALE = frozenset({"b-all", "car-t", "trial"})


class Engine:
    """The registry cut into the lists each kind of call runs, once at start."""

    def __init__(self, registry: Mapping[str, Rule]) -> None:
        rules = [r for r in registry.values() if not r.every_call]
        self.every_call_rules = batch([r for r in registry.values() if r.every_call])
        self.registry = registry
        pv = [r for r in rules if "patient-view" in r.hooks]
        self.patient_view_rules = batch(pv)
        self.any_record_rules = batch([r for r in pv if r.any_record])
        self.record_rules: dict[str, tuple[Rule, ...]] = {}
        self.drug_rules: dict[tuple[str, str], tuple[Rule, ...]] = {}
        for hook in ORDER_HOOKS:
            mine = [r for r in rules if hook in r.hooks]
            self.record_rules[hook] = batch([r for r in mine if not r.drugs])
            for drug in {d for r in mine for d in r.drugs}:
                self.drug_rules[(hook, drug)] = batch([r for r in mine if drug in r.drugs])

    def decide(self, ctx: Ctx, hook: str, drafts: Sequence[DraftOrder]) -> list[Recommendation]:
        out = (self._order_hook(ctx, hook, drafts) if hook in ORDER_HOOKS
               else self._patient_view(ctx))
        return dedupe(out + run(ctx, self.every_call_rules, None), self.registry)

    def _patient_view(self, ctx: Ctx) -> list[Recommendation]:
        """Options and trial prompts are withheld while the recorded status predates the
        therapy in progress (a CAR T infusion, a blinatumomab course still running): they
        would rest on the patient as they were before it (review M5). DQ-STATUS-UNKNOWN says
        they are withheld and asks for the current status; work-up, cautions that do not
        attach to an option, and toxicity still run."""
        if LEUKEMIA_RECORD(ctx):
            rules = self.patient_view_rules
            if STATUS_PREDATES_THERAPY(ctx):
                rules = tuple(r for r in rules if r.family not in WITHHELD_WHEN_STALE)
            return run(ctx, rules, None)
        if any(f.concept for f in ctx.facts.findings):
            return run(ctx, self.any_record_rules, None)
        return []

    def _order_hook(self, ctx: Ctx, hook: str, drafts: Sequence[DraftOrder]
                    ) -> list[Recommendation]:
        drugs = [focus_drug(o) for o in drafts]
        if not any(drugs):
            return []
        out = run(ctx, self.record_rules[hook], None)
        for order, drug in zip(drafts, drugs, strict=True):
            rules = self.drug_rules.get((hook, drug)) if drug else None
            if rules:
                recs = run(ctx, rules, drug)
                if CONTRADICTED in ctx.fired:
                    recs = [r for r in recs if self.registry[r.id].family == "order"]
                out += _name_order(recs, order.resource, self.registry)
        return out


def batch(rules: Iterable[Rule]) -> tuple[Rule, ...]:
    """Rules that read only the patient first, then those that react to what fired."""
    ordered = list(rules)
    return tuple([r for r in ordered if not r.reacts_to] + [r for r in ordered if r.reacts_to])


def run(ctx: Ctx, rules: Sequence[Rule], focus: str | None) -> list[Recommendation]:
    """Each rule whose criteria hold, in order; a rule that returns something has fired and
    its tags are visible to the rules after it.

    A question about the patient ("B-ALL" gates dozens of rules) is asked once per call and
    its answer kept on the call's Ctx; asking every question up front measured slower, as
    most calls need only some of them."""
    out: list[Recommendation] = []
    fired = ctx.fired = set()
    known = ctx.criteria
    for r in rules:
        for test, want, keep in r.checks:
            if keep:
                answer = known.get(test)
                if answer is None:
                    answer = known[test] = bool(test(ctx))
            else:
                answer = bool(test(ctx))
            if answer is not want:
                break
        else:
            got = r.func(ctx, r.makers[focus])
            if got is None:
                continue
            if isinstance(got, Recommendation):
                out.append(got)
            elif got:
                out.extend(got)
            else:
                continue
            fired.update(r.tags)
    return out


def _name_order(recs: list[Recommendation], order_ref: str, registry: Mapping[str, Rule]
                ) -> list[Recommendation]:
    """Order checks name the draft they speak to (the EHR can point at it)."""
    return [
        replace(r, variables=MappingProxyType({**r.variables, "order_ref": order_ref}))
        if registry[r.id].family == "order" else r
        for r in recs
    ]


def dedupe(recs: Iterable[Recommendation], registry: Mapping[str, Rule]) -> list[Recommendation]:
    """One recommendation per (id, focus, variables): two drafts of one drug say it once.

    Monitoring is per drug; anything else said twice for two drafts is said once. Variables are
    compared (a sort and a repr of every value) only between recommendations that share an id
    and focus, which most calls never have."""
    kept: dict[tuple[str, str | None], list[Recommendation]] = {}
    out: list[Recommendation] = []
    for r in recs:
        same = kept.setdefault(
            (r.id, r.focus if registry[r.id].family == "monitoring" else None), [])
        if same and any(_variables(r) == _variables(k) for k in same):
            continue
        same.append(r)
        out.append(r)
    return out


def _variables(r: Recommendation) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in r.variables.items()))
