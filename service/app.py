"""The Flask application factory: wires settings, error handling, CORS, health and CDS Hooks.

Everything that can be checked before the first request (settings, catalogues, terminology) is
loaded here, so a broken deployment fails at start-up with one clear line rather than per call.
"""

from __future__ import annotations

import gc
import logging
import shutil
from collections.abc import Callable
from datetime import date
from importlib import resources
from typing import Any

from flask import Flask, Response

from service import advice, logs, metrics, rule_pages, sandbox
from service.config import PREFIX, ConfigError, Settings
from service.hooks import audit, auth, cors, endpoints, errors, feedback
from service.hooks.http import json_response
from service.hooks.services import SERVICES
from service.store import Pseudonymizer, Store, StoreError, database_url, load_or_create_key

log = logging.getLogger(__name__)
ReadinessCheck = Callable[[], str | None]  # returns a problem, or None when ready


def _disk_problem(settings: Settings) -> str | None:
    """Not ready when the data folder's disk is (nearly) full: the audit database cannot
    grow, so calls would be refused one by one; a load balancer should send them elsewhere
    (issue 21: /readyz stayed 200 on a full disk)."""
    try:
        free = shutil.disk_usage(settings.data_dir).free
    except OSError as exc:
        return f"data folder unusable ({exc.strerror})"
    if free < settings.min_free_mb * 1024 * 1024:
        return (f"data folder's disk is full ({free // (1024 * 1024)} MB free, "
                f"LEUKEMIA_CDS_MIN_FREE_MB={settings.min_free_mb})")
    return None


def create_app(settings: Settings | None = None, *, today: date | None = None) -> Flask:
    """The application; ``today`` (default: the UTC date) is what the catalogue's review dates
    are measured against at start-up (the freshness gate), injectable for tests."""
    settings = settings or Settings.from_env()
    app = Flask("leukemia_cds")
    app.config["LEUKEMIA_CDS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    checks: dict[str, ReadinessCheck] = {"settings": lambda: None}
    app.extensions["leukemia_cds.readiness"] = checks

    clients = auth.TrustedClients(auth.load_clients(settings.clients_file))
    if settings.auth and len(clients) and settings.public_url is None:
        raise ConfigError(f"{PREFIX}PUBLIC_URL is required with {PREFIX}CLIENTS: tokens are "
                          "checked against the URL clients call (e.g. https://cds.example.org)")
    app.extensions[audit.PSEUDONYMIZER] = _pseudonymizer(settings)
    app.extensions[audit.STORE] = store = _open_store(settings)
    app.extensions[auth.EXTENSION] = authenticator = auth.Authenticator(settings, clients, store)
    checks["store"] = store.ping
    checks["disk"] = lambda: _disk_problem(settings)
    # card catalogue + terminology: broken ones, or reviews too old, stop start-up here
    advice.install(app, settings, today=today, store=store)
    checks["catalogue"] = lambda: advice.ready(app)

    logs.install(app)
    metrics.install(app, {s.id: s.hook for s in SERVICES.values()})
    errors.install(app)
    cors.install(app, settings.cors_origins)
    app.register_blueprint(endpoints.blueprint)
    app.register_blueprint(feedback.blueprint)
    app.register_blueprint(rule_pages.blueprint)  # each rule's evidence; no patient data
    sandbox.install(app, settings)  # the page at /, only when LEUKEMIA_CDS_SANDBOX is on
    auth.announce(authenticator)  # after the sandbox has registered its client, if any
    openapi = (resources.files("service") / "openapi.json").read_bytes()

    @app.get("/openapi.json")
    def openapi_document() -> Response:
        return Response(openapi, mimetype="application/json")

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        problems = {name: problem for name, check in checks.items() if (problem := check())}
        if problems:
            raise errors.ApiError(
                503, "Not ready: " + ", ".join(sorted(problems)) + ".",
                details=[f"{name}: {problem}" for name, problem in sorted(problems.items())],
            )
        body: dict[str, Any] = {"status": "ready", "checks": sorted(checks)}
        notice = advice.registry_notice(app)
        if notice:  # reported, not failed: a stale trial list is no reason to take traffic away
            body["notices"] = {"trials": notice}
        return json_response(body)

    return app


def settle_heap() -> None:
    """Call once the app is built, before serving (each gunicorn worker does).

    The catalogue, terminology and FHIR model classes live as long as the process; a hook body is
    a large tree of short-lived, acyclic JSON that reference counting frees. With default
    thresholds the cyclic collector keeps re-walking the long-lived heap while bodies are parsed,
    which showed as a p95 four times the median for 1000-resource patients. Freezing the start-up
    heap and collecting young objects less often removes that tail.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 50)


def _open_store(settings: Settings) -> Store:
    try:
        return Store.open(database_url(settings.data_dir, settings.database_url))
    except StoreError as exc:
        name = "DATABASE_URL" if settings.database_url else "DATA_DIR"
        raise ConfigError(f"{PREFIX}{name}: {exc}") from None


def _pseudonymizer(settings: Settings) -> Pseudonymizer:
    if settings.pseudonym_key:
        return Pseudonymizer(settings.pseudonym_key.encode("utf-8"))
    if settings.database_url:
        log.warning(f"{PREFIX}PSEUDONYM_KEY is not set: patient keys use a key generated in "
                    "this data directory, so replicas with other data directories will not "
                    "agree on them", extra={"event": "pseudonym_key_local"})
    try:
        return Pseudonymizer(load_or_create_key(settings.data_dir))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{PREFIX}DATA_DIR={str(settings.data_dir)!r}: cannot keep the "
                          f"pseudonym key there ({exc}); or set {PREFIX}PSEUDONYM_KEY") from None
