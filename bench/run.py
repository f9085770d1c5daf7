"""leukemia-cds benchmark: in-process and over-HTTP latency, throughput under load, each figure
beside the floor (the same Flask/gunicorn answering a route that only parses the same body).

    python bench/run.py            # full run (about 4 minutes on 2 cores)
    python bench/run.py --quick    # a few seconds; CI runs this so the script cannot rot

Needs `wrk` (Debian package) for the concurrent part; without it that part is skipped and says
so. Writes bench/results/<timestamp>.json (or --out) and prints a short table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service import advice, jsonio  # noqa: E402
from service.app import create_app, settle_heap  # noqa: E402
from service.config import Settings  # noqa: E402
from service.hooks.auth import LocalSigner  # noqa: E402
from service.synth.generator import generate  # noqa: E402
from service.synth.hooks import SERVICE_FOR_HOOK, prefetch_for  # noqa: E402

ISS = "https://bench.ehr.example"
SCENARIO = "b-all-first-relapse-high-burden"
SIZES = (50, 200, 1000)
HOOKS = ("patient-view", "order-sign")
REGISTRY_SIZE = 600  # studies: the order of the open ALL and AML trials a sync brings


# ---- workload ----------------------------------------------------------------------------------


def request_body(size: int, hook: str) -> dict[str, Any]:
    """A realistic hook call: a relapsed B-ALL chart of `size` resources; order-sign drafts
    blinatumomab (so monitoring, cautions and eligibility all run)."""
    patient = generate(SCENARIO, size=size, seed=7)
    bundle = patient.bundle()
    resources = [e["resource"] for e in bundle["entry"]]
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": pid}
    if hook in {"order-select", "order-sign"}:
        order = {
            "resourceType": "MedicationRequest", "id": "bench-order", "status": "draft",
            "intent": "order", "subject": {"reference": f"Patient/{pid}"},
            "medicationCodeableConcept": {
                "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": "1597258", "display": "blinatumomab"}],
                "text": "blinatumomab"},
        }
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection",
                                  "entry": [{"resource": order}]}
        if hook == "order-select":
            context["selections"] = ["MedicationRequest/bench-order"]
    return {"hook": hook, "hookInstance": "bench", "context": context,
            "prefetch": prefetch_for(resources)}


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"median_ms": round(statistics.median(ordered), 3), "p95_ms": round(pick(0.95), 3),
            "p99_ms": round(pick(0.99), 3), "n": len(ordered)}


def time_calls(call: Callable[[], Any], n: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def time_alternating(calls: list[Callable[[], Any]], n: int, warmup: int,
                     rounds: int = 10) -> list[list[float]]:
    """`n` timed calls of each, in alternating blocks (the order reversing every round), so that
    all are measured under the same conditions: on a shared host the speed of the machine drifts
    within seconds, and a ratio of two back-to-back runs carries it."""
    samples: list[list[float]] = [time_calls(call, 0, warmup) for call in calls]
    rounds = max(1, min(rounds, n))
    block = n // rounds
    for i in range(rounds):
        size = block if i < rounds - 1 else n - block * (rounds - 1)
        pairs = list(zip(calls, samples, strict=True))
        for fn, into in pairs if i % 2 == 0 else reversed(pairs):
            into += time_calls(fn, size, 0)
    return samples


@contextlib.contextmanager
def environment(public_url: str, data_dir: Path,
                *signers: LocalSigner) -> Iterator[dict[str, str]]:
    clients = data_dir / "clients.json"
    clients.write_text(json.dumps([s.client.model_dump(exclude_none=True) for s in signers]))
    env = {
        "LEUKEMIA_CDS_CLIENTS": str(clients),
        "LEUKEMIA_CDS_PUBLIC_URL": public_url,
        "LEUKEMIA_CDS_DATA_DIR": str(data_dir),
        "LEUKEMIA_CDS_SANDBOX": "off",
        "LEUKEMIA_CDS_LOG_LEVEL": "WARNING",
    }
    yield env


# ---- 1. in process ---------------------------------------------------------------------------


def signed_call(client: Any, path: str, raw: bytes, tokens: Iterator[str]) -> Callable[[], None]:
    """One hook call through the Flask test client, each with the next pre-signed token."""

    def call() -> None:
        response = client.post(path, data=raw, content_type="application/json",
                               headers={"Authorization": f"Bearer {next(tokens)}"})
        if response.status_code != 200:
            raise RuntimeError(f"{path}: HTTP {response.status_code} "
                               f"{response.get_data(as_text=True)[:300]}")

    return call


def floor_call(floor_client: Any, path: str, raw: bytes) -> Callable[[], Any]:
    """The same body posted to the floor's parse-only route."""
    return functools.partial(floor_client.post, path, data=raw, content_type="application/json")


def in_process(n: int, warmup: int, signer: LocalSigner, other: LocalSigner,
               tmp: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The grid with `signer`'s algorithm; patient-view/200 again with `other`'s, since the
    signature check is one of the larger costs and CDS clients may use either (ES384, RS384).
    Then, per hook, the protocol shell beside the floor and the full call (`shell_beside`)."""
    public = "http://bench.local"
    (tmp / "inproc").mkdir()
    with environment(public, tmp / "inproc", signer, other) as env:
        app = create_app(Settings.from_env(env))
    settle_heap()  # as every gunicorn worker does after building the app
    client = app.test_client()
    floor_client = _floor_app().test_client()
    results: dict[str, Any] = {}
    cases = [(hook, size, signer) for hook in HOOKS for size in SIZES]
    cases.append(("patient-view", 200, other))
    for hook, size, client_key in cases:
        path = f"/cds-services/{SERVICE_FOR_HOOK[hook]}"
        raw = jsonio.dumps(request_body(size, hook))
        tokens = iter([client_key.token(public + path) for _ in range(n + warmup)])
        full_ms, floor_ms = time_alternating([
            signed_call(client, path, raw, tokens), floor_call(floor_client, path, raw)],
            n, warmup)
        full, floor = percentiles(full_ms), percentiles(floor_ms)
        full["floor_median_ms"] = floor["median_ms"]
        full["ratio_to_floor"] = round(full["median_ms"] / floor["median_ms"], 2)
        full["body_kib"] = round(len(raw) / 1024, 1)
        full["jwt_alg"] = client_key.alg
        key = f"{hook}/{size}" if client_key is signer else f"{hook}/{size} {client_key.alg}"
        results[key] = full
    results[f"patient-view/200 +{REGISTRY_SIZE} trials"] = with_registry(
        client, floor_client, signer, public, tmp, n, warmup)
    for hook in HOOKS:
        small, large = results[f"{hook}/50"], results[f"{hook}/1000"]
        results[f"{hook}/scaling"] = {
            "ms_per_resource_50_to_1000": round(
                (large["median_ms"] - small["median_ms"]) / (1000 - 50), 4),
            "cost_ratio_1000_vs_50": round(large["median_ms"] / small["median_ms"], 2),
            "resource_ratio": 20.0,
        }
    shell = {hook: shell_beside(client, floor_client, hook, signer, public, n, warmup)
             for hook in HOOKS}
    return results, shell


def bench_registry(size: int) -> list[Any]:
    """`size` registry trials: the sandbox's seven synthetic studies (B-ALL, T-ALL, AML, Ph+,
    MRD, paediatric, one completed) renumbered, so the pre-screen meets a registry of about
    the size the nightly sync of open ALL and AML trials brings."""
    from service.sandbox import demo_trials

    studies = demo_trials()
    return [dataclasses.replace(studies[i % len(studies)], nct=f"NCT8{i:07d}")
            for i in range(size)]


def with_registry(client: Any, floor_client: Any, signer: LocalSigner, public: str, tmp: Path,
                  n: int, warmup: int) -> dict[str, Any]:
    """patient-view/200 with a trial registry of REGISTRY_SIZE studies imported, timed in
    alternating blocks beside the same call without one (and the floor): what the pre-screen
    adds to a call."""
    from service.store.trial_registry import replace_registry

    (tmp / "registry").mkdir()
    with environment(public, tmp / "registry", signer) as env:
        app = create_app(Settings.from_env(env))
    replace_registry(app.extensions["leukemia_cds.store"], bench_registry(REGISTRY_SIZE),
                     source="bench", refreshed_at=datetime.now(UTC))
    path = f"/cds-services/{SERVICE_FOR_HOOK['patient-view']}"
    raw = jsonio.dumps(request_body(200, "patient-view"))
    tokens = iter([signer.token(public + path) for _ in range(2 * (n + warmup))])
    full_ms, without_ms, floor_ms = time_alternating([
        signed_call(app.test_client(), path, raw, tokens),
        signed_call(client, path, raw, tokens), floor_call(floor_client, path, raw)], n, warmup)
    row = percentiles(full_ms)
    row["floor_median_ms"] = percentiles(floor_ms)["median_ms"]
    row["ratio_to_floor"] = round(row["median_ms"] / row["floor_median_ms"], 2)
    row["without_registry_median_ms"] = percentiles(without_ms)["median_ms"]
    row["registry_cost_ms"] = round(row["median_ms"] - row["without_registry_median_ms"], 3)
    app.extensions["leukemia_cds.store"].close()
    return row


@contextlib.contextmanager
def without_clinical_layers() -> Iterator[None]:
    """The protocol shell: every step of a hook call (JWT check, body and context validation,
    prefetch, audit transaction, response) but with the clinical layers (facts, rules, cards)
    answering no cards. Timed beside the floor and the full call, it shows how much of a call
    is the shell every CDS service pays and how much the clinical work."""
    real = advice.advise

    def no_cards(call: advice.HookCall, advisor: advice.Advisor | None = None) -> list[Any]:
        return []

    advice.advise = no_cards
    try:
        yield
    finally:
        advice.advise = real


def shell_beside(client: Any, floor_client: Any, hook: str, signer: LocalSigner, public: str,
                 n: int, warmup: int) -> dict[str, Any]:
    """Floor, protocol shell and full call for one 200-resource patient, in alternating blocks."""
    path = f"/cds-services/{SERVICE_FOR_HOOK[hook]}"
    raw = jsonio.dumps(request_body(200, hook))
    tokens = iter([signer.token(public + path) for _ in range(2 * (n + warmup))])
    full = signed_call(client, path, raw, tokens)

    def shell() -> None:
        with without_clinical_layers():
            full()

    medians = [statistics.median(samples) for samples in time_alternating(
        [floor_call(floor_client, path, raw), shell, full], n, warmup)]
    floor_ms, shell_ms, full_ms = (round(m, 3) for m in medians)
    return {"floor_median_ms": floor_ms, "shell_median_ms": shell_ms,
            "full_median_ms": full_ms, "shell_ratio_to_floor": round(shell_ms / floor_ms, 2),
            "full_ratio_to_floor": round(full_ms / floor_ms, 2),
            "clinical_ms": round(full_ms - shell_ms, 3),
            # what 3x the floor would leave the clinical layers, beyond the shell
            "clinical_budget_at_3x_floor_ms": round(3 * floor_ms - shell_ms, 3)}


def _floor_app() -> Any:
    sys.path.insert(0, str(ROOT / "bench"))
    from floor_app import app  # type: ignore[import-not-found]

    return app


# ---- 2. over HTTP ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Server:
    base: str
    pid: int  # gunicorn's master; its children are the workers


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its children (gunicorn's master and workers),
    read from /proc; None where there is no /proc to read."""
    ticks = 0
    try:
        entries = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited meanwhile
        if int(entry.name) == pid or int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], port: int, log: Path) -> Iterator[Server]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LEUKEMIA_CDS_")}
    full_env.update(env)
    with log.open("w") as out:
        process = subprocess.Popen(command, env=full_env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True, cwd=ROOT)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        import requests

        while True:
            try:
                requests.get(f"{base}/healthz", timeout=1)
                break
            except requests.RequestException:
                if process.poll() is not None or time.monotonic() > deadline:
                    message = f"{command[0]} did not start: {log.read_text()[-2000:]}"
                    raise RuntimeError(message) from None
                time.sleep(0.1)
        try:
            yield Server(base, process.pid)
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def gunicorn_floor(port: int) -> list[str]:
    settings = Settings.from_env({})
    return [sys.executable, "-m", "gunicorn", "--chdir", str(ROOT / "bench"),
            "-b", f"127.0.0.1:{port}", "-w", str(settings.workers), "-k", "service.worker.Worker",
            "--threads", str(settings.threads), "--keep-alive", str(settings.header_timeout_s),
            "--no-control-socket", "floor_app:app"]  # the service's worker (service/cli.py)


def one_client(base: str, path: str, raw: bytes, tokens: list[str] | None, n: int,
               warmup: int) -> dict[str, float]:
    import requests

    session = requests.Session()
    supply = iter(tokens or [])

    def call() -> None:
        headers = {"Content-Type": "application/json"}
        if tokens is not None:
            headers["Authorization"] = f"Bearer {next(supply)}"
        response = session.post(base + path, data=raw, headers=headers, timeout=10)
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

    return percentiles(time_calls(call, n, warmup))


def wrk(server: Server, path: str, body_file: Path, tokens_file: Path | None, connections: int,
        seconds: int) -> dict[str, Any]:
    """A closed-loop `wrk` run, with the server's CPU time per answered request (its master and
    workers, from /proc): the figure sizing needs, and a check that throughput is bound by CPU
    rather than by waiting."""
    threads = min(2, connections)
    command = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s",
               "--timeout", "10s", "-s", str(ROOT / "bench" / "post.lua"), server.base + path,
               "--", str(tokens_file) if tokens_file else "none", str(body_file), str(threads)]
    cpu_before = cpu_seconds(server.pid)
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    cpu_after = cpu_seconds(server.pid)
    line = [x for x in out.stdout.splitlines() if x.startswith("{")]
    if not line:
        raise RuntimeError(f"wrk printed no result: {out.stdout} {out.stderr}")
    result = json.loads(line[-1])
    duration_s = result["duration_us"] / 1e6
    return {
        "connections": connections,
        "requests": result["requests"],
        "rps": round(result["requests"] / duration_s, 1),
        "errors": result["non2xx"] + result["socket_errors"],
        "p50_ms": result["p50_us"] / 1000, "p90_ms": result["p90_us"] / 1000,
        "p95_ms": result["p95_us"] / 1000, "p99_ms": result["p99_us"] / 1000,
        "tail_p99_over_p50": round(result["p99_us"] / max(1, result["p50_us"]), 2),
        "token_wraps": result["token_wraps"],
        "server_cpu_ms_per_request": None if cpu_before is None or cpu_after is None else round(
            (cpu_after - cpu_before) * 1000 / max(1, result["requests"]), 2),
    }


def audit_rows(data_dir: Path) -> int | None:
    """Answered (200) hook calls in the service's audit store."""
    from service.store.schema import hook_call
    from service.store.store import SQLITE_FILE

    database = data_dir / SQLITE_FILE
    if not database.exists():
        return None
    import sqlite3

    with contextlib.closing(sqlite3.connect(database)) as db:
        query = f"select count(*) from {hook_call.name} where status = 200"
        return int(db.execute(query).fetchone()[0])


def over_http(args: argparse.Namespace, signer: LocalSigner, tmp: Path) -> dict[str, Any]:
    port, floor_port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    data_dir = tmp / "http"
    data_dir.mkdir()
    hook = "patient-view"
    path = f"/cds-services/{SERVICE_FOR_HOOK[hook]}"
    raw = jsonio.dumps(request_body(200, hook))
    body_file = tmp / "body.json"
    body_file.write_bytes(raw)
    results: dict[str, Any] = {"hook": hook, "size": 200}
    with environment(base_url, data_dir, signer) as env, \
            running([sys.executable, "-m", "service", "serve", "--port", str(port)], env, port,
                    tmp / "service.log") as server, \
            running(gunicorn_floor(floor_port), {}, floor_port, tmp / "floor.log") as floor:
        aud = base_url + path
        n = 50 if args.quick else 300
        single = one_client(server.base, path, raw, [signer.token(aud) for _ in range(n + 20)],
                            n, 20)
        floor_single = one_client(floor.base, path, raw, None, n, 20)
        single["floor_p50_ms"] = floor_single["median_ms"]
        single["ratio_to_floor"] = round(single["median_ms"] / floor_single["median_ms"], 2)
        results["one_client"] = single
        if shutil.which("wrk") is None:
            results["concurrent"] = "skipped: wrk is not installed (apt-get install wrk)"
            return results
        seconds = 2 if args.quick else 10

        def tokens_for(floor_run: dict[str, Any], connections: int) -> Path:
            """Enough single-use tokens for a run at this concurrency: the floor, measured
            first, bounds the service's throughput (it does the floor's work and more), with a
            margin for wrk's threads taking unequal shares."""
            count = int(floor_run["rps"] * seconds * 1.5) + 10 * connections
            tokens_file = tmp / f"tokens-{connections}.txt"
            tokens_file.write_text("\n".join(
                signer.token(aud, lifetime_s=300) for _ in range(count)) + "\n")
            return tokens_file

        # One closed-loop client again, from wrk: the Python client above spends milliseconds
        # of the same two cores on its own side of every call.
        floor_lone = wrk(floor, path, body_file, None, 1, seconds)
        lone = wrk(server, path, body_file, tokens_for(floor_lone, 1), 1, seconds)
        lone["floor_p50_ms"] = floor_lone["p50_ms"]
        lone["ratio_to_floor"] = round(lone["p50_ms"] / floor_lone["p50_ms"], 2)
        results["one_client_wrk"] = lone
        before = audit_rows(data_dir) or 0
        concurrent = []
        completed = 0
        for connections in (16, 64):
            floor_run = wrk(floor, path, body_file, None, connections, seconds)
            service = wrk(server, path, body_file, tokens_for(floor_run, connections),
                          connections, seconds)
            service["floor_rps"] = floor_run["rps"]
            service["floor_p50_ms"] = floor_run["p50_ms"]
            service["floor_p99_ms"] = floor_run["p99_ms"]
            # the tail is judged beside the floor's: on two shared cores the floor's own p99/p50
            # at saturation ranges widely from run to run
            service["floor_tail_p99_over_p50"] = floor_run["tail_p99_over_p50"]
            service["floor_server_cpu_ms_per_request"] = floor_run["server_cpu_ms_per_request"]
            service["rps_ratio_to_floor"] = round(service["rps"] / floor_run["rps"], 2)
            completed += service["requests"] - service["errors"]
            concurrent.append(service)
        time.sleep(0.5)
        after = audit_rows(data_dir)
        results["concurrent"] = concurrent
        if after is not None:
            # wrk counts only replies it received before its clock stopped; the server may have
            # finished (and audited) up to one request per connection more.
            results["audit"] = {"rows_written": after - before, "successful_requests": completed,
                                "lost": max(0, completed - (after - before))}
    return results


# ---- 3. FHIR fetch in parallel ---------------------------------------------------------------


def fhir_fetch(args: argparse.Namespace, signer: LocalSigner, tmp: Path) -> dict[str, Any]:
    """Every prefetch key omitted: the service fetches all seven from a FHIR server (a stub in
    its own process) in parallel; total latency should track the slowest single fetch."""
    body = request_body(200, "patient-view")
    prefetch = body.pop("prefetch")
    pid = body["context"]["patientId"]
    served = tmp / "fhir"
    served.mkdir()
    files = {pid: prefetch["patient"], "Condition": prefetch["conditions"],
             "Observation": prefetch["observations"], "Procedure": prefetch["procedures"],
             "MedicationRequest": prefetch["medicationRequests"],
             "MedicationAdministration": prefetch["medicationAdministrations"],
             "MedicationStatement": prefetch["medicationStatements"]}
    for name, resource in files.items():
        (served / f"{name}.json").write_bytes(jsonio.dumps(resource))
    (served / "delays.json").write_text("{}")
    port = free_port()
    stub = subprocess.Popen([sys.executable, str(ROOT / "bench" / "fhir_stub.py"), str(port),
                             str(served)])
    body["fhirServer"] = f"http://127.0.0.1:{port}/fhir"
    data_dir = tmp / "fetch"
    data_dir.mkdir()
    public = "http://bench.local"
    results: dict[str, Any] = {}
    try:
        _wait_for_port(port)
        with environment(public, data_dir, signer) as env:
            env["LEUKEMIA_CDS_FHIR_HTTP_HOSTS"] = "127.0.0.1"
            settings = Settings.from_env(env)
            client = create_app(settings).test_client()
        path = "/cds-services/leukemia-immunotherapy"
        n = 10 if args.quick else 40
        for label, delays in (("fast-server", {}),
                              ("slowest-80ms", {"Observation": 0.08, "Condition": 0.04,
                                                "Procedure": 0.02}),
                              ("dead-slow-2s", {"Observation": 2.0})):
            (served / "delays.json").write_text(json.dumps(delays))
            statuses: list[int] = []

            def call(statuses: list[int] = statuses) -> None:
                response = client.post(path, json=body, headers={
                    "Authorization": f"Bearer {signer.token(public + path)}"})
                statuses.append(response.status_code)

            stats = percentiles(time_calls(call, n if label != "dead-slow-2s" else 3, 1))
            stats["slowest_single_fetch_ms"] = max(delays.values(), default=0) * 1000
            stats["statuses"] = sorted(set(statuses))
            results[label] = stats
        results["budget_ms"] = settings.fhir_budget_ms
    finally:
        stub.terminate()
        stub.wait(timeout=10)
    return results


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("FHIR stub did not start")


# ---- report ------------------------------------------------------------------------------------


_RAN_OUT = "  TOKENS RAN OUT: errors include the benchmark's own replays"


def table(result: dict[str, Any]) -> str:
    lines = ["", f"in-process (full hook call, {result['jwt_alg']} tokens unless named; "
                 "floor = parse-only Flask route, same body)",
             f"{'case':<30}{'median':>9}{'p95':>9}{'p99':>9}{'floor':>9}{'ratio':>7}"]
    for key, row in result["in_process"].items():
        if "median_ms" in row:
            lines.append(f"{key:<30}{row['median_ms']:>9.2f}{row['p95_ms']:>9.2f}"
                         f"{row['p99_ms']:>9.2f}{row['floor_median_ms']:>9.2f}"
                         f"{row['ratio_to_floor']:>7.2f}"
                         + (f"  (without: {row['without_registry_median_ms']:.2f}, pre-screen "
                            f"+{row['registry_cost_ms']:.2f} ms)"
                            if "registry_cost_ms" in row else ""))
        else:
            lines.append(f"{key:<30}cost x{row['cost_ratio_1000_vs_50']} for x20 resources")
    lines += ["", "where the time goes, 200 resources (shell = every step but facts, rules and "
                  "cards; timed alternately)"]
    for hook, row in result["shell"].items():
        lines.append(f"{hook:<14} floor {row['floor_median_ms']:.2f}  shell "
                     f"{row['shell_median_ms']:.2f} (x{row['shell_ratio_to_floor']})  full "
                     f"{row['full_median_ms']:.2f} (x{row['full_ratio_to_floor']})  clinical "
                     f"{row['clinical_ms']:.2f} ms; 3x the floor leaves it "
                     f"{row['clinical_budget_at_3x_floor_ms']:.2f} ms")
    http_part = result["http"]
    single = http_part["one_client"]
    lines += ["", "over HTTP, gunicorn on loopback, patient-view 200 resources",
              f"one client: p50 {single['median_ms']:.2f} ms, p99 {single['p99_ms']:.2f} ms "
              f"(floor p50 {single['floor_p50_ms']:.2f} ms, ratio {single['ratio_to_floor']}; "
              "Python requests client)"]
    if "one_client_wrk" in http_part:
        lone = http_part["one_client_wrk"]
        lines.append(f"one client: p50 {lone['p50_ms']:.2f} ms, p99 {lone['p99_ms']:.2f} ms "
                     f"(floor p50 {lone['floor_p50_ms']:.2f} ms, ratio {lone['ratio_to_floor']};"
                     f" wrk -c1, {lone['rps']} req/s)" + _RAN_OUT * bool(lone["token_wraps"]))
    if isinstance(http_part["concurrent"], str):
        lines.append(http_part["concurrent"])
    else:
        for row in http_part["concurrent"]:
            lines.append(
                f"c={row['connections']:<3} {row['rps']:>7.1f} req/s (floor {row['floor_rps']},"
                f" x{row['rps_ratio_to_floor']})  p50 {row['p50_ms']:.1f}  p99 {row['p99_ms']:.1f}"
                f" ms (p99/p50 {row['tail_p99_over_p50']}, floor {row['floor_tail_p99_over_p50']})"
                f"  errors {row['errors']}  server CPU "
                f"{row['server_cpu_ms_per_request']} ms/request (floor "
                f"{row['floor_server_cpu_ms_per_request']})" + _RAN_OUT * bool(row["token_wraps"]))
        if "audit" in http_part:
            lines.append(f"audit rows {http_part['audit']['rows_written']} for "
                         f"{http_part['audit']['successful_requests']} answered; lost "
                         f"{http_part['audit']['lost']}")
    fetch = result["fhir_fetch"]
    lines += ["", f"omitted prefetch fetched from a FHIR server (budget {fetch['budget_ms']} ms)"]
    for label in ("fast-server", "slowest-80ms", "dead-slow-2s"):
        row = fetch[label]
        beyond = (f", {row['beyond_slowest_net_ms']:.1f} ms beyond it net of the call's own "
                  "work" if "beyond_slowest_net_ms" in row else "")
        lines.append(f"{label:<14} median {row['median_ms']:.1f} ms, max single fetch "
                     f"{row['slowest_single_fetch_ms']:.0f} ms{beyond}, statuses {row['statuses']}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds (CI)")
    parser.add_argument("--out", type=Path, help="JSON result file")
    parser.add_argument("--alg", choices=("RS384", "ES384"), default="RS384",
                        help="how the benchmark's client signs its JWTs (default RS384; the "
                             "other is measured once beside it)")
    args = parser.parse_args()
    signer = LocalSigner.generate(ISS, alg=args.alg)
    other = LocalSigner.generate(ISS + "/other", alg="ES384" if args.alg == "RS384" else "RS384")
    n, warmup = (30, 5) if args.quick else (300, 30)
    with tempfile.TemporaryDirectory(prefix="leukemia-cds-bench-") as tmp_name:
        tmp = Path(tmp_name)
        result: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "mode": "quick" if args.quick else "full",
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "platform": platform.platform()},
            "jwt_alg": signer.alg,
        }
        result["in_process"], result["shell"] = in_process(n, warmup, signer, other, tmp)
        result["http"] = over_http(args, signer, tmp)
        result["fhir_fetch"] = fetched = fhir_fetch(args, signer, tmp)
    # What fetching adds beyond the slowest single fetch, net of the call's own work (the same
    # patient and hook, prefetched, measured in process above).
    own_work = result["in_process"]["patient-view/200"]["median_ms"]
    for label in ("fast-server", "slowest-80ms"):
        row = fetched[label]
        row["beyond_slowest_net_ms"] = round(
            row["median_ms"] - row["slowest_single_fetch_ms"] - own_work, 1)
    out = args.out or ROOT / "bench" / "results" / (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "") + ".json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
