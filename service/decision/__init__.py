"""The decision module: pure functions from PatientFacts (and drafted orders) to Recommendations.

No I/O, no Flask, no FHIR JSON. `decide` is the only entry point the service uses:

- patient-view: data quality, work-up, options for where the patient is now, the cautions
  those options carry, and trial prompts;
- order-select / order-sign: for each drafted drug in focus, its eligibility against the record,
  its cautions and its monitoring; plus the record's data-quality findings.

The result is deterministic: same facts and orders give the same recommendations in the same
order, so order-select and order-sign agree card for card.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from service.decision import aml, b_all, car_t, cautions, orders, t_all, trials, workup
from service.decision.context import Ctx, focus_drug
from service.decision.model import FactUsed, Policy, Recommendation, Rule
from service.decision.rules import RULES
from service.facts import DraftOrder, PatientFacts

__all__ = ["RULES", "FactUsed", "Policy", "Recommendation", "Rule", "decide",
           "referenced_trials"]

ORDER_HOOKS = frozenset({"order-select", "order-sign"})


def decide(
    facts: PatientFacts,
    *,
    hook: str = "patient-view",
    orders_in_focus: Sequence[DraftOrder] = (),
    policy: Policy | None = None,
) -> list[Recommendation]:
    """Recommendations for one hook call. `orders_in_focus`: the selected / signed drafts."""
    ctx = Ctx(facts, policy or Policy())
    if hook in ORDER_HOOKS:
        return _dedupe(_order_hook(ctx, orders_in_focus))
    return _dedupe(_patient_view(ctx))


def _patient_view(ctx: Ctx) -> list[Recommendation]:
    context = workup.leukemia_context(ctx)
    concept_findings = any(f.concept for f in ctx.facts.findings)
    if not context and not concept_findings:
        return []
    out = workup.findings(ctx)
    if not context:
        return out
    out += workup.context_gaps(ctx)
    options = b_all.patient_view(ctx) + car_t.patient_view(ctx) + aml.patient_view(ctx) \
        + t_all.patient_view(ctx)
    fired = frozenset(r.id for r in options)
    out += options
    out += cautions.patient_view(ctx, fired)
    out += trials.patient_view(ctx, fired)
    out += workup.patient_view(ctx)
    return out


def _order_hook(ctx: Ctx, drafts: Sequence[DraftOrder]) -> list[Recommendation]:
    out: list[Recommendation] = []
    for order in drafts:
        out += orders.for_order(ctx, order)
    if not any(focus_drug(o) for o in drafts):
        return []
    return workup.findings(ctx) + out


def _dedupe(recs: Iterable[Recommendation]) -> list[Recommendation]:
    """One recommendation per (id, focus, variables): two drafts of one drug say it once.

    Variables are compared (a sort and a repr of every value) only between recommendations
    that share an id and focus, which most calls never have."""
    kept: dict[tuple[str, str | None], list[Recommendation]] = {}
    out: list[Recommendation] = []
    for r in recs:
        same = kept.setdefault(
            (r.id, r.focus if RULES[r.id].family == "monitoring" else None), [])
        if same and any(_variables(r) == _variables(k) for k in same):
            continue
        same.append(r)
        out.append(r)
    return out


def _variables(r: Recommendation) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, repr(v)) for k, v in r.variables.items()))


def referenced_trials() -> frozenset[str]:
    """Every NCT number the rules can put on a card (the catalogue must describe each)."""
    lists = [*trials.ALL_TRIAL_LISTS, b_all.PH_FRONT_TRIALS, b_all.PH_RR_INO_TRIALS,
             aml.CD123_TRIALS, aml.CD33_TRIALS,
             aml.OTHER_TARGET_TRIALS, t_all.DARA_RR_TRIALS, t_all.DARA_VHR_TRIALS,
             t_all.CD7_TRIALS, t_all.OTHER_CELLULAR_TRIALS]
    return frozenset(nct for group in lists for nct in group)
