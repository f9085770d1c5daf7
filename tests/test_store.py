"""The audit store on SQLite and on a real PostgreSQL server: schema, replay, concurrency, audit.

Store-level tests run on both backends (`db_url`); request-level tests check what an actual hook
call leaves in the database — and what it must not leave there.
"""

from __future__ import annotations

import multiprocessing
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses
from sqlalchemy import MetaData, create_engine, inspect, select, text
from sqlalchemy.exc import OperationalError

from service import advice
from service.hooks import audit
from service.hooks.models import Card, Source, Suggestion
from service.store import (
    CallRecord,
    FeedbackRecord,
    IssuedCard,
    Pseudonymizer,
    Replayed,
    Store,
    StoreError,
    TokenClaim,
    database_url,
    load_or_create_key,
    schema,
)
from service.store.store import random as store_random
from tests.conftest import PATIENT_ID, PUBLIC_URL, TEST_EHR, bearer, hook_body

SERVICE = "/cds-services/leukemia-immunotherapy"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return database_url(tmp_path, None)
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(db_url) -> Iterator[Store]:
    opened = Store.open(db_url)
    yield opened
    opened.close()


def now() -> datetime:
    return datetime.now(UTC)


def call(**fields) -> CallRecord:
    return CallRecord(received_at=now(), request_id=uuid.uuid4().hex, status=200, latency_ms=5,
                      **fields)


# ---- schema ----------------------------------------------------------------------------------


def test_schema_is_created_and_versioned(store, db_url):
    engine = create_engine(db_url)
    reflected = MetaData()
    reflected.reflect(engine)
    assert {"lcds_schema_version", "lcds_seen_jti", "lcds_hook_call", "lcds_issued_card",
            "lcds_feedback"} <= set(reflected.tables)
    with engine.connect() as conn:
        assert conn.execute(select(schema.schema_version.c.version)).scalars().all() == \
            [schema.SCHEMA_VERSION]
    engine.dispose()


def test_schema_is_upgraded_at_start_up_exactly_once(db_url, monkeypatch):
    Store.open(db_url).close()
    runs: list[int] = []

    def v2(conn) -> None:
        runs.append(1)
        conn.execute(text("CREATE TABLE lcds_v2_probe (id INTEGER)"))

    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, v2])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", len(schema.MIGRATIONS))
    Store.open(db_url).close()
    Store.open(db_url).close()
    assert runs == [1]


def test_v2_drops_the_card_rows_recommendation_index(db_url, monkeypatch):
    # a database made by the first release, index included
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 1)
    Store.open(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE INDEX ix_lcds_issued_card_recommendation_id "
                          "ON lcds_issued_card (recommendation_id)"))
    assert "ix_lcds_issued_card_recommendation_id" in {
        i["name"] for i in inspect(engine).get_indexes("lcds_issued_card")}
    monkeypatch.undo()
    store = Store.open(db_url)
    names = {i["name"] for i in inspect(engine).get_indexes("lcds_issued_card")}
    assert "ix_lcds_issued_card_recommendation_id" not in names
    assert "ix_lcds_issued_card_card_uuid" in names  # feedback still finds its card
    with engine.connect() as conn:
        assert conn.execute(select(schema.schema_version.c.version)).scalar() == \
            schema.SCHEMA_VERSION
    call_id = store.record_call(call(service_id="s", cards=[IssuedCard("c-1", "rec.a", ("s1",))]))
    assert store.find_card("c-1").call_id == call_id
    store.close()
    engine.dispose()


def test_v3_adds_the_knowledge_version_to_an_existing_database(db_url, monkeypatch):
    """A database of the release before (schema 2, no column, rows on file) gains the column at
    start-up; the old rows keep NULL (their version was not recorded, and is not invented)."""
    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:2])
    monkeypatch.setattr(schema, "SCHEMA_VERSION", 2)
    Store.open(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:  # _v1 creates today's tables: make it the old shape
        conn.execute(text("ALTER TABLE lcds_hook_call DROP COLUMN knowledge_version"))
        conn.execute(text("INSERT INTO lcds_hook_call (received_at, request_id, status, "
                          "latency_ms) VALUES (:t, 'old', 200, 3)"),
                     {"t": datetime(2026, 1, 1, tzinfo=UTC).replace(tzinfo=None)})
    assert "knowledge_version" not in {c["name"] for c in
                                       inspect(engine).get_columns("lcds_hook_call")}
    monkeypatch.undo()
    store = Store.open(db_url)
    assert "knowledge_version" in {c["name"] for c in
                                   inspect(engine).get_columns("lcds_hook_call")}
    store.record_call(call(service_id="s", knowledge_version="1.2.0"))
    rows = {r["request_id"]: r["knowledge_version"] for r in store.recent_calls(10)}
    assert rows["old"] is None
    assert sorted(v for v in rows.values() if v) == ["1.2.0"]
    store.close()
    Store.open(db_url).close()  # a second start-up finds nothing left to do
    with engine.connect() as conn:
        assert conn.execute(select(schema.schema_version.c.version)).scalar() == \
            schema.SCHEMA_VERSION
    engine.dispose()


def test_a_new_database_has_the_knowledge_version_column(store, db_url):
    engine = create_engine(db_url)
    assert "knowledge_version" in {c["name"] for c in
                                   inspect(engine).get_columns("lcds_hook_call")}
    engine.dispose()


def test_a_schema_newer_than_the_code_stops_start_up(db_url):
    Store.open(db_url).close()
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(schema.schema_version.update().values(version=schema.SCHEMA_VERSION + 1))
    engine.dispose()
    with pytest.raises(StoreError, match="upgrade leukemia-cds"):
        Store.open(db_url)


def test_unreachable_database_is_one_line_without_the_password():
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://cds:s3cret-pw@127.0.0.1:1/none")
    assert "s3cret-pw" not in str(info.value) and "\n" not in str(info.value)
    # where, and what went wrong (issue 22: "OperationalError" alone)
    assert "(postgresql at 127.0.0.1:1): connection refused" in str(info.value)


def test_a_database_host_that_does_not_resolve_says_so():
    with pytest.raises(StoreError) as info:
        Store.open("postgresql+psycopg://cds:s3cret-pw@no-such-host.invalid:5432/none")
    text = str(info.value)
    assert "no-such-host.invalid:5432" in text and "does not resolve" in text
    assert "s3cret-pw" not in text


def test_a_database_that_does_not_exist_says_so(pg_server):
    missing = pg_server.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(StoreError) as info:
        Store.open(missing)
    assert "that database does not exist" in str(info.value)


# ---- JWT replay ------------------------------------------------------------------------------


def test_a_jti_is_accepted_once_per_issuer(store):
    later = now() + timedelta(minutes=5)
    assert store.remember_jti("https://a", "j1", later)
    assert not store.remember_jti("https://a", "j1", later)
    assert store.remember_jti("https://b", "j1", later)


def test_a_call_claims_its_token_id_in_its_own_transaction(store):
    claim = TokenClaim("https://a", "j-call", now() + timedelta(minutes=5))
    assert not store.jti_used("https://a", "j-call")
    store.record_call(call(service_id="s", cards=[IssuedCard("c1", "rec", ())]), claim)
    assert store.jti_used("https://a", "j-call") and not store.jti_used("https://b", "j-call")
    assert not store.remember_jti("https://a", "j-call", claim.expires_at)
    with pytest.raises(Replayed):  # the second call with that token: nothing of it is written
        store.record_call(call(service_id="s", cards=[IssuedCard("c2", "rec", ())]), claim)
    assert store.count_calls() == 1 and store.find_card("c2") is None
    store.record_call(call(service_id="s"))  # without a claim (auth off): always written
    assert store.count_calls() == 2


def test_a_reader_never_waits_for_a_writer(tmp_path):
    """The early replay lookup is a read: it must not queue behind (or block) a writer that
    holds SQLite's write lock, here another process's transaction left open."""
    store = Store.open(database_url(tmp_path, None))
    store.remember_jti("https://a", "j1", now() + timedelta(minutes=5))
    import sqlite3

    writer = sqlite3.connect(store.engine.url.database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    answers: list[bool] = []
    reader = threading.Thread(target=lambda: answers.append(store.jti_used("https://a", "j1")))
    reader.start()
    reader.join(timeout=5)  # the busy timeout is 10 s: a reader taking the lock would hang
    writer.execute("ROLLBACK")
    writer.close()
    store.close()
    assert answers == [True]


def test_the_wal_is_checkpointed_in_the_background(tmp_path, monkeypatch):
    from service.store import store as store_module

    monkeypatch.setattr(store_module, "_CHECKPOINT_EVERY_S", 0.05)
    store = Store.open(database_url(tmp_path, None))
    database = Path(store.engine.url.database)
    before = database.stat().st_size
    for i in range(50):
        store.record_call(call(service_id="s", cards=[IssuedCard(f"c{i}", "rec", ())]))
    deadline = time.monotonic() + 10
    while database.stat().st_size == before and time.monotonic() < deadline:
        time.sleep(0.05)  # pages reach the database file only by a checkpoint
    grown = database.stat().st_size > before
    store.close()  # (closing the last connection checkpoints too: look before)
    assert grown


def test_expired_jtis_are_pruned(store, monkeypatch):
    store.remember_jti("https://a", "old", now() - timedelta(seconds=1))
    monkeypatch.setattr(store_random, "random", lambda: 0.0)
    store.remember_jti("https://a", "new", now() + timedelta(minutes=5))
    with store.engine.connect() as conn:
        left = conn.execute(select(schema.seen_jti.c.jti)).scalars().all()
    assert left == ["new"]


def _racer(url: str, jtis: list[str], results, worker: int) -> None:
    store = Store.open(url)  # a process of its own opens its own store, as a gunicorn worker does
    won = 0
    for jti in jtis:
        won += store.remember_jti("https://race", jti, now() + timedelta(minutes=5))
        store.record_call(call(service_id="s", hook="patient-view", hook_instance=f"{worker}",
                               cards=[IssuedCard(f"{worker}-{jti}", "rec", ())]))
    results.put(won)
    store.close()


def test_several_processes_writing_at_once(db_url):
    """Four worker processes open the store (creating the schema) and race on the same jtis:
    every jti is won exactly once, and no write is lost or fails with 'database is locked'."""
    jtis = [uuid.uuid4().hex for _ in range(40)]
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [ctx.Process(target=_racer, args=(db_url, jtis, results, i)) for i in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(60)
        assert process.exitcode == 0
    assert sum(results.get(timeout=5) for _ in workers) == len(jtis)
    store = Store.open(db_url)
    assert store.count_calls() == 4 * len(jtis)
    store.close()


# ---- calls, cards, feedback ------------------------------------------------------------------


def test_a_call_record_reads_back_exactly_as_written(store):
    """Calls are written on the driver's cursor (fast path) and read through SQLAlchemy: every
    value, the aware UTC time to the microsecond included, must survive the round trip."""
    written = datetime(2026, 11, 23, 8, 30, 15, 123456, tzinfo=UTC)
    record = CallRecord(received_at=written, request_id="req-1", status=200, latency_ms=7,
                        service_id="svc", hook="order-sign", hook_instance="inst-1",
                        iss="https://ehr", tenant="t1", jti="jti-1", patient_key="k" * 64,
                        cards=[IssuedCard("card-rt", "rec.rt", ("s1", "s2"))])
    call_id = store.record_call(record)
    [row] = store.recent_calls(1)
    assert row["id"] == call_id and row["received_at"] == written
    for name in ("request_id", "status", "latency_ms", "service_id", "hook", "hook_instance",
                 "iss", "tenant", "jti", "patient_key"):
        assert row[name] == getattr(record, name), name
    origin = store.find_card("card-rt")
    assert origin.call_id == call_id and origin.suggestion_uuids == {"s1", "s2"}


def test_a_failed_write_is_a_store_error_and_leaves_nothing_behind(store):
    """A driver error mid-transaction surfaces as SQLAlchemy's (which the hook endpoint turns
    into a 503) and rolls back the part already written."""
    from sqlalchemy.exc import SQLAlchemyError

    with store.engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {schema.issued_card.name}"))
    with pytest.raises(SQLAlchemyError):
        store.record_call(call(service_id="s", cards=[IssuedCard("c", "rec", ())]),
                          TokenClaim("https://a", "j-lost", now() + timedelta(minutes=5)))
    assert store.count_calls() == 0 and not store.jti_used("https://a", "j-lost")


def test_feedback_is_stored_once_and_summarised(store):
    call_id = store.record_call(call(service_id="svc", iss="https://ehr", cards=[
        IssuedCard("card-1", "b-all.blinatumomab", ("sug-1", "sug-2")),
        IssuedCard("card-2", "aml.gemtuzumab", ()),
    ]))
    origin = store.find_card("card-1")
    assert origin is not None and origin.call_id == call_id and origin.iss == "https://ehr"
    assert origin.suggestion_uuids == {"sug-1", "sug-2"}
    assert store.find_card("card-x") is None

    def feedback(card: str, outcome: str, **extra) -> FeedbackRecord:
        fields = dict(call_id=call_id, service_id="svc", iss="https://ehr", card_uuid=card,
                      recommendation_id=store.find_card(card).recommendation_id, outcome=outcome,
                      accepted_suggestions=(), reason_system=None, reason_code=None,
                      reason_display=None, user_comment=None,
                      outcome_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        return FeedbackRecord(**{**fields, **extra})

    accepted = feedback("card-1", "accepted", accepted_suggestions=("sug-2", "sug-1"))
    overridden = feedback("card-2", "overridden", reason_code="no-cd33",
                          reason_display="CD33 negative", user_comment="flow says CD33-")
    assert store.record_feedback([accepted, overridden, accepted]) == 2
    same_again = feedback("card-1", "accepted", accepted_suggestions=("sug-1", "sug-2"))
    assert store.record_feedback([same_again]) == 0

    by_id = {s.recommendation_id: s for s in store.feedback_summary()}
    assert (by_id["b-all.blinatumomab"].issued, by_id["b-all.blinatumomab"].accepted) == (1, 1)
    gem = by_id["aml.gemtuzumab"]
    assert (gem.issued, gem.overridden, dict(gem.override_reasons)) == \
        (1, 1, {"CD33 negative": 1})
    assert gem.comments == ["flow says CD33-"]


def test_times_come_back_as_utc(store):
    store.record_call(call())
    assert store.recent_calls(1)[0]["received_at"].tzinfo is not None


# ---- pseudonymous patient keys ---------------------------------------------------------------


def test_pseudonym_key_is_generated_once_kept_private_and_shared_by_racing_workers(tmp_path):
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(load_or_create_key(tmp_path)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1 and len(keys[0]) >= 32
    assert stat.S_IMODE((tmp_path / "pseudonym.key").stat().st_mode) == 0o600
    assert load_or_create_key(tmp_path) == keys[0]
    assert [p.name for p in tmp_path.iterdir()] == ["pseudonym.key"]


def test_patient_key_is_keyed_and_stable():
    one, other = Pseudonymizer(b"k" * 32), Pseudonymizer(b"j" * 32)
    assert one.patient_key("MRN-1") == one.patient_key("MRN-1") != other.patient_key("MRN-1")
    assert "MRN-1" not in one.patient_key("MRN-1") and "<key hidden>" in repr(one)


def test_configured_pseudonym_key_is_used(make_app):
    app = make_app(pseudonym_key="x" * 40)
    expected = Pseudonymizer(b"x" * 40).patient_key(PATIENT_ID)
    assert app.test_client().post(SERVICE, json=hook_body()).status_code == 200
    assert audit_rows(app)[0]["patient_key"] == expected


# ---- what a hook call leaves behind ----------------------------------------------------------


def audit_rows(app) -> list[dict]:
    return app.extensions[audit.STORE].recent_calls(100)


def dump(app) -> str:
    """Every value in every table, as text."""
    store = app.extensions[audit.STORE]
    out = []
    with store.engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            out += [repr(tuple(row)) for row in conn.execute(select(table))]
    return "\n".join(out)


def cards_with_ids() -> list[Card]:
    return [Card(uuid="card-uuid-1", summary="Consider blinatumomab", indicator="info",
                 source=Source(label="leukemia-cds"), selectionBehavior="any",
                 suggestions=[Suggestion(label="Order", uuid="sugg-uuid-1")],
                 extension={"org.leukemia-cds.recommendation": {"id": "b-all.blina-mrd"}}),
            Card(summary="No id", indicator="info", source=Source(label="leukemia-cds"))]


def test_a_hook_call_is_audited_without_phi_or_tokens(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(advice, "advise", lambda call: cards_with_ids())
    body = hook_body(fhirServer="https://fhir.example.org", fhirAuthorization={
        "access_token": "ACCESS-TOKEN-SECRET", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "cds"})
    body["prefetch"]["patient"]["name"] = [{"family": "Smithereen-Marker"}]
    jwt_token = TEST_EHR.token(PUBLIC_URL + SERVICE, sub="Practitioner/77")
    response = app.test_client().post(SERVICE, json=body,
                                      headers={"Authorization": f"Bearer {jwt_token}"})
    assert response.status_code == 200

    [row] = audit_rows(app)
    assert row["status"] == 200 and row["hook"] == "patient-view"
    assert row["hook_instance"] == body["hookInstance"]
    assert row["service_id"] == "leukemia-immunotherapy"
    assert row["iss"] == TEST_EHR.iss and row["tenant"] == "test-hospital" and row["jti"]
    assert row["patient_key"] and len(row["patient_key"]) == 64
    assert row["latency_ms"] >= 0 and row["cards"] == 2
    assert row["request_id"] == response.headers["X-Request-ID"]
    origin = app.extensions[audit.STORE].find_card("card-uuid-1")
    assert origin.recommendation_id == "b-all.blina-mrd"
    assert origin.suggestion_uuids == {"sugg-uuid-1"}

    everything = dump(app)
    for secret in (PATIENT_ID, "Smithereen-Marker", "ACCESS-TOKEN-SECRET", jwt_token,
                   jwt_token.split(".")[2], "Practitioner/doc-1", "1980-01-01"):
        assert secret not in everything, secret


@pytest.mark.parametrize(
    ("send", "status"),
    [
        (lambda c: c.post(SERVICE, json=hook_body(), headers={"Authorization": "Bearer x"}), 401),
        (lambda c: c.post(SERVICE, data=b"{oops", content_type="application/json"), 400),
        (lambda c: c.post(SERVICE, json=hook_body("order-sign")), 400),
        (lambda c: c.post("/cds-services/nope", json=hook_body()), 404),
        (lambda c: c.post(SERVICE, json=hook_body(prefetch={})), 412),
    ],
)
def test_failed_calls_are_audited_too(make_app, send, status):
    app = make_app()
    assert send(app.test_client()).status_code == status
    [row] = audit_rows(app)
    assert row["status"] == status and row["cards"] == 0
    if status == 401:
        assert row["iss"] is None and row["hook_instance"] is None
    if status == 412:
        assert row["hook_instance"] and row["patient_key"] and row["iss"] == TEST_EHR.iss


def test_an_unexpected_error_is_audited_as_500(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(advice, "advise", lambda call: 1 / 0)
    assert app.test_client().post(SERVICE, json=hook_body()).status_code == 500
    assert audit_rows(app)[0]["status"] == 500


def test_discovery_and_health_are_not_hook_calls(make_app):
    app = make_app()
    client = app.test_client()
    client.get("/cds-services")
    client.get("/healthz")
    assert audit_rows(app) == []


def test_cards_are_withheld_when_the_call_cannot_be_recorded(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(advice, "advise", lambda call: cards_with_ids())

    def broken(record, claim=None):
        raise OperationalError("INSERT", {}, Exception("disk full"))

    monkeypatch.setattr(app.extensions[audit.STORE], "record_call", broken)
    response = app.test_client().post(SERVICE, json=hook_body())
    assert response.status_code == 503
    assert "cards" not in response.get_json() and response.headers["Retry-After"]


def test_a_hook_call_records_its_token_id_whatever_the_outcome(make_app):
    """The id is claimed by the audit transaction, also when the call fails: a token spent on a
    bad request cannot be used again for a good one."""
    app = make_app()
    client = app.test_client()
    token = bearer(PUBLIC_URL + SERVICE)
    assert client.post(SERVICE, json=hook_body(prefetch={}), headers=token).status_code == 412
    assert client.post(SERVICE, json=hook_body(), headers=token).status_code == 401
    assert [r["status"] for r in audit_rows(app)] == [401, 412]


def test_a_token_raced_by_a_concurrent_call_is_refused_at_commit(make_app, monkeypatch):
    """Two calls with one token both pass any early lookup (as when they run at the same moment
    in two replicas): the one that commits second gets the 401, its cards never leave, and its
    refusal is audited."""
    app = make_app()
    advised = []
    monkeypatch.setattr(advice, "advise", lambda call: advised.append(call) or cards_with_ids())
    store = app.extensions[audit.STORE]
    monkeypatch.setattr(store, "jti_used", lambda iss, jti: False)
    client = app.test_client()
    token = bearer(PUBLIC_URL + SERVICE)
    first = client.post(SERVICE, json=hook_body(), headers=token)
    second = client.post(SERVICE, json=hook_body(), headers=token)
    assert first.status_code == 200 and first.get_json()["cards"]
    assert second.status_code == 401 and "cards" not in second.get_json()
    assert second.get_json()["resourceType"] == "OperationOutcome"
    assert second.headers["WWW-Authenticate"].startswith("Bearer")
    assert len(advised) == 2  # the second was refused at commit, after its cards were made
    rows = audit_rows(app)
    assert [r["status"] for r in rows] == [401, 200]
    assert rows[0]["cards"] == 0 and rows[0]["iss"] is None


FHIR = "https://fhir.example.org/r4"


def must_fetch_body() -> dict:
    """A call that leaves one key to be fetched from the EHR's FHIR server, with its token."""
    body = hook_body(fhirServer=FHIR, fhirAuthorization={
        "access_token": "ehr-access-token", "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "leukemia-cds"})
    del body["prefetch"]["observations"]
    return body


def test_a_replayed_token_never_makes_the_service_use_the_ehrs_access_token(make_app):
    app = make_app()
    client = app.test_client()
    token = bearer(PUBLIC_URL + SERVICE)
    assert client.post(SERVICE, json=hook_body(), headers=token).status_code == 200
    with responses.RequestsMock() as fhir:  # any request to the FHIR server would fail the test
        replay = client.post(SERVICE, json=must_fetch_body(), headers=token)
        assert len(fhir.calls) == 0
    assert replay.status_code == 401
    assert [r["status"] for r in audit_rows(app)] == [401, 200]


def test_a_fully_prefetched_call_does_not_look_its_token_up_first(make_app, monkeypatch):
    """The claim at commit is decisive; a lookup beforehand would only cost every call a
    database round, when nothing is fetched with the EHR's token."""
    app = make_app()
    looked_up = []
    monkeypatch.setattr(app.extensions[audit.STORE], "jti_used",
                        lambda iss, jti: looked_up.append(jti) or False)
    assert app.test_client().post(SERVICE, json=hook_body()).status_code == 200
    assert looked_up == []


def test_replay_claim_outage_before_a_fetch_is_503(make_app, monkeypatch):
    """The token id is claimed before the EHR's access token is used (issue 21); a store that
    cannot take the claim is 503 with nothing fetched."""
    app = make_app()

    def down(iss, jti, expires_at):
        raise OperationalError("INSERT", {}, Exception("connection refused"))

    monkeypatch.setattr(app.extensions[audit.STORE], "remember_jti", down)
    with responses.RequestsMock() as fhir:
        response = app.test_client().post(SERVICE, json=must_fetch_body())
        assert len(fhir.calls) == 0
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_readiness_reports_an_unreachable_store(make_app):
    app = make_app()
    app.extensions[audit.STORE].engine.dispose()
    app.extensions[audit.STORE].engine = create_engine("sqlite:////nonexistent/dir/x.db")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and "store" in response.get_data(as_text=True)


def test_hook_calls_on_postgresql_end_to_end(make_app, pg_url):
    app = make_app(database_url=pg_url.replace("postgresql+psycopg://", "postgresql://"))
    assert app.extensions[audit.STORE].backend == "postgresql"
    client = app.test_client()
    assert client.post(SERVICE, json=hook_body()).status_code == 200
    token = bearer(PUBLIC_URL + SERVICE)
    assert client.post(SERVICE, json=hook_body(), headers=token).status_code == 200
    assert client.post(SERVICE, json=hook_body(), headers=token).status_code == 401  # replay
    assert [r["status"] for r in audit_rows(app)] == [401, 200, 200]
