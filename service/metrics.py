"""Prometheus metrics: request counts and latency per hook and status, FHIR fetch latency and
failures, and cards shown per recommendation id (what clinical leads watch for alert fatigue).

Under gunicorn every worker is a separate process, so a scrape would see one random worker's
counters. `leukemia-cds serve` therefore points `PROMETHEUS_MULTIPROC_DIR` at a fresh directory
before anything imports prometheus_client, and `/metrics` aggregates every worker's files; in a
single process (tests, the Flask test client) the default registry is used. `/metrics` carries
no patient data and, like the health probes, needs no client JWT: expose it only inside the
cluster.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

from service.hooks.models import Card

_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5)

REQUESTS = Counter(
    "leukemia_cds_requests_total", "HTTP requests answered", ["endpoint", "hook", "status"]
)
LATENCY = Histogram(
    "leukemia_cds_request_seconds", "Time to answer, by endpoint and hook",
    ["endpoint", "hook", "status"], buckets=_BUCKETS,
)
FHIR_FETCH = Histogram(
    "leukemia_cds_fhir_fetch_seconds", "Time to fetch one omitted prefetch key", ["key"],
    buckets=_BUCKETS,
)
FHIR_FAILURES = Counter(
    "leukemia_cds_fhir_fetch_failures_total", "Prefetch keys that could not be had", ["key"]
)
CARDS = Counter(
    "leukemia_cds_cards_total", "Cards returned, by recommendation id", ["hook", "recommendation"]
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def worker_exited(pid: int) -> None:
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def count_cards(hook: str, cards: list[Card]) -> None:
    """One count per recommendation a card carries (a merged card carries several)."""
    for card in cards:
        extension = card.recommendation()
        ids = extension.get("ids") or [extension.get("id", "unknown")]
        for rec_id in ids:
            key = (hook, str(rec_id))
            counter = _CARD_COUNTERS.get(key)
            if counter is None:
                counter = _CARD_COUNTERS[key] = CARDS.labels(*key)
            counter.inc()


# (hook, recommendation id) -> its CARDS child. `labels` checks the label values and looks the
# child up under a lock on every call: a hook call paid that once per recommendation shown.
# The metric keeps the same children (nothing removes them) and they follow a fork as its own
# do (prometheus_client resets their values per process), so holding them here changes no
# count; they are bounded by the hooks times the catalogue's ids.
_CARD_COUNTERS: dict[tuple[str, str], Counter] = {}


def install(app: Flask, hooks_by_service: dict[str, str]) -> None:
    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _record(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if rule in {"/metrics", "/healthz", "/readyz"}:
            return response
        service_id = (request.view_args or {}).get("service_id", "")
        hook = hooks_by_service.get(service_id, "")
        labels = (rule, hook, str(response.status_code))
        REQUESTS.labels(*labels).inc()
        if started is not None:
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics() -> Response:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = REGISTRY
        # content_type, not mimetype: Flask would append a second "; charset=utf-8"
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
