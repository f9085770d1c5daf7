"""How fast the audit store grows: bytes on disk per audited hook call, measured, not guessed.

    python bench/storage.py                         # 2,000 calls into a throwaway SQLite store
    python bench/storage.py --database-url URL      # the same into a PostgreSQL database
    python bench/storage.py --quick                 # 40 calls (CI runs this so it cannot rot)

Every hook call leaves a row with its cards, and nothing is deleted automatically, so a hospital
sizing the database needs this figure beside the requests per second of `run.py`. The calls go
through the real app (in process): signed tokens, real cards, one transaction each, alternating
patient-view and order-sign for the benchmark's 200-resource patient, each with its own
hookInstance as an EHR sends. Sizes are read from the database after the calls, less its sizes
before them: SQLite's `dbstat`, PostgreSQL's
`pg_total_relation_size`. Both include the indexes. Use an empty database for PostgreSQL: the
figures are the growth of the tables during this run.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import ISS, SERVICE_FOR_HOOK, environment, request_body  # noqa: E402

from service import jsonio  # noqa: E402
from service.app import create_app  # noqa: E402
from service.config import Settings  # noqa: E402
from service.hooks import audit  # noqa: E402
from service.hooks.auth import LocalSigner  # noqa: E402
from service.store import Store  # noqa: E402
from service.store.schema import feedback, hook_call, issued_card, seen_jti  # noqa: E402

HOOKS = ("patient-view", "order-sign")
# What grows with each call; seen_jti is pruned once a token has expired, so it is reported
# apart: its size is bounded by calls per second x token lifetime, not by history.
TABLES = (hook_call.name, issued_card.name, seen_jti.name, feedback.name)


def table_bytes(engine: sa.Engine) -> dict[str, int]:
    """Bytes each of our tables takes with its indexes (and TOAST, on PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            return {name: int(conn.execute(sa.text("select pg_total_relation_size(:t)"),
                                           {"t": name}).scalar_one()) for name in TABLES}
        try:  # dbstat reads through the pager, so pages still in the WAL count too
            rows = conn.exec_driver_sql(
                "select s.tbl_name, sum(d.pgsize) from dbstat d "
                "join sqlite_schema s on s.name = d.name group by s.tbl_name").all()
        except sa.exc.OperationalError as exc:
            raise SystemExit(f"this SQLite cannot size tables (no dbstat: {exc.orig}); "
                             "Debian's libsqlite3 and python.org builds have it") from None
    found = {str(name): int(size) for name, size in rows}
    return {name: found.get(name, 0) for name in TABLES}


def row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {name: int(conn.execute(sa.text(f"select count(*) from {name}")).scalar_one())
                for name in TABLES}


def drive(client: Any, signer: LocalSigner, public: str, calls: int) -> int:
    """`calls` answered hook calls, hooks alternating, each with a fresh hookInstance; returns
    the number of cards answered, which the store's card rows must match."""
    bodies = {hook: request_body(200, hook) for hook in HOOKS}
    cards = 0
    for i in range(calls):
        hook = HOOKS[i % len(HOOKS)]
        path = f"/cds-services/{SERVICE_FOR_HOOK[hook]}"
        body = dict(bodies[hook], hookInstance=str(uuid.uuid4()))
        response = client.post(path, data=jsonio.dumps(body), content_type="application/json",
                               headers={"Authorization": f"Bearer {signer.token(public + path)}"})
        if response.status_code != 200:
            raise RuntimeError(f"{hook}: HTTP {response.status_code} "
                               f"{response.get_data(as_text=True)[:300]}")
        cards += len(response.get_json()["cards"])
    return cards


def measure(calls: int, database_url: str | None, data_dir: Path) -> dict[str, Any]:
    signer = LocalSigner.generate(ISS, alg="RS384")
    public = "http://bench.local"
    with environment(public, data_dir, signer) as env:
        if database_url:
            env["LEUKEMIA_CDS_DATABASE_URL"] = database_url
            env["LEUKEMIA_CDS_PSEUDONYM_KEY"] = secrets.token_hex(32)  # as replicas share one
        app = create_app(Settings.from_env(env))
    store: Store = app.extensions[audit.STORE]
    before_bytes, before_rows = table_bytes(store.engine), row_counts(store.engine)
    cards = drive(app.test_client(), signer, public, calls)
    after_bytes, after_rows = table_bytes(store.engine), row_counts(store.engine)
    dialect = store.engine.dialect.name
    store.close()

    grown = {name: after_bytes[name] - before_bytes[name] for name in TABLES}
    rows = {name: after_rows[name] - before_rows[name] for name in TABLES}
    result: dict[str, Any] = {"database": dialect, "calls": calls, "cards_answered": cards,
                              "rows": rows, "bytes_grown": grown}
    call_rows, card_rows = rows[hook_call.name], rows[issued_card.name]
    result["cards_per_call"] = round(card_rows / call_rows, 2)
    result["bytes_per_call_row"] = round(grown[hook_call.name] / call_rows)
    result["bytes_per_card_row"] = round(grown[issued_card.name] / card_rows)
    result["bytes_per_token_id_row"] = round(grown[seen_jti.name] / rows[seen_jti.name])
    history = (grown[hook_call.name] + grown[issued_card.name]) / call_rows
    result["history_bytes_per_answered_call"] = round(history)
    result["gb_per_million_calls"] = round(history * 1e6 / 1e9, 2)
    return result


def table(result: dict[str, Any]) -> str:
    return "\n".join([
        f"audit store growth, {result['database']}, {result['calls']} answered calls "
        f"({' and '.join(HOOKS)} alternating), {result['cards_per_call']} cards per call",
        f"call record     {result['bytes_per_call_row']:>6} bytes (with its indexes)",
        f"issued card     {result['bytes_per_card_row']:>6} bytes (with its indexes)",
        f"used token id   {result['bytes_per_token_id_row']:>6} bytes, pruned after expiry",
        f"history kept    {result['history_bytes_per_answered_call']:>6} bytes per answered "
        f"call = {result['gb_per_million_calls']} GB per million calls",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="40 calls (CI)")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: a throwaway SQLite)")
    parser.add_argument("--out", type=Path, help="JSON result file")
    args = parser.parse_args()
    calls = 40 if args.quick else args.calls
    if calls < 2:
        parser.error("--calls must be at least 2 (one of each hook)")
    with tempfile.TemporaryDirectory(prefix="leukemia-cds-storage-") as tmp:
        result = measure(calls, args.database_url, Path(tmp))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
