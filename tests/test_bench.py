"""The benchmark runs in CI in its quick mode so that it cannot rot.

It checks that the script completes and reports what the closing note relies on; the figures
themselves are judged from the full run, not asserted here (speed is measured, not tested).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_quick_benchmark_runs_and_reports_every_figure(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())

    for hook in ("patient-view", "order-sign"):
        for size in (50, 200, 1000):
            row = result["in_process"][f"{hook}/{size}"]
            assert row["median_ms"] > 0 and row["floor_median_ms"] > 0 and row["ratio_to_floor"]
        assert result["in_process"][f"{hook}/scaling"]["cost_ratio_1000_vs_50"] > 0
    assert result["jwt_alg"] == "RS384"
    other = result["in_process"]["patient-view/200 ES384"]  # the other signature, beside it
    assert other["jwt_alg"] == "ES384" and other["median_ms"] > 0 and other["ratio_to_floor"]

    for hook in ("patient-view", "order-sign"):
        shell = result["shell"][hook]
        assert shell["floor_median_ms"] > 0 and shell["shell_median_ms"] > 0
        assert shell["clinical_ms"] == round(shell["full_median_ms"] - shell["shell_median_ms"], 3)
    assert "where the time goes" in done.stdout

    single = result["http"]["one_client"]
    assert single["median_ms"] > 0 and single["p99_ms"] >= single["median_ms"]
    if shutil.which("wrk"):
        lone = result["http"]["one_client_wrk"]
        assert lone["connections"] == 1 and lone["errors"] == 0 and lone["floor_p50_ms"] > 0
        assert lone["token_wraps"] == 0
        for row in result["http"]["concurrent"]:
            assert row["connections"] in (16, 64)
            assert row["token_wraps"] == 0, "the token supply is sized from the floor's rate"
            assert row["errors"] == 0, row
            assert row["rps"] > 0 and row["floor_rps"] > 0
            assert row["floor_tail_p99_over_p50"] >= 1 and row["tail_p99_over_p50"] >= 1
            assert row["server_cpu_ms_per_request"] > row["floor_server_cpu_ms_per_request"] > 0
        assert result["http"]["audit"]["lost"] == 0, "every answered call has its audit row"

    fetch = result["fhir_fetch"]
    assert fetch["fast-server"]["statuses"] == [200]
    assert isinstance(fetch["slowest-80ms"]["beyond_slowest_net_ms"], float)
    assert fetch["dead-slow-2s"]["statuses"] == [412], "a dead FHIR server is a 412, in budget"
    assert fetch["dead-slow-2s"]["median_ms"] < fetch["budget_ms"] + 200
    assert "in-process" in done.stdout and "over HTTP" in done.stdout


def _storage(tmp_path: Path, *options: str) -> tuple[dict[str, Any], str]:
    out = tmp_path / "storage.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "storage.py"), "--quick",
                           "--out", str(out), *options], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def _check_storage(result: dict[str, Any]) -> None:
    rows, grown = result["rows"], result["bytes_grown"]
    # every answered call and every card it answered is on file, and each token id once
    assert rows["lcds_hook_call"] == rows["lcds_seen_jti"] == result["calls"] == 40
    assert rows["lcds_issued_card"] == result["cards_answered"] > 0
    assert grown["lcds_hook_call"] > 0 and grown["lcds_issued_card"] > 0
    per_call = (grown["lcds_hook_call"] + grown["lcds_issued_card"]) / result["calls"]
    assert result["history_bytes_per_answered_call"] == round(per_call)
    assert result["gb_per_million_calls"] == round(per_call / 1000, 2)


def test_storage_benchmark_sizes_the_sqlite_audit_store(tmp_path):
    result, printed = _storage(tmp_path)
    assert result["database"] == "sqlite"
    _check_storage(result)
    assert "GB per million calls" in printed


def test_storage_benchmark_sizes_a_postgresql_audit_store(tmp_path, pg_url):
    result, _ = _storage(tmp_path, "--database-url", pg_url)
    assert result["database"] == "postgresql"
    _check_storage(result)


def _bench(name: str) -> Any:
    """A script of bench/ as a module (bench/ is not a package: its scripts run standalone)."""
    if str(ROOT / "bench") not in sys.path:
        sys.path.insert(0, str(ROOT / "bench"))
    return importlib.import_module(name)


def test_a_call_and_its_floor_are_timed_in_alternating_blocks():
    run = _bench("run")

    order: list[str] = []
    full, floor = run.time_alternating([lambda: order.append("c"), lambda: order.append("f")],
                                       20, 2, rounds=4)
    assert len(full) == len(floor) == 20
    assert "".join(order) == "cc" "ff" + "c" * 5 + "f" * 10 + "c" * 10 + "f" * 10 + "c" * 5
    order.clear()
    full, floor = run.time_alternating([lambda: order.append("c"), lambda: order.append("f")],
                                       7, 0, rounds=3)
    assert len(full) == len(floor) == 7 and "".join(order) == "ccff" "ffcc" "cccfff"
    order.clear()  # three (floor, shell, full): the order reverses each round
    timed = run.time_alternating([lambda: order.append("a"), lambda: order.append("b"),
                                  lambda: order.append("c")], 4, 0, rounds=2)
    assert [len(t) for t in timed] == [4, 4, 4] and "".join(order) == "aabbcc" "ccbbaa"


def test_server_cpu_is_the_masters_and_its_workers():
    """The CPU-per-request figure reads gunicorn's master and its children: a child's work
    counts, and work of processes outside that tree does not."""
    run = _bench("run")

    burn = ("import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
            "print('burnt', flush=True)\ntime.sleep(60)")
    master = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', "
                               f"{burn!r}])"], stdout=subprocess.PIPE, text=True,
        start_new_session=True)
    bystander = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
    try:
        assert master.stdout.readline() == "burnt\n"
        assert bystander.stdout.readline() == "burnt\n"
        spent = run.cpu_seconds(master.pid)
        assert spent is not None and 0.35 <= spent < 0.8  # the child's 0.4 s, not the bystander's
    finally:
        for process in (master, bystander):
            os.killpg(process.pid, signal.SIGKILL)  # the master's child too
            process.wait(timeout=10)


def test_the_protocol_shell_answers_no_cards_but_still_checks_and_audits(tmp_path):
    """The shell the benchmark times beside the full call must do every step but the clinical
    ones: otherwise "clinical" (full minus shell) would be a wrong figure."""
    run = _bench("run")

    from service.app import create_app
    from service.config import Settings
    from service.hooks.auth import LocalSigner

    signer = LocalSigner.generate(run.ISS, alg="ES384")
    public = "http://bench.local"
    with run.environment(public, tmp_path, signer) as env:
        app = create_app(Settings.from_env(env))
    client = app.test_client()
    path = f"/cds-services/{run.SERVICE_FOR_HOOK['patient-view']}"
    raw = run.jsonio.dumps(run.request_body(50, "patient-view"))

    def post(token: str | None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.post(path, data=raw, content_type="application/json", headers=headers)

    assert post(signer.token(public + path)).get_json()["cards"], "the full call gives cards"
    with run.without_clinical_layers():
        shell = post(signer.token(public + path))
        refused = post(None)
    assert shell.status_code == 200 and shell.get_json() == {"cards": []}
    assert refused.status_code == 401, "the shell still checks the client's token"
    store = app.extensions["leukemia_cds.store"]
    assert store.count_calls() == 3, "the shell's calls are audited, the refused one too"
    assert post(signer.token(public + path)).get_json()["cards"], "the clinical layers are back"


# ---- bench/instructions.py: too slow to run whole in CI (every run is under valgrind), so its
# parts are checked: the set-up each counted child runs, and the counting itself.


@pytest.mark.parametrize("case", ["patient-view/200", "order-sign/200", "shell/200",
                                  "floor/200"])
def test_each_counted_case_runs_natively(case, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = tmp_path / "key.pem"
    key.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    # the child exits non-zero if a call is not answered 200
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "instructions.py"), "--child",
                           case, "2", str(key), "12"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_per_call_is_the_difference_over_the_extra_calls():
    per_call = _bench("instructions").per_call
    assert per_call(1_000, 6_000, 10, 60) == 100
    with pytest.raises(ValueError):
        per_call(1_000, 6_000, 10, 10)


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
def test_counting_under_valgrind_sees_the_extra_work():
    count = _bench("instructions").count
    idle = count(["-c", "pass"])
    busy = count(["-c", "for i in range(200_000): pass"])
    assert idle > 1_000_000  # an interpreter start-up, not a parse failure
    assert busy - idle > 2_000_000  # ~10+ instructions per loop turn


def test_the_compiled_trial_accounts_for_every_decision_module():
    trial = _bench("compiled_trial")
    decision = {str(p.relative_to(ROOT)) for p in (ROOT / "service" / "decision").rglob("*.py")}
    listed = set(trial.COMPILED) | set(trial.NOT_COMPILED)
    assert decision <= listed, "a new rules module is neither compiled nor said not to be"
    assert all((ROOT / module).is_file() for module in listed)


_PERCENTS = ("from service.fhir.values import parse_percent_text as p; "
             "print([repr(p(t)) for t in ('45%', '< 5 %', '0.5', 'abc%', None)])")


@pytest.mark.slow
def test_the_compiled_trial_compiles_in_a_copy_and_never_in_this_tree(tmp_path):
    trial = _bench("compiled_trial")
    copy = tmp_path / "tree"
    copied = trial.copy_tracked(ROOT, copy)
    assert "service/fhir/values.py" in copied
    assert not any(name.startswith((".venv/", ".git/")) for name in copied)
    trial.compile_modules(copy, ("service/fhir/values.py",))
    there = trial.imported_from(copy, ("service/fhir/values.py",
                                       "service/fhir/extract/assemble.py"))
    assert there["service/fhir/values.py"].endswith(".so")
    assert there["service/fhir/extract/assemble.py"] == "service/fhir/extract/assemble.py"
    assert trial.imported_from(ROOT, ("service/fhir/values.py",)) == {
        "service/fhir/values.py": "service/fhir/values.py"}
    # compiled, the module gives the answers it gives as Python, junk included
    answers = [subprocess.run([sys.executable, "-c", _PERCENTS], cwd=tree, check=True,
                              capture_output=True, text=True).stdout for tree in (copy, ROOT)]
    assert answers[0] == answers[1]
    assert "45" in answers[0] and "Unreadable" in answers[0]


def test_card_lengths_counts_details_lines_and_whole_answers():
    measure = _bench("card_lengths").measure
    bodies = [{"cards": [{"summary": "ab", "detail": "x" * 10},
                         {"summary": "c", "detail": "y\nz"}]},
              {"cards": [{"summary": "d", "detail": "w" * 700}]}, {"cards": []}]
    got = measure(bodies)
    assert (got["answers"], got["cards"]) == (3, 3)
    assert (got["detail_median"], got["detail_longest"]) == (10, 700)
    assert (got["lines_median"], got["lines_longest"]) == (1, 2)
    assert (got["text_median"], got["text_longest"]) == (16, 701)
    assert got["answer_longest"] == len(json.dumps(bodies[1]))
