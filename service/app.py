"""The Flask application factory: wires settings, error handling, CORS, health and CDS Hooks.

Everything that can be checked before the first request (settings, catalogues, terminology) is
loaded here, so a broken deployment fails at start-up with one clear line rather than per call.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response

from service.config import Settings
from service.hooks import cors, endpoints, errors

ReadinessCheck = Callable[[], str | None]  # returns a problem, or None when ready


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings.from_env()
    app = Flask("leukemia_cds")
    app.config["LEUKEMIA_CDS_SETTINGS"] = settings
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    checks: dict[str, ReadinessCheck] = {"settings": lambda: None}
    app.extensions["leukemia_cds.readiness"] = checks

    errors.install(app)
    cors.install(app, settings.cors_origins)
    app.register_blueprint(endpoints.blueprint)

    @app.get("/healthz")
    def healthz() -> Response:
        return endpoints.json_response({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        problems = {name: problem for name, check in checks.items() if (problem := check())}
        if problems:
            raise errors.ApiError(
                503, "Not ready: " + ", ".join(sorted(problems)) + ".",
                details=[f"{name}: {problem}" for name, problem in sorted(problems.items())],
            )
        return endpoints.json_response({"status": "ready", "checks": sorted(checks)})

    return app
