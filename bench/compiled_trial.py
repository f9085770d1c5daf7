"""What compiling the clinical layers with mypyc would buy: measured, not guessed.

    python bench/compiled_trial.py    # about 5 minutes: one compile, then instructions.py twice

Issue 7's one unmet target is an in-process call within 3x the floor. The protocol shell alone
is about 2x, so the clinical layers (facts, rules, cards) would have to get about 3x faster.
mypyc, which compiles type-annotated modules to C extensions, is the one route that does not
drop a guarantee. This script tries it without touching the working tree: it copies the
tracked files to a temporary directory, compiles the modules below there, checks that they
import as extensions, and counts instructions per call (`instructions.py`) in the copy and in
this tree.

It is a trial, not the build: compiled modules shadow their sources, so in a working tree an
edit to a .py file would silently not run; and mypyc enforces the declared types at run time.
Needs `mypy` (a test dependency) and the Debian packages `valgrind` and `gcc`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The clinical layers, and the prefetch resolution beside them.
COMPILED = (
    "service/fhir/extract/__init__.py",
    "service/fhir/extract/answers.py",
    "service/fhir/extract/assemble.py",
    "service/fhir/extract/collector.py",
    "service/fhir/extract/conditions.py",
    "service/fhir/extract/dates.py",
    "service/fhir/extract/draft_orders.py",
    "service/fhir/extract/evidence.py",
    "service/fhir/extract/markers.py",
    "service/fhir/extract/medications.py",
    "service/fhir/extract/mrd.py",
    "service/fhir/extract/observations.py",
    "service/fhir/extract/patient.py",
    "service/fhir/extract/procedures.py",
    "service/fhir/extract/raw.py",
    "service/fhir/extract/validation.py",
    "service/fhir/terminology.py",
    "service/fhir/values.py",
    "service/decision/__init__.py",
    "service/decision/criteria.py",
    "service/decision/engine.py",
    "service/decision/gaps.py",
    "service/decision/model.py",
    "service/decision/readings.py",
    "service/decision/registry.py",
    "service/decision/rules/__init__.py",
    "service/decision/rules/aml.py",
    "service/decision/rules/b_all_frontline.py",
    "service/decision/rules/b_all_mrd.py",
    "service/decision/rules/b_all_relapsed.py",
    "service/decision/rules/car_t.py",
    "service/decision/rules/cautions.py",
    "service/decision/rules/data_quality.py",
    "service/decision/rules/monitoring.py",
    "service/decision/rules/order_checks.py",
    "service/decision/rules/t_all.py",
    "service/decision/rules/toxicity.py",
    "service/decision/rules/trials.py",
    "service/decision/rules/workup.py",
    "service/decision/timing.py",
    "service/decision/vocabulary.py",
    "service/render/cards.py",
    "service/render/suggestions.py",  # Shape.build runs per suggestion per call
    "service/render/uuids.py",
    "service/hooks/prefetch.py",
)
# Left as Python: its per-call cache stores into instance.__dict__, which native classes lack.
# The trial pre-screen runs only where a trial registry is loaded, which the measured calls
# do not have: compiling it would change no figure the trial reports.
NOT_COMPILED = ("service/decision/context.py", "service/decision/prescreen.py")


def copy_tracked(source: Path, dest: Path) -> list[str]:
    """The files git tracks, copied to `dest`: no virtualenv, build output or caches."""
    names = subprocess.run(["git", "ls-files", "-z"], cwd=source, check=True,
                           capture_output=True).stdout.decode().split("\0")
    copied = []
    for name in filter(None, names):
        if (source / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, dest / name)
            copied.append(name)
    return copied


def compile_modules(tree: Path, modules: tuple[str, ...]) -> None:
    """mypyc the modules in place in `tree` (which must be a copy: see the module docstring)."""
    done = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=tree,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"mypyc failed:\n{(done.stdout + done.stderr)[-3000:]}")


def imported_from(tree: Path, modules: tuple[str, ...]) -> dict[str, str]:
    """Module path -> the file Python imports it from, when run in `tree`."""
    names = [m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in modules]
    program = ("import importlib, json, sys; "
               "print(json.dumps([importlib.import_module(n).__file__ for n in sys.argv[1:]]))")
    done = subprocess.run([sys.executable, "-c", program, *names], cwd=tree, check=True,
                          capture_output=True, text=True)
    files = json.loads(done.stdout)
    return {m: str(Path(f).relative_to(tree)) for m, f in zip(modules, files, strict=True)}


def count_in(tree: Path, out: Path) -> dict[str, Any]:
    subprocess.run([sys.executable, str(tree / "bench" / "instructions.py"), "--out", str(out)],
                   cwd=tree, check=True, timeout=3600)
    return json.loads(out.read_text())["cases"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="JSON result file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leukemia-cds-mypyc-") as tmp_name:
        tmp = Path(tmp_name)
        copy = tmp / "tree"
        copy_tracked(ROOT, copy)
        compile_modules(copy, COMPILED)
        sources = {m: f for m, f in imported_from(copy, COMPILED).items() if f.endswith(".py")}
        if sources:
            raise RuntimeError(f"still imported as Python after compiling: {sources}")
        # The copy first; this tree's count right after, so both see the same machine.
        compiled = count_in(copy, tmp / "compiled.json")
        interpreted = count_in(ROOT, tmp / "interpreted.json")
    result: dict[str, Any] = {
        "compiled_modules": list(COMPILED), "not_compiled": list(NOT_COMPILED),
        "cases": {case: {"interpreted": interpreted[case]["instructions_per_call"],
                         "compiled": compiled[case]["instructions_per_call"],
                         "compiled_ratio_to_floor": compiled[case]["ratio_to_floor"]}
                  for case in interpreted},
    }
    shell = {kind: result["cases"]["shell/200"][kind] for kind in ("interpreted", "compiled")}
    print("\ninstructions per call, interpreted -> mypyc-compiled")
    for case, row in result["cases"].items():
        print(f"{case:18} {row['interpreted'] / 1e6:6.2f} M -> {row['compiled'] / 1e6:6.2f} M "
              f"({row['compiled'] / row['interpreted']:.2f}x; x{row['compiled_ratio_to_floor']}"
              " the floor)")
        if case in ("patient-view/200", "order-sign/200"):
            beyond = {kind: row[kind] - shell[kind] for kind in shell}
            print(f"{'':18} clinical layers (beyond the shell): "
                  f"{beyond['interpreted'] / 1e6:.2f} M -> {beyond['compiled'] / 1e6:.2f} M "
                  f"({beyond['compiled'] / beyond['interpreted']:.2f}x)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
