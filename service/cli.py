"""`leukemia-cds` command line: `serve` runs the real service under gunicorn; `audit` shows a
clinical lead what the service said and how clinicians answered; `knowledge` exports the rules
as FHIR artefacts for a governance committee and compares two exports.

Start-up problems (a bad setting, a broken catalogue) are reported as one line on stderr with exit
status 2, before any worker is forked: the hospital engineer sees the cause, not a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service import __version__, logs
from service.config import ConfigError, Settings
from service.errors import StartupError


def _fail(message: str) -> int:
    print(f"leukemia-cds: {message}", file=sys.stderr)
    return 2


def gunicorn_options(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """gunicorn's configuration. `service.worker.Worker` is gthread with each request read in
    full by the worker's event loop before a thread gets it (slow clients: issue 21); its
    header timeout is `keepalive`, its body timeout and size limit the service's settings.
    `timeout` bounds a worker whose main loop stops answering."""
    return {
        "bind": f"{args.host}:{args.port}",
        "workers": args.workers or settings.workers,
        "worker_class": "service.worker.Worker",
        "threads": settings.threads,
        "worker_connections": settings.worker_connections,
        "timeout": settings.worker_timeout_s,
        "graceful_timeout": 10,
        "keepalive": settings.header_timeout_s,
        "loglevel": settings.log_level.lower(),
        "accesslog": None,
        "errorlog": "-",
        "logger_class": "service.server_log.Logger",  # no client bytes (tokens) in its lines
        "proc_name": "leukemia-cds",
        # gunicorn's control socket writes under $HOME; a read-only container has no such place.
        "control_socket_disable": True,
        # files the workers create (SQLite audit, its WAL) are the service user's alone
        "umask": 0o077,
        "child_exit": _child_exit,  # drop a dead worker's live metrics (gauges) from /metrics
        "on_exit": _remove_metrics_dir,
        # Bounded work: gunicorn's own request-line and header limits stay at their defaults.
    }


SHARED_MEMORY = Path("/dev/shm")


def prepare_metrics_dir(data_dir: Path, shared_memory: Path = SHARED_MEMORY) -> Path:
    """Workers write metric files here; it must be set before prometheus_client is imported
    (it picks its storage at import) and start empty (stale files would double-count).

    In shared memory when the machine has it, not in the data folder: prometheus_client
    writes through memory-mapped files, and a memory-mapped write to a full disk kills the
    worker with SIGBUS, so a full data disk crash-looped every worker (issue 21). One folder
    per user and data folder, so a restart reuses (and empties) its own; removed when the
    service stops (`_remove_metrics_dir`)."""
    data = data_dir.resolve()
    target = data / "prometheus"
    if shared_memory.is_dir() and os.access(shared_memory, os.W_OK):
        digest = hashlib.sha256(str(data).encode()).hexdigest()[:12]
        shared = shared_memory / f"leukemia-cds-metrics-{os.getuid()}-{digest}"
        shutil.rmtree(shared, ignore_errors=True)
        try:
            shared.mkdir(mode=0o700)
            target = shared
        except OSError:  # someone else's folder of that name: stay in the data folder
            pass
    if target.parent == data:
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(target)
    return target


def _remove_metrics_dir(server: Any) -> None:
    """gunicorn's `on_exit`: the shared-memory folder does not outlive the service."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if folder.startswith(str(SHARED_MEMORY) + "/"):
        shutil.rmtree(folder, ignore_errors=True)


def _child_exit(server: Any, worker: Any) -> None:
    from service import metrics

    metrics.worker_exited(worker.pid)


def serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    os.umask(0o077)  # the audit database and keys are the service user's alone (issue 21)
    problem = _can_listen(args.host, args.port)
    if problem:
        return _fail(problem)
    try:
        env_settings = Settings.from_env()
    except ConfigError as exc:
        return _fail(str(exc))
    # A serve that fails leaves no data folder behind: an empty database and a key would make
    # `audit` report "0 calls" where the truth is that the service never ran here (issue 22).
    fresh = not env_settings.data_dir.exists()
    try:
        metrics_dir = prepare_metrics_dir(env_settings.data_dir)
    except OSError as exc:
        return _fail(f"LEUKEMIA_CDS_DATA_DIR: cannot write there ({exc.strerror})")

    from service.app import create_app, settle_heap
    from service.sandbox import serve_profile, warn_if_exposed

    try:
        settings = serve_profile(env_settings, os.environ, args.host, args.port)
        logs.configure(settings.log_level)
        dry_run = create_app(settings)  # catalogues, terminology, store: here or never
    except StartupError as exc:  # ConfigError, CatalogueError, TerminologyError, StoreError
        if metrics_dir.is_relative_to(SHARED_MEMORY):
            shutil.rmtree(metrics_dir, ignore_errors=True)
        if fresh:
            shutil.rmtree(env_settings.data_dir, ignore_errors=True)
        return _fail(str(exc))
    dry_run.extensions["leukemia_cds.store"].close()  # workers open their own connections
    warn_if_exposed(settings, args.host, args.port)

    options = gunicorn_options(settings, args)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            app = create_app(settings)
            settle_heap()
            return app

    print(f"leukemia-cds {__version__} listening on http://{args.host}:{args.port}",
          file=sys.stderr, flush=True)
    Server().run()
    return 0


def audit(args: argparse.Namespace) -> int:
    from service.audit_report import audit_command

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        return _fail(str(exc))
    return audit_command(settings, limit=args.limit, days=args.days, comments=args.comments)


def facts(args: argparse.Namespace) -> int:
    from service.fhir.report import EXIT_CONFIG, facts_command

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"leukemia-cds: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return facts_command(args.file, profiles_dir=settings.profiles_dir, policy=settings.policy,
                         as_json=args.json, site_map=settings.site_conceptmap)


def rules(args: argparse.Namespace) -> int:
    from service.rule_book import rules_command

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        return _fail(str(exc))
    return rules_command(settings.cards_dir)


def knowledge(args: argparse.Namespace) -> int:
    from service import knowledge as k

    if args.action == "diff":  # two folders of files: no settings needed
        return k.diff_command(Path(args.old), Path(args.new))
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        return _fail(str(exc))
    return k.export_command(settings.cards_dir, Path(args.out))


MAIN_HELP = """\
leukemia-cds: clinical decision support for acute leukemia immunotherapy, answering CDS Hooks
2.0 calls (patient-view, order-select, order-sign) from an EHR with cards.

Start with `leukemia-cds serve` and open http://127.0.0.1:8080/ (the sandbox), or
`leukemia-cds facts FILE` to see what the service reads in a Bundle exported from your EHR."""

MAIN_EPILOG = """\
Settings are LEUKEMIA_CDS_* environment variables (README, "Configuration"). A problem at
start-up (a bad setting, an unreadable catalogue, a port in use) is one line on stderr starting
"leukemia-cds:", with exit status 2. `leukemia-cds COMMAND --help` describes each command."""

SERVE_HELP = """\
Run the service under gunicorn. The catalogue, terminology and audit store are loaded and
checked before anything listens; a problem is one line and exit status 2, and nothing is left
behind in the data folder."""

SERVE_EPILOG = """\
With no LEUKEMIA_CDS_CLIENTS (and LEUKEMIA_CDS_SANDBOX unset), this is the development
profile: the sandbox page at / is on and is the only trusted client (anyone who reaches it gets
a token, hence 127.0.0.1 by default).
For production set at least:
  LEUKEMIA_CDS_SANDBOX=off
  LEUKEMIA_CDS_PUBLIC_URL=https://cds.hospital.example   the URL the EHR calls
  LEUKEMIA_CDS_CLIENTS=/etc/leukemia-cds/clients.json    the EHRs trusted to call
and for several replicas LEUKEMIA_CDS_DATABASE_URL and LEUKEMIA_CDS_PSEUDONYM_KEY.
LEUKEMIA_CDS_DATA_DIR (default ./data) holds the SQLite audit store and generated key;
LEUKEMIA_CDS_WORKERS and LEUKEMIA_CDS_THREADS size gunicorn. Every setting: README,
"Configuration"."""

AUDIT_HELP = """\
What the service said and what clinicians did with it: recent hook calls, then per
recommendation how often its card was issued, accepted and overridden, with the reasons.
Reads the same LEUKEMIA_CDS_DATA_DIR or LEUKEMIA_CDS_DATABASE_URL as the service. Shows no
patient identifier. Exit status 0; 1 when the service has not run here yet (no audit database);
2 when the database cannot be opened."""

FACTS_HELP = """\
Check an EHR feed before go-live: read a FHIR Bundle (or a whole CDS Hooks request) as the
service would, and print every fact with its source resource, the draft orders, the
data-quality findings, where every resource went (used, superseded, reported, set aside) and a
worklist of codes to map in the site ConceptMap."""

FACTS_EPILOG = """\
exit status:
  0  the file was read (with or without findings)
  2  the file is not a readable Bundle or hook request (missing, empty, not JSON, a folder)
  3  the FHIR profiles or the site ConceptMap cannot be loaded (LEUKEMIA_CDS_PROFILES_DIR,
     LEUKEMIA_CDS_SITE_CONCEPTMAP)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leukemia-cds", description=MAIN_HELP, epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"leukemia-cds {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the CDS Hooks service under gunicorn",
                       description=SERVE_HELP, epilog=SERVE_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8080, help="port to bind (default 8080)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="worker processes (default LEUKEMIA_CDS_WORKERS or 2)")
    p.set_defaults(func=serve)

    p = sub.add_parser("audit", help="recent hook calls and feedback per recommendation",
                       description=AUDIT_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--limit", type=_positive, default=20,
                   help="recent calls to list (default 20)")
    p.add_argument("--days", type=_positive, default=None,
                   help="count feedback of the last N days only (default: all)")
    p.add_argument("--comments", action="store_true",
                   help="also print clinicians' override comments (free text; may hold PHI)")
    p.set_defaults(func=audit)

    p = sub.add_parser("facts", help="print what the service understands of a FHIR Bundle, "
                                     "and where every resource went",
                       description=FACTS_HELP, epilog=FACTS_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", help="a FHIR Bundle or a CDS Hooks request, as JSON")
    p.add_argument("--json", action="store_true",
                   help="the same report as JSON (facts, findings, every resource's fate, "
                        "the worklist)")
    p.set_defaults(func=facts)

    p = sub.add_parser("rules", help="print the rule book a clinical reviewer reads (Markdown)")
    p.set_defaults(func=rules)

    p = sub.add_parser("knowledge", help="the rules as FHIR knowledge artefacts "
                                         "(PlanDefinition, Library), and what changed")
    actions = p.add_subparsers(dest="action", required=True)
    a = actions.add_parser("export", help="write one PlanDefinition per rule and a Library "
                                          "manifest (FHIR R4 JSON)")
    a.add_argument("--out", required=True, help="folder to write into (created if absent)")
    a.set_defaults(func=knowledge)
    a = actions.add_parser("diff", help="rules added, removed and changed between two exports "
                                        "(plain text, for sign-off)")
    a.add_argument("old", help="folder of the earlier export")
    a.add_argument("new", help="folder of the later export")
    a.set_defaults(func=knowledge)

    from service.synth.command import add_parser as add_synth_parser
    from service.trials.command import add_parser as add_trials_parser

    add_synth_parser(sub)
    add_trials_parser(sub)
    return parser


def _port(raw: str) -> int:
    value = _positive(raw)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return value


def _can_listen(host: str, port: int) -> str | None:
    """Why `host:port` cannot be bound, or None: asked before start-up, so a port in use or a
    host that is not this machine's is one line, not a false "listening on" and gunicorn's
    retries."""
    import socket

    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"--host {host!r}: not an address of this machine ({exc.strerror or exc})"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return f"cannot listen on {host}:{port} ({exc.strerror or exc})"
    return None


def _positive(raw: str) -> int:
    """A whole number of at least 1 (`--days 0` read as "all time", `--days -1` as a date in
    the future, and `--limit -3`, were accepted)."""
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure("INFO")
    try:
        return int(args.func(args))
    except PermissionError as exc:
        # the last net for data the service's user may not read (a hardened host's umask 077)
        return _fail(f"cannot read {exc.filename} ({exc.strerror}): the user running "
                     "leukemia-cds needs read access to it")
    except BrokenPipeError:
        # `leukemia-cds audit | head`: the reader left; that is not an error worth a traceback.
        # Point stdout at nothing so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
