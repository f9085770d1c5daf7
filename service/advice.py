"""The one seam between the protocol layer and the clinical layers.

`hooks/` resolves a request (context validated, every prefetch key turned into resources) and
hands it here; this module returns the cards: FHIR -> facts -> decisions -> cards, top to bottom.
What the call needs that does not change between calls (compiled catalogue, terminology, site
policy) is built once by `install` at start-up and kept on the Flask app.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, current_app

from service.config import Settings
from service.decision import Policy, decide
from service.errors import TerminologyError
from service.facts import IDENTITY_FINDINGS, DataQualityFinding
from service.fhir.extract import extract_draft_orders, extract_facts
from service.fhir.terminology import Terminology, load_terminology
from service.hooks.models import Card
from service.render import Renderer, load_catalogue
from service.render.freshness import check_freshness
from service.store import Store
from service.store.trial_registry import RegistryReader
from service.trials.site import load_site_trials

log = logging.getLogger(__name__)
EXTENSION = "leukemia_cds.advisor"
ORDER_HOOKS = frozenset({"order-select", "order-sign"})


@dataclass(frozen=True)
class HookCall:
    """A fully resolved hook invocation: what the clinical layers may read."""

    service_id: str
    hook: str
    hook_instance: str
    context: Any  # PatientViewContext | OrderSelectContext | OrderSignContext
    resources: list[dict[str, Any]]
    now: datetime


@dataclass(frozen=True)
class Advisor:
    """Everything loaded once per process that turns a call into cards."""

    renderer: Renderer
    terminology: Terminology
    policy: Policy
    registry: RegistryReader | None = None  # the trial registry (None: no store to read it)


def build_advisor(settings: Settings, *, today: date | None = None) -> Advisor:
    """Load and validate the catalogue and terminology; a `StartupError` (CatalogueError,
    TerminologyError) if either is broken, or if the catalogue's reviews are older than the
    site allows (the freshness gate; ``today`` is injectable for tests, else the UTC date)."""
    catalogue = load_catalogue(settings.cards_dir)
    check_freshness(catalogue, today=today or datetime.now(UTC).date(),
                    max_months=settings.review_max_months,
                    accept=settings.accept_stale_review)
    try:
        terminology = load_terminology(settings.profiles_dir, settings.site_conceptmap)
    except TerminologyError as exc:
        raise TerminologyError(f"fhir_profiles: {exc}") from None  # the operator's folder name
    pages = f"{settings.public_url.rstrip('/')}/rules/" if settings.public_url else None
    return Advisor(Renderer(catalogue, rule_pages=pages), terminology, settings.policy)


def install(app: Flask, settings: Settings, *, today: date | None = None,
            store: Store | None = None) -> None:
    advisor = build_advisor(settings, today=today)
    site = load_site_trials(settings.site_trials) if settings.site_trials else ()
    if store is not None:  # the trial registry lives in the service's database
        advisor = replace(advisor, registry=RegistryReader(
            store, refresh_s=settings.trials_refresh_s, stale_days=settings.trials_stale_days,
            site=site, site_location=settings.site_location))
    app.extensions[EXTENSION] = advisor


def registry_notice(app: Flask) -> str | None:
    """What /readyz says of a trial registry older than the site allows (None: fresh, or
    none imported: then the cards keep the seeds' named trials, labelled as such)."""
    advisor: Advisor | None = app.extensions.get(EXTENSION)
    reader = advisor.registry if advisor else None
    state = reader.state() if reader else None
    if reader is None or state is None or not reader.stale():
        return None
    days = (datetime.now(UTC) - state.refreshed_at).days
    return (f"trial registry last refreshed {state.refreshed_at.date().isoformat()} ({days} "
            f"days ago; LEUKEMIA_CDS_TRIALS_STALE_DAYS={reader.stale_after.days}): run "
            "`leukemia-cds trials sync`")


def knowledge_version(app: Flask) -> str:
    """The version of the knowledge this app answers with (discovery, cards, audit)."""
    advisor: Advisor = app.extensions[EXTENSION]
    return advisor.renderer.cat.knowledge_version


def ready(app: Flask) -> str | None:
    """Readiness: the catalogue is loaded (it was validated when it was)."""
    return None if EXTENSION in app.extensions else "card catalogue not loaded"


def override_display(system: str | None, code: str | None) -> str | None:
    """The label of one of our override reasons, for a client that sent only its code (the
    HL7 sandbox does): what the clinical lead reads in `leukemia-cds audit`. None for a code
    of another system, or one we do not define."""
    catalogue = current_app.extensions[EXTENSION].renderer.cat
    if code is None or system not in (None, catalogue.override_system):
        return None
    return catalogue.override_displays.get(code)


def advise(call: HookCall, advisor: Advisor | None = None) -> list[Card]:
    """Cards for this call; on order hooks they speak to the drafted (or selected) drugs.

    The advisor is the app's (built from its settings at start-up) unless one is given: there
    is no default built from anywhere else."""
    advisor = advisor or current_app.extensions[EXTENSION]
    patient_id = call.context.patientId
    facts = extract_facts(
        call.resources, now=call.now, terminology=advisor.terminology, patient_id=patient_id,
        policy=advisor.policy,
    )
    orders = []
    if call.hook in ORDER_HOOKS:
        selections = call.context.selections if call.hook == "order-select" else None
        foreign: list[DataQualityFinding] = []
        orders = extract_draft_orders(call.context.draftOrders.model_dump(),
                                      selections=selections, terminology=advisor.terminology,
                                      patient_id=patient_id, set_aside=foreign)
        if foreign:
            facts = facts.model_copy(update={"findings": (*facts.findings, *foreign)})
    _log_set_aside(facts.findings)
    registry = advisor.registry.snapshot(call.now) if advisor.registry else None
    recommendations = decide(facts, hook=call.hook, orders_in_focus=orders, policy=advisor.policy,
                             registry=registry)
    return advisor.renderer.render(recommendations, patient_id=patient_id)


def _log_set_aside(findings: tuple[DataQualityFinding, ...]) -> None:
    """Data that is not this patient's means the EHR's query or bundle is wrong: hospital IT
    must hear of it, without PHI (counts and finding codes, never ids or values)."""
    counts = Counter(f.code for f in findings if f.code in IDENTITY_FINDINGS)
    if counts:
        log.warning("resources set aside: not provably the patient in context",
                    extra={"event": "subject_mismatch", "count": sum(counts.values()),
                           "reason": ", ".join(f"{c} {n}" for c, n in sorted(counts.items()))})
