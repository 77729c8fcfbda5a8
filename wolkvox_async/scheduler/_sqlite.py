"""The SQLite backend: one host, many processes, state that survives a restart.

Each step is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two processes
cannot both take the last slot or the last quota unit. Leases carry an expiry and are
reclaimed inside the admitting transaction, so a killed process costs at most one lease
lifetime (timeout + margin). The quota per operation-day and the poll stamps are rows, so
a restarted loader knows what it already spent today. A step runs on the event loop's
thread unless another process holds the lock, and a release that involves no time is
written with this process's next step, within a loop turn (``_sqlite_file``).

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

import itertools
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Collection
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .._errors import ConfigError, SchedulerUnavailable
from ._backend import Backend, LeaseRecord, QuotaState
from ._heartbeat import RawLedger
from ._memory import MemoryBackend
from ._rules import Admission, Blocked, Decision, Release, Why
from ._sqlite_file import Later, LedgerFile, Step
from ._sqlite_ledger import LedgerTime, raise_until
from ._sqlite_status import drop_step, read_step, write_step
from ._sqlite_steps import STAMPS_KEPT
from ._sqlite_steps import admit as admit_step
from ._sqlite_steps import release as release_step

__all__ = ["SQLiteBackend"]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async.scheduler")
BUSY_TIMEOUT = 30.0
"""Seconds a step waits for another process's write lock before it fails."""

_SWEEP_EVERY = 60.0
"""Seconds (ledger time) between sweeps of the poll stamps past their keeping."""


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
        self.ledger = LedgerTime(self.path)
        self.lost: set[str] = set()
        self._recounted: set[str] = set()
        """Operations whose count this process re-read since its ledger was last lost."""
        self._replaced = False
        """The file was replaced under us: every operation's count is to be re-read."""
        self.file = LedgerFile(self.path, self.where, busy_timeout, self.ledger, self._lost)
        self._ids = itertools.count(1)
        self._prefix = f"s{os.getpid()}-{id(self):x}-"
        self._swept = float("-inf")

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

    def _lost(self) -> None:
        """The file was replaced under us (``LedgerFile``)."""
        self.ledger.replaced = self._replaced = True
        self._recounted.clear()

    async def _run(
        self, step: Step[T], fallback: Callable[[Backend], Awaitable[T]] | None = None
    ) -> T:
        try:
            result = await self.file.run(step)
        except SchedulerUnavailable:
            if self.fallback is None or fallback is None:
                raise
            if not self._warned:
                log.warning("%s unusable; admitting with the local fallback", self.where)
                self._warned = True
            return await fallback(self.fallback)
        self._warned = False
        return result

    def _admit(self, req: Admission, now: float) -> Step[tuple[Decision, LeaseRecord | None]]:
        lease_id = f"{self._prefix}{next(self._ids)}"

        def step(conn: sqlite3.Connection) -> tuple[Decision, LeaseRecord | None]:
            moment = self.ledger.enter(conn, now, req.limits.lease_ttl)
            at = moment.at  # the ledger's time
            if req.limits.operation not in self._recounted and (
                self._replaced or (moment.orphan and at - moment.created < 86_400)
            ):
                self._recounted.add(req.limits.operation)
                self.lost.add(req.limits.operation)  # its count restarted: the client re-reads it
            if at - self._swept > _SWEEP_EVERY:  # (releases kept write no time: swept here)
                conn.execute("DELETE FROM stamps WHERE free_at < ?", (at - STAMPS_KEPT,))
                self._swept = at
            fence = moment.fence(req.limits.lease_ttl)
            if fence > at:
                return moment.told(Blocked(Why.RECOVERING, fence)), None
            return admit_step(conn, moment, req, lease_id)

        return step

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide and, when granted, take lease, quota unit and stamp in one transaction."""
        return await self._run(self._admit(req, now), lambda other: other.admit(req, now))

    def admit_now(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None] | None:
        """:meth:`admit` without suspending, where it can be (None: await :meth:`admit`)."""
        try:
            result = self.file.inline(self._admit(req, now))
        except SchedulerUnavailable:
            return None  # (told by admit, with the fallback where there is one)
        if isinstance(result, Later):
            return None
        self._warned = False
        return result

    async def release(self, lease: LeaseRecord, done: Release) -> None:
        """End or hold the lease; undo the quota unit and stamp when asked; apply what the
        server said, in the same transaction (see :class:`Release`)."""
        if self.fallback is not None and not lease.id.startswith("s"):
            await self.fallback.release(lease, done)
            return
        await self._run(self._release(lease, done))  # (a failure reaches the scheduler: logged)

    def release_now(self, lease: LeaseRecord, done: Release) -> bool:
        """:meth:`release` without suspending: kept for the next step where nothing in it
        is timed (``_sqlite_file``), else written now where it can be. False: await
        :meth:`release` instead."""
        if self.fallback is not None and not lease.id.startswith("s"):
            return False
        if done.plain:
            self.file.keep(lease, done)
            return True
        try:
            result = self.file.inline(self._release(lease, done))
        except SchedulerUnavailable:
            return False
        return not isinstance(result, Later)

    def _release(self, lease: LeaseRecord, done: Release) -> Step[None]:
        def step(conn: sqlite3.Connection) -> None:
            release_step(conn, self.ledger.enter(conn, done.now), lease, done)

        return step

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

    @property
    def lease_prefix(self) -> str:
        """How this object's lease ids begin: ``s<pid>-``, then the object's id."""
        return self._prefix

    async def write_heartbeat(
        self, key: str, body: str, now: float, ttl: float, lease_life: float | None
    ) -> None:
        """Store this process's heartbeat for ``ttl`` s of ledger time (``_heartbeat``)."""
        await self.file.run(write_step(self.ledger, key, body, now, ttl, lease_life))

    async def drop_heartbeat(self, key: str) -> None:
        """Remove the heartbeat ``key``."""
        await self.file.run(drop_step(key))

    async def read_ledger(self, now: float, operations: Collection[str]) -> RawLedger:
        """The ledger whole, for ``status`` (every operation's quota rows are read)."""
        return await self.file.run(read_step(now))

    async def close(self) -> None:
        """Write the releases kept, then close the connection (reopened at the next step)."""
        await self.file.close()
