"""The SQLite backend: one host, many processes, state that survives a restart.

Each step is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock), so two processes
cannot both take the last slot or the last quota unit. Leases carry an expiry and are
reclaimed inside the admitting transaction, so a killed process costs at most one lease
lifetime (timeout + margin). The quota per operation-day and the poll stamps are rows, so
a restarted loader knows what it already spent today.

Where a step runs. A step is tried first on the event loop's own thread with a zero busy
timeout: when no other process holds the write lock (nearly always) it takes tens of
microseconds, less than a hop to a thread and back. When another process holds it, or the
file must be (re)opened, the step goes to the backend's one worker thread, which waits
for the lock up to the busy timeout, and the loop stays free; steps after it follow it
there, in order.

Releases. A release that says nothing of the server (no cap, no pause, no spent day) is
kept and written in the transaction of this process's next step — usually the admission
of its next call — or, if none comes first, at the loop's next turn: a slot freed here is
free for other processes one loop turn later at most, and one transaction per call is
what a call pays. Every step, and :meth:`SQLiteBackend.close`, writes the releases kept
before anything else, so this process never sees its own release missing. A release that
carries what the server said is written at once, before the scheduler wakes anyone.

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
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from .._errors import ConfigError, SchedulerUnavailable
from ._backend import Backend, LeaseRecord, QuotaState
from ._memory import MemoryBackend
from ._rules import Admission, Blocked, Decision, Why
from ._sqlite_ledger import SCHEMA, LedgerTime, Moment, cause, raise_until
from ._sqlite_steps import STAMPS_KEPT, Release
from ._sqlite_steps import admit as admit_step
from ._sqlite_steps import release as release_step

__all__ = ["SQLiteBackend"]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async.scheduler")
BUSY_TIMEOUT = 30.0
"""Seconds a step waits for another process's write lock before it fails."""

_SETUP_ATTEMPTS = 50
"""Tries to open the state file (~12 s of back-off in all) while other processes set it up."""

_SWEEP_EVERY = 60.0
"""Seconds (ledger time) between sweeps of the poll stamps past their keeping."""

Step = Callable[[sqlite3.Connection, Moment | None], T]
"""A step's work inside its transaction; the moment is None for a step given no clock
reading (and no release to write before it)."""


class _Later:
    """A step that cannot run on the loop's thread now (see the module's docstring)."""


LATER = _Later()


def _busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


def _nothing(conn: sqlite3.Connection, moment: Moment | None) -> None:
    """A step of no work of its own: it writes the releases kept."""


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
        self._lock = threading.Lock()
        """Held by whichever thread is in a transaction on the connection."""
        self._counting = threading.Lock()
        self._queued = 0
        """Steps handed to the worker thread and not done (steps after them follow them)."""
        self._kept: list[Release] = []
        """Releases not yet written, in order."""
        self._armed: asyncio.AbstractEventLoop | None = None
        """The loop whose next turn writes the releases kept."""
        self._flushes: set[asyncio.Task[None]] = set()
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

    def _connect(self, inline: bool = False) -> sqlite3.Connection | None:
        """The connection; on the loop's thread (``inline``) None where one must be opened
        (set-up may wait for other processes: that is the worker thread's to do)."""
        if inline:
            return None if self._conn is None or self._gone() else self._conn
        if self._conn is not None and self._gone():
            # The file was deleted or replaced under us: what it knew (leases of calls that
            # may still run at Wolkvox) is gone. Work on the new file, admitting nothing
            # for a lease lifetime (the next step records the loss in it for everyone).
            self._drop()
            self.ledger.replaced = self._replaced = True
            self._recounted.clear()
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                check_same_thread=False,  # used by the loop's thread and the worker, in turn
            )
            # Several processes opening one file at once: switching to WAL can answer
            # "database is locked" at once, without waiting out the busy timeout (SQLite
            # does not call the busy handler there), so set-up is retried for a while.
            for attempt in range(_SETUP_ATTEMPTS):
                try:
                    # Each page a step changes is written whole to the WAL: small pages
                    # for small rows (a file made before keeps its own page size).
                    conn.execute("PRAGMA page_size = 1024")
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.execute("PRAGMA synchronous=NORMAL")
                    conn.executescript(SCHEMA)
                    conn.execute("PRAGMA busy_timeout = 0")  # a step says how long it waits
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

    def _transaction(self, step: Step[T], now: float | None, inline: bool) -> T | _Later:
        """One transaction: the releases kept, then ``step``. Called holding the lock."""
        try:
            conn = self._connect(inline)
            if conn is None:
                return LATER
            if not inline:
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if inline and _busy(exc):
                    return LATER  # another process writes: wait on the worker thread
                raise
            finally:
                if not inline:
                    conn.execute("PRAGMA busy_timeout = 0")
            kept = self._kept[:]
            try:
                result = self._steps(conn, step, now, kept)
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if inline and isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                    return LATER  # (all of it is done again there)
                raise
            del self._kept[: len(kept)]
            self.ledger.committed()
            return result
        except (sqlite3.Error, OSError) as exc:
            self._drop()  # reopened at the next step: the file may be usable again
            raise SchedulerUnavailable(backend=self.where, reason=cause(exc)) from None

    def _steps(
        self, conn: sqlite3.Connection, step: Step[T], now: float | None, kept: list[Release]
    ) -> T:
        if now is None and kept:
            now = kept[-1].now
        moment = None if now is None else self.ledger.enter(conn, now)
        if moment is not None and kept:
            for done in kept:
                release_step(conn, moment, done)
            if moment.at - self._swept > _SWEEP_EVERY:
                conn.execute("DELETE FROM stamps WHERE free_at < ?", (moment.at - STAMPS_KEPT,))
                self._swept = moment.at
        return step(conn, moment)

    def _inline(self, step: Step[T], now: float | None) -> T | _Later:
        """``step`` on this thread if no other process holds the lock and no step waits
        on the worker thread (it goes first); else LATER."""
        if self._queued or not self._lock.acquire(blocking=False):
            return LATER
        try:
            return self._transaction(step, now, inline=True)
        finally:
            self._lock.release()

    def _submit(self, step: Step[T], now: float | None) -> Future[T | _Later]:
        def job() -> T | _Later:
            try:
                with self._lock:
                    return self._transaction(step, now, inline=False)
            finally:
                with self._counting:
                    self._queued -= 1

        with self._counting:
            self._queued += 1
        return self._executor.submit(job)

    async def _run(
        self,
        step: Step[T],
        now: float | None,
        fallback: Callable[[Backend], Awaitable[T]] | None = None,
    ) -> T:
        try:
            result = self._inline(step, now)
            if isinstance(result, _Later):
                # Shielded: once handed to the thread, a step completes even if the caller
                # is cancelled, so the state never depends on where a cancellation landed.
                result = await asyncio.shield(asyncio.wrap_future(self._submit(step, now)))
        except SchedulerUnavailable:
            if self.fallback is None or fallback is None:
                raise
            if not self._warned:
                log.warning("%s unusable; admitting with the local fallback", self.where)
                self._warned = True
            return await fallback(self.fallback)
        assert not isinstance(result, _Later)  # (the worker thread always runs it)
        self._warned = False
        return result

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _admit(self, req: Admission) -> Step[tuple[Decision, LeaseRecord | None]]:
        lease_id = f"{self._prefix}{next(self._ids)}"

        def step(conn: sqlite3.Connection, moment: Moment | None) -> Any:
            assert moment is not None
            at = moment.at  # the ledger's time
            if req.operation not in self._recounted and (
                self._replaced or (moment.orphan and at - moment.created < 86_400)
            ):
                self._recounted.add(req.operation)
                self.lost.add(req.operation)  # its count restarted: the client re-reads it
            fence = moment.fence(req.lease_ttl)
            if fence > at:
                return moment.told(Blocked(Why.RECOVERING, fence)), None
            return admit_step(conn, moment, req, lease_id)

        return step

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide and, when granted, take lease, quota unit and stamp in one transaction."""
        return await self._run(self._admit(req), now, lambda other: other.admit(req, now))

    def admit_now(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None] | None:
        """:meth:`admit` without suspending, where it can be (None: await :meth:`admit`)."""
        try:
            result = self._inline(self._admit(req), now)
        except SchedulerUnavailable:
            return None  # (told by admit, with the fallback where there is one)
        if isinstance(result, _Later):
            return None
        self._warned = False
        return result

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
        done = Release(lease, now, hold_until, refund, unstamp, cap_for, pause_for, spent)
        if self.fallback is not None and not lease.id.startswith("s"):
            await self._release_fallback(self.fallback, done)
            return
        # (a failure reaches the scheduler, which logs and counts it)
        await self._run(lambda conn, moment: self._release(conn, moment, done), now)

    def release_now(
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
    ) -> bool:
        """:meth:`release` without suspending: kept for the next step (see the module's
        docstring) or, carrying what the server said, written now where it can be.
        False: await :meth:`release` instead."""
        if self.fallback is not None and not lease.id.startswith("s"):
            return False
        done = Release(lease, now, hold_until, refund, unstamp, cap_for, pause_for, spent)
        if not done.says:
            self._kept.append(done)
            loop = asyncio.get_running_loop()
            if self._armed is not loop:
                self._armed = loop
                loop.call_soon(self._flush)
            return True
        try:
            result = self._inline(lambda conn, moment: self._release(conn, moment, done), now)
        except SchedulerUnavailable:
            return False
        return not isinstance(result, _Later)

    @staticmethod
    def _release(conn: sqlite3.Connection, moment: Moment | None, done: Release) -> None:
        assert moment is not None
        release_step(conn, moment, done)

    @staticmethod
    async def _release_fallback(other: Backend, done: Release) -> None:
        await other.release(
            done.lease,
            done.now,
            hold_until=done.hold_until,
            refund=done.refund,
            unstamp=done.unstamp,
            cap_for=done.cap_for,
            pause_for=done.pause_for,
            spent=done.spent,
        )

    def _flush(self) -> None:
        """The loop's turn after a release: write what no step has written meanwhile."""
        self._armed = None
        if not self._kept:
            return
        try:
            if not isinstance(self._inline(_nothing, self._kept[-1].now), _Later):
                return
        except SchedulerUnavailable:
            pass  # the worker thread reopens the file, or says why not
        task = asyncio.get_running_loop().create_task(self._write_kept())
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _write_kept(self) -> None:
        if not self._kept:
            return
        try:
            await self._run(_nothing, self._kept[-1].now)
        except SchedulerUnavailable as exc:
            log.warning(
                "%d releases not written yet (%s): the next step tries again, and their "
                "leases expire by themselves",
                len(self._kept),
                exc,
            )

    async def _set_token(self, column: str, token: str, now: float, seconds: float) -> None:
        def step(conn: sqlite3.Connection, moment: Moment | None) -> None:
            assert moment is not None
            raise_until(conn, column, token, moment.keep(moment.at + seconds))

        await self._run(step, now)

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

        def step(conn: sqlite3.Connection, moment: Moment | None) -> None:
            conn.execute(
                "INSERT INTO quota (operation, day, used, limit_override) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (operation, day) DO UPDATE SET used = excluded.used + "
                "MAX(0, used - COALESCE(?, used)), "
                "limit_override = COALESCE(excluded.limit_override, limit_override)",
                (operation, day, used, limit, since),
            )

        await self._run(step, None)

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""

        def step(conn: sqlite3.Connection, moment: Moment | None) -> QuotaState:
            row: Any = conn.execute(
                "SELECT used, limit_override FROM quota WHERE operation = ? AND day = ?",
                (operation, day),
            ).fetchone()
            return (
                QuotaState(used=row[0], limit_override=row[1])
                if row
                else QuotaState(used=0, limit_override=None)
            )

        return await self._run(step, None, lambda other: other.quota(operation, day))

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases."""

        def step(conn: sqlite3.Connection, moment: Moment | None) -> int:
            assert moment is not None
            row = conn.execute(
                "SELECT COUNT(*) FROM leases WHERE token = ? AND expires > ?", (token, moment.at)
            ).fetchone()
            return int(row[0])

        return await self._run(step, now, lambda other: other.in_flight(token, operation, now))

    async def fenced_until(self, operation: str, lease_ttl: float, now: float) -> float | None:
        """When the lost-ledger pause ends, on the caller's clock (None: no pause)."""

        def step(conn: sqlite3.Connection, moment: Moment | None) -> float | None:
            assert moment is not None
            fence = moment.fence(lease_ttl)
            return moment.to_caller(fence) if fence > moment.at else None

        async def local(other: Backend) -> None:
            return None

        return await self._run(step, now, local)

    async def close(self) -> None:
        """Write the releases kept, then close the connection (reopened at the next step)."""
        if self._kept:
            try:
                await self._run(_nothing, self._kept[-1].now)
            except SchedulerUnavailable as exc:
                log.warning("releases not written at close (%s): their leases expire", exc)

        def shut() -> None:
            with self._lock:
                self._drop()

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
