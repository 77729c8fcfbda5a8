"""The SQLite backend: one host, many processes, state that survives a restart.

Each step is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two processes
cannot both take the last slot or the last quota unit. Leases carry an expiry and are
reclaimed inside the admitting transaction, so a killed process costs at most one lease
lifetime (timeout + margin). The quota per operation-day and the poll stamps are rows, so
a restarted loader knows what it already spent today. Calls run on one worker thread,
off the event loop.

A file that cannot be used — read-only, a full disk, locked by another process for over
30 s (the busy timeout; ``?timeout=SECONDS``), not a database — fails the step with
SchedulerUnavailable naming the file and the cause (nothing is sent); the connection is
reopened at the next step, so the client works again once the file does. With
``?fallback=memory`` in the URL, steps fall back to a memory ledger of this process
instead, with a warning.

Times in the file are the ledger's own, so a process whose clock runs ahead cannot end
another's leases early; a ledger deleted or replaced is a lost ledger, and no process,
new or old, is admitted beside the calls it counted (``_sqlite_ledger``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import sqlite3
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .._errors import ConfigError, SchedulerUnavailable
from ._backend import Backend, LeaseRecord, QuotaState
from ._memory import MemoryBackend
from ._rules import Admission, Blocked, Decision, Granted, Snapshot, Why, decide
from ._sqlite_ledger import SCHEMA, LedgerTime, cause, raise_until

__all__ = ["SQLiteBackend"]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async.scheduler")
BUSY_TIMEOUT = 30.0
"""Seconds a step waits for another process's write lock before it fails."""

_SETUP_ATTEMPTS = 50
"""Tries to open the state file (~12 s of back-off in all) while other processes set it up."""


class SQLiteBackend:
    """Scheduler state in a SQLite file shared by the processes of one host."""

    cross_process = True
    poll_fallback = 0.1
    instant = False

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fallback: Backend | None = None,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self.where = f"sqlite:///{self.path}"
        self.fallback = fallback
        self._warned = False
        self._inode = 0
        self.ledger = LedgerTime(self.path)
        self.lost: set[str] = set()
        self._recounted: set[str] = set()
        """Operations whose count this process re-read since its ledger was last lost."""
        self._replaced = False
        """The file was replaced under us: every operation's count is to be re-read."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wolkvox-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._ids = itertools.count(1)
        self._prefix = f"s{os.getpid()}-{id(self):x}-"

    @classmethod
    def from_url(cls, url: str) -> SQLiteBackend:
        """``sqlite:///relative.db`` or ``sqlite:////absolute/path.db``."""
        parts = urlsplit(url)
        path = unquote(parts.path[1:] if parts.path.startswith("/") else parts.path)
        if parts.netloc or not path:
            raise ConfigError(f"sqlite backend URL must be sqlite:///path/to/state.db, got {url!r}")
        query = dict(parse_qsl(parts.query))
        wanted = query.pop("fallback", None)
        timeout = query.pop("timeout", None)
        if wanted not in (None, "memory") or query:
            raise ConfigError(
                f"a sqlite backend URL takes ?fallback=memory and ?timeout=SECONDS, got {url!r}"
            )
        try:
            busy = BUSY_TIMEOUT if timeout is None else float(timeout)
        except ValueError:
            busy = -1.0
        if not 0 < busy < 3600:
            raise ConfigError(f"?timeout= must be seconds between 0 and 3600, got {timeout!r}")
        fallback = MemoryBackend() if wanted == "memory" else None
        return cls(path, fallback=fallback, busy_timeout=busy)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._gone():
            # The file was deleted or replaced under us: what it knew (leases of calls that
            # may still run at Wolkvox) is gone. Work on the new file, admitting nothing
            # for a lease lifetime (the next step records the loss in it for everyone).
            self._drop()
            self.ledger.replaced = self._replaced = True
            self._recounted.clear()
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
            # Several processes opening one file at once: switching to WAL can answer
            # "database is locked" at once, without waiting out the busy timeout (SQLite
            # does not call the busy handler there), so set-up is retried for a while.
            for attempt in range(_SETUP_ATTEMPTS):
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or attempt == _SETUP_ATTEMPTS - 1:
                        conn.close()
                        raise
                    time.sleep(0.01 * (attempt + 1))  # on the backend's own thread
            self._conn = conn
            self._inode = os.stat(self.path).st_ino
        return self._conn

    def _gone(self) -> bool:
        try:
            return os.stat(self.path).st_ino != self._inode
        except FileNotFoundError:
            return True

    async def _run(
        self,
        fn: Callable[[sqlite3.Connection], T],
        fallback: Callable[[Backend], Awaitable[T]] | None = None,
    ) -> T:
        def transaction() -> T:
            try:
                conn = self._connect()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                self.ledger.committed()
                return result
            except (sqlite3.Error, OSError) as exc:
                self._drop()  # reopened at the next step: the file may be usable again
                raise SchedulerUnavailable(backend=self.where, reason=cause(exc)) from None

        loop = asyncio.get_running_loop()
        try:
            # Shielded: once handed to the thread, a step completes even if the caller is
            # cancelled, so the state never depends on where a cancellation landed.
            result = await asyncio.shield(loop.run_in_executor(self._executor, transaction))
        except SchedulerUnavailable:
            if self.fallback is None or fallback is None:
                raise
            if not self._warned:
                log.warning("%s unusable; admitting with the local fallback", self.where)
                self._warned = True
            return await fallback(self.fallback)
        self._warned = False
        return result

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide and, when granted, take lease, quota unit and stamp in one transaction."""
        lease_id = f"{self._prefix}{next(self._ids)}"

        def step(conn: sqlite3.Connection) -> tuple[Decision, LeaseRecord | None]:
            moment = self.ledger.enter(conn, now)
            at = moment.at  # the ledger's time: every time below is in it
            if req.operation not in self._recounted and (
                self._replaced or (moment.orphan and at - moment.created < 86_400)
            ):
                self._recounted.add(req.operation)
                self.lost.add(req.operation)  # its count restarted: the client re-reads it
            fence = moment.fence(req.lease_ttl)
            if fence > at:
                return moment.told(Blocked(Why.RECOVERING, fence)), None
            conn.execute("DELETE FROM leases WHERE token = ? AND expires <= ?", (req.token, at))
            count, earliest = conn.execute(
                "SELECT COUNT(*), MIN(expires) FROM leases WHERE token = ?", (req.token,)
            ).fetchone()
            caps = conn.execute(
                "SELECT cap_until, paused_until FROM tokens WHERE token = ?", (req.token,)
            ).fetchone() or (0.0, 0.0)
            used, limit = conn.execute(
                "SELECT used, limit_override FROM quota WHERE operation = ? AND day = ?",
                (req.operation, req.day),
            ).fetchone() or (0, None)
            stamp = None
            if req.poll_key:
                stamp = conn.execute(
                    "SELECT at FROM stamps WHERE key = ?", (req.poll_key,)
                ).fetchone()
            snap = Snapshot(
                leases=count,
                earliest_expiry=earliest,
                cap_until=caps[0],
                paused_until=caps[1],
                used=used,
                limit_override=limit,
                poll_at=stamp[0] if stamp else None,
            )
            decision = decide(req, snap, at)
            if not isinstance(decision, Granted):
                return moment.told(decision), None
            conn.execute(
                "INSERT INTO leases VALUES (?, ?, ?)",
                (lease_id, req.token, moment.keep(decision.expires)),
            )
            conn.execute(
                "INSERT INTO quota (operation, day, used) VALUES (?, ?, 1) "
                "ON CONFLICT (operation, day) DO UPDATE SET used = used + 1",
                (req.operation, req.day),
            )
            if req.poll_key:
                conn.execute(
                    "INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?)",
                    (req.poll_key, moment.keep(at), moment.keep(at + req.poll_interval), lease_id),
                )
            lease = LeaseRecord(
                id=lease_id,
                token=req.token,
                operation=req.operation,
                day=req.day,
                poll_key=req.poll_key,
            )
            return moment.told(decision), lease

        return await self._run(step, lambda other: other.admit(req, now))

    async def release(
        self,
        lease: LeaseRecord,
        now: float,
        *,
        hold_until: float | None = None,
        refund: bool = False,
        unstamp: bool = False,
        cap_for: float = 0.0,
        pause_for: float = 0.0,
        spent: bool = False,
    ) -> None:
        """End or hold the lease; undo the quota unit and stamp when asked; apply what the
        server said, in the same transaction (see :meth:`Backend.release`)."""
        if self.fallback is not None and not lease.id.startswith("s"):
            await self.fallback.release(
                lease,
                now,
                hold_until=hold_until,
                refund=refund,
                unstamp=unstamp,
                cap_for=cap_for,
                pause_for=pause_for,
                spent=spent,
            )
            return

        def step(conn: sqlite3.Connection) -> None:
            moment = self.ledger.enter(conn, now)
            at = moment.at
            if hold_until is not None and hold_until > now:
                # (a lease already expired is not revived)
                conn.execute(
                    "UPDATE leases SET expires = ? WHERE id = ? AND expires > ?",
                    (moment.keep(moment.to_ledger(hold_until)), lease.id, at),
                )
            else:
                conn.execute("DELETE FROM leases WHERE id = ?", (lease.id,))
            if refund:
                conn.execute(
                    "UPDATE quota SET used = MAX(0, used - 1) WHERE operation = ? AND day = ?",
                    (lease.operation, lease.day),
                )
            if (refund or unstamp) and lease.poll_key:
                conn.execute(
                    "DELETE FROM stamps WHERE key = ? AND lease = ?", (lease.poll_key, lease.id)
                )
            conn.execute("DELETE FROM stamps WHERE free_at < ?", (at - 86_400,))
            for column, seconds in (("cap_until", cap_for), ("paused_until", pause_for)):
                if seconds > 0:
                    raise_until(conn, column, lease.token, moment.keep(at + seconds))
            if spent:
                conn.execute(
                    "UPDATE quota SET limit_override = used WHERE operation = ? AND day = ?",
                    (lease.operation, lease.day),
                )

        await self._run(step)  # (a failure reaches the scheduler, which logs and counts it)

    async def _set_token(self, column: str, token: str, now: float, seconds: float) -> None:
        def step(conn: sqlite3.Connection) -> None:
            moment = self.ledger.enter(conn, now)
            raise_until(conn, column, token, moment.keep(moment.at + seconds))

        await self._run(step)

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Cap 1 for ``seconds``."""
        await self._set_token("cap_until", token, now, seconds)
        if self.fallback is not None:
            await self.fallback.lower_cap(token, operation, now, seconds)

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Nothing admitted for ``seconds``."""
        await self._set_token("paused_until", token, now, seconds)
        if self.fallback is not None:
            await self.fallback.pause(token, operation, now, seconds)

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's numbers; see Backend.set_quota."""

        def step(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO quota (operation, day, used, limit_override) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (operation, day) DO UPDATE SET used = excluded.used + "
                "MAX(0, used - COALESCE(?, used)), "
                "limit_override = COALESCE(excluded.limit_override, limit_override)",
                (operation, day, used, limit, since),
            )

        await self._run(step)

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""

        def step(conn: sqlite3.Connection) -> QuotaState:
            row: Any = conn.execute(
                "SELECT used, limit_override FROM quota WHERE operation = ? AND day = ?",
                (operation, day),
            ).fetchone()
            return (
                QuotaState(used=row[0], limit_override=row[1])
                if row
                else QuotaState(used=0, limit_override=None)
            )

        return await self._run(step, lambda other: other.quota(operation, day))

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases."""

        def step(conn: sqlite3.Connection) -> int:
            at = self.ledger.enter(conn, now).at
            row = conn.execute(
                "SELECT COUNT(*) FROM leases WHERE token = ? AND expires > ?", (token, at)
            ).fetchone()
            return int(row[0])

        return await self._run(step, lambda other: other.in_flight(token, operation, now))

    async def fenced_until(self, operation: str, lease_ttl: float, now: float) -> float | None:
        """When the lost-ledger pause ends, on the caller's clock (None: no pause)."""

        def step(conn: sqlite3.Connection) -> float | None:
            moment = self.ledger.enter(conn, now)
            fence = moment.fence(lease_ttl)
            return moment.to_caller(fence) if fence > moment.at else None

        async def local(other: Backend) -> None:
            return None

        return await self._run(step, local)

    async def close(self) -> None:
        """Close the connection and stop the worker thread."""

        def shut() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
