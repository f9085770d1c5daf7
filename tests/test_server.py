"""The real thing: `leukemia-cds serve` under gunicorn on a loopback port, called over HTTP."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.conftest import TEST_EHR, bearer, hook_body, write_clients
from tests.live import free_port, live_server

pytestmark = pytest.mark.slow


@pytest.fixture
def server(tmp_path):
    env = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path),
           "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR))}
    port = free_port()
    env["LEUKEMIA_CDS_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    with live_server(env, tmp_path / "server.log", port=port) as live:
        yield live.base, live.process, live.log_path


def test_real_server_answers_discovery_and_a_hook(server):
    base, _process, log_path = server
    discovery = requests.get(f"{base}/cds-services", timeout=5,
                             headers=bearer(f"{base}/cds-services"))
    assert discovery.status_code == 200
    ids = {s["id"] for s in discovery.json()["services"]}
    assert "leukemia-immunotherapy" in ids

    url = f"{base}/cds-services/leukemia-immunotherapy"
    answer = requests.post(url, json=hook_body(), timeout=5, headers=bearer(url))
    assert answer.status_code == 200, answer.text
    assert isinstance(answer.json()["cards"], list)

    bad = requests.post(url, data=b"{oops", timeout=5,
                        headers={"Content-Type": "application/json", **bearer(url)})
    assert bad.status_code == 400 and bad.json()["resourceType"] == "OperationOutcome"

    assert "gunicorn" in log_path.read_text().lower(), "must run under gunicorn, not Flask's server"


def test_real_server_stops_cleanly_on_sigterm(server):
    _base, process, _ = server
    os.killpg(process.pid, signal.SIGTERM)
    assert process.wait(timeout=20) == 0
