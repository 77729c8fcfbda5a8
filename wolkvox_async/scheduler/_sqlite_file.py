"""The SQLite ledger's connection: where each step's transaction runs, and the releases
kept for the next one.

Where a step runs. A step is tried first on the event loop's own thread with a zero busy
timeout: when no other process holds the write lock (nearly always) it takes tens of
microseconds, less than a hop to a thread and back. When another process holds it, or the
file must be (re)opened (set-up may wait for other processes), the step goes to one
worker thread, which waits for the lock up to the busy timeout while the loop serves
everything else; steps asked for after it follow it there, in order.

Releases kept. A release whose writes involve no time (no hold, no cap, no pause, no spent
day) is kept and written at the start of the next transaction of this process — usually
the admission of its next call, so a call costs one transaction — or, if no step comes
first, at the loop's next turn: a slot freed here is free for other processes one loop
turn later at most. Every step writes them before its own work, and :meth:`close` writes
them, so this process never sees its own release missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from .._errors import SchedulerUnavailable
from ._backend import LeaseRecord
from ._rules import Release
from ._sqlite_ledger import SCHEMA, LedgerTime, cause
from ._sqlite_steps import release_plain

__all__ = ["LATER", "LedgerFile", "Step"]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async.scheduler")

Step = Callable[[sqlite3.Connection], T]
"""A step's work inside its transaction."""

_SETUP_ATTEMPTS = 50
"""Tries to open the state file (~12 s of back-off in all) while other processes set it up."""


class Later:
    """A step that cannot run on the loop's thread now (see the module's docstring)."""


LATER = Later()


def _busy(exc: sqlite3.Error) -> bool:
    """Another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)
    return "locked" in str(exc) or "busy" in str(exc)


def _nothing(conn: sqlite3.Connection) -> None:
    """A step of no work of its own: it writes the releases kept."""


class LedgerFile:
    """The connection to one ledger file, shared by the event loops of a process."""

    def __init__(
        self,
        path: Path,
        where: str,
        busy_timeout: float,
        ledger: LedgerTime,
        replaced: Callable[[], None],
    ) -> None:
        self.path = path
        self._where = os.fspath(path)
        """The path as a string: looked at before every step (a Path converts each time)."""
        self.where = where
        self.busy_timeout = busy_timeout
        self.ledger = ledger
        self._replaced = replaced
        """Called when the file at the path is not the one we had open."""
        self._inode = 0
        self._conn: sqlite3.Connection | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wolkvox-sqlite")
        self._lock = threading.Lock()
        """Held by whichever thread is in a transaction on the connection."""
        self._counting = threading.Lock()
        self._queued = 0
        """Steps handed to the worker thread and not done (steps after them follow them)."""
        self.kept: list[tuple[LeaseRecord, Release]] = []
        """Releases not yet written, in order."""
        self._armed: asyncio.AbstractEventLoop | None = None
        """The loop whose next turn writes the releases kept."""
        self._flushes: set[asyncio.Task[None]] = set()

    # ---- the connection -----------------------------------------------------------------

    def _connect(self, inline: bool) -> sqlite3.Connection | None:
        """The connection; on the loop's thread (``inline``) None where one must be opened."""
        if inline:
            return None if self._conn is None or self._gone() else self._conn
        if self._conn is not None and self._gone():
            # The file was deleted or replaced under us: what it knew (leases of calls that
            # may still run at Wolkvox) is gone. Work on the new file, admitting nothing
            # for a lease lifetime (the next step records the loss in it for everyone).
            self.drop()
            self._replaced()
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
                    time.sleep(0.01 * (attempt + 1))  # on the worker thread
            self._conn = conn
            self._inode = os.stat(self.path).st_ino
        return self._conn

    def _gone(self) -> bool:
        try:
            return os.stat(self._where).st_ino != self._inode
        except FileNotFoundError:
            return True

    def drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # ---- transactions -------------------------------------------------------------------

    def _transaction(self, step: Step[T], inline: bool) -> T | Later:
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
            kept = self.kept[:]
            try:
                for lease, done in kept:
                    release_plain(conn, lease, done)
                result = step(conn)
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if inline and isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                    return LATER  # (all of it is done again there)
                raise
            del self.kept[: len(kept)]
            self.ledger.committed()
            return result
        except (sqlite3.Error, OSError) as exc:
            self.drop()  # reopened at the next step: the file may be usable again
            raise SchedulerUnavailable(backend=self.where, reason=cause(exc)) from None

    def inline(self, step: Step[T]) -> T | Later:
        """``step`` on this thread if no other process holds the lock and no step waits
        on the worker thread (it goes first); else LATER.

        Raises:
            SchedulerUnavailable: the file cannot be used.
        """
        if self._queued or not self._lock.acquire(blocking=False):
            return LATER
        try:
            return self._transaction(step, inline=True)
        finally:
            self._lock.release()

    def _submit(self, step: Step[T]) -> Future[T | Later]:
        def job() -> T | Later:
            try:
                with self._lock:
                    return self._transaction(step, inline=False)
            finally:
                with self._counting:
                    self._queued -= 1

        with self._counting:
            self._queued += 1
        return self._executor.submit(job)

    async def run(self, step: Step[T]) -> T:
        """``step`` in a transaction, on this thread where it can be, else on the worker.

        Raises:
            SchedulerUnavailable: the file cannot be used.
        """
        result = self.inline(step)
        if isinstance(result, Later):
            # Shielded: once handed to the thread, a step completes even if the caller is
            # cancelled, so the state never depends on where a cancellation landed.
            result = await asyncio.shield(asyncio.wrap_future(self._submit(step)))
        assert not isinstance(result, Later)  # (the worker thread always runs it)
        return result

    # ---- releases kept ------------------------------------------------------------------

    def keep(self, lease: LeaseRecord, done: Release) -> None:
        """Write ``done`` with the next step, or at the loop's next turn."""
        self.kept.append((lease, done))
        loop = asyncio.get_running_loop()
        if self._armed is not loop:
            self._armed = loop
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        """The loop's turn after a release: write what no step has written meanwhile."""
        self._armed = None
        if not self.kept:
            return
        try:
            if not isinstance(self.inline(_nothing), Later):
                return
        except SchedulerUnavailable:
            pass  # the worker thread reopens the file, or says why not
        task = asyncio.get_running_loop().create_task(self.write_kept("not written yet"))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def write_kept(self, when: str) -> None:
        if not self.kept:
            return
        try:
            await self.run(_nothing)
        except SchedulerUnavailable as exc:
            log.warning(
                "%d releases %s (%s): the next step tries again, and their leases expire "
                "by themselves",
                len(self.kept),
                when,
                exc,
            )

    async def close(self) -> None:
        """Write the releases kept, then close the connection (reopened at the next step)."""
        await self.write_kept("not written at close")

        def shut() -> None:
            with self._lock:
                self.drop()

        await asyncio.get_running_loop().run_in_executor(self._executor, shut)
