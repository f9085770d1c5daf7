"""Settings, read once from `LEUKEMIA_CDS_*` environment variables and validated at start-up.

A hospital engineer who mistypes a setting must learn it from one line at start-up, not from a
failed hook call at 3 a.m.; so every setting is parsed here, up front, and an invalid one raises
`ConfigError` whose message names the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service import paths
from service.errors import ConfigError
from service.policy import Policy

PREFIX = "LEUKEMIA_CDS_"


def _int(name: str, raw: str, lo: int, hi: int) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be a whole number") from None
    if not lo <= value <= hi:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be between {lo} and {hi}")
    return value


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r}: must be one of true/false, on/off, 1/0")


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _origins(name: str, raw: str) -> tuple[str, ...]:
    origins = _list(raw)
    for origin in origins:
        if origin == "*":
            raise ConfigError(
                f"{PREFIX}{name}: '*' is not allowed; list each EHR origin (https://host[:port])"
            )
        scheme, _, rest = origin.partition("://")
        if scheme not in {"http", "https"} or not rest or "/" in rest:
            raise ConfigError(
                f"{PREFIX}{name}: {origin!r} is not an origin like https://ehr.example.org"
            )
    return origins


def _hosts(name: str, raw: str) -> tuple[str, ...]:
    hosts = tuple(h.lower() for h in _list(raw))
    for host in hosts:
        if "/" in host or "://" in host:
            raise ConfigError(f"{PREFIX}{name}: {host!r} must be a host name, not a URL")
    return hosts


def _public_url(name: str, raw: str) -> str:
    """The base URL clients call; JWT `aud` values are this plus the endpoint path."""
    value = raw.strip().rstrip("/")
    scheme, _, rest = value.partition("://")
    if scheme not in {"http", "https"} or not rest or rest.startswith("/"):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be a URL like https://cds.example.org")
    if "?" in rest or "#" in rest:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must not have a query or fragment")
    return value


def _database_url(name: str, raw: str) -> str:
    """SQLite or PostgreSQL only; the message never echoes the URL (it may hold a password)."""
    value = raw.strip()
    scheme = value.partition("://")[0].lower()
    if scheme in {"postgresql", "postgres"}:
        return "postgresql+psycopg://" + value.partition("://")[2]
    if scheme in {"postgresql+psycopg", "sqlite"}:
        return value
    raise ConfigError(
        f"{PREFIX}{name}: must start with postgresql:// or sqlite:/// (value not shown)"
    )


def _secret(name: str, raw: str) -> str:
    """A secret key; the message never echoes it."""
    value = raw.strip()
    if len(value) < 32:
        raise ConfigError(f"{PREFIX}{name}: must be at least 32 characters (value not shown)")
    return value


def _auth(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value not in {"on", "off"}:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be on or off")
    return value == "on"


def _log_level(name: str, raw: str) -> str:
    value = raw.strip().upper()
    if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be DEBUG, INFO, WARNING or ERROR")
    return value


def _knowledge_version(name: str, raw: str) -> str:
    """A knowledge version as cards/catalogue.toml writes it (MAJOR.MINOR.PATCH)."""
    value = raw.strip()
    if not re.fullmatch(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)", value):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be the knowledge version accepted, "
                          "MAJOR.MINOR.PATCH (e.g. 1.2.0)")
    return value


@dataclass(frozen=True)
class Settings:
    """Every knob the service has; defaults are safe for production."""

    # Protocol limits
    max_body_bytes: int = 8 * 1024 * 1024
    max_bundle_entries: int = 20_000
    # FHIR server access when prefetch is incomplete
    fhir_budget_ms: int = 300
    fhir_connect_timeout_ms: int = 150
    fhir_read_timeout_ms: int = 250
    fhir_max_pages: int = 20
    fhir_allowed_hosts: tuple[str, ...] = ()
    fhir_http_hosts: tuple[str, ...] = ()
    # Browser-based CDS clients
    cors_origins: tuple[str, ...] = ()
    # Client authentication (CDS Hooks "Trusting CDS Clients")
    auth: bool = True
    clients_file: Path | None = None
    public_url: str | None = None
    clock_skew_s: int = 60
    jwt_max_lifetime_s: int = 300
    jwks_timeout_ms: int = 2000
    # Audit store
    database_url: str | None = None
    pseudonym_key: str | None = field(default=None, repr=False)
    # Process
    workers: int = 2
    # One thread per worker: the work is CPU-bound, and more threads only contend for the GIL
    # (measured: 2x1 ~30 % more requests/s than 2x4, lower p99). Raise it where the EHR omits
    # prefetch and the service waits on FHIR fetches.
    threads: int = 1
    # Each request is read in full by the worker's event loop before a thread gets it
    # (service/worker.py), so slow or broken clients cannot starve the service. A client gets
    # this long for its request line and headers (and to send the next request on a kept-alive
    # connection), and this long for its body; past either it gets 408 and is closed.
    header_timeout_s: int = 5
    body_timeout_s: int = 15
    worker_connections: int = 1000
    # /readyz reports not ready below this much free space on the data folder's disk
    min_free_mb: int = 32
    worker_timeout_s: int = 30
    log_level: str = "INFO"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    # Sandbox page at / with synthetic patients and a token it mints for itself (development
    # only: anyone who can reach the page can call the hooks). `leukemia-cds serve` turns it on
    # unless LEUKEMIA_CDS_SANDBOX says otherwise; the container image sets it off.
    sandbox: bool = False
    # Site policy (not evidence, and labelled so on cards): one object, each knob a documented
    # field of service.policy.Policy with its own LEUKEMIA_CDS_* variable.
    policy: Policy = field(default_factory=Policy)
    # Knowledge governance (service/render/freshness.py): start-up refuses a catalogue entry
    # reviewed longer ago than this, unless the site accepts stale reviews for exactly this
    # knowledge version (an acceptance never carries over to new knowledge).
    review_max_months: int = 18
    accept_stale_review: str | None = None
    # Data folders: overrides for an installed copy; defaults beside the package (service/paths)
    cards_dir: Path = field(default_factory=paths.cards_dir)
    profiles_dir: Path = field(default_factory=paths.profiles_dir)
    # The site's own ConceptMap (local codes), used instead of the profiles' one: the one file
    # a site edits, deployed alone (deploy/README.md, "Your site's codes")
    site_conceptmap: Path | None = None
    seeds_dir: Path = field(default_factory=paths.seeds_dir)
    # Trial registry (service/trials): where `trials sync` reads ClinicalTrials.gov (a site may
    # point it at its own proxy), when trial cards call the list stale, how often a running
    # service looks for a new import, and where the site is (trials are ranked by distance).
    trials_api_url: str = "https://clinicaltrials.gov/api/v2"
    trials_stale_days: int = 14
    trials_refresh_s: int = 30
    site_location: tuple[float, float] | None = None
    # The site's own open trials: a FHIR R4 Bundle of ResearchStudy (service/trials/site.py)
    site_trials: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse every `LEUKEMIA_CDS_*` variable; unknown names are refused (typos are bugs)."""
        env = os.environ if environ is None else environ
        knobs = Policy.knobs()
        unknown = sorted(k for k in env if k.startswith(PREFIX)
                         and k[len(PREFIX):] not in _TABLE and k[len(PREFIX):] not in knobs)
        if unknown:
            raise ConfigError(f"{unknown[0]}: unknown setting (see README, Configuration)")
        values: dict[str, Any] = {}
        for name, (attr, parse) in _TABLE.items():
            raw = env.get(PREFIX + name)
            if raw is not None and raw.strip() != "":
                values[attr] = parse(name, raw)
        try:
            values["policy"] = Policy.parse({name: env[PREFIX + name] for name in knobs
                                             if PREFIX + name in env})
        except ValueError as exc:
            raise ConfigError(f"{PREFIX}{exc}") from None
        settings = cls(**values)
        if settings.fhir_connect_timeout_ms > settings.fhir_budget_ms:
            raise ConfigError(
                f"{PREFIX}FHIR_CONNECT_TIMEOUT_MS={settings.fhir_connect_timeout_ms}: "
                f"must not exceed {PREFIX}FHIR_BUDGET_MS={settings.fhir_budget_ms}"
            )
        return settings


def _api_url(name: str, raw: str) -> str:
    """The ClinicalTrials.gov API v2 base (or a proxy of it): https, or http for a proxy on
    this machine only."""
    value = raw.strip().rstrip("/")
    scheme, _, rest = value.partition("://")
    local = rest.split("/")[0].split(":")[0] in {"127.0.0.1", "localhost", "[::1]"}
    if not rest or not (scheme == "https" or (scheme == "http" and local)):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be an https URL such as "
                          "https://clinicaltrials.gov/api/v2")
    return value


def _location(name: str, raw: str) -> tuple[float, float]:
    """`latitude,longitude` in decimal degrees, e.g. 52.37,4.89."""
    try:
        lat, lon = (float(part) for part in raw.split(","))
    except ValueError:
        raise ConfigError(f"{PREFIX}{name}={raw!r}: must be latitude,longitude in decimal "
                          "degrees (e.g. 52.37,4.89)") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ConfigError(f"{PREFIX}{name}={raw!r}: latitude must be -90..90 and longitude "
                          "-180..180")
    return lat, lon


def _path(name: str, raw: str) -> Path:
    return Path(raw.strip())


def _ranged(lo: int, hi: int) -> Callable[[str, str], int]:
    return lambda name, raw: _int(name, raw, lo, hi)


# Environment name (without prefix) -> (Settings attribute, parser). Add a setting here and as a
# Settings field; nothing else reads the environment. Site-policy knobs are declared on
# service.policy.Policy instead (their variables are read here too).
_TABLE: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "MAX_BODY_BYTES": ("max_body_bytes", _ranged(1024, 512 * 1024**2)),
    "MAX_BUNDLE_ENTRIES": ("max_bundle_entries", _ranged(1, 1_000_000)),
    "FHIR_BUDGET_MS": ("fhir_budget_ms", _ranged(10, 10_000)),
    "FHIR_CONNECT_TIMEOUT_MS": ("fhir_connect_timeout_ms", _ranged(10, 10_000)),
    "FHIR_READ_TIMEOUT_MS": ("fhir_read_timeout_ms", _ranged(10, 10_000)),
    "FHIR_MAX_PAGES": ("fhir_max_pages", _ranged(1, 1000)),
    "FHIR_ALLOWED_HOSTS": ("fhir_allowed_hosts", _hosts),
    "FHIR_HTTP_HOSTS": ("fhir_http_hosts", _hosts),
    "CORS_ORIGINS": ("cors_origins", _origins),
    "AUTH": ("auth", _auth),
    "CLIENTS": ("clients_file", _path),
    "PUBLIC_URL": ("public_url", _public_url),
    "CLOCK_SKEW_S": ("clock_skew_s", _ranged(0, 300)),
    "JWT_MAX_LIFETIME_S": ("jwt_max_lifetime_s", _ranged(10, 3600)),
    "JWKS_TIMEOUT_MS": ("jwks_timeout_ms", _ranged(100, 10_000)),
    "DATABASE_URL": ("database_url", _database_url),
    "PSEUDONYM_KEY": ("pseudonym_key", _secret),
    "WORKERS": ("workers", _ranged(1, 64)),
    "THREADS": ("threads", _ranged(1, 64)),
    "HEADER_TIMEOUT_S": ("header_timeout_s", _ranged(1, 60)),
    "BODY_TIMEOUT_S": ("body_timeout_s", _ranged(1, 300)),
    "WORKER_CONNECTIONS": ("worker_connections", _ranged(10, 10_000)),
    "MIN_FREE_MB": ("min_free_mb", _ranged(0, 1_000_000)),
    "WORKER_TIMEOUT_S": ("worker_timeout_s", _ranged(5, 600)),
    "LOG_LEVEL": ("log_level", _log_level),
    "SANDBOX": ("sandbox", _auth),
    "REVIEW_MAX_MONTHS": ("review_max_months", _ranged(1, 120)),
    "ACCEPT_STALE_REVIEW": ("accept_stale_review", _knowledge_version),
    "DATA_DIR": ("data_dir", _path),
    "CARDS_DIR": ("cards_dir", _path),
    "PROFILES_DIR": ("profiles_dir", _path),
    "SITE_CONCEPTMAP": ("site_conceptmap", _path),
    "SEEDS_DIR": ("seeds_dir", _path),
    "TRIALS_API_URL": ("trials_api_url", _api_url),
    "TRIALS_STALE_DAYS": ("trials_stale_days", _ranged(1, 365)),
    "TRIALS_REFRESH_S": ("trials_refresh_s", _ranged(1, 3600)),
    "SITE_LOCATION": ("site_location", _location),
    "SITE_TRIALS": ("site_trials", _path),
}
