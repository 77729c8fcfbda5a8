"""The per-token scheduler: who may send now, who waits, and who is told no at once.

Theory. Wolkvox refuses a request when its token already has 2 in flight, when the
operation's daily quota is spent, and (as a rule of use) when the same report is read
again within 5 minutes (wolkvox-api.md §3). Every request therefore first asks for
*admission*: one atomic decision by the backend (see ``_rules.decide``) that either takes
a concurrency lease, a quota unit and the poll stamp together, or says why not and until
when. A lease is released when the answer arrives; if the caller gives up after sending,
the lease is held until Wolkvox can no longer be running the call (sent + 60 s).

Waiting. Callers that cannot go now wait on a future in a FIFO queue of their token, one
queue per priority (INTERACTIVE before BULK). Nobody polls: a release wakes the token's
queue, and each token has at most one timer, set to the next moment something can change
(a poll interval or pause ends, a lease expires, a caller's ``max_wait`` runs out). A
read blocked by its polling interval steps aside so it does not hold up other calls of
its token. With a backend shared by other processes, releases made elsewhere are not
signalled, so a blocked token's timer also fires every ``poll_fallback`` seconds.

Failing fast. A spent quota fails every caller of the operation at once with
:class:`QuotaExhausted` (it resets at midnight, Wolkvox time); a wait known to exceed a
caller's ``max_wait`` fails at once with :class:`WaitTooLong`; a caller cancelled while
queued leaves nothing taken.

Surviving the backend. A backend step that fails (Redis gone, a SQLite file that cannot be
written) reaches the callers it concerns as :class:`SchedulerUnavailable` — nothing was
sent — within the backend's own time bound (Redis: 2 s to connect, 5 s per command): the
caller asking, or every caller queued on the token when the pump's step failed. The queue
machinery cannot die of it: the next caller asks the backend afresh. A release that fails
is logged and counted, never raised: the caller keeps the server's answer, and the lease
expires by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import heapq
import itertools
import logging
import weakref
from collections import Counter
from datetime import UTC, datetime, tzinfo

import attrs

from .._errors import (
    QuotaExhausted,
    QuotaReserved,
    SchedulerUnavailable,
    WaitTooLong,
    WolkvoxError,
)
from .._time import WOLKVOX_TZ, day_of, next_reset
from ._backend import AnnouncesReleases, Backend, LeaseRecord
from ._clock import Clock
from ._queue import Queue as _Queue
from ._queue import Waiter as _Waiter
from ._reads import ReadCache
from ._rules import Admission, Blocked, Exhausted, Granted, TokenLimits, Why

__all__ = ["Feedback", "Lease", "Outcome", "Priority", "Scheduler", "SchedulerStats"]

log = logging.getLogger("wolkvox_async.scheduler")
_FAIL_BATCH = 250
MIDNIGHT_SKEW = 5.0
"""Seconds of clock difference between us and Wolkvox tolerated around midnight."""


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


_NOTHING_SAID = Feedback()


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


class Scheduler:
    """Admission for every token of one backend, in one event loop."""

    def __init__(
        self, backend: Backend, clock: Clock, *, poll_fallback: float | None = None
    ) -> None:
        self.backend = backend
        self.clock = clock
        # Backends that announce releases (Redis pub/sub) need only a slow safety net.
        self.poll_fallback = backend.poll_fallback if poll_fallback is None else poll_fallback
        self._announcer = backend if isinstance(backend, AnnouncesReleases) else None
        # A backend whose steps never suspend (memory) cannot be cancelled half-way, so its
        # release needs no shield, a task per call (benchmarks/scheduler_overhead.py).
        self._instant = backend.instant
        self._days: dict[tzinfo, tuple[str, float, float]] = {}
        self._limits: dict[str, TokenLimits] = {}
        self._asks: dict[tuple[str, bool], Admission] = {}
        """Today's admission of a token's calls but reads, by bulk-ness (made once a day)."""
        self._subscribed = False
        self._users = 0
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()
        self._refusals: dict[str, Counter[str]] = {}
        self._retries: dict[str, Counter[str]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop this scheduler serves (set at its first step)."""
        self.siblings: weakref.WeakSet[Scheduler] = weakref.WeakSet()
        """Schedulers of the same backend in other event loops (other threads)."""
        self.reads = ReadCache(clock)
        """Results of identical reads shared within their interval (poll_policy="share")."""

    # ---- acquiring ----------------------------------------------------------------------

    def register(self, limits: TokenLimits) -> None:
        """A client's token and what it may do; its calls then name only the token.

        Clients of one token should agree (the last registered applies).
        """
        if self._limits.get(limits.token, limits) != limits:
            log.info(
                "clients of token %s differ in their limits; the last one's apply", limits.token
            )
        self._limits[limits.token] = limits
        for bulk in (False, True):
            self._asks.pop((limits.token, bulk), None)

    def _admission(
        self, token: str, poll_key: str | None, priority: Priority, corrects: bool, now: float
    ) -> Admission:
        """What a call of ``token`` asks the backend for today."""
        limits = self._limits[token]
        bulk = priority is Priority.BULK
        day, resets_at = self._today(limits.tz, now)
        plain = poll_key is None and not corrects
        if plain and (made := self._asks.get((token, bulk))) is not None and made.day == day:
            return made  # the same for every call of the day but reads (frozen: shared)
        admission = limits.admission(
            day=day, resets_at=resets_at, poll_key=poll_key, bulk=bulk, corrects=corrects
        )
        if plain:
            self._asks[(token, bulk)] = admission
        return admission

    def _today(self, tz: tzinfo, now: float) -> tuple[str, float]:
        """The quota day in ``tz`` at ``now`` and when it ends."""
        known = self._days.get(tz)
        if known is None or not known[1] <= now < known[2]:
            ends = next_reset(now, tz)
            known = (day_of(now, tz), now, ends)
            self._days[tz] = known
        return known[0], known[2]

    def _dated(self, admission: Admission, now: float) -> Admission:
        """The admission with today's quota day (it may change while a caller waits)."""
        known = self._days.get(admission.tz)
        if known is not None and known[1] <= now < known[2] and known[0] == admission.day:
            return admission  # the common case, without a call
        day, ends = self._today(admission.tz, now)
        if day == admission.day:
            return admission
        return attrs.evolve(admission, day=day, resets_at=ends)

    async def acquire(
        self,
        token: str,
        poll_key: str | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
        max_wait: float | None = None,
        raise_on_poll: bool = False,
        corrects_quota: bool = False,
    ) -> Lease:
        """Wait for admission of a call of ``token`` (registered); ``poll_key`` names a
        poll-limited read. See the module docstring. ``corrects_quota``: a token_info read
        made to correct the ledger, never refused for the quota (it still counts).

        Raises:
            QuotaExhausted: the operation's quota is spent (at once, not at midnight).
            WaitTooLong: admission would come later than ``max_wait`` seconds from now,
                or (``raise_on_poll``) the polling interval of this read is running.
        """
        queue = self._queues.get(token)
        if queue is None:
            queue = self._queues[token] = _Queue()
            self.loop = asyncio.get_running_loop()
        if self._announcer is not None and not self._subscribed:
            self._subscribed = True
            self._announcer.subscribe(self._released_elsewhere)
        now = self.clock.time()
        admission = self._admission(token, poll_key, priority, corrects_quota, now)
        deadline = None if max_wait is None else now + max_wait
        parked = queue.head() is not None
        if not parked and not queue.admitting:
            # The fast path, one caller at a time per token: a crowd arriving together
            # queues behind it instead of sending a crowd of admissions to the backend
            # (for Redis, one connection each).
            queue.admitting = True
            try:
                decision, record = await self.backend.admit(admission, now)
            except Exception as exc:
                raise self._unavailable(admission.token, exc, 1) from exc
            finally:
                queue.admitting = False
                self._kick_if_waiting(queue)  # callers that queued meanwhile
            if record is not None:
                return self._granted(admission, record, "at once")
            self._check_refusal(admission, decision, deadline, max_wait, raise_on_poll)
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(admission, future, priority, deadline, max_wait, raise_on_poll)
        queue.lanes[priority].append(waiter)
        if deadline is not None:
            heapq.heappush(queue.deadlines, (deadline, next(self._seq), waiter))
        if parked:
            # Others wait ahead of us, and the pump stopped at the first of them for a
            # reason that holds for the token (a release or the timer restarts it); asking
            # again now would only be refused. Our own max_wait may need an earlier timer.
            if deadline is not None and not queue.running:
                self._arm(queue, deadline)
        else:
            self._kick(queue)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted at the very moment we were cancelled: give everything back.
                lease = future.result()
                await asyncio.shield(self._undo(lease))  # (_undo never raises)
            self._kick(queue)
            raise

    def _check_refusal(
        self,
        admission: Admission,
        decision: Blocked | Exhausted | Granted,
        deadline: float | None,
        max_wait: float | None,
        raise_on_poll: bool,
    ) -> None:
        if isinstance(decision, Exhausted):
            raise self._exhausted(admission, decision)
        if isinstance(decision, Blocked) and decision.retry_at is not None:
            if decision.reason is Why.POLL_INTERVAL and raise_on_poll:
                raise self._too_long(admission, decision.retry_at, 0.0, "the polling interval")
            known = decision.reason is not Why.CONCURRENCY
            if known and deadline is not None and decision.retry_at > deadline:
                raise self._too_long(admission, decision.retry_at, max_wait or 0.0, decision.reason)

    def _unavailable(self, token: str, exc: Exception, callers: int) -> Exception:
        """The error for callers of a backend step that failed (nothing was sent)."""
        if isinstance(exc, WolkvoxError) and not isinstance(exc, SchedulerUnavailable):
            return exc  # a refusal the backend meant (e.g. ConfigError)
        self._count(self._refusals, token, "scheduler_unavailable", callers)
        if isinstance(exc, SchedulerUnavailable):
            return exc
        return SchedulerUnavailable(
            backend=self.backend.where, reason=f"{type(exc).__name__}: {exc}"
        )

    def _granted(self, admission: Admission, record: LeaseRecord, how: str) -> Lease:
        log.debug("admit %s %s (%s)", admission.token, record.id, how)
        return Lease(
            record=record,
            key=admission.token,
            granted_at=self.clock.time(),
            tz=admission.tz,
            resets_at=admission.resets_at,
        )

    def _exhausted(
        self, admission: Admission, decision: Exhausted, callers: int = 1
    ) -> QuotaExhausted:
        resets_at = datetime.fromtimestamp(decision.resets_at, UTC)
        if decision.reserved:
            self._count(self._refusals, admission.token, "quota_reserved", callers)
            log.debug("refuse %s: the rest is reserved (%d)", admission.token, decision.reserved)
            return QuotaReserved(
                operation=admission.operation,
                used=decision.used,
                limit=decision.limit,
                resets_at=resets_at,
                reserved=decision.reserved,
            )
        self._count(self._refusals, admission.token, "quota_exhausted", callers)
        log.debug("refuse %s: quota %d/%d spent", admission.token, decision.used, decision.limit)
        return QuotaExhausted(
            operation=admission.operation,
            used=decision.used,
            limit=decision.limit,
            resets_at=resets_at,
        )

    def _too_long(
        self, admission: Admission, retry_at: float, max_wait: float, why: str
    ) -> WaitTooLong:
        self._count(self._refusals, admission.token, "wait_too_long")
        log.debug("refuse %s: %s lasts past max_wait", admission.token, why)
        return WaitTooLong(
            retry_at=datetime.fromtimestamp(retry_at, UTC), max_wait=max_wait, reason=why
        )

    def attach(self) -> Scheduler:
        """A client starts using this scheduler."""
        self._users += 1
        return self

    async def detach(self) -> None:
        """A client closed; the last one closes the backend's connections for this loop
        (Redis, SQLite), which reopen on next use."""
        self._users -= 1
        if self._users == 0:
            self._subscribed = False
            await self.backend.close()

    # ---- the queue pump -----------------------------------------------------------------

    def _kick(self, queue: _Queue) -> None:
        if queue.running:
            queue.dirty = True
            return
        queue.running = True
        pump = self._pump(queue)
        if not self._instant:
            asyncio.get_running_loop().create_task(pump)
            return
        # Memory: no step suspends, so the waiters are served right here, as a Semaphore
        # wakes its own (a task per release would cost two more loop turns per call).
        try:
            pump.send(None)
        except StopIteration:
            return
        pump.close()
        raise RuntimeError("an instant scheduler backend suspended")

    async def _pump(self, queue: _Queue) -> None:
        wake_at: float | None = None
        try:
            while True:
                queue.dirty = False
                try:
                    wake_at = await self._serve(queue)
                except Exception as exc:  # the backend failed: no one may wait on it forever
                    wake_at = None
                    self._fail_all(queue, exc)
                if not queue.dirty:
                    break
        finally:
            queue.running = False
        self._arm(queue, wake_at)

    def _fail_all(self, queue: _Queue, exc: Exception) -> None:
        """Fail every caller queued on the token with what the backend's failure means;
        they leave the queue now, so the next caller asks the backend afresh."""
        waiting = queue.waiting()
        for lane in queue.lanes:
            lane.clear()
        queue.delayed.clear()
        queue.deadlines.clear()
        if not waiting:
            return
        token = waiting[0].admission.token
        log.warning("scheduler backend failed (%s); failing %d queued callers", exc, len(waiting))
        self._fail(queue, waiting, self._unavailable(token, exc, len(waiting)))

    async def _serve(self, queue: _Queue) -> float | None:
        """Admit waiters until one must wait; return when to look again."""
        while True:
            now = self.clock.time()
            if queue.deadlines or queue.delayed:
                self._expire(queue, now)
            waiter = queue.head()
            if waiter is None:
                return self._next_wake(queue, None)
            admission = waiter.admission = self._dated(waiter.admission, now)
            decision, record = await self.backend.admit(admission, now)
            if record is not None:
                queue.lanes[waiter.priority].popleft()
                if waiter.future.done():  # cancelled during the await: undo at once
                    await self._undo(Lease(record=record, key=admission.token))
                    continue
                waiter.future.set_result(self._granted(admission, record, "after waiting"))
                if isinstance(decision, Granted) and decision.full_until is not None:
                    # The token is full: the next waiter would only be refused.
                    return self._blocked(queue, decision.full_until, now)
                continue
            if isinstance(decision, Exhausted) and decision.reserved:
                # The rest is reserved for interactive calls: this (bulk) waiter is refused,
                # those behind it are asked for in turn.
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(self._exhausted(admission, decision))
                continue
            if isinstance(decision, Exhausted):
                waiting = queue.waiting()  # every one of them is a caller refused
                self._fail(queue, waiting, self._exhausted(admission, decision, len(waiting)))
                return self._next_wake(queue, None)
            assert isinstance(decision, Blocked)
            retry = decision.retry_at if decision.reason is not Why.CONCURRENCY else None
            if retry is not None and waiter.deadline is not None and retry > waiter.deadline:
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(
                    self._too_long(admission, retry, waiter.max_wait or 0.0, decision.reason)
                )
                continue
            if decision.reason is Why.POLL_INTERVAL and waiter.raise_on_poll:
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(
                    self._too_long(admission, decision.retry_at or now, 0.0, "the polling interval")
                )
                continue
            if decision.reason is Why.POLL_INTERVAL and decision.retry_at is not None:
                # Step aside: this read waits for its own interval, not its token's calls.
                queue.lanes[waiter.priority].popleft()
                waiter.ready_at = decision.retry_at
                heapq.heappush(queue.delayed, (decision.retry_at, next(self._seq), waiter))
                continue
            if decision.reason is Why.CONCURRENCY:
                return self._blocked(queue, decision.retry_at, now)
            return self._next_wake(queue, decision.retry_at)

    def _blocked(self, queue: _Queue, frees_at: float | None, now: float) -> float | None:
        """When to look again at a token blocked for concurrency: a release wakes us, a
        lease's expiry at the latest; releases in other processes are not signalled."""
        if self.backend.cross_process:
            fallback = now + self.poll_fallback
            frees_at = fallback if frees_at is None else min(frees_at, fallback)
        return self._next_wake(queue, frees_at)

    def _fail(self, queue: _Queue, waiters: list[_Waiter], error: Exception) -> None:
        """Fail ``waiters`` now, a few hundred per turn of the loop: each wakes a task that
        unwinds its call, and 10,000 of them in one turn would stall the loop ~100 ms.
        Whoever queued behind them meanwhile is asked about once they are gone."""
        for waiter in waiters[:_FAIL_BATCH]:
            if not waiter.future.done():
                waiter.future.set_exception(error)
        if len(waiters) > _FAIL_BATCH:
            rest = waiters[_FAIL_BATCH:]
            asyncio.get_running_loop().call_soon(self._fail, queue, rest, error)
        else:
            self._kick_if_waiting(queue)

    def _expire(self, queue: _Queue, now: float) -> None:
        """Fail waiters whose max_wait ran out; bring back reads whose interval ended."""
        while queue.deadlines and queue.deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(queue.deadlines)
            if not waiter.future.done():
                retry = max(now, waiter.ready_at)
                waiter.future.set_exception(
                    self._too_long(
                        waiter.admission, retry, waiter.max_wait or 0.0, "waiting for a slot"
                    )
                )
        while queue.delayed and queue.delayed[0][0] <= now:
            _, _, waiter = heapq.heappop(queue.delayed)
            if not waiter.future.done():
                queue.lanes[waiter.priority].appendleft(waiter)

    def _next_wake(self, queue: _Queue, blocked_until: float | None) -> float | None:
        if not queue.delayed and not queue.deadlines:  # the common case: nobody set max_wait
            return blocked_until if queue.head() is not None else None
        when = blocked_until
        for heap in (queue.delayed, queue.deadlines):
            while heap and heap[0][2].future.done():
                heapq.heappop(heap)  # cancelled or failed: drop lazily
            if heap and (when is None or heap[0][0] < when):
                when = heap[0][0]
        pending = queue.head() is not None or bool(queue.delayed)
        return when if pending else None

    def _arm(self, queue: _Queue, when: float | None) -> None:
        """Keep one timer per token, at the earliest moment anything can change."""
        if when is None:
            if queue.timer is not None:
                queue.timer.cancel()
                queue.timer, queue.timer_at = None, None
            return
        if queue.timer is not None and queue.timer_at is not None and queue.timer_at <= when:
            return
        if queue.timer is not None:
            queue.timer.cancel()

        def fire() -> None:
            queue.timer, queue.timer_at = None, None
            self._kick(queue)

        queue.timer, queue.timer_at = self.clock.call_at(when, fire), when

    # ---- releasing and feedback ---------------------------------------------------------

    async def release(
        self,
        lease: Lease,
        outcome: Outcome,
        *,
        hold: float = 60.0,
        feedback: Feedback | None = None,
    ) -> None:
        """Give the lease back; ABANDONED holds it until ``sent_at + hold``. ``feedback``
        (what the server said) is applied in the same backend step, before anyone waiting
        is woken."""
        now = self.clock.time()
        if outcome is Outcome.ABANDONED and lease.sent_at is not None:
            hold_until: float | None = lease.sent_at + hold
        else:
            hold_until = None
        said = feedback or _NOTHING_SAID
        spent = said.spent and self._spent_counts(lease)
        step = self.backend.release(
            lease.record,
            now,
            hold_until=hold_until,
            refund=outcome is Outcome.NOT_SENT,
            unstamp=outcome in (Outcome.FAILED, Outcome.NOT_SENT),
            cap_for=said.cap_for,
            pause_for=said.pause_for,
            spent=spent,
        )
        try:
            await (step if self._instant else asyncio.shield(step))
        except Exception as exc:
            # The caller keeps the server's answer; the lease expires by itself (its TTL).
            self._count(self._refusals, lease.key, "release_failed")
            log.warning("release of %s failed (%s); it expires by itself", lease.record.id, exc)
        else:
            log.debug("release %s %s (%s)", lease.key, lease.record.id, outcome.value)
        if spent:  # every token of the operation: their queues fail at once
            for other in self._queues.values():
                self._kick(other)
        queue = self._queues.get(lease.key)
        if queue is not None and (queue.lanes[0] or queue.lanes[1] or queue.delayed):
            self._kick(queue)  # (a lane may hold only cancelled waiters: the pump skips them)
        if len(self.siblings) > 1:
            self._tell_siblings(lease.key)

    def _tell_siblings(self, token: str) -> None:
        """A slot freed: wake the token's waiters in the other event loops of this backend."""
        for other in list(self.siblings):
            loop = other.loop
            if other is not self and loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    loop.call_soon_threadsafe(other._released_elsewhere, token)

    def _kick_if_waiting(self, queue: _Queue) -> None:
        if queue.head() is not None:
            self._kick(queue)

    def _released_elsewhere(self, token: str) -> None:
        queue = self._queues.get(token)
        if queue is not None and queue.head() is not None:
            self._kick(queue)

    async def _undo(self, lease: Lease) -> None:
        try:
            await self.backend.release(lease.record, self.clock.time(), refund=True, unstamp=True)
        except Exception as exc:  # the lease expires by itself; nothing was sent with it
            self._count(self._refusals, lease.key, "release_failed")
            log.warning("undo of %s failed (%s); it expires by itself", lease.record.id, exc)

    def _spent_counts(self, lease: Lease) -> bool:
        """Whether a TOKEN LIMIT EXCEEDED answer to the call of ``lease`` spends its day.

        The day is the one the call was admitted in, not the day of whoever reads the
        answer (one sent at 23:59:59 changes nothing after midnight); the limit becomes
        what the day had counted (never below). In the first ``MIDNIGHT_SKEW`` seconds of a
        day the refusal may be the server's clock still in the previous day: it costs that
        one call, never the new day.
        """
        sent = lease.sent_at if lease.sent_at is not None else self.clock.time()
        day = lease.record.day
        started = next_reset(sent, lease.tz) - 86_400.0
        if day_of(sent, lease.tz) == day and sent - started < MIDNIGHT_SKEW:
            log.warning(
                "TOKEN LIMIT EXCEEDED %.1f s into the day %s: taken for the server's clock "
                "still in the previous day; the day is not marked spent",
                sent - started,
                day,
            )
            return False
        return True

    def ledger_lost(self, token: str) -> bool:
        """Whether the ledger of ``token``'s operation was found lost (a Redis restarted
        empty) since last asked: today's count must be read from the server again."""
        lost, operation = self.backend.lost, self._limits[token].operation
        if operation not in lost:
            return False
        lost.discard(operation)
        return True

    async def set_quota(
        self, token: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's numbers for today (``sync_quota``; see Backend.set_quota)."""
        limits = self._limits[token]
        day, _ = self._today(limits.tz, self.clock.time())
        await self.backend.set_quota(limits.operation, day, used=used, limit=limit, since=since)
        for queue in self._queues.values():
            self._kick(queue)

    def count_retry(self, token: str, kind: str) -> None:
        """Record a retry (for stats)."""
        self._count(self._retries, token, kind)

    def _count(self, table: dict[str, Counter[str]], token: str, kind: str, n: int = 1) -> None:
        table.setdefault(token, Counter())[kind] += n

    async def stats(self, token: str) -> SchedulerStats:
        """Monitoring numbers for one (registered) token and its operation."""
        limits = self._limits[token]
        day, resets_at = self._today(limits.tz, self.clock.time())
        queue = self._queues.get(token, _Queue())
        quota = await self.backend.quota(limits.operation, day)
        limit = quota.limit_override if quota.limit_override is not None else limits.limit
        reserved = 0 if limit is None else limits.reserved(limit)
        for_bulk = None if limit is None else max(0, limit - quota.used - reserved)
        return SchedulerStats(
            in_flight=await self.backend.in_flight(token, limits.operation, self.clock.time()),
            queued_interactive=queue.count(Priority.INTERACTIVE),
            queued_bulk=queue.count(Priority.BULK),
            quota_used=quota.used,
            quota_limit=limit,
            resets_at=datetime.fromtimestamp(resets_at, UTC),
            quota_reserved=reserved,
            quota_available_to_bulk=for_bulk,
            refusals=dict(self._refusals.get(token, {})),
            retries=dict(self._retries.get(token, {})),
        )
