"""Instructions per hook call, counted by valgrind: a figure the host's noise cannot move.

    python bench/instructions.py            # about 7 minutes (every run is under valgrind)

On a shared machine the same in-process call has measured anywhere from 3.4 to 7.5 ms within
an hour, while the floor barely moved. Counting instructions (valgrind's cachegrind, Debian
package `valgrind`) gives a stable figure for a change's effect and separates "we do more
work" from "the host made our work slower". It counts user-space instructions only: system
calls (the audit store's writes) and time lost to cache misses are not in it, so it is a
companion to the timed benchmark, not a replacement.

Each case runs twice in a child process under valgrind, with few and with many calls after the
same warm-up and the same set-up (the same pre-signed tokens, a fixed key, a fixed hash seed);
the difference divided by the difference in calls is the cost of one call, start-up excluded.
The shell case is patient-view with the clinical layers answering no cards, as in `run.py`:
full minus shell is what facts, rules and cards execute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CASES = ("patient-view/200", "order-sign/200", "shell/200", "floor/200")
WARMUP = 10
_IREFS = re.compile(r"I\s+refs:\s+([\d,]+)")


def per_call(total_few: int, total_many: int, few: int, many: int) -> float:
    """Instructions of one call, from two runs that differ only in how many calls they make."""
    if many <= few:
        raise ValueError("the second run must make more calls")
    return (total_many - total_few) / (many - few)


def instructions_of(valgrind_stderr: str) -> int:
    """The program's total instruction count from cachegrind's summary."""
    match = _IREFS.search(valgrind_stderr)
    if match is None:
        raise RuntimeError("no instruction count in valgrind's output:\n" + valgrind_stderr[-2000:])
    return int(match.group(1).replace(",", ""))


def child(case: str, calls: int, key_file: Path, tokens_needed: int) -> None:
    """Set up exactly as every other run of this case, then make `calls` calls."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    import run as bench  # type: ignore[import-not-found]
    from cryptography.hazmat.primitives import serialization

    from service import jsonio
    from service.app import create_app, settle_heap
    from service.config import Settings
    from service.hooks.auth import LocalSigner

    hook, size = case.split("/")
    # shell: patient-view with the clinical layers answering no cards (see bench/run.py)
    floor, shell = hook == "floor", hook == "shell"
    hook = "patient-view" if floor or shell else hook
    path = f"/cds-services/{bench.SERVICE_FOR_HOOK[hook]}"
    raw = jsonio.dumps(bench.request_body(int(size), hook))
    with contextlib.ExitStack() as stack:
        if floor:
            call = bench.floor_call(bench._floor_app().test_client(), path, raw)
        else:
            key = serialization.load_pem_private_key(key_file.read_bytes(), None)
            signer = LocalSigner(bench.ISS, key, alg="RS384", kid="bench")
            public = "http://bench.local"
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="lcds-instr-")))
            env = stack.enter_context(bench.environment(public, tmp, signer))
            app = create_app(Settings.from_env(env))
            settle_heap()
            client = app.test_client()
            # Every run signs as many tokens, so signing cancels out of the difference.
            tokens = iter([signer.token(public + path) for _ in range(tokens_needed)])
            if shell:
                stack.enter_context(bench.without_clinical_layers())

            def call() -> Any:
                response = client.post(path, data=raw, content_type="application/json",
                                       headers={"Authorization": f"Bearer {next(tokens)}"})
                if response.status_code != 200:
                    raise SystemExit(f"{case}: HTTP {response.status_code}")
                return response

        for _ in range(WARMUP + calls):
            last = call()
        # once, after the counted calls (so it cancels out): the shell really gave no cards
        if not floor and bool(last.get_json()["cards"]) == shell:
            raise SystemExit(f"{case}: the answer's cards are not what the case should give")


def count(program: list[str]) -> int:
    """Instructions that `python <program>` executes, counted under valgrind."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no",
               "--cachegrind-out-file=/dev/null", sys.executable, *program]
    env = {**os.environ, "PYTHONHASHSEED": "0", "LEUKEMIA_CDS_LOG_LEVEL": "WARNING"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{program} under valgrind exited {done.returncode}:\n"
                           f"{done.stderr[-2000:]}")
    return instructions_of(done.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="JSON result file")
    parser.add_argument("--child", nargs=4, metavar=("CASE", "CALLS", "KEY", "TOKENS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        case, calls, key_file, tokens = args.child
        child(case, int(calls), Path(key_file), int(tokens))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind not found (Debian package `valgrind`); nothing counted", file=sys.stderr)
        return 3

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    few, many = 10, 60
    result: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "calls": [few, many], "cases": {}}
    with tempfile.TemporaryDirectory(prefix="leukemia-cds-instr-") as tmp:
        key_file = Path(tmp) / "key.pem"  # one key for every run: key generation is random work
        key_file.write_bytes(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                             .private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
        for case in CASES:
            total_few, total_many = (count([__file__, "--child", case, str(n), str(key_file),
                                            str(WARMUP + many)]) for n in (few, many))
            result["cases"][case] = {
                "instructions_per_call": round(per_call(total_few, total_many, few, many))}
    floor = result["cases"]["floor/200"]["instructions_per_call"]
    for row in result["cases"].values():
        row["ratio_to_floor"] = round(row["instructions_per_call"] / floor, 2)
    out = args.out or ROOT / "bench" / "results" / (
        datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-instructions.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print("instructions per call (valgrind cachegrind, user space only; floor = parse-only route)")
    for case, row in result["cases"].items():
        print(f"{case:18} {row['instructions_per_call'] / 1e6:8.2f} M   "
              f"x{row['ratio_to_floor']} the floor")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
