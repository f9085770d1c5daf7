"""Resolve every prefetch key to FHIR resources: take what the client sent, fetch what it omitted.

The spec's four cases, per template key:
- present            → use it;
- `null`             → the client has no data for it (not an error: zero resources);
- an OperationOutcome with an error (alone, or as a Bundle entry) → the client tried and failed;
  the spec asks services not to repeat the query, so the key is failed;
- omitted            → fetch it from `fhirServer` with the `fhirAuthorization` bearer token.

All omitted keys are fetched in parallel under one time budget per request. Any key that cannot be
had makes the request unanswerable (412): the rules would otherwise read a missing record as a
normal one. Only https servers are contacted, except hosts a site allow-lists for testing, and
private or loopback addresses are refused unless listed (SSRF).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from service import jsonio, metrics
from service.config import Settings
from service.hooks import egress
from service.hooks.errors import ApiError
from service.hooks.models import HookRequest

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z0-9_]+)\s*\}\}")
_FHIR_JSON = "application/fhir+json"


@dataclass
class KeyResult:
    """What one prefetch key yielded, and how."""

    key: str
    how: str  # "prefetch" | "null" | "fetched" | "failed"
    resources: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None


@dataclass(frozen=True)
class Gathered:
    keys: dict[str, KeyResult]

    @property
    def resources(self) -> list[dict[str, Any]]:
        """Every resource from every key, once each: searches overlap (e.g. an included
        Medication in two medication searches). Resources without an id are all kept."""
        unique: dict[Any, dict[str, Any]] = {}
        for result in self.keys.values():
            for resource in result.resources:
                rid = resource.get("id")
                ident = (resource["resourceType"], rid) if isinstance(rid, str) else id(resource)
                unique.setdefault(ident, resource)
        return list(unique.values())


class _KeyFailed(Exception):
    """The data for a key cannot be had (→ 412)."""


class _Malformed(_KeyFailed):
    """The data is not FHIR at all: from the client a schema violation (→ 400), from the FHIR
    server just another failed key."""


def render_template(template: str, context: dict[str, Any]) -> str:
    """Replace `{{context.x}}` tokens; only root-level primitive context fields qualify."""

    def sub(match: re.Match[str]) -> str:
        value = context.get(match.group(1))
        if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
            raise _KeyFailed(f"context.{match.group(1)} is missing or not a primitive value")
        return quote(str(value), safe="")

    return _TOKEN.sub(sub, template)


def _error_issues(outcome: dict[str, Any]) -> list[str]:
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        issues = []
    texts = []
    for issue in issues:
        if isinstance(issue, dict) and issue.get("severity") in {"error", "fatal"}:
            detail = issue.get("diagnostics") or (issue.get("details") or {}).get("text")
            texts.append(str(detail or issue.get("code") or "error"))
    if not issues:
        texts.append("OperationOutcome without issues")
    return texts


def resources_of(value: Any) -> list[dict[str, Any]]:
    """Resources in one prefetch value (a resource or a Bundle); `_KeyFailed` if it reports an
    error. OperationOutcomes carrying only warnings (search 'outcome' entries) are dropped."""
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise _Malformed("value is not a FHIR resource (no resourceType)")
    kind = value["resourceType"]
    if kind == "OperationOutcome":
        errors = _error_issues(value)
        if errors:
            raise _KeyFailed("client reported: " + "; ".join(errors))
        return []
    if kind != "Bundle":
        return [value]
    entries = value.get("entry", [])
    if not isinstance(entries, list):
        raise _Malformed("Bundle.entry is not a list")
    out = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise _Malformed("Bundle entry without a resource")
        if resource["resourceType"] == "OperationOutcome":
            errors = _error_issues(resource)
            if errors:
                raise _KeyFailed("client reported: " + "; ".join(errors))
            continue
        full_url = entry.get("fullUrl")
        if (resource["resourceType"] == "Patient" and isinstance(full_url, str)
                and full_url.startswith("urn:")):
            # other entries may name this patient by that urn; kept as a one-entry Bundle so
            # extraction can tell it is the patient in context (fhir.extract.identity)
            out.append({"resourceType": "Bundle", "type": "collection",
                        "entry": [{"fullUrl": full_url, "resource": resource}]})
            continue
        out.append(resource)
    return out


def _host_allowed(url: str, settings: Settings) -> str | None:
    """Why this FHIR URL must not be contacted, or None if it may be (service.hooks.egress
    resolves the host and checks every address, whatever the URL's spelling)."""
    try:
        egress.check(url, settings)
    except egress.Refused as exc:
        return str(exc)
    return None


# One pool per process, created lazily so that forked gunicorn workers each get their own.
_pool: cf.ThreadPoolExecutor | None = None
_pool_pid = 0
_pool_lock = threading.Lock()
_session = threading.local()


def _executor() -> cf.ThreadPoolExecutor:
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():
            _pool = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="fhir-fetch")
            _pool_pid = os.getpid()
        return _pool


def _http() -> requests.Session:
    session = getattr(_session, "value", None)
    if session is None:
        session = requests.Session()
        session.trust_env = False  # never route patient data through an ambient proxy setting
        adapter = egress.PinnedAdapter()  # connects only to the address egress.check approved
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        _session.value = session
    return session


class Fetcher:
    """Fetches search results for one hook call within one deadline."""

    def __init__(self, request: HookRequest, settings: Settings, deadline: float) -> None:
        self.base = (request.fhirServer or "").rstrip("/") + "/"
        self.settings = settings
        self.deadline = deadline
        self.headers = {"Accept": _FHIR_JSON}
        if request.fhirAuthorization is not None:
            self.headers["Authorization"] = f"Bearer {request.fhirAuthorization.access_token}"
        self.origin = urlsplit(self.base)[:2]

    def fetch(self, query: str) -> list[dict[str, Any]]:
        url = urljoin(self.base, query)
        resources: list[dict[str, Any]] = []
        for _page in range(self.settings.fhir_max_pages):
            body = self._get(url)
            resources.extend(resources_of(body))
            if _weight(resources) > self.settings.max_bundle_entries:
                raise _KeyFailed(_too_many(self.settings))
            next_url = _next_link(body)
            if next_url is None:
                return resources
            url = next_url
            if urlsplit(url)[:2] != self.origin:
                raise _KeyFailed("FHIR server's next link points to another server")
        raise _KeyFailed(
            f"more than {self.settings.fhir_max_pages} result pages (LEUKEMIA_CDS_FHIR_MAX_PAGES)"
        )

    def _get(self, url: str) -> dict[str, Any]:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _KeyFailed("time budget exhausted")
        timeout = (
            min(self.settings.fhir_connect_timeout_ms / 1000, remaining),
            min(self.settings.fhir_read_timeout_ms / 1000, remaining),
        )
        try:  # every URL, `next` links too: resolved, checked and pinned each time
            target = egress.check(url, self.settings)
        except egress.Refused as exc:
            raise _KeyFailed(f"not fetched: {exc}") from None
        try:
            with egress.pinned(target):
                response = _http().get(url, headers=self.headers, timeout=timeout,
                                       allow_redirects=False, stream=True)
        except requests.RequestException as exc:
            raise _unread(target, type(exc).__name__) from None
        with response:
            if response.status_code != 200:
                raise _unread(target, f"HTTP {response.status_code}")
            limit = self.settings.max_body_bytes
            chunks, size = [], 0
            try:
                for chunk in response.iter_content(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        raise _KeyFailed("FHIR server response is larger than the body limit")
                    if time.monotonic() > self.deadline:
                        raise _KeyFailed("FHIR server did not answer in time")
                    chunks.append(chunk)
            except requests.RequestException:
                raise _KeyFailed("FHIR server did not answer in time") from None
        try:
            body = jsonio.loads(b"".join(chunks))
        except jsonio.JSONDecodeError:
            raise _KeyFailed("FHIR server returned something that is not JSON") from None
        if not isinstance(body, dict):
            raise _KeyFailed("FHIR server returned JSON that is not a resource")
        return body


UNREAD = "FHIR server could not be read (no connection, no answer in time, or an error status)"


def _unread(target: egress.Target, reason: str) -> _KeyFailed:
    """One answer for every way a server fails to answer: the caller must not learn whether a
    port was open, refused or filtered (a scanner's oracle). The reason goes to the log, with
    the host only (the URL holds the patient's id)."""
    log.warning("FHIR fetch failed", extra={"event": "fhir_fetch_failed", "host": target.host,
                                            "reason": reason})
    return _KeyFailed(UNREAD)


def _next_link(bundle: dict[str, Any]) -> str | None:
    if bundle.get("resourceType") != "Bundle":
        return None
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def gather(request: HookRequest, templates: dict[str, str], settings: Settings,
           before_fetch: Callable[[], None] | None = None) -> Gathered:
    """Resolve every template key, or raise a 412 `ApiError` naming what could not be had.
    `before_fetch` runs once before the FHIR server is contacted (and may refuse the call)."""
    started = time.monotonic()  # one FHIR budget per call, the Medication reads included
    sent = request.prefetch or {}
    results: dict[str, KeyResult] = {}
    missing: dict[str, str] = {}
    for key, template in templates.items():
        if key not in sent:
            try:
                missing[key] = render_template(template, request.context)
            except _KeyFailed as exc:
                results[key] = KeyResult(key, "failed", problem=str(exc))
            continue
        value = sent[key]
        if value is None:
            results[key] = KeyResult(key, "null")
            continue
        try:
            results[key] = KeyResult(key, "prefetch", resources_of(value))
        except _Malformed as exc:
            raise ApiError(400, f"prefetch.{key}: {exc}.") from None
        except _KeyFailed as exc:
            results[key] = KeyResult(key, "failed", problem=str(exc))

    if _count(results) > settings.max_bundle_entries:
        raise ApiError(413, "prefetch " + _too_many(settings) + ".")
    if missing:
        if before_fetch is not None:
            before_fetch()
        results.update(_fetch_missing(request, missing, settings))
        if _count(results) > settings.max_bundle_entries:
            raise ApiError(412, "Required FHIR data is too large to process: "
                           + _too_many(settings) + ".")

    failed = [r for r in results.values() if r.how == "failed"]
    if failed:
        raise ApiError(
            412,
            "Required FHIR data could not be obtained, so no advice was computed: "
            + ", ".join(r.key for r in failed) + ".",
            details=[f"{r.key}: {r.problem}" for r in failed],
        )
    gathered = {key: results[key] for key in templates}
    # only the medication searches hold medication resources and the Medications they include
    refs = unresolved_medications(r for k, query in templates.items()
                                  if query.startswith("Medication") for r in results[k].resources)
    if refs and request.fhirServer:
        if before_fetch is not None and not missing:
            before_fetch()
        gathered[MEDICATIONS] = read_referenced_medications(request, refs, settings, started)
    return Gathered(gathered)


MEDICATIONS = "referenced Medications"  # not a prefetch key: what the service read itself
_MEDICATION_USERS = frozenset({"MedicationRequest", "MedicationAdministration",
                               "MedicationStatement"})
MAX_MEDICATION_READS = 50


def unresolved_medications(resources: Any) -> list[str]:
    """Ids of the Medications that medication resources point at (`Medication/{id}`, relative)
    but the call does not hold. Contained (`#id`) and absolute references are not ours to
    fetch: an absolute one may name another server, which must not get the EHR's token."""
    held: set[str] = set()
    wanted: dict[str, None] = {}
    for r in resources:
        kind = r.get("resourceType")
        if kind == "Medication" and isinstance(r.get("id"), str):
            held.add(r["id"])
        elif kind in _MEDICATION_USERS:
            ref = (r.get("medicationReference") or {}).get("reference")
            if isinstance(ref, str) and ref.startswith("Medication/"):
                target = ref.removeprefix("Medication/").split("/_history/")[0]
                if target and "/" not in target:
                    wanted[target] = None
    return [i for i in wanted if i not in held]


def read_referenced_medications(request: HookRequest, ids: list[str], settings: Settings,
                                started: float) -> KeyResult:
    """Read `Medication/{id}` for each unresolved reference from fhirServer, in parallel,
    within what is left of the call's FHIR budget. A read that fails is not fatal: the
    reference stays unresolved and the extractor reports it as a data-quality finding."""
    refusal = _host_allowed(request.fhirServer or "", settings)
    deadline = started + settings.fhir_budget_ms / 1000
    if refusal or time.monotonic() >= deadline:
        return KeyResult(MEDICATIONS, "failed", problem=refusal or "time budget exhausted")
    queries = {mid: f"Medication/{quote(mid, safe='')}" for mid in ids[:MAX_MEDICATION_READS]}
    found: list[dict[str, Any]] = []
    for answer in _fetch_all(request, settings, deadline, queries, "medication").values():
        if isinstance(answer, list):
            found += [m for m in answer if m.get("resourceType") == "Medication"]
        elif answer is not None:  # failed (a read past the budget is only left unanswered)
            metrics.FHIR_FAILURES.labels("medication").inc()
    return KeyResult(MEDICATIONS, "fetched", found)


def _count(results: dict[str, KeyResult]) -> int:
    return sum(_weight(r.resources) for r in results.values())


def _weight(resources: list[dict[str, Any]]) -> int:
    """How many resources these are for the entry limit: a Bundle inside counts as every
    resource it holds, at any depth (nested Bundles bypassed the limit, issue 21)."""
    total, stack = 0, list(resources)
    while stack:
        resource = stack.pop()
        total += 1
        if resource.get("resourceType") == "Bundle":
            entries = resource.get("entry")
            if isinstance(entries, list):
                stack += [e["resource"] for e in entries
                          if isinstance(e, dict) and isinstance(e.get("resource"), dict)]
    return total


def _too_many(settings: Settings) -> str:
    """Bounded work: past this many resources a call is refused, never silently truncated."""
    return (f"holds more than {settings.max_bundle_entries} resources "
            "(LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES)")


def _fetch_missing(
    request: HookRequest, queries: dict[str, str], settings: Settings
) -> dict[str, KeyResult]:
    if not request.fhirServer:
        problem = "not prefetched and the request has no fhirServer to fetch it from"
        return {k: KeyResult(k, "failed", problem=problem) for k in queries}
    refusal = _host_allowed(request.fhirServer, settings)
    if refusal:
        return {k: KeyResult(k, "failed", problem=f"not fetched: {refusal}") for k in queries}

    deadline = time.monotonic() + settings.fhir_budget_ms / 1000
    results: dict[str, KeyResult] = {}
    for key, answer in _fetch_all(request, settings, deadline, queries).items():
        if isinstance(answer, list):
            results[key] = KeyResult(key, "fetched", answer)
            continue
        problem = answer if answer is not None else (
            f"no complete answer within {settings.fhir_budget_ms} ms "
            "(LEUKEMIA_CDS_FHIR_BUDGET_MS)")
        results[key] = KeyResult(key, "failed", problem=problem)
        metrics.FHIR_FAILURES.labels(key).inc()
    return results


def _fetch_all(request: HookRequest, settings: Settings, deadline: float,
               queries: dict[str, str], metric: str | None = None
               ) -> dict[str, list[dict[str, Any]] | str | None]:
    """Every query fetched in parallel until ``deadline``: per key its resources, why it
    failed, or None when it had no complete answer in time (then cancelled). Timed under the
    key's own metric label, or ``metric`` for all."""
    fetcher = Fetcher(request, settings, deadline)

    def timed(key: str, query: str) -> list[dict[str, Any]]:
        with metrics.FHIR_FETCH.labels(metric or key).time():
            return fetcher.fetch(query)

    futures = {key: _executor().submit(timed, key, query) for key, query in queries.items()}
    cf.wait(futures.values(), timeout=max(0.0, deadline - time.monotonic()))
    out: dict[str, list[dict[str, Any]] | str | None] = {}
    for key, future in futures.items():
        if not future.done():
            future.cancel()
            out[key] = None
            continue
        try:
            out[key] = future.result()
        except _KeyFailed as exc:
            out[key] = str(exc)
    return out
