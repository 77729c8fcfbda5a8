"""What a caller holds and tells the scheduler: its priority, the lease it was granted,
how the call ended (:class:`Outcome`), what the server said (:class:`Feedback`), and the
numbers :meth:`Scheduler.stats` reports."""

from __future__ import annotations

import enum
from datetime import datetime, tzinfo

import attrs

from .._time import WOLKVOX_TZ
from ._backend import LeaseRecord

__all__ = ["NOTHING_SAID", "Feedback", "Lease", "Outcome", "Priority", "SchedulerStats"]


class Priority(enum.IntEnum):
    """Who goes first when both wait: interactive calls (a CRM lookup) before bulk work."""

    INTERACTIVE = 0
    BULK = 1


class Outcome(enum.Enum):
    """How a leased request ended, which decides what its release gives back."""

    ANSWERED = "answered"
    """A response arrived: the server is done; lease freed, quota unit spent."""
    FAILED = "failed"
    """A response arrived and was an error: as ANSWERED, and the poll stamp is cleared."""
    NOT_SENT = "not_sent"
    """Nothing reached the server: lease, quota unit and stamp are all given back."""
    ABANDONED = "abandoned"
    """Sent, then cancelled or timed out: the lease is held until the server must be done."""


@attrs.frozen(kw_only=True)
class Feedback:
    """What the server said about a call, applied in the same step as its release, before
    anyone else is admitted (so no call leaves at the old cap after a 403 SIMULTANEOUS)."""

    cap_for: float = 0.0
    """403 SIMULTANEOUS: someone else uses the token; cap 1 for this long."""
    pause_for: float = 0.0
    """403 maintenance: admit nothing on the token for this long."""
    spent: bool = False
    """403 TOKEN LIMIT EXCEEDED: the day the call was admitted in is spent."""


NOTHING_SAID: Feedback = Feedback()


@attrs.define(eq=False)
class Lease:
    """Permission to send one request; give it back with :meth:`Scheduler.release`."""

    record: LeaseRecord
    key: str
    """The token key (never the token)."""
    granted_at: float = 0.0
    """Clock time the lease was granted: it lives a lease lifetime from about then."""
    tz: tzinfo = WOLKVOX_TZ
    """The quota's calendar."""
    resets_at: float = 0.0
    """When the quota day the lease was granted in ends."""
    sent_at: float | None = None


@attrs.frozen(kw_only=True)
class SchedulerStats:
    """A snapshot for monitoring one token of one client."""

    in_flight: int
    queued_interactive: int
    queued_bulk: int
    quota_used: int
    quota_limit: int | None
    resets_at: datetime
    quota_reserved: int
    """Units of today's quota kept for interactive calls (``quota_reserve``)."""
    quota_available_to_bulk: int | None
    """What BULK calls may still use today: limit − used − reserved (None: no limit)."""
    refusals: dict[str, int]
    retries: dict[str, int]
    fenced_until: datetime | None = None
    """The lost-ledger pause: nothing is admitted on the token until then, since calls
    admitted before the ledger was lost may still be running at Wolkvox (None: no pause)."""
