"""Issue 21: the findings of the attack on a production-like setup, one test each.

Each test reproduces the attack as it was reported (slow clients with bounded loops, on
127.0.0.1 only) and asserts the refusal the service now gives.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import socket
import subprocess
import threading
import time
from typing import ClassVar

import orjson
import pytest
import requests
import responses

from service.config import Settings
from service.hooks.auth import LocalSigner
from service.sandbox import listening_addresses, serve_profile, warn_if_exposed
from tests.conftest import (
    PATIENT_ID,
    PUBLIC_URL,
    RESOLVES,
    TEST_EHR,
    bearer,
    hook_body,
    write_clients,
)
from tests.live import free_port, live_server, server_command
from tests.pg import PostgresUnavailable, postgres_instance

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


# --- 1. slow clients do not take the service down ---------------------------------------------


class SlowClients:
    """`n` connections to 127.0.0.1:`port` that send a request's start at once, then one more
    piece every `interval` seconds for at most `duration` seconds (a bounded loop): slow
    headers (one header line at a time) or a slow body (one byte at a time after headers that
    announce a large one). Records which connections the server closed or answered."""

    def __init__(self, port: int, n: int, *, body: bool, interval: float = 0.5,
                 duration: float = 12.0) -> None:
        self.port, self.n, self.body = port, n, body
        self.interval, self.duration = interval, duration
        self.socks: list[socket.socket] = []
        self.ended: dict[int, bytes] = {}  # index -> what the server said before closing
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowClients:
        start = (b"POST /cds-services/leukemia-immunotherapy HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"
                 if self.body else b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        for _ in range(self.n):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.sendall(start)
            self.socks.append(s)
        self._thread.start()
        return self

    def _run(self) -> None:
        piece = b" " if self.body else b"X-Slow: 1\r\n"
        deadline = time.monotonic() + self.duration
        while not self._stop.is_set() and time.monotonic() < deadline \
                and len(self.ended) < self.n:
            for i, s in enumerate(self.socks):
                if i in self.ended:
                    continue
                try:
                    s.sendall(piece)
                    s.setblocking(False)
                    try:
                        got = s.recv(4096)
                        self.ended[i] = got  # an answer, or b"" when closed
                    except BlockingIOError:
                        pass
                    finally:
                        s.setblocking(True)
                except OSError:
                    self.ended[i] = b""
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        for s in self.socks:
            s.close()


def _healthy_within(base: str, seconds: float) -> bool:
    try:
        return requests.get(f"{base}/healthz", timeout=seconds).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture
def production_like(tmp_path):
    """Sandbox off, a trusted EHR key, 2 workers: the setup the attack used."""
    port = free_port()
    env = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path),
           "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR)),
           "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "LEUKEMIA_CDS_BODY_TIMEOUT_S": "4"}  # headers: the default 5 s
    with live_server(env, tmp_path / "server.log", port=port) as live:
        yield live


@pytest.mark.slow
@pytest.mark.parametrize(("n", "body"), [(8, False), (50, True)])
def test_slow_clients_leave_the_service_answering(production_like, n: int, body: bool) -> None:
    """Finding 1: 8 slow-header or 50 slow-body connections left /healthz unanswered. Now a
    normal client is answered within 2 s throughout, and the server ends every slow
    connection itself (header / body read timeouts) before the attackers give up."""
    base = production_like.base
    with SlowClients(int(base.rsplit(":", 1)[1]), n, body=body) as slow:
        time.sleep(1.0)
        answered = [_healthy_within(base, 2.0) for _ in range(3)]
        time.sleep(0.5)
        answered.append(_healthy_within(base, 2.0))
        deadline = time.monotonic() + 11
        while len(slow.ended) < n and time.monotonic() < deadline:
            time.sleep(0.2)
    assert all(answered), answered
    assert len(slow.ended) == n, f"server ended {len(slow.ended)} of {n} slow connections"
    # answered 408 by the reading loop; a client still sending when the server closes may see
    # the reset before it reads the answer (the kernel discards it), so: 408 or nothing else
    answers = [got.split(b"\r\n", 1)[0] for got in slow.ended.values()]
    assert all(a == b"" or b" 408 " in a for a in answers), set(answers)
    assert any(b" 408 " in a for a in answers), set(answers)


# --- 3. SSRF: every spelling of a private address, resolved and pinned ---------------------


def _omitting(server: str) -> dict:
    body = hook_body(fhirServer=server, fhirAuthorization={
        "access_token": "ehr-token", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "leukemia-cds"})
    del body["prefetch"]["observations"]
    return body


@pytest.mark.parametrize("server", [
    "https://127.1/fhir", "https://0x7f000001/fhir", "https://2130706433/fhir",
    "https://0177.0.0.1/fhir", "https://0/fhir", "https://[::ffff:127.0.0.1]/fhir",
    "https://[::ffff:a00:1]/fhir", "https://10.1.2.3./fhir",
    "https://rebound.example.org/fhir", "https://split.example.org/fhir",
    "https://nowhere.invalid.example/fhir"])
def test_private_addresses_are_refused_however_spelt(client, server) -> None:
    """Finding 3: the host is resolved and every address checked before any connection."""
    RESOLVES["rebound.example.org"] = ["10.0.0.7"]
    RESOLVES["split.example.org"] = ["93.184.215.14", "192.168.1.20"]  # one private is enough
    RESOLVES["nowhere.invalid.example"] = []
    with responses.RequestsMock() as mock:  # nothing may go out
        response = client.post("/cds-services/leukemia-immunotherapy", json=_omitting(server))
        assert len(mock.calls) == 0
    assert response.status_code == 412
    text = str(response.get_json())
    assert "not fetched" in text and ("private or reserved" in text or "does not resolve" in text)


def test_a_next_link_is_resolved_and_checked_again(client) -> None:
    """DNS that changes between the first page and the next cannot steer the fetch inward."""
    RESOLVES["pages.example.org"] = ["93.184.215.14"]
    first = f"https://pages.example.org/fhir/Observation?patient={PATIENT_ID}"

    def page_one(_request):
        RESOLVES["pages.example.org"] = ["127.0.0.1"]  # rebound after the first answer
        return 200, {}, orjson.dumps({"resourceType": "Bundle", "type": "searchset", "link": [
            {"relation": "next", "url": "https://pages.example.org/fhir/page2"}]})

    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, first, callback=page_one)
        response = client.post("/cds-services/leukemia-immunotherapy",
                               json=_omitting("https://pages.example.org/fhir"))
        assert len(mock.calls) == 1
    assert response.status_code == 412
    assert "private or reserved" in str(response.get_json())


class _Stub(http.server.BaseHTTPRequestHandler):
    """A FHIR server answering every search with an empty Bundle, after `delay_s`; it keeps
    the Host and Authorization of each request it was sent."""

    hosts: ClassVar[list[str]] = []
    seen: ClassVar[list[str]] = []
    delay_s: ClassVar[float] = 0.0

    def do_GET(self) -> None:
        type(self).hosts.append(self.headers["Host"])
        type(self).seen.append(self.headers.get("Authorization", ""))
        time.sleep(self.delay_s)
        body = b'{"resourceType": "Bundle", "type": "searchset"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_connection_goes_to_the_checked_address(make_app) -> None:
    """Pinning: the name is resolved once, by the check, and the connection goes to that
    address; the HTTP library never resolves it again (`ehr.test` resolves nowhere else)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Stub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        _Stub.hosts.clear()
        RESOLVES["ehr-fhir.test"] = ["127.0.0.1"]
        client = make_app(fhir_http_hosts="ehr-fhir.test").test_client()
        body = _omitting(f"http://ehr-fhir.test:{port}/fhir")
        del body["fhirAuthorization"]  # an http test host gets no token
        response = client.post("/cds-services/leukemia-immunotherapy", json=body)
        assert response.status_code == 200, response.get_json()
        assert _Stub.hosts == [f"ehr-fhir.test:{port}"]
        # an address nobody checked is refused by the transport itself
        from service.hooks import egress, prefetch

        with pytest.raises(requests.ConnectionError, match="not checked"):
            prefetch._http().get(f"http://ehr-fhir.test:{port}/x", timeout=2)
        assert egress.check(f"http://ehr-fhir.test:{port}/fhir",
                            Settings.from_env({"LEUKEMIA_CDS_FHIR_HTTP_HOSTS": "ehr-fhir.test"})
                            ).address == "127.0.0.1"
    finally:
        server.shutdown()


# --- 5. the audit database or the disk fails: 503 and not ready, never 500 -------------------


@pytest.mark.slow
def test_postgresql_down_is_503_with_retry_after_and_not_ready(tmp_path) -> None:
    """Finding 5: a real PostgreSQL, stopped under a running service, then started again."""
    try:
        instance_cm = postgres_instance()
        instance = instance_cm.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(f"real PostgreSQL not available: {exc}")
    try:
        port = free_port()
        env = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path),
               "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR)),
               "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "LEUKEMIA_CDS_DATABASE_URL": instance.url}
        with live_server(env, tmp_path / "server.log", port=port) as live:
            url = f"{live.base}/cds-services/leukemia-immunotherapy"
            assert requests.post(url, json=hook_body(), headers=bearer(url),
                                 timeout=10).status_code == 200
            instance.stop()
            for _ in range(3):  # every worker, fresh and pooled connections alike
                down = requests.post(url, json=hook_body(), headers=bearer(url), timeout=15)
                assert down.status_code == 503, down.text
                assert down.headers.get("Retry-After") == "5"
                assert down.json()["resourceType"] == "OperationOutcome"
            ready = requests.get(f"{live.base}/readyz", timeout=15)
            assert ready.status_code == 503 and "store" in ready.text
            instance.start()
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                back = requests.post(url, json=hook_body(), headers=bearer(url), timeout=15)
                if back.status_code == 200:
                    break
                time.sleep(0.5)
            assert back.status_code == 200, back.text
            assert requests.get(f"{live.base}/readyz", timeout=5).status_code == 200
        assert "Traceback" not in live.log_path.read_text()
    finally:
        instance_cm.__exit__(None, None, None)


# --- 7. concurrent replays of one token: the EHR's access token goes out once ----------------


class _SlowStub(_Stub):
    delay_s = 0.05  # a real server takes a moment: replays would overlap with it
    hosts: ClassVar[list[str]] = []
    seen: ClassVar[list[str]] = []


@pytest.mark.slow
def test_concurrent_replays_send_the_access_token_once(tmp_path) -> None:
    """Finding 7: 20 racing calls with one token, prefetch omitted: one is answered, and only
    that one reaches the FHIR server with the EHR's access token (the id is claimed first)."""
    import concurrent.futures as cf

    fhir = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowStub)
    threading.Thread(target=fhir.serve_forever, daemon=True).start()
    _SlowStub.seen.clear()
    port = free_port()
    env = {"LEUKEMIA_CDS_DATA_DIR": str(tmp_path),
           "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR)),
           "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "LEUKEMIA_CDS_FHIR_HTTP_HOSTS": "127.0.0.1",
           "LEUKEMIA_CDS_FHIR_BUDGET_MS": "3000", "LEUKEMIA_CDS_FHIR_READ_TIMEOUT_MS": "2000"}
    try:
        with live_server(env, tmp_path / "server.log", port=port) as live:
            url = f"{live.base}/cds-services/leukemia-immunotherapy"
            body = hook_body(fhirServer=f"http://127.0.0.1:{fhir.server_address[1]}/fhir")
            del body["prefetch"]["observations"]
            headers = bearer(url)  # one token, sent 20 times at once
            with cf.ThreadPoolExecutor(20) as pool:
                codes = list(pool.map(lambda _: requests.post(
                    url, json=body, headers=headers, timeout=20).status_code, range(20)))
    finally:
        fhir.shutdown()
    assert sorted(codes) == [200] + [401] * 19, codes
    assert len(_SlowStub.seen) == 1, _SlowStub.seen  # one key omitted, one call


# --- 9. logs hold no client bytes; the audit files are the service user's alone --------------


def _raw(port: int, data: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        chunks = []
        with contextlib.suppress(OSError):
            while chunk := s.recv(4096):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.mark.slow
def test_malformed_requests_leave_no_token_in_the_log_and_files_are_private(
        production_like) -> None:
    port = int(production_like.base.rsplit(":", 1)[1])
    token = TEST_EHR.token(f"{production_like.base}/cds-services")
    bad_lines = [  # a header line without its colon, a control character, a bad request line
        f"GET /cds-services HTTP/1.1\r\nHost: x\r\nAuthorization Bearer {token}\r\n\r\n",
        f"GET /cds-services HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\x01\r\n\r\n",
        f"GET /cds-services?{token} HTTP/9.9\r\nHost: x\r\n\r\n",
        f"{token} / HTTP/1.1\r\n\r\n",
    ]
    for line in bad_lines:
        answer = _raw(port, line.encode("latin-1"))
        assert answer.startswith(b"HTTP/1.1 4"), answer[:80]
    time.sleep(0.5)
    log = production_like.log_path.read_text()
    assert "Invalid request" in log or "invalid" in log.lower()  # gunicorn did log them
    signature = token.rsplit(".", 1)[1]
    assert token.split(".")[1] not in log and signature not in log
    data_dir = production_like.log_path.parent
    files = [p for p in data_dir.rglob("*") if p.is_file() and p.suffix != ".log"
             and "clients" not in p.name]
    assert any(p.name.endswith(".sqlite3") for p in files), files
    for p in files:
        assert p.stat().st_mode & 0o077 == 0, f"{p} is {oct(p.stat().st_mode)}"


@pytest.mark.slow
def test_a_full_disk_is_not_ready_and_no_worker_dies(tmp_path) -> None:
    """Finding 5: the data folder on a small filesystem (tmpfs, as root), filled up. Workers
    used to crash-loop (metrics memory-mapped in the data folder); /readyz stayed 200."""
    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs",
                                            str(small)], capture_output=True).returncode:
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        port = free_port()
        env = {"LEUKEMIA_CDS_DATA_DIR": str(small),
               "LEUKEMIA_CDS_CLIENTS": str(write_clients(tmp_path / "clients.json", TEST_EHR)),
               "LEUKEMIA_CDS_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "LEUKEMIA_CDS_MIN_FREE_MB": "1"}
        with live_server(env, tmp_path / "server.log", port=port) as live:
            url = f"{live.base}/cds-services/leukemia-immunotherapy"
            assert requests.post(url, json=hook_body(), headers=bearer(url),
                                 timeout=10).status_code == 200
            with contextlib.suppress(OSError), (small / "filler").open("wb") as filler:
                while True:
                    filler.write(b"\0" * 1024 * 1024)
                    filler.flush()
            statuses = set()
            for _ in range(30):  # enough calls to need new audit pages
                answer = requests.post(url, json=hook_body(), headers=bearer(url), timeout=10)
                statuses.add(answer.status_code)
                if answer.status_code == 503:
                    assert answer.headers.get("Retry-After") == "5"
            assert statuses <= {200, 503}, statuses  # never a 500
            ready = requests.get(f"{live.base}/readyz", timeout=5)
            assert ready.status_code == 503 and "disk is full" in ready.text
            (small / "filler").unlink()
            assert requests.get(f"{live.base}/readyz", timeout=5).status_code == 200
            assert requests.post(url, json=hook_body(), headers=bearer(url),
                                 timeout=10).status_code == 200
        log = live.log_path.read_text()
        assert log.count("Booting worker") == 2, "a worker died and was restarted"
        assert "SIGBUS" not in log and "Traceback" not in log
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)


# --- 8. the small limits -------------------------------------------------------------------


def test_nested_bundles_count_toward_the_resource_limit(make_app) -> None:
    client = make_app(max_bundle_entries="100").test_client()
    inner = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final",
                      "code": {"text": "x"}}} for i in range(150)]}
    body = hook_body()
    body["prefetch"]["observations"] = {"resourceType": "Bundle", "type": "searchset",
                                        "entry": [{"resource": inner}]}
    response = client.post("/cds-services/leukemia-immunotherapy", json=body)
    assert response.status_code == 413, response.get_json()
    assert "LEUKEMIA_CDS_MAX_BUNDLE_ENTRIES" in str(response.get_json())


def _issued_card(client, signer: LocalSigner = TEST_EHR, **claims) -> dict:
    url = "/cds-services/leukemia-immunotherapy"
    headers = bearer(f"{PUBLIC_URL}{url}", signer, **claims)
    answer = client.post(url, json=_relapse_body(), headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()["cards"][0]


def _relapse_body() -> dict:
    from tests.vignettes.build import request

    return request({"id": "h", "age": 40, "dx": "b-all", "status": "first-relapse",
                    "markers": {"cd19": "positive", "cd22": "positive"}, "blasts": 30})


def _feedback(client, card: dict, n: int = 1, signer: LocalSigner = TEST_EHR,
              **claims) -> object:
    url = "/cds-services/leukemia-immunotherapy/feedback"
    items = [{"card": card["uuid"], "outcome": "overridden",
              "outcomeTimestamp": f"2026-12-04T10:{i // 60:02d}:{i % 60:02d}Z"} for i in range(n)]
    return client.post(url, json={"feedback": items},
                       headers=bearer(f"{PUBLIC_URL}{url}", signer, **claims))


def test_one_card_takes_a_bounded_number_of_feedback_records(client) -> None:
    card = _issued_card(client)
    assert _feedback(client, card, 10).status_code == 200
    refused = _feedback(client, card, 1)
    assert refused.status_code == 409 and "already has 10" in str(refused.get_json())


def test_feedback_fields_have_size_caps(client) -> None:
    card = _issued_card(client)
    url = "/cds-services/leukemia-immunotherapy/feedback"
    item = {"card": card["uuid"], "outcome": "overridden",
            "outcomeTimestamp": "2026-12-04T10:00:00Z",
            "overrideReason": {"userComment": "x" * 4001}}
    answer = client.post(url, json={"feedback": [item]}, headers=bearer(f"{PUBLIC_URL}{url}"))
    assert answer.status_code == 400


def test_feedback_does_not_cross_tenants_of_one_client(make_app, tmp_path) -> None:
    """A client without a fixed tenant serves several hospitals: a card issued under one
    tenant claim cannot be rated under another."""
    shared = LocalSigner.generate("https://multi.ehr.test/cds-client")  # no fixed tenant
    app = make_app(clients=str(write_clients(tmp_path / "multi.json", TEST_EHR, shared)))
    client = app.test_client()
    card = _issued_card(client, shared, tenant="hospital-a")
    assert _feedback(client, card, signer=shared, tenant="hospital-b").status_code == 404
    assert _feedback(client, card, signer=shared, tenant="hospital-a").status_code == 200


def test_an_oversized_tenant_claim_is_a_refused_token_not_a_database_error(client) -> None:
    url = "/cds-services/leukemia-immunotherapy"
    answer = client.post(url, json=hook_body(),
                         headers=bearer(f"{PUBLIC_URL}{url}", tenant="t" * 257))
    assert answer.status_code == 401
    long_instance = hook_body()
    long_instance["hookInstance"] = "h" * 257
    assert client.post(url, json=long_instance).status_code == 400


@pytest.mark.slow
def test_the_reading_loop_answers_what_no_thread_should_wait_for(production_like) -> None:
    """Refused by the worker's event loop before any thread: an announced body over the
    limit (413, unread), a chunked body (411), headers past 64 KiB (431)."""
    port = int(production_like.base.rsplit(":", 1)[1])
    big = (b"POST /cds-services/leukemia-immunotherapy HTTP/1.1\r\nHost: x\r\n"
           b"Content-Length: 999999999\r\n\r\n{")
    chunked = (b"POST /cds-services/leukemia-immunotherapy HTTP/1.1\r\nHost: x\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n")
    headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 70_000 + b"\r\n"
    for raw, status in ((big, b" 413 "), (chunked, b" 411 "), (headers, b" 431 ")):
        answer = _raw(port, raw)
        assert status in answer.split(b"\r\n", 1)[0], answer[:100]
        assert b"OperationOutcome" in answer


def test_metrics_live_in_shared_memory_not_on_the_data_disk(tmp_path, monkeypatch) -> None:
    """A memory-mapped write to a full disk is SIGBUS: metrics stay off the data folder when
    the machine has shared memory, per user and data folder, and go when the service stops."""
    from service import cli

    shm, data = tmp_path / "shm", tmp_path / "data"
    shm.mkdir()
    monkeypatch.setattr(cli, "SHARED_MEMORY", shm)
    # prepare_metrics_dir sets it: setenv first so that monkeypatch restores what was there
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    folder = cli.prepare_metrics_dir(data, shared_memory=shm)
    assert folder.parent == shm and str(os.getuid()) in folder.name
    assert folder.stat().st_mode & 0o077 == 0
    cli._remove_metrics_dir(None)
    assert not folder.exists()
    # no shared memory on this machine: the data folder, as before
    assert cli.prepare_metrics_dir(data, shared_memory=tmp_path / "none") == \
        (data / "prometheus").resolve()
