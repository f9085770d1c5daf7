"""`leukemia-cds synth`: write synthetic patients as FHIR Bundles (or hook requests) to a folder.

Output is for people and programs alike: one file per patient named after the patient id, a
progress bar on stderr when writing many (stdout stays clean for scripting), and a one-line
summary at the end. Problems are one line on stderr with exit status 2, like `serve`.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from datetime import date
from pathlib import Path
from typing import TextIO

from service.synth.generator import DEFAULT_SIZE, dumps, generate_many
from service.synth.hooks import hook_request
from service.synth.scenarios import FAMILIES, SCENARIOS


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "synth", help="write synthetic patients as FHIR R4 Bundles",
        description="Write synthetic acute-leukemia patients as FHIR R4 Bundles, one file per "
                    "patient. The same --seed and --as-of always give byte-identical files.")
    p.add_argument("--scenario", action="append", metavar="NAME",
                   help="scenario to generate (repeatable; default: all; see --list)")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--count", type=int, default=1, help="patients per scenario (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, default=DEFAULT_SIZE,
                   help=f"resources per patient, noise included (default {DEFAULT_SIZE}; "
                        "benchmarks use 50, 200, 1000)")
    p.add_argument("--as-of", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="day the charts are current on; ages are exact then (default today)")
    p.add_argument("--type", choices=("collection", "transaction"), default="collection",
                   dest="bundle_type", help="Bundle type (default collection)")
    p.add_argument("--emit", choices=("bundle", "request", "both"), default="bundle",
                   help="write Bundles, patient-view hook requests, or both (default bundle)")
    p.add_argument("--out", type=Path, default=Path("synthetic-patients"),
                   help="output folder (default ./synthetic-patients)")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    p.set_defaults(func=synth_command)


def list_scenarios(out: TextIO) -> None:
    width = max(len(s) for s in SCENARIOS)
    for s in SCENARIOS.values():
        print(f"{s.id:<{width}}  {s.title}", file=out)
        print(f"{'':<{width}}  families: {', '.join(s.families)}", file=out)
        if s.planted:
            print(f"{'':<{width}}  planted findings: {', '.join(s.planted)}", file=out)
    print(f"\nrule families: {'; '.join(f'{k} = {v}' for k, v in FAMILIES.items())}", file=out)


class Progress:
    """A plain-text bar that redraws in place; no dependency, nothing on stdout."""

    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total, self.stream, self.enabled, self.done = total, stream, enabled, 0

    def step(self, label: str) -> None:
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r[{bar}] {self.done}/{self.total} {label[:40]:<40}")
        if self.done == self.total:
            self.stream.write("\n")
        self.stream.flush()


def synth_command(args: argparse.Namespace) -> int:
    if args.list:
        list_scenarios(sys.stdout)
        return 0
    unknown = [s for s in args.scenario or () if s not in SCENARIOS]
    if unknown:
        print(f"leukemia-cds: unknown scenario {unknown[0]!r} (see leukemia-cds synth --list)",
              file=sys.stderr)
        return 2
    if args.count < 1 or args.size < 1:
        print("leukemia-cds: --count and --size must be at least 1", file=sys.stderr)
        return 2
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"leukemia-cds: cannot create {args.out}: {exc.strerror}", file=sys.stderr)
        return 2
    scenario_ids = args.scenario or list(SCENARIOS)
    total = len(scenario_ids) * args.count
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    progress = Progress(total, sys.stderr, bool(show) and total > 1)
    written = 0
    for patient in generate_many(scenario_ids, count=args.count, seed=args.seed,
                                 size=args.size, as_of=args.as_of):
        bundle = patient.bundle(args.bundle_type)
        if args.emit in ("bundle", "both"):
            (args.out / f"{patient.patient_id}.json").write_text(dumps(bundle), "utf-8")
            written += 1
        if args.emit in ("request", "both"):
            # A UUID as CDS Hooks requires, derived from the patient so output stays identical.
            instance = uuid.uuid5(uuid.NAMESPACE_URL, f"urn:lcds:synth:{patient.patient_id}")
            body = hook_request(bundle, "patient-view", hook_instance=str(instance))
            (args.out / f"{patient.patient_id}.patient-view.json").write_text(dumps(body),
                                                                              "utf-8")
            written += 1
        progress.step(patient.patient_id)
    noun = "patient" if total == 1 else "patients"
    files = "file" if written == 1 else "files"
    print(f"leukemia-cds synth: {total} {noun}, {written} {files} in {args.out}",
          file=sys.stderr)
    return 0
