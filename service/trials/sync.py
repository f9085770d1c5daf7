"""Fetching the registry from ClinicalTrials.gov API v2: every page, or nothing.

The query is the same for every run and every patient (no patient data is ever sent):
interventional studies in acute lymphoblastic or acute myeloid leukemia that are recruiting or
not yet recruiting. Pages are followed by `nextPageToken`; each request has a timeout and is
retried with exponential backoff on a timeout, a refused connection, 429 or 5xx. Only when the
last page has been read is anything handed to the caller, so a sync that fails halfway changes
nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, TextIO

import requests

from service.trials.ctgov import RegistryInputError, parse_response
from service.trials.model import RegistryTrial

QUERY = {
    "query.cond": "acute lymphoblastic leukemia OR acute myeloid leukemia",
    "query.term": "AREA[StudyType]INTERVENTIONAL",
    "filter.overallStatus": "RECRUITING,NOT_YET_RECRUITING",
    "pageSize": "200",
    "format": "json",
}
MAX_PAGES = 100  # 20,000 studies: far beyond what the query returns (a runaway token loop)
MAX_PAGE_BYTES = 64 * 1024 * 1024
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BACKOFF_S = 2.0  # then 4, 8: a busy API gets time to recover


class SyncError(Exception):
    """Why a sync failed, in one line; the registry was not touched."""


class _Progress:
    """Studies fetched of the total the first page announces, redrawn in place on a terminal."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.total: int | None = None
        self.done = 0

    def page(self, studies: int, total: int | None) -> None:
        self.done += studies
        if total is not None:
            self.total = total
        if self.stream is None:
            return
        total_text = f"/{self.total}" if self.total else ""
        width = 30
        filled = width * self.done // self.total if self.total else 0
        self.stream.write(f"\r[{'#' * filled}{'-' * (width - filled)}] "
                          f"{self.done}{total_text} studies")
        self.stream.flush()

    def end(self) -> None:
        if self.stream is not None:
            self.stream.write("\n")
            self.stream.flush()


def _get_page(session: requests.Session, url: str, params: dict[str, str], *,
              timeout: tuple[float, float], retries: int, backoff_s: float,
              sleep: Callable[[float], None], page: int) -> Any:
    """One page as parsed JSON; SyncError after the retries are spent (or at once for an
    answer that retrying cannot change: 4xx other than 429, not JSON)."""
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            with session.get(url, params=params, timeout=timeout, stream=True,
                             allow_redirects=False) as answer:
                if answer.status_code in RETRY_STATUSES and not last:
                    sleep(backoff_s * 2 ** attempt)
                    continue
                if answer.status_code != 200:
                    raise SyncError(f"page {page}: {url} answered HTTP {answer.status_code}")
                body = answer.raw.read(MAX_PAGE_BYTES + 1, decode_content=True)
        except requests.Timeout:
            if last:
                raise SyncError(f"page {page}: {url} did not answer within {timeout[1]:g} s "
                                f"({retries + 1} attempts)") from None
            sleep(backoff_s * 2 ** attempt)
            continue
        except requests.ConnectionError as exc:
            if last:
                reason = type(exc.__cause__ or exc).__name__
                raise SyncError(f"page {page}: cannot reach {url} ({reason}; {retries + 1} "
                                "attempts)") from None
            sleep(backoff_s * 2 ** attempt)
            continue
        if len(body) > MAX_PAGE_BYTES:
            raise SyncError(f"page {page}: larger than {MAX_PAGE_BYTES // 2**20} MiB")
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SyncError(f"page {page}: the answer is not JSON ({exc})") from None
    raise SyncError(f"page {page}: {url} kept answering with a server error")  # not reached


def fetch_registry(base_url: str, *, session: requests.Session | None = None,
                   timeout: tuple[float, float] = (10.0, 60.0), retries: int = 3,
                   backoff_s: float | None = None, sleep: Callable[[float], None] = time.sleep,
                   progress: TextIO | None = None) -> list[RegistryTrial]:
    """Every study the query returns, all pages read and parsed, or SyncError."""
    backoff_s = BACKOFF_S if backoff_s is None else backoff_s
    url = base_url.rstrip("/") + "/studies"
    session = session or requests.Session()
    shown = _Progress(progress)
    trials: list[RegistryTrial] = []
    token: str | None = None
    for page in range(1, MAX_PAGES + 1):
        params = dict(QUERY)
        if token:
            params["pageToken"] = token
        else:
            params["countTotal"] = "true"
        doc = _get_page(session, url, params, timeout=timeout, retries=retries,
                        backoff_s=backoff_s, sleep=sleep, page=page)
        try:
            found, token = parse_response(doc, where=f"page {page}")
        except RegistryInputError as exc:
            raise SyncError(str(exc)) from None
        trials.extend(found)
        total = doc.get("totalCount") if isinstance(doc.get("totalCount"), int) else None
        shown.page(len(found), total)
        if token is None:
            shown.end()
            return trials
    shown.end()
    raise SyncError(f"more than {MAX_PAGES} pages: the query or the server is not what the "
                    "sync expects")
