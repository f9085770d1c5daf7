"""The trial registry in the service's database: replaced whole, read whole.

An import (or a sync) writes every study and bumps the generation in one transaction: a reader
sees the old registry or the new one, never half of each, and a failed import leaves the last
good one. A running service asks only for the generation (one small row) and reloads the
studies when it changed: `RegistryReader`."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from service.store.schema import trial, trial_registry
from service.store.store import Store
from service.trials.model import RegistrySnapshot, RegistryTrial, Site, SiteStudy

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RegistryState:
    generation: int
    refreshed_at: datetime
    source: str
    trials: int


def _encode(t: RegistryTrial) -> str:
    data = asdict(t)
    data["last_update"] = t.last_update.isoformat() if t.last_update else None
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def _decode(raw: str) -> RegistryTrial:
    data: dict[str, Any] = json.loads(raw)
    data["sites"] = tuple(Site(**s) for s in data.get("sites") or ())
    for key in ("phases", "conditions", "keywords", "interventions"):
        data[key] = tuple(data.get(key) or ())
    data["last_update"] = date.fromisoformat(data["last_update"]) if data.get(
        "last_update") else None
    return RegistryTrial(**data)


def replace_registry(store: Store, trials: Sequence[RegistryTrial], *, source: str,
                     refreshed_at: datetime) -> RegistryState:
    """Every study of the registry, replaced in one transaction."""
    unique = {t.nct: t for t in trials}
    with store.writing() as conn:
        found = conn.execute(select(trial_registry.c.generation)).scalar()
        generation = int(found or 0) + 1
        conn.execute(delete(trial))
        if unique:
            conn.execute(insert(trial), [{"nct": nct, "record": _encode(t)}
                                         for nct, t in sorted(unique.items())])
        values = {"generation": generation, "refreshed_at": refreshed_at, "source": source,
                  "trials": len(unique)}
        if found is None:
            conn.execute(insert(trial_registry).values(id=1, **values))
        else:
            conn.execute(update(trial_registry).values(**values))
    return RegistryState(generation, refreshed_at, source, len(unique))


def _read_state(conn: Connection) -> RegistryState | None:
    row = conn.execute(select(trial_registry.c.generation, trial_registry.c.refreshed_at,
                              trial_registry.c.source, trial_registry.c.trials)).first()
    return None if row is None else RegistryState(int(row[0]), row[1], str(row[2]), int(row[3]))


def registry_state(store: Store) -> RegistryState | None:
    """The current import, or None when nothing was ever imported."""
    with store.engine.connect() as conn:
        return _read_state(conn)


def load_registry(store: Store) -> tuple[RegistryState | None, tuple[RegistryTrial, ...]]:
    """The state and its studies, read in one transaction (an import cannot fall between)."""
    with store.engine.connect() as conn, conn.begin():
        state = _read_state(conn)
        records = conn.execute(select(trial.c.record).order_by(trial.c.nct)).scalars().all()
    return state, tuple(_decode(r) for r in records)


class RegistryReader:
    """The registry as hook calls see it, cached per process.

    The generation is asked at most every `refresh_s` seconds, so an import is seen within
    that time without a restart; the studies are read again only when it changed. A database
    that cannot be read keeps the last snapshot (the call's own audit write will say whether
    the database is down)."""

    def __init__(self, store: Store, *, refresh_s: int, stale_days: int,
                 site: Sequence[SiteStudy] = (),
                 site_location: tuple[float, float] | None = None) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self.stale_after = timedelta(days=stale_days)
        self.site = tuple(site)
        self.site_location = site_location
        self._lock = threading.Lock()
        self._checked = -float("inf")
        self._generation: int | None = None
        self._state: RegistryState | None = None
        self._trials: tuple[RegistryTrial, ...] = ()
        # The sandbox's synthetic trials, shown only while nothing was ever imported (the
        # development profile); never set with the sandbox off.
        self.demo: tuple[RegistryTrial, ...] = ()
        self._snapshot: tuple[tuple[int | None, bool, bool], RegistrySnapshot] | None = None

    def _refresh(self) -> None:
        now = time.monotonic()
        if now - self._checked < self.refresh_s:
            return
        with self._lock:
            if now - self._checked < self.refresh_s:
                return
            try:
                state = registry_state(self.store)
                if state is not None and state.generation != self._generation:
                    state, trials = load_registry(self.store)
                    self._trials = trials
                self._state = state
                self._generation = state.generation if state else None
            except SQLAlchemyError as exc:
                log.warning("trial registry not read; the last one read is used",
                            extra={"event": "trial_registry_unreadable",
                                   "reason": type(exc).__name__})
            self._checked = now

    def state(self) -> RegistryState | None:
        self._refresh()
        return self._state

    def stale(self, now: datetime | None = None) -> bool:
        return self._stale(self.state(), now)

    def _stale(self, state: RegistryState | None, now: datetime | None) -> bool:
        return state is not None and (now or datetime.now(UTC)) - state.refreshed_at \
            > self.stale_after

    def snapshot(self, now: datetime | None = None) -> RegistrySnapshot:
        """The registry for one call: the same object for every call until an import or the
        stale date changes it, so what the pre-screen derives from it is derived once."""
        state = self.state()
        key = (self._generation, self._stale(state, now), bool(self.demo))
        cached = self._snapshot
        if cached is not None and cached[0] == key:
            return cached[1]
        if state is None and self.demo:
            built = RegistrySnapshot(trials=self.demo, site=self.site, demo=True,
                                     site_location=self.site_location)
        else:
            built = RegistrySnapshot(
                trials=self._trials if state else (), site=self.site,
                refreshed_at=state.refreshed_at if state else None, stale=key[1],
                site_location=self.site_location)
        self._snapshot = (key, built)
        return built
