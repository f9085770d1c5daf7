"""The decision module: pure functions from PatientFacts (and drafted orders) to Recommendations.

No I/O, no Flask, no FHIR JSON. Every clinical rule is one declared unit in ``rules/`` (one
module per clinical area); ``registry`` holds their declarations and ``engine`` runs them.
`decide` is the only entry point the service uses:

- patient-view: data quality, work-up, options for where the patient is now, then the cautions
  those options carry and the trial prompts (the rules that react to what fired);
- order-select / order-sign: the record's data-quality findings, then for each drafted drug in
  focus the rules that concern it: eligibility against the record, cautions and monitoring.

The result is deterministic: same facts and orders give the same recommendations in the same
order, so order-select and order-sign agree card for card.
"""

from __future__ import annotations

from collections.abc import Sequence

from service.decision import rules as _rules  # noqa: F401  (registers every rule)
from service.decision.context import Ctx
from service.decision.engine import Engine, dedupe
from service.decision.model import FactUsed, Recommendation
from service.decision.registry import Rule, freeze, referenced_trials, tagged
from service.decision.rules.trials import without_seed_trials
from service.facts import DraftOrder, PatientFacts
from service.policy import Policy
from service.trials.model import RegistrySnapshot

__all__ = ["RULES", "FactUsed", "Policy", "Recommendation", "Rule", "decide", "dedupe",
           "referenced_trials", "tagged"]

RULES = freeze()
ENGINE = Engine(RULES)


def decide(
    facts: PatientFacts,
    *,
    hook: str,
    policy: Policy,
    orders_in_focus: Sequence[DraftOrder] = (),
    registry: RegistrySnapshot | None = None,
) -> list[Recommendation]:
    """Recommendations for one hook call. `orders_in_focus`: the selected / signed drafts.

    ``policy`` is the site's (built once from settings): the rules have no default of their own.
    ``registry`` is the trial registry as this call sees it; once one was imported, trial
    prompts come from it and the seeds' named trials (2019-2025, many closed) are no longer
    listed (`rules.trials.without_seed_trials`).
    """
    recs = ENGINE.decide(Ctx(facts, policy, registry), hook, orders_in_focus)
    return without_seed_trials(recs) if registry is not None and registry.imported else recs
