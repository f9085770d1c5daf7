"""The real thing: `leukemia-cds serve` under gunicorn on a loopback port, called over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import TEST_EHR, bearer, hook_body, write_clients

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_command() -> list[str]:
    """The installed console script when there is one, as the README runs it."""
    script = shutil.which("leukemia-cds", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "service"]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    env.update({"LEUKEMIA_CDS_DATA_DIR": str(tmp_path), "LEUKEMIA_CDS_WORKERS": "2",
                "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
                "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR))})
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [*server_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail("server exited early:\n" + (tmp_path / "server.log").read_text())
        try:
            if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                break
        except requests.RequestException:  # refused, or accepted while workers still boot
            time.sleep(0.1)
    else:
        process.kill()
        pytest.fail("server never became ready:\n" + (tmp_path / "server.log").read_text())
    yield base, process, tmp_path / "server.log"
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    log.close()


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
