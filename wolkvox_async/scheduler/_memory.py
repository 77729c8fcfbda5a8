"""The in-memory backend: one process, state in dicts, each step atomic by construction.

No method here awaits, so within one event loop a read, the decision and the write of one
admission cannot interleave with another (the memory twin of a SQLite transaction or a
Redis script); a lock makes the same hold between event loops on other threads.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict

from ._backend import LeaseRecord, QuotaState
from ._rules import Admission, Decision, Granted, Release, Snapshot, decide

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Scheduler state of one process (the default ``"memory://"``)."""

    cross_process = False
    poll_fallback = 0.1
    instant = True
    where = "memory://"
    """No step awaits anything: the scheduler calls it without a shield."""

    def __init__(self) -> None:
        self._leases: dict[str, dict[str, float]] = defaultdict(dict)
        self._cap_until: dict[str, float] = {}
        self._paused: dict[str, float] = {}
        self._used: dict[tuple[str, str], int] = defaultdict(int)
        self._limits: dict[tuple[str, str], int] = {}
        self._stamps: dict[str, tuple[float, float, str]] = {}  # key -> (at, free_at, lease)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.lost: set[str] = set()  # a process's memory is never lost while it runs

    def _live(self, token: str, now: float) -> tuple[dict[str, float], float | None]:
        """The token's unexpired leases and the earliest expiry among them."""
        leases = self._leases[token]
        earliest = min(leases.values()) if leases else None
        if earliest is not None and earliest <= now:
            for lease_id in [i for i, exp in leases.items() if exp <= now]:
                del leases[lease_id]  # reclaimed: the holder crashed or its hold ran out
            earliest = min(leases.values(), default=None)
        return leases, earliest

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide and, when granted, take lease, quota unit and stamp in one step."""
        with self._lock:
            leases = self._leases[req.limits.token]
            earliest = min(leases.values()) if leases else None
            if earliest is not None and earliest <= now:
                leases, earliest = self._live(req.limits.token, now)
            key = (req.limits.operation, req.day)
            stamp = self._stamps.get(req.poll_key) if req.poll_key else None
            snap = Snapshot(
                leases=len(leases),
                earliest_expiry=earliest,
                cap_until=self._cap_until.get(req.limits.token, 0.0),
                paused_until=self._paused.get(req.limits.token, 0.0),
                used=self._used.get(key, 0),
                limit_override=self._limits.get(key),
                poll_at=stamp[0] if stamp else None,
            )
            decision = decide(req, snap, now)
            if not isinstance(decision, Granted):
                return decision, None
            lease = LeaseRecord(
                id=f"m{next(self._ids)}",
                token=req.limits.token,
                operation=req.limits.operation,
                day=req.day,
                poll_key=req.poll_key,
            )
            leases[lease.id] = decision.expires
            self._used[key] += 1
            if req.poll_key:
                self._stamps[req.poll_key] = (now, now + req.limits.poll_interval, lease.id)
                if len(self._stamps) > 10_000:
                    self._stamps = {k: v for k, v in self._stamps.items() if v[1] > now}
            return decision, lease

    async def release(self, lease: LeaseRecord, done: Release) -> None:
        """End or hold the lease; undo the quota unit and stamp when asked; apply what the
        server said (see :class:`Release`)."""
        now = done.now
        with self._lock:
            leases = self._leases[lease.token]
            hold_until = done.hold_until
            if hold_until is not None and hold_until > now and leases.get(lease.id, 0.0) > now:
                leases[lease.id] = hold_until  # (a lease already expired is not revived)
            else:
                leases.pop(lease.id, None)
            if done.refund:
                key = (lease.operation, lease.day)
                self._used[key] = max(0, self._used[key] - 1)
            if (done.refund or done.unstamp) and lease.poll_key:
                stamp = self._stamps.get(lease.poll_key)
                if stamp and stamp[2] == lease.id:
                    del self._stamps[lease.poll_key]
            token = lease.token
            if done.cap_for > 0:
                self._cap_until[token] = max(now + done.cap_for, self._cap_until.get(token, 0.0))
            if done.pause_for > 0:
                self._paused[token] = max(now + done.pause_for, self._paused.get(token, 0.0))
            if done.spent:
                key = (lease.operation, lease.day)
                self._limits[key] = self._used.get(key, 0)

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Cap 1 for ``seconds``."""
        self._cap_until[token] = max(now + seconds, self._cap_until.get(token, 0.0))

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Nothing admitted for ``seconds``."""
        self._paused[token] = max(now + seconds, self._paused.get(token, 0.0))

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's numbers; see Backend.set_quota."""
        now = self._used.get((operation, day), 0)
        self._used[operation, day] = used + max(0, now - since) if since is not None else used
        if limit is not None:
            self._limits[operation, day] = limit

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""
        key = (operation, day)
        return QuotaState(used=self._used.get(key, 0), limit_override=self._limits.get(key))

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases."""
        with self._lock:
            return len(self._live(token, now)[0])

    async def close(self) -> None:
        """Nothing to release."""
