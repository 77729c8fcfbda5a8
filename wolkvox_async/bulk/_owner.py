"""Who may run a load: the journal's OS lock, and the input's claim on the scheduler's ledger.

Two loads of one journal at once read the same journal state and send the same pending
chunks: every record twice. So a load holds its journal for the whole run:

* **The journal lock** is ``fcntl.flock`` on ``<journal>.lock``. The kernel drops it when
  its process ends, however it ends (SIGKILL included), so a dead load never leaves its
  journal locked. A flock belongs to one opening of the file, so a second coroutine of the
  same process is refused as a second process is. The file holds who has it (pid, host,
  since) for the refusal's message; its holder removes it at the end, and a waiter that
  gets the lock of a file removed meanwhile opens the new one.

* **The ledger claim** covers what a journal cannot see: two hosts (each its own journal)
  loading one input into one campaign. In the scheduler's ledger (Redis for many hosts;
  the SQLite file of one host; a memory ledger in one process) a load claims the key
  (server, operation, campaign, fingerprint of the input), renews it every ``LEASE_TTL / 3``
  seconds while it runs and ends it when it ends; a holder that dies stops renewing and
  the claim lapses after ``LEASE_TTL``. A second claim of the key while the first is
  alive is refused (:class:`LoadRunning`). When a load with a journal ends, the key keeps
  a marker for ``KEEP`` seconds: finished, or stopped with records pending (a lapsed claim
  reads as "died"). A later load of the same input into the same campaign from another
  journal finds it and is refused (:class:`AlreadyLoaded`), since its own journal knows
  nothing of what landed; the marker's own journal continues it, and ``reload=True``
  overrides it. A load without a journal claims the key while it runs and leaves no marker
  (nothing could resume it).

Whoever holds a journal's lock may take over a claim made from that same journal (host
and path): its holder held the lock before, so it is gone. Claims use real time (Redis's
own clock for Redis), never a client's injected clock: they are about live processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .._errors import SchedulerUnavailable
from ..scheduler import Backend, MemoryBackend
from ._claims import KEEP, Entry, Found, Terms, info_of, input_key, store_of
from ._outcomes import AlreadyLoaded, JournalError, LoadRunning

__all__ = ["LEASE_TTL", "POLL", "Claim", "JournalLock"]

log = logging.getLogger("wolkvox_async.bulk")

LEASE_TTL = 30.0
"""Seconds a claim lives without renewal: a load whose process died is refused to others
for at most this long after its last renewal."""
POLL = 0.5
"""Seconds between looks while waiting for a running load to end (``wait=True``)."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": _now_iso()}


# ---- the journal lock ---------------------------------------------------------------------


class JournalLock:
    """The OS lock on one upload journal (``<journal>.lock``), held for a whole load.

    ``upload_records`` takes it itself. Take it beforehand to read the journal and decide
    on the load with nobody able to start it in between (as the ``wolkvox`` command does),
    then pass it as ``journal=``; it stays yours to :meth:`release`::

        lock = JournalLock("leads.journal")
        lock.try_acquire()  # LoadRunning: another load holds it
        try:
            ...  # look at the journal
            await wv.upload_records(campaign_id, records, journal=lock)
        finally:
            lock.release()
    """

    def __init__(self, journal: str | Path) -> None:
        self.journal = Path(journal)
        self.path = Path(f"{journal}.lock")
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def try_acquire(self) -> None:
        """Take the lock now.

        Raises:
            LoadRunning: another load holds it (its pid, host and start in the message).
            JournalError: the lock file cannot be made (a folder that is not writable…).
        """
        while self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            except OSError as exc:
                raise JournalError(
                    path=str(self.journal),
                    reason=f"its lock file {self.path} cannot be made ({exc.strerror or exc})",
                    fix="give a journal path in a folder this user can write",
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise LoadRunning(
                    what=f"journal {self.journal}",
                    pid=holder.get("pid"),
                    host=str(holder.get("host", "?")),
                    since=_moment(holder.get("since")),
                ) from None
            except OSError as exc:
                os.close(fd)
                raise JournalError(
                    path=str(self.journal),
                    reason=f"its lock file {self.path} cannot be locked ({exc.strerror or exc})",
                    fix="give a journal path on a local disk",
                ) from None
            # Its last holder may have removed the file between our open and our lock: a
            # lock on a removed file guards nothing, so open the path again.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            data = json.dumps(_me()).encode()
            with contextlib.suppress(OSError):  # only the refusal's message needs it
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
            self._fd = fd

    async def acquire(self, *, wait: bool) -> None:
        """Take the lock; with ``wait``, wait for the load holding it to end."""
        told = False
        while True:
            try:
                self.try_acquire()
                return
            except LoadRunning as exc:
                if not wait:
                    raise
                if not told:
                    log.warning("%s; waiting for it to end", exc)
                    told = True
            await asyncio.sleep(POLL)

    def release(self) -> None:
        """Remove the lock file and let go (a waiter then opens the path afresh)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(fd)


def _read_holder(fd: int) -> dict[str, Any]:
    """Who holds a lock: what its holder wrote (it writes just after locking, so a file
    read at that instant may still be empty)."""
    for _ in range(5):
        try:
            found = json.loads(os.pread(fd, 4096, 0) or b"null")
        except (OSError, ValueError):
            found = None
        if isinstance(found, dict):
            return found
        time.sleep(0.002)
    return {}


# ---- the ledger claim ---------------------------------------------------------------------


class Claim:
    """One load's claim on (server, operation, campaign, input) in the scheduler's ledger."""

    def __init__(
        self,
        backend: Backend,
        *,
        operation: str,
        campaign_id: str,
        journal: Path | None,
        on_lost: Callable[[LoadRunning], None],
        server: str = "",
    ) -> None:
        self.store = store_of(backend)
        self.fallback: Backend | None = getattr(backend, "fallback", None)
        self.operation = operation
        self.server = server
        """The server's host[:port]: another server (a test one beside production, the
        same server number) holds other campaigns, whatever their numbers."""
        self.campaign_id = campaign_id
        self.journal = "" if journal is None else f"{socket.gethostname()}:{journal.resolve()}"
        """Who the claim is from: this host and journal path ("" for no journal)."""
        self.on_lost = on_lost
        self.key = ""
        self.record: Entry | None = None
        self._renewer: asyncio.Task[None] | None = None
        if self.store is None:
            log.debug("backend %r keeps no load claims: only the journal lock holds", backend)

    async def take(self, fingerprint: str, *, wait: bool, trusted: bool, reload: bool) -> None:
        """Claim the input, or raise what holds it.

        ``trusted``: this load's journal file was there before this run, so it knows what
        the runs before it landed: a marker left by that journal is its own. (A claim
        still running from it is taken over anyway: its holder held the journal's lock,
        which is now ours.) ``reload``: take over any marker (never a live claim).

        Raises:
            LoadRunning: another load of this input into this campaign is running.
            AlreadyLoaded: another journal loaded it (finished, stopped or died).
            SchedulerUnavailable: the ledger cannot be reached (nothing is sent).
        """
        if self.store is None:
            return
        where = f"{self.server}/{self.operation}" if self.server else self.operation
        self.key = input_key(where, self.campaign_id, fingerprint)
        info = json.dumps({**_me(), "campaign": self.campaign_id})
        record = Entry(uuid.uuid4().hex, "running", self.journal, 0.0, info)
        keep = KEEP if self.journal else LEASE_TTL
        terms = Terms(own=self.journal, accept=self.journal if trusted else "", force=reload)
        told = False
        while True:
            try:
                found = await self._take(record, keep, terms)
            except BaseException:
                await self._close()
                raise
            if found is None:
                break
            if found.state != "running" or not wait:
                await self._close()
            if found.state != "running":
                raise AlreadyLoaded(
                    campaign_id=self.campaign_id,
                    state=found.state,
                    records_landed=found.info.get("landed"),
                    journal=found.journal or "(none)",
                    pid=found.info.get("pid"),
                    host=str(found.info.get("host", "?")),
                    at=_moment(found.info.get("at") or found.info.get("since")),
                )
            running = LoadRunning(
                what=f"campaign {self.campaign_id} from this input",
                pid=found.info.get("pid"),
                host=str(found.info.get("host", "?")),
                since=_moment(found.info.get("since")),
            )
            if not wait:
                raise running
            if not told:
                log.warning("%s; waiting for it to end", running)
                told = True
            await asyncio.sleep(POLL)
        self.record = record
        self._renewer = asyncio.create_task(self._renew(keep, terms))

    async def _take(self, record: Entry, keep: float, terms: Terms) -> Found | None:
        assert self.store is not None
        try:
            return await self.store.take(self.key, record, LEASE_TTL, keep, terms)
        except SchedulerUnavailable:
            if not isinstance(self.fallback, MemoryBackend):
                raise
            # The ledger is away and the backend was told to fall back: the claim holds in
            # this process only, as the limits then do.
            await self._close()
            self.store = store_of(self.fallback)
            assert self.store is not None
            return await self.store.take(self.key, record, LEASE_TTL, keep, terms)

    async def _renew(self, keep: float, terms: Terms) -> None:
        assert self.store is not None
        assert self.record is not None
        while True:
            await asyncio.sleep(LEASE_TTL / 3)
            try:
                if await self.store.renew(self.key, self.record, LEASE_TTL, keep):
                    continue
                # Not renewed: it lapsed (this process was starved past LEASE_TTL). Nobody
                # took it meanwhile: take it again; somebody did: this load must stop.
                found = await self.store.take(self.key, self.record, LEASE_TTL, keep, terms)
            except SchedulerUnavailable as exc:  # tried again at the next beat
                log.warning("could not renew this load's claim on the ledger: %s", exc)
                continue
            if found is None:
                continue
            log.error("this load's claim on the ledger lapsed and was taken: stopping")
            self.on_lost(
                LoadRunning(
                    what=f"campaign {self.campaign_id} from this input (its claim lapsed "
                    "while this load ran, and another load took it)",
                    pid=found.info.get("pid"),
                    host=str(found.info.get("host", "?")),
                    since=_moment(found.info.get("since")),
                )
            )
            return

    async def end(self, *, kept: bool, finished: bool, landed: int) -> None:
        """End the claim: a marker when the load's journal is kept (it holds something of
        the input), nothing otherwise."""
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()
            await asyncio.wait([renewer])  # (a cancellation of this task still comes through)
        record, self.record = self.record, None
        if record is None or self.store is None:
            return
        state = ("finished" if finished else "stopped") if kept and self.journal else None
        info = json.dumps({**info_of(record.info), "landed": landed, "at": _now_iso()})
        try:
            await self.store.end(self.key, record, state, info)
        except SchedulerUnavailable as exc:  # it lapses by itself (a "died" marker)
            log.warning("could not end this load's claim on the ledger: %s", exc)
        finally:
            await self._close()

    async def _close(self) -> None:
        if self.store is not None:
            await self.store.close()
