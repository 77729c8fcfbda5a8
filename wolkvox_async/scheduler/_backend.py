"""The backend interface: where scheduler state lives (:mod:`._backends` picks one).

A backend stores, per token, the leases in flight, the temporary cap and pause; per
operation and day, the quota used; per poll key, the last admission. Each method is one
atomic step (a lock, a transaction, a script). The decision itself is
:func:`~wolkvox_async.scheduler._rules.decide`, shared by all backends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from ._rules import Admission, Decision, Release

__all__ = [
    "AnnouncesReleases",
    "Backend",
    "LeaseRecord",
    "QuotaState",
    "ReportsFence",
    "StepsInline",
]

log = logging.getLogger("wolkvox_async.scheduler")


@attrs.frozen(kw_only=True)
class LeaseRecord:
    """A granted admission, as the backend must know it to undo or release it."""

    id: str
    token: str
    operation: str
    day: str
    poll_key: str | None


@attrs.frozen(kw_only=True)
class QuotaState:
    """An operation's consumption on one day."""

    used: int
    limit_override: int | None


class Backend(Protocol):
    """Scheduler state storage. Methods are atomic; ``now`` is wall time (epoch s)."""

    lost: set[str]
    """Operations whose ledger this backend found lost (a Redis restarted empty, a SQLite
    file replaced): their day's count restarted from zero. The client takes one out and
    reads the server's count (``token_info``) before its next call of that operation."""

    cross_process: bool
    """Other processes may change the state: their releases are not signalled here, so a
    blocked token's waiters also look again every ``poll_fallback`` seconds."""
    poll_fallback: float
    """Seconds between those looks (a backend that announces releases needs few)."""
    instant: bool
    """No step ever suspends (memory): a release needs no shield, waiters are served in
    the releasing task."""
    where: str
    """The backend's URL for messages (never a password)."""

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide; when granted, take the lease, the quota unit and the poll stamp."""
        ...

    async def release(self, lease: LeaseRecord, done: Release) -> None:
        """End a lease as ``done`` says (see :class:`Release`), with what the server said,
        in one step."""
        ...

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Hold the token's cap at 1 for ``seconds``."""
        ...

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Admit nothing for the token for ``seconds``."""
        ...

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's count of the day (and its limit, if given).

        ``since`` is the ledger's count when the read that gave ``used`` was admitted: the
        calls admitted after it may not have reached the server yet, so they are added
        (two processes reading token_info while the other loaded set the count back, and
        between them they loaded past a reserve). A read with nothing admitted meanwhile
        sets the count to the server's exactly, lower as well as higher."""
        ...

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""
        ...

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases of the token."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


@runtime_checkable
class ReportsFence(Protocol):
    """A backend that can lose its ledger (SQLite, Redis) and so may hold a lost-ledger
    pause: it says until when, for ``scheduler_stats()``."""

    async def fenced_until(self, operation: str, lease_ttl: float, now: float) -> float | None:
        """When the operation's lost-ledger pause ends, if one holds at ``now`` (on the
        caller's clock) or would hold for the next admission; None otherwise."""
        ...


@runtime_checkable
class AnnouncesReleases(Protocol):
    """A shared backend that tells every process when a lease is released (Redis)."""

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(token_key)`` on every release, in any process."""
        ...


@runtime_checkable
class StepsInline(Protocol):
    """A backend that can often take a step without suspending (SQLite, on the loop's
    thread when no other process holds its lock): the scheduler then needs no task to
    shield it, and a call costs no loop turn for it."""

    def admit_now(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None] | None:
        """:meth:`Backend.admit`, done without suspending; None: await that instead."""
        ...

    def release_now(self, lease: LeaseRecord, done: Release) -> bool:
        """:meth:`Backend.release`, taken without suspending (written now, or before this
        process's next step and within a loop turn); False: await that instead."""
        ...
