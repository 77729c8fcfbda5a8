"""The admission rules as pure functions: one decision over one snapshot of a token's state.

Every backend (memory, SQLite, Redis) loads the same :class:`Snapshot` inside its lock,
transaction or script, calls :func:`decide` (or restates it, in Lua), and applies the
outcome atomically. The order of the checks is the order of severity:

1. quota — the operation's calls today (calendar day in Wolkvox time) must stay below its
   limit (licenses × 1000, or what the server last said); spent → refuse at once with the
   reset time, since waiting would mean waiting until midnight (wolkvox-api.md §3.3). A
   BULK call must also leave the quota reserved for interactive ones (``quota_reserve``):
   a nightly export never spends what the CRM needs to answer customers;
2. pause — after a maintenance 403 the token rests until a stored time;
3. polling interval — an identical report read within the interval waits for its end
   ("you can consume the information every 5 minutes", §3.1);
4. concurrency — at most ``cap`` leases in flight per token (2, lowered to 1 for a while
   after a 403 SIMULTANEOUS, §3.3).
"""

from __future__ import annotations

import enum
import hashlib
import math
from datetime import tzinfo
from typing import Final

import attrs

from .._time import WOLKVOX_TZ

__all__ = [
    "Admission",
    "Blocked",
    "Decision",
    "Exhausted",
    "Granted",
    "Release",
    "Snapshot",
    "TokenLimits",
    "Why",
    "decide",
    "token_key",
]

CAP_COOLDOWN: Final = 60.0
"""Seconds the cap stays at 1 after the server refused a request for concurrency."""


def token_key(token: str) -> str:
    """A stable, non-reversible name for a token: what state stores and logs show."""
    return "t" + hashlib.sha256(token.encode()).hexdigest()[:20]


@attrs.frozen(kw_only=True)
class TokenLimits:
    """What a client's token may do: registered once with the scheduler
    (:meth:`Scheduler.register`), then each call names only its token."""

    token: str
    """The token's key (:func:`token_key`), never the token."""
    operation: str
    """The quota pool."""
    limit: int | None
    """The daily quota; None means unknown (not enforced locally)."""
    cap: int
    """Leases allowed in flight for the token (1 or 2)."""
    lease_ttl: float
    """Seconds a lease lives if never released (timeout + margin): a crash costs no more."""
    poll_interval: float = 0.0
    """Seconds between identical reads (0: not limited)."""
    tz: tzinfo = WOLKVOX_TZ
    """The quota's calendar (midnight in Wolkvox time, GMT-5)."""
    reserve: int = 0
    """Units of today's quota BULK calls leave to interactive ones."""
    reserve_fraction: float = 0.0
    """The reserve as a fraction of the limit in force (the larger of the two counts)."""

    def reserved(self, limit: int) -> int:
        """Units of ``limit`` BULK calls may not use."""
        return min(limit, max(self.reserve, math.ceil(limit * self.reserve_fraction)))

    def stricter(self, other: TokenLimits) -> TokenLimits:
        """The limits that keep both clients of one token within theirs: the lower cap and
        quota, the longer lease, polling interval and reserve."""
        limits = [n for n in (self.limit, other.limit) if n is not None]
        return attrs.evolve(
            self,
            limit=min(limits) if limits else None,
            cap=min(self.cap, other.cap),
            lease_ttl=max(self.lease_ttl, other.lease_ttl),
            poll_interval=max(self.poll_interval, other.poll_interval),
            reserve=max(self.reserve, other.reserve),
            reserve_fraction=max(self.reserve_fraction, other.reserve_fraction),
        )


@attrs.frozen(kw_only=True)
class Admission:
    """What one request asks the backend for: its token's :class:`TokenLimits`, and what
    differs per call (made by the scheduler; the same value for every plain call of a
    token and priority on one day)."""

    limits: TokenLimits
    """What the token may do: the one record of its cap, quota, lease life and reserve."""
    poll_key: str | None = None
    """For poll-limited reads: (token, route, params) hashed."""
    day: str = ""
    """The quota day (YYYY-mm-dd in ``limits.tz``); the scheduler sets it at each decision."""
    resets_at: float = 0.0
    """Epoch time the quota day ends; set with ``day``."""
    bulk: bool = False
    """A BULK call: it must leave the token's reserve (``limits.reserved``) untouched."""
    corrects_quota: bool = False
    """A token_info read made to correct the ledger: never refused for the quota (it is how
    a wrong count gets corrected), though it counts, and waits for a slot, like any call."""


@attrs.define(kw_only=True)
class Snapshot:
    """A token's state as a backend read it, expired leases already dropped.

    Built for one decision and dropped (one per admission): not frozen, since a frozen
    attrs class sets each field through ``object.__setattr__`` (twice the cost).
    """

    leases: int
    """Unexpired leases of the token."""
    earliest_expiry: float | None
    """When the first of them expires, if any."""
    cap_until: float = 0.0
    """The cap is 1 until then (after a 403 SIMULTANEOUS)."""
    paused_until: float = 0.0
    used: int = 0
    """Calls of the operation today."""
    limit_override: int | None = None
    """A limit the server told us (token_info), preferred over the configured one."""
    poll_at: float | None = None
    """When the identical poll-limited call was last admitted."""


@attrs.frozen
class Granted:
    """Admitted: the backend takes a lease, a quota unit and the poll stamp."""

    expires: float
    full_until: float | None = None
    """Set when this lease fills the token (and leaves quota): the next caller would be
    blocked for concurrency until then at the latest, so the queue need not ask."""


class Why(enum.StrEnum):
    """Why a call must wait (the Lua script answers with these values)."""

    PAUSED = "paused"
    """After a maintenance 403."""
    POLL_INTERVAL = "poll_interval"
    """An identical read within the polling interval."""
    CONCURRENCY = "concurrency"
    """The token's slots are full: a release frees one."""
    RECOVERING = "recovering"
    """The ledger was lost (a Redis restarted empty, flushed, evicted or failed over; a
    SQLite file deleted or replaced): calls admitted before may still be running at
    Wolkvox, so nothing is admitted until a lease lifetime after the loss — the lost-ledger
    pause (``_redis_lua``, ``_sqlite_ledger``)."""


@attrs.frozen
class Blocked:
    """Not now: run again at ``retry_at`` (for concurrency: when a lease expires at the
    latest; a release wakes waiters earlier)."""

    reason: Why
    retry_at: float | None


@attrs.frozen
class Exhausted:
    """The operation's quota is spent until ``resets_at`` — for this call: with
    ``reserved``, what is left is kept for interactive calls."""

    used: int
    limit: int
    resets_at: float
    reserved: int = 0


Decision = Granted | Blocked | Exhausted


@attrs.frozen
class Release:
    """How a lease ends, as one value (:meth:`Backend.release`): the lease is freed, or
    held until ``hold_until``; ``refund`` gives the quota unit back (nothing reached the
    server); ``unstamp`` clears the poll stamp it set. What the server said comes in the
    same step, applied before anyone can be admitted: ``cap_for`` (403 SIMULTANEOUS: cap
    1 for that long), ``pause_for`` (maintenance), ``spent`` (TOKEN LIMIT EXCEEDED: the
    lease's day is spent at its count)."""

    now: float
    """The releasing caller's clock when it asked."""
    hold_until: float | None = attrs.field(default=None, kw_only=True)
    refund: bool = attrs.field(default=False, kw_only=True)
    unstamp: bool = attrs.field(default=False, kw_only=True)
    cap_for: float = attrs.field(default=0.0, kw_only=True)
    pause_for: float = attrs.field(default=0.0, kw_only=True)
    spent: bool = attrs.field(default=False, kw_only=True)

    @property
    def plain(self) -> bool:
        """Nothing in it is timed (no hold, no cap, no pause, no spent day): a backend
        may write it with its next step. A release that says what the server said must
        reach other processes before their next admission."""
        return (
            self.hold_until is None and self.cap_for <= 0 and self.pause_for <= 0 and not self.spent
        )


def decide(req: Admission, snap: Snapshot, now: float) -> Decision:
    """The admission decision; see the module docstring for the order of checks."""
    # The quota limit in force: the server's word first, then the configuration.
    lim = req.limits
    limit = snap.limit_override if snap.limit_override is not None else lim.limit
    if limit is not None and not req.corrects_quota:
        if snap.used >= limit:
            return Exhausted(used=snap.used, limit=limit, resets_at=req.resets_at)
        if req.bulk and (lim.reserve or lim.reserve_fraction):
            reserved = lim.reserved(limit)
            if snap.used >= limit - reserved:
                return Exhausted(snap.used, limit, req.resets_at, reserved)
    if snap.paused_until > now:
        return Blocked(Why.PAUSED, snap.paused_until)
    if req.poll_key is not None and snap.poll_at is not None:
        free_at = snap.poll_at + lim.poll_interval
        if free_at > now:
            return Blocked(Why.POLL_INTERVAL, free_at)
    cap = min(lim.cap, 1) if snap.cap_until > now else lim.cap
    if snap.leases >= cap:
        return Blocked(
            Why.CONCURRENCY, _frees_at(req, snap.leases, snap.earliest_expiry, snap, now)
        )
    expires = now + lim.lease_ttl
    if snap.leases + 1 < cap or (limit is not None and snap.used + 1 >= limit):
        return Granted(expires=expires)
    # This lease fills the token: say until when the next caller would be blocked.
    earliest = expires if snap.earliest_expiry is None else min(snap.earliest_expiry, expires)
    return Granted(expires=expires, full_until=_frees_at(req, snap.leases + 1, earliest, snap, now))


def _frees_at(
    req: Admission, leases: int, earliest_expiry: float | None, snap: Snapshot, now: float
) -> float | None:
    """When a full token may admit again without a release: a lease expires, or the
    lowered cap ends while fewer than the normal cap are held."""
    retry = earliest_expiry
    if snap.cap_until > now and leases < req.limits.cap:
        retry = snap.cap_until if retry is None else min(retry, snap.cap_until)
    return retry
