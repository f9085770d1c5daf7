"""The sandbox: an EHR-like page at `/` that calls this service's own CDS Hooks endpoints.

It is a *client* of the service, never a second path into the clinical layers: the page builds
CDS Hooks requests from synthetic charts and POSTs them to `/cds-services/...` with a signed JWT,
exactly as an EHR would; the server side only serves the page, the synthetic charts, and
short-lived tokens signed by a key generated at start-up. That key is trusted only while the
sandbox is on, because it is registered in-process and nowhere else. The key and the patients
are made once per process tree (`state`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources

from flask import Flask

from service import advice
from service.config import PREFIX, ConfigError, Settings
from service.hooks import auth
from service.sandbox.state import EXTENSION, ISSUER, patients, signer
from service.trials.ctgov import parse_response
from service.trials.model import RegistryTrial

__all__ = ["EXTENSION", "ISSUER", "install", "patients", "serve_profile", "signer"]

log = logging.getLogger(__name__)


def serve_profile(settings: Settings, environ: Mapping[str, str], host: str,
                  port: int) -> Settings:
    """`leukemia-cds serve` with nothing configured is the development profile: the sandbox is
    on. A service with EHR clients configured (`LEUKEMIA_CDS_CLIENTS`) is a real deployment:
    the sandbox stays off unless `LEUKEMIA_CDS_SANDBOX=on` asks for it, since its key mints
    tokens the real hook endpoints accept (issue 21, finding 2).

    The sandbox's tokens need an audience, which is the public URL plus the path; without a
    configured one (and with no EHR clients that would need the real one) the bind address
    stands in, since the service checks `aud` against its own setting, not the Host header.
    """
    if PREFIX + "SANDBOX" not in environ and settings.clients_file is None:
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
    _demo_trials(app)
    app.register_blueprint(blueprint)
    log.warning(f"SANDBOX IS ON ({PREFIX}SANDBOX=on): the page at / mints tokens for anyone "
                "who can reach it. For development and demonstrations with synthetic patients "
                "only.", extra={"event": "sandbox_on"})


def demo_trials() -> tuple[RegistryTrial, ...]:
    """The sandbox's synthetic registry trials (NCT9000000x, titled SYNTHETIC; the benchmark
    builds its registry from them too)."""
    doc = json.loads((resources.files("service.sandbox") / "demo-trials.json").read_bytes())
    return tuple(parse_response(doc, where="sandbox demo trials")[0])


def _demo_trials(app: Flask) -> None:
    """So the page shows the trial pre-screen: used only while no registry was ever imported,
    and never written to the database (a real import or sync replaces them at once)."""
    reader = app.extensions[advice.EXTENSION].registry
    if reader is not None:
        reader.demo = demo_trials()


def warn_if_exposed(settings: Settings, host: str, port: int) -> list[str]:
    """With the sandbox on, name every non-loopback address the service listens on: anyone who
    reaches one of them can mint tokens the hook endpoints accept. Returns those addresses."""
    if not settings.sandbox:
        return []
    exposed = listening_addresses(host)
    if exposed:
        log.warning(f"SANDBOX IS ON and reachable beyond this machine: listening on "
                    f"{', '.join(f'{a}:{port}' for a in exposed)}; anyone who reaches these "
                    f"can mint tokens the hook endpoints accept. Bind to 127.0.0.1 or set "
                    f"{PREFIX}SANDBOX=off.",
                    extra={"event": "sandbox_exposed", "addresses": exposed})
    return exposed


def listening_addresses(host: str) -> list[str]:
    """The non-loopback addresses a bind to `host` answers on: a wildcard bind (0.0.0.0, ::,
    "") answers on every interface address this machine has."""
    import ipaddress
    import socket

    if host in ("0.0.0.0", "::", ""):
        found = {"0.0.0.0 (every interface)"}
        for addr in _interface_addresses():
            found.add(addr)
    else:
        try:
            found = {str(info[4][0]) for info in socket.getaddrinfo(host, None)}
        except OSError:
            found = {host}
    out = []
    for a in sorted(found):
        try:
            if ipaddress.ip_address(a.split("%")[0]).is_loopback:
                continue
        except ValueError:
            pass  # "0.0.0.0 (every interface)" and names stay listed
        out.append(a)
    return out


def _interface_addresses() -> set[str]:
    """This machine's IPv4 addresses (from /proc/net/fib_trie: no extra package needed) and
    whatever its host name resolves to."""
    import socket
    from pathlib import Path

    found: set[str] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        found |= {prev.split()[-1] for prev, line in itertools.pairwise(lines)
                  if "/32 host LOCAL" in line}
    with contextlib.suppress(OSError):
        found |= {str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)}
    return found
