"""The heartbeat: what one process tells a shared ledger about itself, for ``status``.

The ledger knows the leases (authoritative: an admission cannot happen without one), the
quota and the pauses, but not who holds a lease, on which route, nor who waits: that lives
in each process's scheduler. So a scheduler on a shared ledger (SQLite, Redis) writes a
*heartbeat* — host, pid, its leases with route and age, its callers waiting per priority,
its refusals, pauses and the server's push-backs of the last hour — from one background task, at
most once every ``EVERY`` seconds, each living ``TTL`` seconds: a process killed stops
writing and its heartbeat is ignored (and swept) once its TTL has run out. The task starts
with the scheduler's first queue (a token's first call) and stops, removing the
heartbeat, when the scheduler's last client closes. Nothing is written per call: a call
only puts its slot in the scheduler's ``held`` (a dict item, no I/O).

The cadence runs on the event loop's own time, not the injected clock: a test's virtual
clock counts its timers, and a heartbeat is no rule of the API. Its contents (ages) are
on the injected clock, and the backend stamps each heartbeat with the ledger's own time.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from collections import Counter, deque
from collections.abc import Collection
from typing import Any, Protocol, runtime_checkable

import attrs

from ._clock import Clock
from ._lease import Priority
from ._queue import Queue
from ._refusals import Refusals
from ._rules import TokenLimits
from ._slot import Slot

__all__ = ["EVERY", "TTL", "Heartbeat", "KeepsHeartbeats", "RawLedger"]

log = logging.getLogger("wolkvox_async.scheduler")

EVERY = 1.0
"""Seconds between two heartbeats of one scheduler."""
TTL = 5.0
"""Seconds a heartbeat counts after it was written: a few beats, so one late write (a
busy loop, a slow disk) does not make a live process look gone."""
HOUR = 3600.0
_SAMPLE = 60.0
"""Seconds between the samples of the refusal counters kept for the last-hour figures."""


@attrs.frozen(kw_only=True)
class RawLedger:
    """What a shared ledger holds, as read in one step (``status`` makes sense of it)."""

    at: float
    """The ledger's time when read (SQLite: its own clock; Redis: TIME)."""
    beats: tuple[tuple[str, float, str], ...]
    """Live heartbeats: (id, written at in ledger time, JSON body)."""
    leases: tuple[tuple[str, str, float], ...]
    """Unexpired leases: (token key, lease id, expires in ledger time)."""
    quota: tuple[tuple[str, str, int, int | None], ...]
    """(operation, day, used, limit the server told) rows of the days read."""
    tokens: tuple[tuple[str, float, float], ...]
    """(token key, cap lowered until, paused until) where either is in the future."""
    fences: tuple[tuple[str, float], ...]
    """(operation, lost-ledger pause ends) where one holds; operation ``*``: all of them,
    the pause then given as when it began (SQLite: its length is a lease lifetime)."""
    operations: tuple[tuple[str, str], ...] = ()
    """(token key, operation) the ledger itself knows (Redis: a token's leases live in
    its operation's ledger)."""


@runtime_checkable
class KeepsHeartbeats(Protocol):
    """A shared backend that stores heartbeats and can be read whole (SQLite, Redis)."""

    @property
    def lease_prefix(self) -> str:
        """How this backend object's lease ids begin (they carry the pid)."""
        ...

    async def write_heartbeat(
        self, key: str, body: str, now: float, ttl: float, lease_life: float | None
    ) -> None:
        """Store ``body`` under ``key`` for ``ttl`` seconds of ledger time (replacing it);
        sweep the heartbeats whose time ran out. ``now``: the writer's clock;
        ``lease_life``: its longest lease lifetime (as an admission's step knows it)."""
        ...

    async def drop_heartbeat(self, key: str) -> None:
        """Remove the heartbeat ``key`` (its process is leaving)."""
        ...

    async def read_ledger(self, now: float, operations: Collection[str]) -> RawLedger:
        """The ledger as :class:`RawLedger`: today's quota of ``operations`` (and of those
        the heartbeats name); ``now`` is the reader's clock."""
        ...


class Beating(Protocol):
    """What a heartbeat reads of its :class:`~._scheduler.Scheduler` (which imports this
    module: named here by its shape)."""

    clock: Clock
    queues: dict[str, Queue]
    held: dict[str, Slot]
    refusals: Refusals

    @property
    def limits(self) -> dict[str, TokenLimits]: ...


class Heartbeat:
    """One scheduler's heartbeat task."""

    def __init__(self, scheduler: Beating, store: KeepsHeartbeats | None) -> None:
        """``store`` None: a heartbeat only read in this process (a memory ledger)."""
        self.scheduler = scheduler
        self.store = store
        self.key = f"{socket.gethostname()}:{os.getpid()}:{id(scheduler):x}"
        self.started = scheduler.clock.time()
        self.task: asyncio.Task[None] | None = None
        self._samples: deque[tuple[float, dict[str, dict[str, Counter[str]]]]] = deque()

    def start(self) -> None:
        """Begin beating (once): the scheduler has work (no store: nothing to write)."""
        if self.store is not None and (self.task is None or self.task.done()):
            self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop beating and remove the heartbeat (the scheduler's last client closed)."""
        task, self.task = self.task, None
        if task is None:
            return
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if not task.cancelled():  # (we were cancelled ourselves, not the task)
                raise
        try:
            if self.store is not None:
                await self.store.drop_heartbeat(self.key)
        except Exception as exc:  # it expires by itself
            log.debug("could not remove heartbeat %s (%s)", self.key, exc)

    async def _run(self) -> None:
        assert self.store is not None  # (started only where there is one)
        while True:
            try:
                lives = [limits.lease_ttl for limits in self.scheduler.limits.values()]
                now = self.scheduler.clock.time()
                life = max(lives, default=None)
                await self.store.write_heartbeat(self.key, self.body(), now, TTL, life)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never a reason to stop a call: the next beat retries
                log.debug("heartbeat %s not written (%s)", self.key, exc)
            await asyncio.sleep(EVERY)

    def body(self) -> str:
        """The heartbeat as JSON: times as ages (seconds before now), so the ledger's own
        time of writing places them whatever this process's clock says."""
        s = self.scheduler
        now = s.clock.time()
        tokens: dict[str, Any] = {}
        hour = self._last_hour(now)
        for key, limits in list(s.limits.items()):
            queue = s.queues.get(key)
            refused, retried, paused = hour.get(key, [{}, {}, {}])
            tokens[key] = {
                "operation": limits.operation,
                "limit": limits.limit,
                "cap": limits.cap,
                "lease_ttl": limits.lease_ttl,
                "tz": str(limits.tz),
                "reserve": limits.reserve,
                "reserve_fraction": limits.reserve_fraction,
                "waiting": [0 if queue is None else queue.count(p) for p in Priority],
                "refused": refused,
                "retried": retried,
                "paused": paused,
            }
        held = []
        for slot in list(s.held.values()):
            lease = slot.lease
            route = slot.route
            held.append(
                {
                    "id": lease.record.id,
                    "token": lease.key,
                    "route": "" if route is None else str(route.name),
                    "age": max(0.0, now - lease.granted_at),
                    "sent": lease.sent_at is not None,
                }
            )
        return json.dumps(
            {
                "v": 1,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "age": max(0.0, now - self.started),
                "prefix": "" if self.store is None else self.store.lease_prefix,
                "tokens": tokens,
                "held": held,
            },
            separators=(",", ":"),
        )

    def _last_hour(self, now: float) -> dict[str, list[dict[str, int]]]:
        """Refusals and retries per token over the last hour: the counters now less a
        sample of them taken an hour ago (none: since the scheduler began, within it)."""
        r = self.scheduler.refusals
        current = {"refused": r.refused, "retried": r.retried, "paused": r.paused}
        if not self._samples or now - self._samples[-1][0] >= _SAMPLE:
            copy = {name: {k: Counter(c) for k, c in t.items()} for name, t in current.items()}
            self._samples.append((now, copy))
        while len(self._samples) > 1 and now - self._samples[1][0] >= HOUR:
            self._samples.popleft()
        base: dict[str, dict[str, Counter[str]]] = {}
        if self._samples and now - self._samples[0][0] >= HOUR:
            base = self._samples[0][1]
        out: dict[str, list[dict[str, int]]] = {}
        for token in set(r.refused) | set(r.retried) | set(r.paused):
            out[token] = []
            for name in ("refused", "retried", "paused"):
                then = base.get(name, {}).get(token, Counter())
                delta = current[name].get(token, Counter()) - then
                out[token].append({k: v for k, v in delta.items() if v > 0})
        return out
