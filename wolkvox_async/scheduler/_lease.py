"""What a caller holds and tells the scheduler: its priority, the lease it was granted,
how the call ended (:class:`Outcome`), what the server said (:class:`Feedback`), and the
numbers :meth:`Scheduler.stats` reports."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Final

import attrs

from .._time import WOLKVOX_TZ
from ._backend import LeaseRecord

__all__ = [
    "NOTHING_SAID",
    "RELEASES",
    "Feedback",
    "Lease",
    "Outcome",
    "Priority",
    "ReleaseRule",
    "SchedulerStats",
]


class Priority(enum.IntEnum):
    """Who goes first when both wait: interactive calls (a CRM lookup) before bulk work."""

    INTERACTIVE = 0
    BULK = 1


class Outcome(enum.Enum):
    """How a leased request ended, which decides what its release gives back (``RELEASES``).

    Only an ANSWERED read keeps its poll stamp: Wolkvox's "every 5 minutes" is about
    reading the same data again (wolkvox-api.md §3.1), and a read whose answer was never
    delivered whole (failed, abandoned, cut at the cap) delivered no data to read again."""

    ANSWERED = "answered"
    """A response arrived and was a success."""
    FAILED = "failed"
    """A response arrived and was an error (a 4xx/5xx, an unreadable or oversized body)."""
    NOT_SENT = "not_sent"
    """Provably nothing reached the server: refused before connecting, or the lease given
    back before the request left (too late to send on, cancelled while waiting)."""
    ABANDONED = "abandoned"
    """Sent, and no response: a timeout, a connection reset or broken after any byte was
    written, a cancellation after sending. The server may still be running the call."""
    CUT = "cut"
    """A response arrived holding only part of what was asked (a report at its row cap)."""


@attrs.frozen
class ReleaseRule:
    """What a release of one outcome gives back."""

    hold: bool
    """The slot stays taken until the server must be done with the call (sent + the
    caller's timeout: Wolkvox's 60 s, §3.1, run from when the request reached it);
    otherwise it is free at once."""
    refund: bool
    """The quota unit is given back (the server never counted the call)."""
    unstamp: bool
    """The poll stamp is cleared: a read whose answer was never delivered may be made again
    at once (the 5-minute rule is about reading delivered data again, §3.1)."""


RELEASES: Final[Mapping[Outcome, ReleaseRule]] = {
    # The server answered: it is done with the call, its slot is free.
    Outcome.ANSWERED: ReleaseRule(hold=False, refund=False, unstamp=False),
    Outcome.FAILED: ReleaseRule(hold=False, refund=False, unstamp=True),
    # Only part of what was asked: no delivered read of the whole to guard.
    Outcome.CUT: ReleaseRule(hold=False, refund=False, unstamp=True),
    # Nothing reached it: as if never admitted.
    Outcome.NOT_SENT: ReleaseRule(hold=False, refund=True, unstamp=True),
    # It may be running the call still: a second call now could be its third in flight.
    Outcome.ABANDONED: ReleaseRule(hold=True, refund=False, unstamp=True),
}
"""Which outcome holds the slot how long, and what else its release gives back: the one
table of it (each row has its test in tests/scheduler/test_scheduler.py)."""


@attrs.frozen(kw_only=True)
class Feedback:
    """What the server said about a call, applied in the same step as its release, before
    anyone else is admitted (so no call leaves at the old cap after a 403 SIMULTANEOUS)."""

    cap_for: float = 0.0
    """403 SIMULTANEOUS: someone else uses the token; cap 1 for this long."""
    pause_for: float = 0.0
    """403 maintenance: admit nothing on the token for this long."""
    spent: bool = False
    """403 TOKEN LIMIT EXCEEDED: the day the call was admitted in is spent, its limit the
    day's count without this call (which found no unit left to spend)."""


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
