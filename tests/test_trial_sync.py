"""Issue 23: `leukemia-cds trials sync` against ClinicalTrials.gov API v2, mocked at the
network edge with `responses`: pages, failures mid-sync, bad JSON, timeouts. A sync that does
not read every page changes nothing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import responses

from service.store import Store, database_url
from service.store.trial_registry import load_registry, registry_state, replace_registry
from service.trials.ctgov import parse_response
from service.trials.sync import QUERY, SyncError, fetch_registry

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
PAGE_1 = json.loads((FIXTURES / "page-1-of-2.json").read_text())
PAGE_2 = json.loads((FIXTURES / "page-2-of-2.json").read_text())
BASE = "https://ctgov.proxy.hospital.example/api/v2"
URL = BASE + "/studies"
NO_WAIT: list[float] = []


def _sleep(seconds: float) -> None:
    NO_WAIT.append(seconds)


def _fetch(**kw):  # type: ignore[no-untyped-def]
    return fetch_registry(BASE, sleep=_sleep, backoff_s=0.5, retries=2, **kw)


@responses.activate
def test_every_page_is_read_by_its_token_with_the_same_query_for_everyone() -> None:
    responses.get(URL, json={**PAGE_1, "totalCount": 7})
    responses.get(URL, json=PAGE_2)
    trials = _fetch()
    assert [t.nct for t in trials] == [f"NCT9000000{i}" for i in range(1, 8)]
    first, second = (call.request.params for call in responses.calls)
    for name, value in QUERY.items():  # no patient data: the query is fixed
        assert first[name] == value and second[name] == value
    assert "pageToken" not in first and second["pageToken"] == PAGE_1["nextPageToken"]
    assert first["filter.overallStatus"] == "RECRUITING,NOT_YET_RECRUITING"


@responses.activate
def test_a_progress_bar_counts_studies_of_the_announced_total() -> None:
    responses.get(URL, json={**PAGE_1, "totalCount": 7})
    responses.get(URL, json=PAGE_2)
    shown = io.StringIO()
    _fetch(progress=shown)
    assert "4/7 studies" in shown.getvalue() and "7/7 studies" in shown.getvalue()


@responses.activate
def test_server_errors_and_timeouts_are_retried_with_backoff() -> None:
    NO_WAIT.clear()
    responses.get(URL, status=503)
    responses.get(URL, body=requests.Timeout("slow"))
    responses.get(URL, json=PAGE_2)
    assert len(_fetch()) == 3
    assert NO_WAIT == [0.5, 1.0]  # doubling


@pytest.mark.parametrize(("second_page", "says"), [
    ({"status": 500}, "page 2: " + URL + " answered HTTP 500"),
    ({"body": requests.Timeout("slow")}, "did not answer within 60 s (3 attempts)"),
    ({"body": requests.ConnectionError("refused")}, "cannot reach"),
    ({"body": "{not json"}, "page 2: the answer is not JSON"),
    ({"json": {"studies": [{"protocolSection": {"identificationModule": {}}}]}},
     "page 2: study 1: no NCT id"),
    ({"status": 404}, "answered HTTP 404"),
])
@responses.activate
def test_a_failure_halfway_raises_one_line(second_page, says) -> None:
    responses.get(URL, json=PAGE_1)
    for _ in range(3):
        responses.get(URL, **second_page)
    with pytest.raises(SyncError) as caught:
        _fetch()
    assert says in str(caught.value) and "\n" not in str(caught.value)


@responses.activate
def test_a_4xx_is_not_retried() -> None:
    responses.get(URL, status=400)
    with pytest.raises(SyncError, match="HTTP 400"):
        _fetch()
    assert len(responses.calls) == 1


@responses.activate
def test_a_token_that_never_ends_is_stopped() -> None:
    responses.get(URL, json={"studies": [], "nextPageToken": "again"})
    with pytest.raises(SyncError, match="more than 100 pages"):
        _fetch()


# --- the command: a failed sync keeps the last good registry ---------------------------------


def _sync(monkeypatch, capsys, tmp_path):  # type: ignore[no-untyped-def]
    from service import cli

    for name in [k for k in __import__("os").environ if k.startswith("LEUKEMIA_CDS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LEUKEMIA_CDS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LEUKEMIA_CDS_TRIALS_API_URL", BASE)
    monkeypatch.setattr("service.trials.sync.BACKOFF_S", 0.001)
    code = cli.main(["trials", "sync", "--no-progress"])
    out = capsys.readouterr()
    return code, out.out, out.err


@responses.activate
def test_a_sync_that_fails_halfway_keeps_the_last_good_registry(monkeypatch, capsys,
                                                                tmp_path) -> None:
    store = Store.open(database_url(tmp_path / "data", None))
    earlier, _ = parse_response(PAGE_2, where="earlier")
    before = replace_registry(store, earlier, source="earlier import",
                              refreshed_at=datetime(2026, 11, 1, tzinfo=UTC))
    responses.get(URL, json=PAGE_1)
    for _ in range(4):
        responses.get(URL, status=502)
    code, out, err = _sync(monkeypatch, capsys, tmp_path)
    assert code == 2 and out == ""
    assert err.strip() == ("leukemia-cds: trials sync failed, the registry of 2026-11-01 (3 "
                           "studies) is kept: page 2: " + URL + " answered HTTP 502")
    state, trials = load_registry(store)
    assert state == before and [t.nct for t in trials] == [t.nct for t in earlier]

    responses.reset()
    responses.get(URL, json=PAGE_1)
    responses.get(URL, json=PAGE_2)
    code, out, err = _sync(monkeypatch, capsys, tmp_path)
    assert code == 0, err
    assert "7 studies from the sync of " + BASE in out
    after = registry_state(store)
    assert after is not None and after.generation == before.generation + 1
    assert after.source == f"sync of {BASE}"
    store.close()
