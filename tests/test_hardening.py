"""Issue 21: the findings of the attack on a production-like setup, one test each.

Each test reproduces the attack as it was reported (slow clients with bounded loops, on
127.0.0.1 only) and asserts the refusal the service now gives.
"""

from __future__ import annotations

import logging

import pytest
import requests

from service.config import Settings
from service.sandbox import listening_addresses, serve_profile, warn_if_exposed
from tests.conftest import TEST_EHR, write_clients
from tests.live import free_port, live_server, server_command

# --- 2. the sandbox is on only when asked for -------------------------------------------------


def test_configured_clients_keep_the_sandbox_off_unless_asked(tmp_path) -> None:
    clients = str(write_clients(tmp_path / "clients.json", TEST_EHR))
    env = {"LEUKEMIA_CDS_CLIENTS": clients, "LEUKEMIA_CDS_PUBLIC_URL": "https://cds.example.org"}
    assert not serve_profile(Settings.from_env(env), env, "0.0.0.0", 8080).sandbox
    asked = {**env, "LEUKEMIA_CDS_SANDBOX": "on"}
    assert serve_profile(Settings.from_env(asked), asked, "0.0.0.0", 8080).sandbox
    # the zero-configuration development profile keeps it
    assert serve_profile(Settings.from_env({}), {}, "127.0.0.1", 8080).sandbox


@pytest.mark.slow
def test_a_configured_real_server_mints_no_sandbox_tokens(tmp_path) -> None:
    port = free_port()
    env = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path),
           "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR)),
           "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}"}
    with live_server(env, tmp_path / "server.log", port=port) as live:
        token = requests.post(f"{live.base}/sandbox/api/token", timeout=5,
                              json={"path": "/cds-services"})
        assert token.status_code == 404
        assert requests.get(f"{live.base}/", timeout=5).status_code == 404
    assert "SANDBOX IS ON" not in live.log_path.read_text()


@pytest.mark.slow
def test_a_sandbox_listening_beyond_loopback_names_its_addresses(tmp_path) -> None:
    port = free_port()
    command = [*server_command(), "serve", "--host", "0.0.0.0", "--port", str(port)]
    with live_server({"LEUKEMIA_CDS_DATA_DIR": str(tmp_path)}, tmp_path / "server.log",
                     port=port, command=command) as live:
        log = live.log_path.read_text()
    assert "sandbox_exposed" in log and f"0.0.0.0 (every interface):{port}" in log


def test_a_loopback_sandbox_warns_of_nothing_more(caplog) -> None:
    on = serve_profile(Settings.from_env({}), {}, "127.0.0.1", 8080)
    with caplog.at_level(logging.WARNING):
        assert warn_if_exposed(on, "127.0.0.1", 8080) == []
        assert warn_if_exposed(on, "localhost", 8080) == []
    assert not caplog.records
    assert "0.0.0.0 (every interface)" in listening_addresses("0.0.0.0")
    off = serve_profile(Settings.from_env({"LEUKEMIA_CDS_SANDBOX": "off"}),
                        {"LEUKEMIA_CDS_SANDBOX": "off"}, "0.0.0.0", 8080)
    assert warn_if_exposed(off, "0.0.0.0", 8080) == []


@pytest.mark.parametrize(("host", "status"), [
    ("localhost", 200), ("127.0.0.1:8123", 200), ("[::1]:8123", 200),
    ("cds.example.org", 200), ("CDS.example.org:443", 200),
    ("rebound.attacker.example", 421), ("rebound.attacker.example:8123", 421),
    ("127.0.0.1.attacker.example", 421), ("", 421)])
def test_the_sandbox_answers_only_to_its_own_host_names(make_app, host, status) -> None:
    """DNS rebinding: the attacker's name in Host is refused, on the page and the token."""
    app = make_app(sandbox="on", public_url="https://cds.example.org")
    client = app.test_client()
    page = client.get("/", headers={"Host": host})
    assert page.status_code == status
    token = client.post("/sandbox/api/token", json={"path": "/cds-services"},
                        headers={"Host": host})
    assert token.status_code == status
    if status == 421:
        assert token.get_json()["resourceType"] == "OperationOutcome"
