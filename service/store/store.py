"""The audit store: hook calls, the cards they issued, feedback on those cards, and used JWT ids.

SQLite in the data directory by default, PostgreSQL by URL. Both are shared by every gunicorn
worker and, for PostgreSQL, every replica, which is what makes the replay check and the
"was this card ours?" check hold across processes. SQLite runs in WAL mode with a busy timeout,
and each transaction takes the write lock up front (`BEGIN IMMEDIATE`), so concurrent writers
queue instead of failing with "database is locked" on a lock upgrade.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from service import jsonio
from service.errors import StoreError
from service.store import schema
from service.store.schema import feedback, hook_call, issued_card, seen_jti

log = logging.getLogger(__name__)

SQLITE_FILE = "leukemia-cds.sqlite3"
_BUSY_TIMEOUT_MS = 10_000
_BACKSTOP_CHECKPOINT_PAGES = 10_000
_CHECKPOINT_EVERY_S = 1.0


def _cause(exc: Exception) -> str:
    """The driver error's class name behind a SQLAlchemy error (only DBAPI errors carry one):
    what logs and refusals name, since the driver's message can contain the database URL."""
    return type(getattr(exc, "orig", None) or exc).__name__


# What a connection failure was, read from the driver's message (which is never shown: it can
# carry the URL): the hospital engineer needs "refused" or "authentication", not a class name.
_REASONS = (
    (("password authentication failed", "authentication failed", "no password supplied"),
     "authentication failed (user or password)"),
    (("could not translate host name", "name or service not known", "nodename nor servname",
      "temporary failure in name resolution"), "the host name does not resolve"),
    (("connection refused",), "connection refused (nothing listens there)"),
    (("timeout expired", "timed out"), "timed out"),
    (("ssl", "certificate", "tls"), "TLS failed (sslmode or certificate)"),
    (("does not exist",), "that database does not exist"),
    (("no route to host", "network is unreachable"), "no route to the host"),
)


def _connect_reason(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc).lower()
    for needles, reason in _REASONS:
        if any(n in text for n in needles):
            return f"{reason}; {_cause(exc)}"
    return _cause(exc)


class Replayed(Exception):
    """The call's token id was already used by its issuer; nothing of the call was written."""


@dataclass(frozen=True)
class TokenClaim:
    """A token id to record as used, with when it may be forgotten (it cannot be replayed
    once expired)."""

    iss: str
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedCard:
    card_uuid: str | None
    recommendation_id: str | None
    suggestion_uuids: tuple[str, ...] = ()


@dataclass
class CallRecord:
    """What is kept of one hook call. Deliberately no body, prefetch or token fields."""

    received_at: datetime
    request_id: str
    status: int
    latency_ms: int
    service_id: str | None = None
    hook: str | None = None
    hook_instance: str | None = None
    iss: str | None = None
    tenant: str | None = None
    jti: str | None = None
    patient_key: str | None = None
    knowledge_version: str | None = None  # the catalogue's version the call answered with
    cards: list[IssuedCard] = field(default_factory=list)


@dataclass(frozen=True)
class CardOrigin:
    """Where an issued card came from: enough to check and file feedback on it."""

    call_id: int
    service_id: str
    iss: str | None
    recommendation_id: str | None
    suggestion_uuids: frozenset[str]
    tenant: str | None = None
    feedback_count: int = 0  # feedback records already stored for this card


@dataclass(frozen=True)
class FeedbackRecord:
    call_id: int
    service_id: str
    iss: str | None
    card_uuid: str
    recommendation_id: str | None
    outcome: str
    accepted_suggestions: tuple[str, ...]
    reason_system: str | None
    reason_code: str | None
    reason_display: str | None
    user_comment: str | None
    outcome_at: datetime

    def dedup_key(self) -> str:
        """Identity of a feedback item: the same report sent twice is one report."""
        material = [self.service_id, self.iss, self.card_uuid, self.outcome,
                    sorted(self.accepted_suggestions), self.reason_system, self.reason_code,
                    self.user_comment, self.outcome_at.isoformat()]
        return hashlib.sha256(jsonio.dumps(material)).hexdigest()


@dataclass
class RecommendationSummary:
    recommendation_id: str
    issued: int = 0
    accepted: int = 0
    overridden: int = 0
    override_reasons: Counter[str] = field(default_factory=Counter)
    comments: list[str] = field(default_factory=list)


def database_url(data_dir: Path, configured: str | None) -> str:
    if configured:
        return configured
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def database_exists(data_dir: Path, configured: str | None) -> bool:
    """Whether there is a database to read: a configured URL, or the SQLite file the service
    creates on its first start (a report must not create an empty one)."""
    return bool(configured) or (data_dir / SQLITE_FILE).exists()


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": _BUSY_TIMEOUT_MS / 1000},
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
            # We issue BEGIN ourselves (below); pysqlite's implicit transactions are off.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Checkpoints are `_Checkpointer`'s job, off the request path; this is only the
            # backstop should it stall (10,000 pages, about 40 MB of WAL).
            cursor.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_CHECKPOINT_PAGES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # A writer takes the write lock up front; a reader only takes a snapshot and never
            # waits for, or holds up, a writer.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITER) else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5,
                         pool_recycle=1800)


_WRITER = "lcds_writer"


@contextlib.contextmanager
def _write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: on SQLite it begins IMMEDIATE (see `_make_engine`)."""
    with engine.connect() as conn:
        conn.info[_WRITER] = True
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info[_WRITER] = False


class _Prepared:
    """A statement compiled once for the engine's dialect and run on the driver's own cursor.

    For the statements of the hook-call path (replay claim, call record, cards; the replay lookup
    before a FHIR fetch): SQLAlchemy's per-execution machinery cost about 0.1 ms a statement —
    more than SQLite takes to run one. Values still pass through each column type's bind
    processor, so what is stored is exactly what SQLAlchemy itself would store, and reads
    through SQLAlchemy see it as such.
    """

    def __init__(self, statement: Any, dialect: Any, columns: Sequence[str] = ()) -> None:
        compiled = statement.compile(dialect=dialect, column_keys=list(columns) or None)
        self.sql = str(compiled)
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None
        self._processors: dict[str, Any] = {}
        for name, bind in compiled.binds.items():
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self._processors[name] = processor

    def params(self, values: dict[str, Any]) -> Any:
        converted = {name: (self._processors[name](value) if name in self._processors
                            else value) for name, value in values.items()}
        if self._order is None:
            return converted
        return tuple(converted[name] for name in self._order)


def _insert_ignore_statement(dialect_name: str, table: Any) -> Any:
    """INSERT … ON CONFLICT DO NOTHING RETURNING key: one statement, so two processes racing on
    the same unique key cannot both win. RETURNING, not rowcount: drivers report -1 for a row
    count they did not compute. Built once per table; values come as execution parameters, so
    SQLAlchemy compiles it once too."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    return dialect.insert(table).on_conflict_do_nothing().returning(key)


class _SqliteWriteLock:
    """One writer at a time, across threads and gunicorn workers, queued by the kernel.

    Without it, concurrent writers collide on `BEGIN IMMEDIATE` and SQLite's busy handler makes
    the losers sleep and retry (up to 100 ms a step): throughput collapses and the tail grows to
    seconds. A thread lock orders this process's threads; `flock` on a file beside the database
    orders the processes and wakes the next writer the moment the lock is released. The file is
    opened per process (after fork), since a shared open file would not exclude anything.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._thread_lock:
            if self._fd is None or self._pid != os.getpid():
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                self._pid = os.getpid()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)


class _Checkpointer:
    """Copies the SQLite WAL back into the database once a second, in a thread of its own.

    With SQLite's default (a checkpoint by whichever commit fills 1,000 pages), every hundredth
    or so hook call pays for copying the log and an fsync — a stall of milliseconds for that
    clinician, and a whole worker idle meanwhile. PASSIVE never waits for, or blocks, the
    writers. Started lazily by the first write in each process, since threads do not survive
    gunicorn's fork.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._pid = 0
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        pid, failures = self._pid, 0
        while pid == self._pid:
            time.sleep(_CHECKPOINT_EVERY_S)
            try:
                # The driver connection itself: a checkpoint cannot run inside the transaction
                # SQLAlchemy would begin around it.
                raw = self.engine.raw_connection()
                try:
                    driver: Any = raw.driver_connection  # the sqlite3 connection
                    driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    raw.close()
                failures = 0
            except (SQLAlchemyError, sqlite3.Error) as exc:
                # Busy or locked by a writer at that instant is normal: next second. Only a
                # long run of failures is worth a line (the backstop checkpoints meanwhile).
                failures += 1
                if failures % 60 == 0:
                    log.warning("WAL checkpoints keep failing (%s); SQLite's own checkpoint "
                                "takes over", _cause(exc),
                                extra={"event": "store_error"})

    def stop(self) -> None:
        self._pid = -1


def _private_sqlite_files(path: Path) -> None:
    """The audit database holds pseudonymised calls and feedback: readable by the service
    user only (0600), whatever the umask. SQLite gives its -wal and -shm files the database
    file's mode, so creating that file with 0600 covers them; files of an older install are
    tightened here too."""
    if str(path) in ("", ":memory:"):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in ("", "-wal", "-shm", ".writelock"):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            os.chmod(f"{path}{suffix}", 0o600)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        database = engine.url.database if engine.dialect.name == "sqlite" else None
        on_disk = bool(database) and database != ":memory:"
        self._write_lock = _SqliteWriteLock(Path(f"{database}.writelock")) if on_disk else None
        self._checkpointer = _Checkpointer(engine) if on_disk else None
        # Statements of the per-call path, built once: building and cache-keying a statement
        # per call cost more than executing it.
        dialect = engine.dialect
        self._sqlite = dialect.name == "sqlite"
        self._dbapi_error: type[Exception] = dialect.loaded_dbapi.Error
        self._add_feedback = _insert_ignore_statement(dialect.name, feedback)
        self._jti_used = _Prepared(select(seen_jti.c.jti).where(
            seen_jti.c.iss == bindparam("iss"), seen_jti.c.jti == bindparam("jti")), dialect)
        self._claim_jti = _Prepared(_insert_ignore_statement(dialect.name, seen_jti), dialect,
                                    ("iss", "jti", "expires_at"))
        self._prune_jti = _Prepared(
            delete(seen_jti).where(seen_jti.c.expires_at < bindparam("now")), dialect)
        call_columns = [c.name for c in hook_call.columns if c.name != "id"]
        self._add_call = _Prepared(insert(hook_call).returning(hook_call.c.id), dialect,
                                   call_columns)
        self._add_card = _Prepared(insert(issued_card), dialect,
                                   [c.name for c in issued_card.columns if c.name != "id"])

    def _my_turn(self) -> contextlib.AbstractContextManager[Any]:
        """Held around every write: on an SQLite file, writers take turns (see
        `_SqliteWriteLock`), and this process's checkpointer is running."""
        if self._write_lock is None or self._checkpointer is None:
            return contextlib.nullcontext()
        self._checkpointer.ensure_running()
        return self._write_lock.held()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction through SQLAlchemy."""
        with self._my_turn(), _write_transaction(self.engine) as conn:
            yield conn

    def writing(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction for the tables kept beside the audit (the trial registry)."""
        return self._writing()

    @contextlib.contextmanager
    def _cursor(self, *, write: bool) -> Iterator[Any]:
        """A driver cursor, in a transaction committed on success, for `_Prepared` statements.
        Driver errors come out as SQLAlchemy's, as from every other method here."""
        dbapi_error = self._dbapi_error
        with self._my_turn() if write else contextlib.nullcontext():
            try:  # the pool hands the driver's own error out of a failed connect: wrap it too
                raw = self.engine.raw_connection()
            except dbapi_error as exc:  # (PostgreSQL down gave a 500, issue 21)
                raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
            try:
                cursor = raw.cursor()
                if write and self._sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                yield cursor
                raw.commit()
            except dbapi_error as exc:
                raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
            finally:
                raw.close()  # back to the pool, which rolls back whatever was not committed

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect and create or upgrade the schema. Raises `StoreError` with a one-line cause."""
        if url.startswith("sqlite:///"):
            _private_sqlite_files(Path(url.removeprefix("sqlite:///")))
        engine = _make_engine(url)
        try:
            with _write_transaction(engine) as conn:
                schema.upgrade(conn)
        except schema.SchemaTooNew as exc:
            engine.dispose()
            raise StoreError(str(exc)) from None
        except SQLAlchemyError as exc:
            engine.dispose()
            # The driver's message can contain the URL: name the backend, where it was looked
            # for (host and port, never the password) and what went wrong, in our words.
            where = (f" at {engine.url.host}:{engine.url.port or 5432}"
                     if engine.dialect.name == "postgresql" and engine.url.host else "")
            raise StoreError(
                f"cannot open the audit database ({engine.dialect.name}{where}): "
                f"{_connect_reason(exc)}"
            ) from None
        return cls(engine)

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self.engine.dispose()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def ping(self) -> str | None:
        """A readiness problem, or None."""
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return f"audit database unreachable ({_cause(exc)})"
        return None

    # ---- JWT replay ------------------------------------------------------------------------

    def remember_jti(self, iss: str, jti: str, expires_at: datetime) -> bool:
        """Record a token id; False if this issuer already used it (a replay)."""
        with self._cursor(write=True) as cursor:
            return self._claim(cursor, TokenClaim(iss, jti, expires_at))

    def jti_used(self, iss: str, jti: str) -> bool:
        """Whether this issuer's token id is on record. A read, without the write lock: it
        refuses a known replay before the EHR's FHIR server is contacted; only the claim at
        commit (`record_call`) is decisive."""
        with self._cursor(write=False) as cursor:
            cursor.execute(self._jti_used.sql, self._jti_used.params({"iss": iss, "jti": jti}))
            return cursor.fetchone() is not None

    def _claim(self, cursor: Any, claim: TokenClaim) -> bool:
        if random.random() < 0.02:  # prune now and then; expired ids cannot be replayed
            cursor.execute(self._prune_jti.sql, self._prune_jti.params({"now": datetime.now(UTC)}))
        values = {"iss": claim.iss, "jti": claim.jti, "expires_at": claim.expires_at}
        cursor.execute(self._claim_jti.sql, self._claim_jti.params(values))
        return cursor.fetchone() is not None

    # ---- hook calls ------------------------------------------------------------------------

    def record_call(self, record: CallRecord, claim: TokenClaim | None = None) -> int:
        """Write the call and its cards. With `claim`, the token id is recorded in the same
        transaction (one commit per call, not two); if the issuer already used it, nothing is
        written and `Replayed` is raised, so of two calls racing with one token only one can
        be answered."""
        with self._cursor(write=True) as cursor:
            if claim is not None and not self._claim(cursor, claim):
                raise Replayed(claim.jti)
            values = {k: v for k, v in vars(record).items() if k != "cards"}
            cursor.execute(self._add_call.sql, self._add_call.params(values))
            call_id = int(cursor.fetchone()[0])
            if record.cards:
                cursor.executemany(self._add_card.sql, [self._add_card.params(
                    {"call_id": call_id, "card_uuid": card.card_uuid,
                     "recommendation_id": card.recommendation_id,
                     "suggestion_uuids": jsonio.dumps(list(card.suggestion_uuids)).decode()})
                    for card in record.cards])
        return call_id

    def find_card(self, card_uuid: str) -> CardOrigin | None:
        """The most recent call that issued a card with this uuid."""
        stored = (select(func.count()).select_from(feedback)
                  .where(feedback.c.card_uuid == card_uuid).scalar_subquery())
        query = (
            select(issued_card.c.call_id, issued_card.c.recommendation_id,
                   issued_card.c.suggestion_uuids, hook_call.c.service_id, hook_call.c.iss,
                   hook_call.c.tenant, stored.label("stored"))
            .join(hook_call, hook_call.c.id == issued_card.c.call_id)
            .where(issued_card.c.card_uuid == card_uuid)
            .order_by(issued_card.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return CardOrigin(
            call_id=row.call_id, service_id=row.service_id, iss=row.iss,
            recommendation_id=row.recommendation_id,
            suggestion_uuids=frozenset(jsonio.loads(row.suggestion_uuids)),
            tenant=row.tenant, feedback_count=int(row.stored or 0),
        )

    # ---- feedback --------------------------------------------------------------------------

    def record_feedback(self, items: Sequence[FeedbackRecord]) -> int:
        """Store all items in one transaction; returns how many were new (not duplicates)."""
        now = datetime.now(UTC)
        new = 0
        with self._writing() as conn:
            for item in items:
                values = {k: v for k, v in vars(item).items()}
                values["accepted_suggestions"] = jsonio.dumps(
                    sorted(item.accepted_suggestions)).decode()
                values.update(dedup_key=item.dedup_key(), received_at=now)
                new += conn.execute(self._add_feedback, values).first() is not None
        return new

    # ---- reading, for `leukemia-cds audit` -------------------------------------------------

    def recent_calls(self, limit: int = 20) -> list[dict[str, Any]]:
        cards = (select(func.count()).where(issued_card.c.call_id == hook_call.c.id)
                 .scalar_subquery())
        query = (select(hook_call, cards.label("cards"))
                 .order_by(hook_call.c.received_at.desc(), hook_call.c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def count_calls(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(hook_call)).scalar() or 0)

    def feedback_summary(self, since: datetime | None = None) -> list[RecommendationSummary]:
        """Per recommendation id: cards issued, accepted, overridden and why."""
        summaries: dict[str, RecommendationSummary] = {}

        def entry(rec_id: str | None) -> RecommendationSummary:
            key = rec_id or "(no recommendation id)"
            return summaries.setdefault(key, RecommendationSummary(key))

        issued = (select(issued_card.c.recommendation_id, func.count())
                  .join(hook_call, hook_call.c.id == issued_card.c.call_id)
                  .group_by(issued_card.c.recommendation_id))
        given = select(feedback.c.recommendation_id, feedback.c.outcome, feedback.c.reason_code,
                       feedback.c.reason_display, feedback.c.user_comment)
        if since is not None:
            issued = issued.where(hook_call.c.received_at >= since)
            given = given.where(feedback.c.received_at >= since)
        with self.engine.connect() as conn:
            for rec_id, count in conn.execute(issued):
                entry(rec_id).issued += int(count)
            for row in conn.execute(given):
                summary = entry(row.recommendation_id)
                if row.outcome == "accepted":
                    summary.accepted += 1
                    continue
                summary.overridden += 1
                summary.override_reasons[row.reason_display or row.reason_code or
                                         "(no reason given)"] += 1
                if row.user_comment:
                    summary.comments.append(row.user_comment)
        return sorted(summaries.values(), key=lambda s: (-s.overridden, s.recommendation_id))
