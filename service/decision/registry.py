"""The rule registry: every clinical rule declared once, where its logic is.

A rule is one decorated function (see ``rule``). The declaration says what a reviewer and the
engine need to know without running it: its catalogue id and family, the seeds it rests on, the
hooks it answers, the drafted drugs it speaks to at order entry, the named criteria that must
hold (``when``) or must not (``unless``), the tags it sets when it fires and the tags it reacts
to, and the trials it can name. Everything that used to be a hand-kept list (which ids are
blinatumomab options, which trials a card can name) is a query over this registry, so adding a
rule cannot leave a list behind.

The registry is filled at import of ``service.decision.rules`` and frozen by the engine's first
use; registration order is the order rules run in (within their pass), and so it is stable.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias

from service.decision.model import FactUsed, Family, Recommendation

if TYPE_CHECKING:
    from service.decision.context import Ctx

PATIENT_VIEW: frozenset[str] = frozenset({"patient-view"})
ORDER_HOOKS: frozenset[str] = frozenset({"order-select", "order-sign"})
ALL_HOOKS: frozenset[str] = PATIENT_VIEW | ORDER_HOOKS
# The tag an order check marks when the record contradicts the draft (a critical card with the
# delete action): the engine then shows none of that draft's routine cautions or monitoring.
CONTRADICTED = "order-contradicted"


@dataclass(frozen=True, slots=True)
class Criterion:
    """A named question about the patient (or what fired), as CQL names its definitions.

    The rule book prints ``text``; the engine calls ``test``. Criteria are reused across rules,
    so "relapsed or refractory" means one thing everywhere.
    """

    text: str
    test: Callable[[Ctx], bool]
    reads: frozenset[str] = frozenset()  # tags of fired rules it looks at (see ``fired``)

    def __call__(self, ctx: Ctx) -> bool:
        return self.test(ctx)


def criterion(text: str) -> Callable[[Callable[[Ctx], bool]], Criterion]:
    """Name a predicate on the patient: ``@criterion("B-ALL")``."""
    def wrap(test: Callable[[Ctx], bool]) -> Criterion:
        return Criterion(text, test)
    return wrap


def fired(*tags: str) -> Criterion:
    """True when a rule carrying any of ``tags`` fired earlier in this call (its second pass)."""
    wanted = frozenset(tags)
    return Criterion(f"shown with {' or '.join(sorted(tags))} options",
                     lambda ctx: not wanted.isdisjoint(ctx.fired), wanted)


def either(*criteria: Criterion) -> Criterion:
    """Any of ``criteria`` (a rule's ``when`` is all of them)."""
    return Criterion(" or ".join(c.text for c in criteria),
                     lambda ctx: any(c.test(ctx) for c in criteria),
                     frozenset().union(*(c.reads for c in criteria)))


Result: TypeAlias = "Recommendation | Sequence[Recommendation] | None"


class Make:
    """Builds this rule's recommendations: id, seeds and focus are bound, facts de-duplicated.

    One per (rule, focus), made once and shared by every call (it holds no per-call state)."""

    __slots__ = ("focus", "id", "seeds", "trials")

    def __init__(self, rule: Rule, focus: str | None) -> None:
        self.id = rule.id
        self.seeds = rule.seeds
        self.focus = focus
        self.trials = rule.trials  # declared once, on the rule; a card names them

    def __call__(self, *facts: FactUsed | None, **variables: object) -> Recommendation:
        seen: dict[str, FactUsed] = {}
        for f in facts:
            if f is not None and f.name not in seen:
                seen[f.name] = f
        # positional (id, seeds, facts, variables, focus): a frozen dataclass built with
        # keywords costs a third more, and every recommendation of every call is built here
        return Recommendation(self.id, self.seeds, tuple(seen.values()),
                              MappingProxyType(variables), self.focus)


RuleFunc = Callable[["Ctx", Make], Result]
Test = Callable[["Ctx"], bool]


@dataclass(frozen=True, slots=True, eq=False)
class Rule:
    """One clinical rule as declared; see the module docstring for each field's role."""

    id: str
    family: Family
    seeds: tuple[str, ...]
    func: RuleFunc
    module: str  # the clinical area (its module's name), for the rule book
    hooks: frozenset[str] = PATIENT_VIEW
    drugs: frozenset[str] = frozenset()
    when: tuple[Criterion, ...] = ()
    unless: tuple[Criterion, ...] = ()
    tags: frozenset[str] = frozenset()
    reacts_to: frozenset[str] = frozenset()
    trials: tuple[str, ...] = ()
    any_record: bool = False  # runs on a record that shows no acute leukemia (data quality)
    every_call: bool = False  # runs on every call, whatever the record and drafts (identity)
    makers: dict[str | None, Make] = field(default_factory=dict, compare=False)
    # The criteria as the engine asks them, built once: (test, the answer it must give,
    # whether that answer holds for the whole call), `when` then `unless`. A question about
    # the patient is asked once per call however many rules ask it; one that reads what
    # fired is asked each time.
    checks: tuple[tuple[Test, bool, bool], ...] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(
            (c.test, want, not c.reads)
            for want, criteria in ((True, self.when), (False, self.unless)) for c in criteria))

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.func.__doc__ or "")


REGISTRY: dict[str, Rule] = {}
_FROZEN = False


def rule(
    rule_id: str,
    family: Family,
    *,
    seeds: Iterable[str],
    hooks: Iterable[str] = PATIENT_VIEW,
    drugs: Iterable[str] = (),
    when: Iterable[Criterion] = (),
    unless: Iterable[Criterion] = (),
    tags: Iterable[str] = (),
    reacts_to: Iterable[str] = (),
    trials: Iterable[str] = (),
    any_record: bool = False,
    every_call: bool = False,
) -> Callable[[RuleFunc], RuleFunc]:
    """Declare a rule. The function gets the call's ``Ctx`` and a ``Make`` for this rule, and
    returns its recommendation(s) or None; ``when`` / ``unless`` are checked before it runs."""
    hook_set = frozenset(hooks)
    if not hook_set or not hook_set <= ALL_HOOKS:
        raise ValueError(f"rule {rule_id}: hooks must be among {sorted(ALL_HOOKS)}")
    drug_set = frozenset(drugs)
    if drug_set and not hook_set & ORDER_HOOKS:
        raise ValueError(f"rule {rule_id}: drugs only matter on order hooks")

    when_, unless_ = tuple(when), tuple(unless)

    def register(func: RuleFunc) -> RuleFunc:
        if rule_id in REGISTRY:
            raise ValueError(f"duplicate rule id {rule_id}")
        if _FROZEN:
            raise RuntimeError(f"rule {rule_id} registered after the engine started")
        reads = frozenset(reacts_to).union(*(c.reads for c in (*when_, *unless_)))
        REGISTRY[rule_id] = Rule(
            rule_id, family, tuple(seeds), func, func.__module__.rsplit(".", 1)[-1],
            hook_set, drug_set, when_, unless_, frozenset(tags), reads, tuple(trials),
            any_record, every_call)
        return func
    return register


def freeze() -> Mapping[str, Rule]:
    """Stop registration, check the declared order can run, and build every rule's makers."""
    global _FROZEN
    if not _FROZEN:
        check_order(list(REGISTRY.values()))
        for r in REGISTRY.values():
            for focus in (None, *sorted(r.drugs)):
                r.makers[focus] = Make(r, focus)
        _FROZEN = True
    return MappingProxyType(REGISTRY)


def check_order(rules: Sequence[Rule]) -> None:
    """Rules that react to tags run after all others, in registration order; so a reacting
    rule must come after every reacting rule that sets a tag it reads, and every tag it reads
    must be set by some rule. ValueError names the first rule that breaks this."""
    setters: dict[str, list[int]] = {}
    for i, r in enumerate(rules):
        for tag in r.tags:
            setters.setdefault(tag, []).append(i)
    for i, r in enumerate(rules):
        for tag in sorted(r.reacts_to):
            if tag not in setters:
                raise ValueError(f"rule {r.id} reacts to tag {tag!r}, which no rule sets")
            late = [rules[j].id for j in setters[tag] if rules[j].reacts_to and j >= i]
            if late:
                raise ValueError(f"rule {r.id} reacts to {tag!r}, set later by {late[0]}")


# --- queries ---------------------------------------------------------------------------------


def tagged(*tags: str) -> frozenset[str]:
    """Ids of the rules that set any of ``tags`` (what ``BLIN_OPTIONS`` used to list by hand)."""
    wanted = set(tags)
    return frozenset(r.id for r in REGISTRY.values() if r.tags & wanted)


def referenced_trials() -> frozenset[str]:
    """Every NCT number a rule can put on a card (the catalogue must describe each)."""
    return frozenset(nct for r in REGISTRY.values() for nct in r.trials)
