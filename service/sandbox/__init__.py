"""The sandbox: an EHR-like page at `/` that calls this service's own CDS Hooks endpoints.

It is a *client* of the service, never a second path into the clinical layers: the page builds
CDS Hooks requests from synthetic charts and POSTs them to `/cds-services/...` with a signed JWT,
exactly as an EHR would; the server side only serves the page, the synthetic charts, and
short-lived tokens signed by a key generated at start-up. That key is trusted only while the
sandbox is on, because it is registered in-process and nowhere else.

Under gunicorn every worker builds its own app, but all of them must accept tokens minted by any
of them: the signer and the patients are therefore created once per *process tree* — in the
master during `serve`'s dry run, before the workers are forked — and inherited by the workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime

from flask import Flask

from service.config import PREFIX, ConfigError, Settings
from service.hooks import auth
from service.synth import SyntheticPatient, generate_many

log = logging.getLogger(__name__)

ISSUER = "urn:leukemia-cds:sandbox"
SEED = 20250115  # the sandbox always shows the same patients
CHART_SIZE = 60
EXTENSION = "leukemia_cds.sandbox"

_lock = threading.Lock()
_signer: auth.LocalSigner | None = None
_patients: dict[str, SyntheticPatient] | None = None


def signer() -> auth.LocalSigner:
    """The process tree's sandbox key (ES384), generated on first use."""
    global _signer
    with _lock:
        if _signer is None:
            _signer = auth.LocalSigner.generate(ISSUER, alg="ES384")
        return _signer


def patients() -> dict[str, SyntheticPatient]:
    """One patient per scenario, current as of the day the service started."""
    global _patients
    with _lock:
        if _patients is None:
            today = datetime.now(UTC).date()
            _patients = {p.patient_id: p
                         for p in generate_many(seed=SEED, size=CHART_SIZE, as_of=today)}
        return _patients


def serve_profile(settings: Settings, environ: Mapping[str, str], host: str,
                  port: int) -> Settings:
    """`leukemia-cds serve` is the development profile: sandbox on unless configured otherwise.

    The sandbox's tokens need an audience, which is the public URL plus the path; without a
    configured one (and with no EHR clients that would need the real one) the bind address
    stands in, since the service checks `aud` against its own setting, not the Host header.
    """
    if PREFIX + "SANDBOX" not in environ:
        settings = replace(settings, sandbox=True)
    if (settings.sandbox and settings.auth and settings.public_url is None
            and settings.clients_file is None):
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        settings = replace(settings, public_url=f"http://{shown}:{port}")
    return settings


def install(app: Flask, settings: Settings) -> None:
    """Serve the sandbox from `app` and trust its key, or do nothing when the sandbox is off."""
    if not settings.sandbox:
        return
    if settings.auth and settings.public_url is None:
        raise ConfigError(f"{PREFIX}PUBLIC_URL is required with {PREFIX}SANDBOX=on (the "
                          "sandbox signs its calls for that URL); or set the sandbox off")
    from service.sandbox.views import blueprint

    key = signer()
    auth.trusted_clients(app).add(key.client)
    app.extensions[EXTENSION] = key
    patients()  # generated now, at start-up, not on the first page view
    app.register_blueprint(blueprint)
    log.warning(f"SANDBOX IS ON ({PREFIX}SANDBOX=on): the page at / mints tokens for anyone "
                "who can reach it. For development and demonstrations with synthetic patients "
                "only.", extra={"event": "sandbox_on"})
