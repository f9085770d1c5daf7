"""`leukemia-cds trials`: fill the trial registry and say what it holds.

`sync` fetches the open leukemia trials from ClinicalTrials.gov API v2 (every page, or nothing);
`import` loads `/studies` responses saved as files (one or more pages); `status` prints what is
loaded and when it was refreshed. Every problem is one line
on stderr with exit status 2, and the registry is left as it was."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from service import jsonio
from service.config import ConfigError, Settings
from service.errors import StoreError
from service.store import Store, database_exists, database_url
from service.store.trial_registry import registry_state, replace_registry
from service.trials.ctgov import RegistryInputError, parse_response
from service.trials.model import OPEN_STATUSES, RegistryTrial
from service.trials.sync import SyncError, fetch_registry

EXIT_OK, EXIT_FAILED = 0, 2


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "trials", help="the trial registry: import ClinicalTrials.gov studies, show its state",
        description="The trial registry the trial cards read (kept in the service's database, "
                    "so every replica reads the same one; a running service sees a new import "
                    "within LEUKEMIA_CDS_TRIALS_REFRESH_S seconds).")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser(
        "import", help="replace the registry with the studies of saved API v2 responses",
        description="Replace the registry with the studies of ClinicalTrials.gov API v2 "
                    "/studies responses saved as JSON (give every page of a response). "
                    "A file that is not such a response, or a study without an NCT id or with "
                    "an unreadable age, stops the import with one line; the registry is left "
                    "as it was.")
    a.add_argument("files", nargs="+", type=Path, metavar="FILE")
    a.set_defaults(func=import_command)
    a = actions.add_parser(
        "sync", help="replace the registry with ClinicalTrials.gov's open leukemia trials",
        description="Fetch from ClinicalTrials.gov API v2 (LEUKEMIA_CDS_TRIALS_API_URL) every "
                    "interventional study in acute lymphoblastic or acute myeloid leukemia that "
                    "is recruiting or not yet recruiting, all pages, and replace the registry "
                    "with them. The query is the same for every run; no patient data is sent. "
                    "A failed or partial sync keeps the last good registry and exits 2 with one "
                    "line saying why.")
    a.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    a.set_defaults(func=sync_command)
    a = actions.add_parser("status", help="what the registry holds and when it was refreshed")
    a.set_defaults(func=status_command)


def _fail(message: str) -> int:
    print(f"leukemia-cds: {message}", file=sys.stderr)
    return EXIT_FAILED


def _open_store() -> tuple[Settings, Store]:
    settings = Settings.from_env()
    return settings, Store.open(database_url(settings.data_dir, settings.database_url))


def _replaced(store: Store, trials: list[RegistryTrial], source: str) -> int:
    """Replace the registry and say so in one line on stdout."""
    try:
        state = replace_registry(store, trials, source=source, refreshed_at=datetime.now(UTC))
    finally:
        store.close()
    open_ = sum(1 for t in {t.nct: t for t in trials}.values() if t.status in OPEN_STATUSES)
    print(f"leukemia-cds: trial registry: {state.trials} "
          f"{'study' if state.trials == 1 else 'studies'} from the {source} ({open_} "
          f"recruiting or not yet recruiting), refreshed {state.refreshed_at:%Y-%m-%d %H:%M} UTC")
    return EXIT_OK


def read_pages(files: Sequence[Path]) -> list[RegistryTrial]:
    """The studies of every page, in order; RegistryInputError (one line) for the first
    problem. The last page must not promise another: a partial response is not a registry."""
    trials: list[RegistryTrial] = []
    token = None
    for path in files:
        try:
            doc = jsonio.read_file(path)
        except jsonio.FileProblem as exc:
            raise RegistryInputError(f"{path}: {exc}") from None
        page, token = parse_response(doc, where=str(path))
        trials.extend(page)
    if token is not None:
        raise RegistryInputError(
            f"{files[-1]}: the response continues on another page (nextPageToken); give "
            "every page, or use `leukemia-cds trials sync`")
    return trials


def import_command(args: argparse.Namespace) -> int:
    try:
        trials = read_pages(args.files)
        _, store = _open_store()
    except (RegistryInputError, ConfigError, StoreError) as exc:
        return _fail(str(exc))
    return _replaced(store, trials, "import of " + ", ".join(p.name for p in args.files))


def sync_command(args: argparse.Namespace) -> int:
    try:
        settings, store = _open_store()
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    try:
        trials = fetch_registry(settings.trials_api_url, progress=sys.stderr if show else None)
    except SyncError as exc:
        kept = registry_state(store)
        store.close()
        left = (f"the registry of {kept.refreshed_at:%Y-%m-%d} ({kept.trials} studies) is kept"
                if kept else "no registry was imported before")
        return _fail(f"trials sync failed, {left}: {exc}")
    return _replaced(store, trials, f"sync of {settings.trials_api_url}")


def status_command(args: argparse.Namespace) -> int:
    try:
        settings = Settings.from_env()
        state = None
        if database_exists(settings.data_dir, settings.database_url):
            store = Store.open(database_url(settings.data_dir, settings.database_url))
            try:
                state = registry_state(store)
            finally:
                store.close()
    except (ConfigError, StoreError) as exc:
        return _fail(str(exc))
    if state is None:
        print("No trial registry imported here: trial cards name the seeds' trials "
              "(2019-2025), labelled so. Run `leukemia-cds trials sync` or `trials import`.")
        return EXIT_OK
    print(f"{state.trials} {'study' if state.trials == 1 else 'studies'}, refreshed "
          f"{state.refreshed_at:%Y-%m-%d %H:%M} UTC from {state.source}")
    return EXIT_OK
