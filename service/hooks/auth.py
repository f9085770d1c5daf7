"""Client authentication per CDS Hooks 2.0 "Trusting CDS Clients": a signed JWT on every call.

Whoever can call a hook can make the service read patient records and hand out advice, so every
call to discovery, a service or its feedback endpoint must carry `Authorization: Bearer <JWT>`
signed by a client we trust. Checks, in the order they run:

1. the header: `alg` on the allow-list (ES384, RS384, ES256, RS256 — never `none`, never HMAC,
   whatever key material an attacker offers), a `kid`, `typ` JWT when present;
2. the (still unverified) `iss` names a trusted client — that picks the keys;
3. the key: a key pinned in the client's inline JWKS with the token's `kid` (whether or not the
   token names a `jku`), else from its `jku`, which must be one of the client's allow-listed
   JWKS URLs (fetched with a timeout, cached by `kid`, re-fetched on an unknown
   `kid` at most every `_MIN_REFRESH_S` so random kids cannot make us hammer the EHR);
4. the signature, `iss`, `aud` = configured public base URL + the path invoked, `exp`/`nbf`/`iat`
   with a small clock skew, and a lifetime (`exp - iat`) no longer than configured;
5. `jti` not used before by that issuer — recorded in the database so that it holds across
   workers and replicas. Done last, so that only genuine tokens consume ids. On a hook call the
   id is recorded in the same transaction as the call's audit record
   (`protect(..., claim_with_audit=)`): one database round per call, and of two calls racing
   with one token only the first to commit is answered; the other gets the same 401. A call
   that must fetch from the EHR's FHIR server claims the id first (`claim_before_fetch`), so
   of concurrent replays only one ever sends the EHR's access token anywhere (a look-up let
   2-8 of 20 racing replays through, issue 21); a fully prefetched one is refused at commit,
   its cards withheld, at no cost to anyone but the replaying caller.

Any failure is one bland 401: telling the caller which check failed helps an attacker tune a
forgery more than it helps an integrator, who finds the reason in our log (never the token).

`TrustedClients` is the live registry: configured clients are loaded into it at start-up, and
code in the same process (the sandbox) may add or remove one while running — see `LocalSigner`.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import orjson
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Blueprint, current_app, g, request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy.exc import SQLAlchemyError

from service.config import PREFIX, ConfigError, Settings
from service.hooks.errors import ApiError
from service.store import TokenClaim

log = logging.getLogger(__name__)

EXTENSION = "leukemia_cds.auth"
ALGORITHMS = ("ES384", "RS384", "ES256", "RS256")
_CURVE = {"ES256": "P-256", "ES384": "P-384"}
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_MAX_TOKEN_CHARS = 8192
_MAX_JWKS_BYTES = 64 * 1024
_JWKS_TTL_S = 3600.0
_MIN_REFRESH_S = 10.0
_MIN_RSA_BITS = 2048
REFUSED = "Authentication failed: a valid CDS Hooks client JWT is required (Authorization: Bearer)."


class AuthFailure(Exception):
    """Why a token was refused; for the log only, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- trusted clients --------------------------------------------------------------------------


def _check_public_jwk(jwk: Any) -> str | None:
    """Why this JWK cannot verify our tokens, or None."""
    if not isinstance(jwk, dict):
        return "a key is not a JSON object"
    if not isinstance(jwk.get("kid"), str) or not jwk["kid"]:
        return "a key has no kid"
    if jwk.get("kty") not in {"EC", "RSA"}:
        return f"key {jwk['kid']!r} is not an EC or RSA key (symmetric keys are never accepted)"
    if _PRIVATE_MEMBERS & set(jwk):
        return f"key {jwk['kid']!r} contains private key material; publish the public key only"
    if jwk.get("use", "sig") != "sig":
        return f"key {jwk['kid']!r} is not a signing key (use={jwk.get('use')!r})"
    if "alg" in jwk and jwk["alg"] not in ALGORITHMS:
        return f"key {jwk['kid']!r} has alg {jwk['alg']!r}; allowed: {', '.join(ALGORITHMS)}"
    try:
        jwt.PyJWK(jwk)
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return f"key {jwk['kid']!r} cannot be read"
    return None


class TrustedClient(BaseModel):
    """One CDS client we accept calls from: its issuer, where its keys are, its tenant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jku: tuple[str, ...] = ()
    jwks: dict[str, Any] | None = None
    tenant: str | None = Field(default=None, min_length=1)

    @field_validator("jku", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("jku")
    @classmethod
    def _https(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            if not url.startswith("https://") or len(url) <= len("https://"):
                raise ValueError(f"jku {url!r} must be an https URL")
        return value

    @field_validator("jwks")
    @classmethod
    def _keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        keys = value.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError('jwks must be a JWK Set: {"keys": [ ... ]} with at least one key')
        for jwk in keys:
            problem = _check_public_jwk(jwk)
            if problem:
                raise ValueError(problem)
        return value

    def model_post_init(self, _context: Any) -> None:
        if not self.jku and self.jwks is None:
            raise ValueError(f"client {self.iss!r} needs jwks (inline keys) or jku (their URL)")

    def inline_key(self, kid: str) -> dict[str, Any] | None:
        for jwk in (self.jwks or {}).get("keys", []):
            if jwk.get("kid") == kid:
                return jwk
        return None


class TrustedClients:
    """The live set of trusted clients, by issuer. Thread-safe; replaced copy-on-write so that
    verifying a token never waits for a registration."""

    def __init__(self, clients: list[TrustedClient] | None = None) -> None:
        self._lock = threading.Lock()
        self._by_iss: dict[str, TrustedClient] = {}
        for client in clients or []:
            self.add(client)

    def add(self, client: TrustedClient) -> None:
        """Trust `client` from now on (replacing any client with the same `iss`)."""
        with self._lock:
            self._by_iss = {**self._by_iss, client.iss: client}
        log.info("trusted CDS client registered", extra={"event": "client_added",
                                                         "iss": client.iss})

    def remove(self, iss: str) -> None:
        """Stop trusting `iss`; tokens it signs are refused from the next request on."""
        with self._lock:
            self._by_iss = {k: v for k, v in self._by_iss.items() if k != iss}

    def get(self, iss: str) -> TrustedClient | None:
        return self._by_iss.get(iss)

    def __len__(self) -> int:
        return len(self._by_iss)

    def __iter__(self) -> Iterator[TrustedClient]:
        return iter(list(self._by_iss.values()))


def load_clients(path: Path | None) -> list[TrustedClient]:
    """Parse the `LEUKEMIA_CDS_CLIENTS` file; any problem is one `ConfigError` line."""
    if path is None:
        return []
    name = f"{PREFIX}CLIENTS={str(path)!r}"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(raw, list):
        raise ConfigError(f'{name}: must be a JSON list of clients [{{"iss": ...}}, ...]')
    clients: list[TrustedClient] = []
    for i, item in enumerate(raw):
        try:
            clients.append(TrustedClient.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(
                f"{name}: client [{i}]{' ' + where if where else ''}: {first['msg']}"
            ) from None
    issuers = [c.iss for c in clients]
    duplicates = sorted({i for i in issuers if issuers.count(i) > 1})
    if duplicates:
        raise ConfigError(f"{name}: issuer {duplicates[0]!r} is listed twice")
    return clients


# ---- keys from jku --------------------------------------------------------------------------


@dataclass
class _JwksEntry:
    keys: dict[str, dict[str, Any]]
    fetched_at: float


@dataclass
class _JwksFailure:
    reason: str
    until: float  # no new fetch of this URL before then
    count: int


class JwksCache:
    """JWK Sets fetched from allow-listed `jku` URLs, by URL then `kid`.

    An unknown kid triggers a re-fetch (the client may have rotated its key), but not more often
    than every `min_refresh_s` per URL; keys expire after `ttl_s` so a revoked key ages out.
    A failed fetch is remembered too (issue 21, finding 4): forged tokens naming a client whose
    key set is unreachable would otherwise each start a fetch of up to the timeout. The URL is
    not tried again for `min_refresh_s`, doubling with each failure in a row up to
    `max_backoff_s`; meanwhile tokens needing it fail at once, with the remembered reason. One
    fetch per URL at a time: a caller that finds one under way waits for it, never starts
    another. `clock` is injectable so tests can move time.
    """

    def __init__(self, timeout_s: float, *, ttl_s: float = _JWKS_TTL_S,
                 min_refresh_s: float = _MIN_REFRESH_S, max_backoff_s: float = 300.0) -> None:
        self.timeout_s = timeout_s
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self.max_backoff_s = max_backoff_s
        self.clock = time.monotonic
        self.fetches = 0  # how many fetches were started (what the backoff saves is countable)
        self._entries: dict[str, _JwksEntry] = {}
        self._failures: dict[str, _JwksFailure] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._session = requests.Session()
        self._session.trust_env = False

    def _lock_for(self, url: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(url, threading.Lock())

    def key(self, url: str, kid: str) -> dict[str, Any] | None:
        with self._lock_for(url):  # one fetch per URL at a time; others wait for its result
            entry = self._entries.get(url)
            now = self.clock()
            if entry is not None and now - entry.fetched_at < self.ttl_s:
                if kid in entry.keys:
                    return entry.keys[kid]
                if now - entry.fetched_at < self.min_refresh_s:
                    return None
            failure = self._failures.get(url)
            if failure is not None and now < failure.until:
                raise AuthFailure(f"{failure.reason}; not retried for "
                                  f"{failure.until - now:.0f} s")
            self.fetches += 1
            try:
                keys = self._fetch(url)
            except AuthFailure as exc:
                count = failure.count + 1 if failure is not None else 1
                backoff = min(self.min_refresh_s * 2 ** (count - 1), self.max_backoff_s)
                self._failures[url] = _JwksFailure(str(exc), self.clock() + backoff, count)
                raise
            self._failures.pop(url, None)
            self._entries[url] = _JwksEntry(keys, now)
            return keys.get(kid)

    def _fetch(self, url: str) -> dict[str, dict[str, Any]]:
        try:
            response = self._session.get(
                url, timeout=(self.timeout_s, self.timeout_s), allow_redirects=False,
                stream=True, headers={"Accept": "application/json"},
            )
            with response:
                if response.status_code != 200:
                    raise AuthFailure(f"jku answered HTTP {response.status_code}")
                body = b""
                for chunk in response.iter_content(16 * 1024):
                    body += chunk
                    if len(body) > _MAX_JWKS_BYTES:
                        raise AuthFailure("jku JWK Set is too large")
        except requests.RequestException as exc:
            raise AuthFailure(f"jku unreachable ({type(exc).__name__})") from None
        try:
            document = json.loads(body)
        except ValueError:
            raise AuthFailure("jku did not return JSON") from None
        keys = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(keys, list):
            raise AuthFailure("jku did not return a JWK Set")
        usable = {jwk["kid"]: jwk for jwk in keys if _check_public_jwk(jwk) is None}
        return usable


# ---- verification ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of this request. `claimed`: its token id is already recorded;
    otherwise the audit record must claim it (`claim`) before the call is answered."""

    iss: str
    jti: str
    tenant: str | None
    sub: str | None
    expires_at: datetime
    claimed: bool = True

    def claim(self) -> TokenClaim | None:
        return None if self.claimed else TokenClaim(self.iss, self.jti, self.expires_at)


def _peek(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims before verification, only to choose the client and key. PyJWT checks
    the whole token again when it verifies; this cheap first look saves a second full parse."""
    try:
        header_b64, payload_b64, _signature = token.split(".")
        header = orjson.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
        payload = orjson.loads(
            base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    except (ValueError, TypeError, binascii.Error):
        raise AuthFailure("malformed token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise AuthFailure("malformed token")
    return header, payload


_KEY_OBJECTS: dict[tuple[str, bytes], Any] = {}


def _key_for(jwk: dict[str, Any], alg: str) -> Any:
    """The public key object for `alg`, refusing a key of another type, curve or strength.

    Building a key object from a JWK costs more than verifying a signature with it, and clients
    sign with the same few keys all day, so built keys are kept (keyed by the whole JWK)."""
    try:
        fingerprint = (alg, orjson.dumps(jwk, option=orjson.OPT_SORT_KEYS))
    except (TypeError, ValueError):
        raise AuthFailure("key does not fit the token alg") from None
    key = _KEY_OBJECTS.get(fingerprint)
    if key is None:
        key = _build_key(jwk, alg)
        if len(_KEY_OBJECTS) >= 256:
            _KEY_OBJECTS.clear()
        _KEY_OBJECTS[fingerprint] = key
    return key


def _build_key(jwk: dict[str, Any], alg: str) -> Any:
    if "alg" in jwk and jwk["alg"] != alg:
        raise AuthFailure("key alg differs from token alg")
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        raise AuthFailure("key does not fit the token alg") from None
    if alg.startswith("ES"):
        if not isinstance(key, ec.EllipticCurvePublicKey) or jwk.get("crv") != _CURVE[alg]:
            raise AuthFailure("key curve does not fit the token alg")
    elif not isinstance(key, rsa.RSAPublicKey) or key.key_size < _MIN_RSA_BITS:
        raise AuthFailure("RSA key missing or too short")
    return key


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthFailure(f"{name} missing or not a number")
    return float(value)


class Authenticator:
    """Verifies client JWTs for one app. `store` provides the shared jti replay record."""

    def __init__(self, settings: Settings, clients: TrustedClients, store: Any) -> None:
        self.enabled = settings.auth
        self.public_url = settings.public_url
        self.skew_s = settings.clock_skew_s
        self.max_lifetime_s = settings.jwt_max_lifetime_s
        self.clients = clients
        self.jwks = JwksCache(settings.jwks_timeout_ms / 1000)
        self.store = store

    def audience(self, path: str) -> str | None:
        """The `aud` a client must use for `path` (e.g. /cds-services/x), from the public URL."""
        return None if self.public_url is None else self.public_url + path

    def verify(self, token: str, path: str, *, claim: bool = True) -> Principal:
        """The caller, or AuthFailure. With `claim=False` the token id is not recorded here: the
        caller's audit transaction must record it (`Principal.claim`), which refuses a replay."""
        if len(token) > _MAX_TOKEN_CHARS:
            raise AuthFailure("token too long")
        audience = self.audience(path)
        if audience is None:
            raise AuthFailure(f"{PREFIX}PUBLIC_URL is not set, so no aud can match")
        header, unverified = _peek(token)
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthFailure("alg not allowed")
        if "typ" in header and str(header["typ"]).upper() != "JWT":
            raise AuthFailure("typ is not JWT")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthFailure("kid missing")
        iss = unverified.get("iss")
        client = self.clients.get(iss) if isinstance(iss, str) else None
        if client is None:
            raise AuthFailure("iss not trusted")

        key = _key_for(self._find_key(client, header.get("jku"), kid), alg)
        try:
            claims = jwt.decode(
                token, key, algorithms=[alg], audience=audience, issuer=client.iss,
                leeway=self.skew_s,
                options={"require": ["iss", "aud", "exp", "iat", "jti"], "verify_sub": False},
            )
        except jwt.InvalidSignatureError:
            raise AuthFailure("bad signature") from None
        except jwt.ExpiredSignatureError:
            raise AuthFailure("expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthFailure("not yet valid (nbf or iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthFailure("aud does not name the endpoint invoked") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthFailure(f"claim {exc.claim} missing") from None
        except jwt.PyJWTError as exc:
            raise AuthFailure(f"invalid token ({type(exc).__name__})") from None

        now = time.time()
        exp, iat = _number(claims, "exp"), _number(claims, "iat")
        if iat > now + self.skew_s:
            raise AuthFailure("issued in the future")
        if not iat < exp:
            raise AuthFailure("exp not after iat")
        if exp - iat > self.max_lifetime_s:
            raise AuthFailure("lifetime longer than allowed")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise AuthFailure("jti missing or too long")
        tenant = claims.get("tenant")
        if tenant is not None and not isinstance(tenant, str):
            raise AuthFailure("tenant is not a string")
        if len(tenant or "") > 256:
            # the audit record keeps it in 256 characters: a longer one is a malformed token,
            # refused here, not a database error (a 503 without audit row, issue 21)
            raise AuthFailure("tenant longer than 256 characters")
        if client.tenant and tenant not in (None, client.tenant):
            raise AuthFailure("tenant differs from the client's")
        sub = claims.get("sub") if isinstance(claims.get("sub"), str) else None

        expires_at = datetime.fromtimestamp(exp + self.skew_s, UTC)
        principal = Principal(iss=client.iss, jti=jti, tenant=tenant or client.tenant, sub=sub,
                              expires_at=expires_at, claimed=claim)
        if claim and not self._store_answer(self.store.remember_jti, client.iss, jti, expires_at):
            raise AuthFailure("jti replayed")
        return principal

    @staticmethod
    def _store_answer(ask: Callable[..., bool], *args: Any) -> bool:
        try:
            return bool(ask(*args))
        except SQLAlchemyError:
            log.exception("replay store unavailable", extra={"event": "store_error"})
            raise ApiError(503, "The service cannot check token replay right now; retry later.",
                           headers={"Retry-After": "5"}) from None

    def _find_key(self, client: TrustedClient, jku: Any, kid: str) -> dict[str, Any]:
        """A key pinned for this issuer with the token's `kid` is used first, `jku` or not:
        real clients (the HL7 sandbox) put a `jku` on every token, and a hospital that pins
        their key should not need the URL to be reachable. Only when no pinned key has the
        `kid` is a `jku` fetched, and only one on the client's allow-list."""
        inline = client.inline_key(kid)
        if inline is not None:
            return inline
        if jku is not None:
            if not isinstance(jku, str) or jku not in client.jku:
                raise AuthFailure("jku not on the client's allow-list")
            urls: tuple[str, ...] = (jku,)
        else:  # no jku: the configured URLs
            urls = client.jku
        for url in urls:
            found = self.jwks.key(url, kid)
            if found is not None:
                return found
        raise AuthFailure("kid unknown")


# ---- Flask wiring ---------------------------------------------------------------------------


def authenticator() -> Authenticator:
    return current_app.extensions[EXTENSION]


def trusted_clients(app: Any) -> TrustedClients:
    """The app's live registry of trusted clients (for the sandbox: `.add()` / `.remove()`)."""
    return app.extensions[EXTENSION].clients


def current_principal() -> Principal | None:
    """Who called (None when authentication is off)."""
    return g.get("lcds_principal")


def protect(blueprint: Blueprint, *, claim_with_audit: str | None = None) -> None:
    """Require a valid client JWT on every endpoint of `blueprint`. The token id of a call to
    endpoint `claim_with_audit` is recorded by that call's audit record, not here."""

    @blueprint.before_request
    def _check() -> None:
        _authenticate(claim=request.endpoint != claim_with_audit)


def claim_before_fetch() -> None:
    """Record the call's token id now, before the EHR's access token is used: the claim is an
    insert that only one of any number of racing calls wins; the others get the 401 here. The
    audit record then has nothing left to claim."""
    principal = current_principal()
    if principal is None or principal.claimed:
        return
    auth = authenticator()
    if not auth._store_answer(auth.store.remember_jti, principal.iss, principal.jti,
                              principal.expires_at):
        raise refuse("jti replayed")
    g.lcds_principal = dataclasses.replace(principal, claimed=True)


def refuse(reason: str) -> ApiError:
    """The one answer to a refused client, logged with the reason only we see."""
    g.lcds_principal = None
    log.warning("client authentication refused", extra={"event": "auth_refused",
                                                        "reason": reason})
    return ApiError(401, REFUSED, headers={"WWW-Authenticate": 'Bearer realm="leukemia-cds"'})


def _authenticate(*, claim: bool) -> None:
    auth = authenticator()
    g.lcds_principal = None
    if not auth.enabled:
        log.warning("AUTHENTICATION IS OFF (LEUKEMIA_CDS_AUTH=off): request not authenticated",
                    extra={"event": "auth_disabled", "auth": "off"})
        return
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailure("no bearer token")
        g.lcds_principal = auth.verify(token.strip(), request.path, claim=claim)
    except AuthFailure as failure:
        raise refuse(failure.reason) from None


def announce(auth: Authenticator) -> None:
    """Say at start-up what trust is configured; loudly when there is none."""
    if not auth.enabled:
        for _ in range(3):
            log.warning("AUTHENTICATION IS OFF (LEUKEMIA_CDS_AUTH=off): anyone who can reach "
                        "this service can call it. For local experiments only, never with "
                        "patient data.", extra={"event": "auth_disabled", "auth": "off"})
    elif len(auth.clients) == 0:
        log.warning("no trusted CDS clients (LEUKEMIA_CDS_CLIENTS): every call will be refused",
                    extra={"event": "no_clients", "count": 0})
    else:
        log.info("trusted CDS clients loaded", extra={"event": "clients", "auth": "on",
                                                      "count": len(auth.clients)})


# ---- signing, for in-process clients (sandbox) and tests -------------------------------------


class LocalSigner:
    """A CDS client key pair held in this process: signs tokens the way an EHR would.

    For the sandbox: `signer = LocalSigner.generate("urn:leukemia-cds:sandbox")`, then
    `trusted_clients(app).add(signer.client)` while the sandbox is on (and `.remove(signer.iss)`
    when it goes off), and send `Authorization: Bearer {signer.token(aud)}` with
    `aud = authenticator.audience(path)`.
    """

    def __init__(self, iss: str, private_key: Any, *, alg: str = "ES384", kid: str | None = None,
                 tenant: str | None = None) -> None:
        if alg not in ALGORITHMS:
            raise ValueError(f"alg must be one of {ALGORITHMS}")
        self.iss = iss
        self.alg = alg
        self.kid = kid or uuid.uuid4().hex
        self.tenant = tenant
        self._private_key = private_key

    def __repr__(self) -> str:
        return f"LocalSigner(iss={self.iss!r}, alg={self.alg}, kid={self.kid!r})"

    @classmethod
    def generate(cls, iss: str, *, alg: str = "ES384", kid: str | None = None,
                 tenant: str | None = None) -> LocalSigner:
        if alg.startswith("ES"):
            curve = ec.SECP384R1() if alg == "ES384" else ec.SECP256R1()
            key: Any = ec.generate_private_key(curve)
        else:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(iss, key, alg=alg, kid=kid, tenant=tenant)

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = json.loads(algorithm.to_jwk(self._private_key.public_key()))
        return {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}

    @property
    def client(self) -> TrustedClient:
        return TrustedClient(iss=self.iss, jwks={"keys": [self.public_jwk()]}, tenant=self.tenant)

    def token(self, aud: str, *, lifetime_s: int = 60, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:
        """A fresh token for `aud`; `claims` and `headers` override or add fields."""
        now = int(time.time())
        payload: dict[str, Any] = {"iss": self.iss, "aud": aud, "iat": now,
                                   "exp": now + lifetime_s, "jti": uuid.uuid4().hex}
        if self.tenant:
            payload["tenant"] = self.tenant
        payload.update(claims)
        header = {"typ": "JWT", "kid": self.kid, **(headers or {})}
        return jwt.encode(payload, self._private_key, algorithm=self.alg, headers=header)
