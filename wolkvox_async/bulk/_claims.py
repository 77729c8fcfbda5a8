"""Where load claims live: one store per kind of scheduler ledger, one rule for all.

A claim is a record under a key (operation, campaign, input fingerprint; see
``_owner``): its holder's id, ``running`` until it lapses (``until``), then a marker
(``finished`` / ``stopped``) kept for ``KEEP`` seconds when the load had a journal. The
decision whether a new claim may be taken (:func:`decide`) is one function, run in one
atomic step of each store: under a lock in memory, in a ``BEGIN IMMEDIATE`` transaction in
the host's SQLite ledger (a table of its own, on a connection of its own, so the
scheduler's schema and connection are untouched), and as a Lua script in Redis (a key of
its own beside the scheduler's; Redis TIME is the clock, so no host's clock decides).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from .._errors import SchedulerUnavailable
from ..scheduler import Backend, MemoryBackend, RedisBackend, SQLiteBackend, schedulers_of

__all__ = [
    "KEEP",
    "Entry",
    "Found",
    "Store",
    "Terms",
    "decide",
    "info_of",
    "input_key",
    "store_of",
]

KEEP = 90 * 86_400.0
"""Seconds a finished or stopped load's marker is kept (as the CLI keeps finished
journals)."""


def input_key(operation: str, campaign_id: str, fingerprint: str) -> str:
    """The claim's key: one per input and campaign of an operation."""
    raw = f"{operation}\n{campaign_id}\n{fingerprint}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


@attrs.frozen
class Entry:
    """A claim or a marker, as a store keeps it."""

    id: str
    state: str  # running | finished | stopped
    journal: str
    until: float  # a running claim lapses then (epoch seconds of the store's clock)
    info: str  # JSON: pid, host, since, landed, at


@attrs.frozen
class Found:
    """What refused a claim: a live claim, or a marker of another journal."""

    state: str  # running | finished | stopped | died
    journal: str
    info: dict[str, Any]


@attrs.frozen
class Terms:
    """On what terms a claim may be taken over what a store holds."""

    own: str = ""
    """This load's journal (host:path), whose lock it holds: a running claim made from it
    is a dead holder's (it held that lock), taken over at once."""
    accept: str = ""
    """A journal whose marker (finished, stopped, died) this load continues: its own, when
    its file was there before this run (so it knows what that run landed)."""
    force: bool = False
    """Take over any marker (``reload``); never a live claim."""


def decide(found: Entry | None, now: float, me: str, terms: Terms) -> Found | None:
    """Whether a claim may be taken over ``found`` (None) or what refuses it. The same rule
    runs in Python for memory and SQLite and in Lua for Redis (``_TAKE``)."""
    if found is None or found.id == me:
        return None  # nobody's, or ours (lapsed while this process was starved)
    state = found.state
    if state == "running" and found.until > now:
        if terms.own and found.journal == terms.own:
            return None  # a dead holder of the journal whose lock we hold
        return Found("running", found.journal, info_of(found.info))
    if state == "running":
        if not found.journal:
            return None  # a load without a journal died: nothing could continue it
        state = "died"
    if terms.force or (terms.accept and found.journal == terms.accept):
        return None
    return Found(state, found.journal, info_of(found.info))


def info_of(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


class Store:
    """Claims kept in one kind of ledger. ``take`` returns what refused it (None: taken)."""

    where = ""

    async def take(
        self, key: str, rec: Entry, ttl: float, keep: float, terms: Terms
    ) -> Found | None:
        raise NotImplementedError

    async def renew(self, key: str, rec: Entry, ttl: float, keep: float) -> bool:
        raise NotImplementedError

    async def end(self, key: str, rec: Entry, state: str | None, info: str) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Let go of connections (a claim's store is its own; the ledger's are not)."""


class _MemoryStore(Store):
    """The claims of one process (the memory ledger's), as long as its backend lives."""

    def __init__(self) -> None:
        self.records: dict[str, tuple[Entry, float]] = {}  # key -> (entry, kept until)
        self.where = "memory://"
        self.lock = threading.Lock()  # loads on event loops of other threads share it

    def _get(self, key: str, now: float) -> Entry | None:
        found = self.records.get(key)
        if found is not None and found[1] <= now:
            del self.records[key]
            return None
        return None if found is None else found[0]

    async def take(
        self, key: str, rec: Entry, ttl: float, keep: float, terms: Terms
    ) -> Found | None:
        with self.lock:
            now = time.time()
            refused = decide(self._get(key, now), now, rec.id, terms)
            if refused is None:
                self.records[key] = (attrs.evolve(rec, until=now + ttl), now + keep)
            return refused

    async def renew(self, key: str, rec: Entry, ttl: float, keep: float) -> bool:
        with self.lock:
            now = time.time()
            found = self._get(key, now)
            if found is None or found.id != rec.id or found.state != "running":
                return False
            self.records[key] = (attrs.evolve(found, until=now + ttl), now + keep)
            return True

    async def end(self, key: str, rec: Entry, state: str | None, info: str) -> None:
        with self.lock:
            now = time.time()
            found = self._get(key, now)
            if found is None or found.id != rec.id:
                return
            if state is None:
                del self.records[key]
            else:
                ended = attrs.evolve(found, state=state, info=info, until=0.0)
                self.records[key] = (ended, now + KEEP)


_SQL = """
CREATE TABLE IF NOT EXISTS loads (key TEXT PRIMARY KEY, id TEXT NOT NULL,
    state TEXT NOT NULL, journal TEXT NOT NULL, until REAL NOT NULL, kept REAL NOT NULL,
    info TEXT NOT NULL);
"""


class _SQLiteStore(Store):
    """Claims in the host's SQLite ledger file (a table of its own, its own connection)."""

    def __init__(self, backend: SQLiteBackend) -> None:
        self.path = backend.path
        self.timeout = backend.busy_timeout
        self.where = backend.where

    async def _run(self, step: Callable[[sqlite3.Connection, float], Any]) -> Any:
        def transaction() -> Any:
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            try:
                conn.executescript(_SQL)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    now = time.time()
                    conn.execute("DELETE FROM loads WHERE kept <= ?", (now,))
                    result = step(conn, now)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            finally:
                conn.close()

        try:
            return await asyncio.to_thread(transaction)
        except (sqlite3.Error, OSError) as exc:
            raise SchedulerUnavailable(
                backend=self.where, reason=f"{type(exc).__name__}: {exc}"
            ) from None

    @staticmethod
    def _get(conn: sqlite3.Connection, key: str) -> Entry | None:
        row = conn.execute(
            "SELECT id, state, journal, until, info FROM loads WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else Entry(*row)

    async def take(
        self, key: str, rec: Entry, ttl: float, keep: float, terms: Terms
    ) -> Found | None:
        def step(conn: sqlite3.Connection, now: float) -> Found | None:
            refused = decide(self._get(conn, key), now, rec.id, terms)
            if refused is None:
                conn.execute(
                    "INSERT OR REPLACE INTO loads VALUES (?, ?, 'running', ?, ?, ?, ?)",
                    (key, rec.id, rec.journal, now + ttl, now + keep, rec.info),
                )
            return refused

        found: Found | None = await self._run(step)
        return found

    async def renew(self, key: str, rec: Entry, ttl: float, keep: float) -> bool:
        def step(conn: sqlite3.Connection, now: float) -> bool:
            done = conn.execute(
                "UPDATE loads SET until = ?, kept = ? WHERE key = ? AND id = ?"
                " AND state = 'running'",
                (now + ttl, now + keep, key, rec.id),
            )
            return done.rowcount == 1

        renewed: bool = await self._run(step)
        return renewed

    async def end(self, key: str, rec: Entry, state: str | None, info: str) -> None:
        def step(conn: sqlite3.Connection, now: float) -> None:
            if state is None:
                conn.execute("DELETE FROM loads WHERE key = ? AND id = ?", (key, rec.id))
            else:
                conn.execute(
                    "UPDATE loads SET state = ?, info = ?, until = 0, kept = ?"
                    " WHERE key = ? AND id = ?",
                    (state, info, now + KEEP, key, rec.id),
                )

        await self._run(step)


# Redis: one key per claim, a hash; Redis TIME is the only clock (ms). KEYS[1] the claim.
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rec = redis.call('HMGET', KEYS[1], 'id', 'state', 'journal', 'until', 'info')
if rec[1] and rec[1] ~= ARGV[1] then
  local state = rec[2]
  if state == 'running' and tonumber(rec[4]) > now then
    if not (ARGV[8] ~= '' and rec[3] == ARGV[8]) then
      return {'running', rec[3], rec[5]}
    end
  else
    if state == 'running' then state = 'died' end
    local gone = state == 'died' and rec[3] == ''
    if not gone and ARGV[7] ~= '1' and not (ARGV[6] ~= '' and rec[3] == ARGV[6]) then
      return {state, rec[3], rec[5]}
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'state', 'running', 'journal', ARGV[2],
  'until', now + tonumber(ARGV[4]), 'info', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {'ok'}
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rec = redis.call('HMGET', KEYS[1], 'id', 'state')
if rec[1] ~= ARGV[1] or rec[2] ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'until', now + tonumber(ARGV[2]))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""
_END = """
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 1 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'info', ARGV[3], 'until', 0)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class _RedisStore(Store):
    """Claims in the shared Redis ledger: a key of their own beside the scheduler's, on a
    connection of their own (one per load, opened at its first step: a handful of steps
    per load, none on a call's path)."""

    def __init__(self, backend: RedisBackend) -> None:
        self.target = backend.target
        self.prefix = backend.prefix
        self.where = backend.where
        self._link: tuple[Any, list[Any]] | None = None

    def _key(self, key: str) -> str:
        return f"{self.prefix}:load:{key}"

    async def close(self) -> None:
        link, self._link = self._link, None
        for client in link[1] if link is not None else ():
            with contextlib.suppress(Exception):  # a connection already dropped
                await client.aclose()

    async def _run(self, script: str, key: str, args: list[Any]) -> Any:
        import redis.exceptions

        from ..scheduler._redis_connect import reason, text, unreachable

        if self._link is None:
            self._link = self.target.connect()
        client = self._link[0]
        try:
            reply = await client.register_script(script)(keys=[self._key(key)], args=args)
        except unreachable() as exc:
            raise SchedulerUnavailable(backend=self.where, reason=reason(exc)) from None
        except redis.exceptions.RedisError as exc:  # an answer, but not the script's (OOM…)
            reason_ = f"{type(exc).__name__}: {exc}"
            raise SchedulerUnavailable(backend=self.where, reason=reason_) from None
        return [text(part) for part in reply] if isinstance(reply, list) else reply

    async def take(
        self, key: str, rec: Entry, ttl: float, keep: float, terms: Terms
    ) -> Found | None:
        args = [rec.id, rec.journal, rec.info, int(ttl * 1000), int(keep * 1000), terms.accept]
        reply = await self._run(_TAKE, key, [*args, "1" if terms.force else "0", terms.own])
        if reply[0] == "ok":
            return None
        return Found(reply[0], reply[1] or "", info_of(reply[2] or ""))

    async def renew(self, key: str, rec: Entry, ttl: float, keep: float) -> bool:
        reply = await self._run(_RENEW, key, [rec.id, int(ttl * 1000), int(keep * 1000)])
        return bool(int(reply))

    async def end(self, key: str, rec: Entry, state: str | None, info: str) -> None:
        await self._run(_END, key, [rec.id, state or "", info, int(KEEP * 1000)])


def store_of(backend: Backend) -> Store | None:
    """Where ``backend`` keeps claims (None: a Backend of the caller's own making)."""
    if isinstance(backend, RedisBackend):
        return _RedisStore(backend)
    if isinstance(backend, SQLiteBackend):
        return _SQLiteStore(backend)
    if isinstance(backend, MemoryBackend):
        # The memory ledger's claims live with it (beside its schedulers), as long as it.
        return schedulers_of(backend).shared(_MemoryStore)
    return None
