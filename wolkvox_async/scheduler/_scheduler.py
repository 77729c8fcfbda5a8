"""The per-token scheduler: who may send now, who waits, and who is told no at once.

Theory. Wolkvox refuses a request when its token already has 2 in flight, when the
operation's daily quota is spent, and (as a rule of use) when the same report is read
again within 5 minutes (wolkvox-api.md §3). Every request therefore first asks for
*admission*: one atomic decision by the backend (see ``_rules.decide``) that either takes
a concurrency lease, a quota unit and the poll stamp together, or says why not and until
when. A lease is released when the answer arrives; if the caller gives up after sending,
the lease is held until Wolkvox can no longer be running the call (sent + the
timeout: the server's 60 s start when the request reaches it, later than it left us).

Waiting. Callers that cannot go now wait in their token's queue, served by ``_pump``:
nobody polls, a release wakes the queue, and each token has at most one timer.

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
import heapq
import logging
import weakref
from datetime import UTC, datetime

from .._time import day_of, next_reset
from ._backend import AnnouncesReleases, Backend, ReportsFence
from ._clock import Clock
from ._heartbeat import Heartbeat, KeepsHeartbeats
from ._lease import (
    Feedback,
    Lease,
    Outcome,
    Priority,
    SchedulerStats,
)
from ._pump import Pump
from ._queue import Queue as _Queue
from ._queue import Waiter as _Waiter
from ._reads import ReadCache
from ._refusals import Refusals
from ._rules import Admission, Decision, Release, TokenLimits
from ._slot import Slot, open_slot

__all__ = ["Scheduler"]

log = logging.getLogger("wolkvox_async.scheduler")
MIDNIGHT_SKEW = 5.0
"""Seconds of clock difference between us and Wolkvox tolerated around midnight."""


class Scheduler:
    """Admission for every token of one backend, in one event loop."""

    def __init__(
        self, backend: Backend, clock: Clock, *, poll_fallback: float | None = None
    ) -> None:
        self.backend = backend
        self.clock = clock
        self._announcer = backend if isinstance(backend, AnnouncesReleases) else None
        self._limits: dict[str, TokenLimits] = {}
        self.asks: dict[tuple[str, Priority], tuple[Admission, float]] = {}
        """Today's admission of a token's calls but reads, by priority (made once a day),
        and the time from which it holds (until its ``resets_at``)."""
        self._subscribed = False
        self.ready = self._announcer is None
        """Set up for the fast path (a backend that announces releases: subscribed)."""
        self._users = 0
        self.queues: dict[str, _Queue] = {}
        self.refusals = Refusals(backend.where)
        """The error of each refusal, and the counts stats report."""
        # Backends that announce releases (Redis pub/sub) need only a slow safety net.
        fallback = backend.poll_fallback if poll_fallback is None else poll_fallback
        self.pump = Pump(backend, clock, self.refusals, fallback)
        """Serves the queues of the tokens."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop this scheduler serves (set at its first step)."""
        self.siblings: weakref.WeakSet[Scheduler] = weakref.WeakSet()
        """Schedulers of the same backend in other event loops (other threads)."""
        self.reads = ReadCache(clock)
        """Results of identical reads shared within their interval (poll_policy="share")."""
        self.held: dict[str, Slot] = {}
        """The slots admitted and not yet left, by lease id (for the heartbeat)."""
        store = backend if isinstance(backend, KeepsHeartbeats) else None
        self.heartbeat = Heartbeat(self, store)
        """Who this process is and what it holds, for ``status``: written to a shared
        ledger; on any other, only read in this process."""

    @property
    def limits(self) -> dict[str, TokenLimits]:
        """The registered tokens' limits, by token key."""
        return self._limits

    # ---- acquiring ----------------------------------------------------------------------

    def register(self, limits: TokenLimits) -> None:
        """A client's token and what it may do; its calls then name only the token.

        Clients of one token that differ (a cap of 1 and one of 2, say) are all held to
        the stricter of each limit, whichever registered first.
        """
        known = self._limits.get(limits.token)
        if known is not None and known != limits:
            merged = known.stricter(limits)
            if merged != known:
                log.info("clients of token %s differ in limits: the stricter apply", limits.token)
            limits = merged
        if known == limits:
            return
        self._limits[limits.token] = limits
        for priority in Priority:
            self.asks.pop((limits.token, priority), None)

    def admission(
        self, token: str, poll_key: str | None, priority: Priority, corrects: bool, now: float
    ) -> Admission:
        """What a call of ``token`` asks the backend for today."""
        limits = self._limits[token]
        bulk = priority is Priority.BULK
        day, resets_at = self.pump.today(limits.tz, now)
        admission = Admission(
            limits=limits,
            poll_key=poll_key,
            day=day,
            resets_at=resets_at,
            bulk=bulk,
            corrects_quota=corrects,
        )
        if poll_key is None and not corrects:
            self.asks[(token, priority)] = (admission, now)
        return admission

    slot = open_slot
    """``async with scheduler.slot(token, ...) as slot:`` (:func:`._slot.open_slot`)."""

    async def acquire(
        self,
        token: str,
        poll_key: str | None = None,
        *,
        priority: Priority = Priority.INTERACTIVE,
        max_wait: float | None = None,
        raise_on_poll: bool = False,
        corrects_quota: bool = False,
        owner: object = None,
    ) -> Lease:
        """Wait for admission of a call of ``token`` (registered); ``poll_key`` names a
        poll-limited read. See the module docstring. ``corrects_quota``: a token_info read
        made to correct the ledger, never refused for the quota (it still counts).
        ``owner``: who asks, for :meth:`fail_queued` (a client that closes).

        Raises:
            QuotaExhausted: the operation's quota is spent (at once, not at midnight).
            WaitTooLong: admission would come later than ``max_wait`` seconds from now,
                or (``raise_on_poll``) the polling interval of this read is running.
        """
        slot = self.slot(
            token,
            poll_key,
            priority=priority,
            max_wait=max_wait,
            raise_on_poll=raise_on_poll,
            corrects_quota=corrects_quota,
            owner=owner,
        )
        await slot.__aenter__()
        return slot.lease

    async def queue_for(
        self, slot: Slot, admission: Admission, now: float, refused: Decision | None = None
    ) -> Lease:
        """Admission off the fast path (:class:`Slot`): the token's first call, callers
        queued ahead, a fast-path admission under way, or ``refused`` by it."""
        token, priority, max_wait = slot.token, slot.priority, slot.max_wait
        queue = self.queues.get(token)
        if queue is None:
            queue = self.queues[token] = _Queue()
            self.loop = asyncio.get_running_loop()
            self.heartbeat.start()  # (a token's first call: the scheduler has work)
        if self._announcer is not None and not self._subscribed:
            self._subscribed = self.ready = True
            self._announcer.subscribe(self._released_elsewhere)
        deadline = None if max_wait is None else now + max_wait
        parked = queue.head() is not None
        if refused is not None:
            self.refusals.check(admission, refused, deadline, max_wait, slot.raise_on_poll)
        elif not parked and not queue.admitting:
            queue.admitting = True
            try:
                decision, record = await self.pump.admit(admission, now)
            except Exception as exc:
                raise self.refusals.unavailable(admission.limits.token, exc, 1) from exc
            finally:
                queue.admitting = False
                self.pump.kick_if_waiting(queue)  # callers that queued meanwhile
            if record is not None:
                return self.pump.granted(admission, record, "at once")
            self.refusals.check(admission, decision, deadline, max_wait, slot.raise_on_poll)
        future: asyncio.Future[Lease] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(
            admission, future, priority, deadline, max_wait, slot.raise_on_poll, owner=slot.owner
        )
        queue.lanes[priority].append(waiter)
        if deadline is not None:
            heapq.heappush(queue.deadlines, (deadline, next(self.pump.seq), waiter))
        if parked:
            # Others wait ahead of us, and the pump stopped at the first of them for a
            # reason that holds for the token (a release or the timer restarts it); asking
            # again now would only be refused. Our own max_wait may need an earlier timer.
            if deadline is not None and not queue.running:
                self.pump.arm(queue, deadline)
        elif queue.admitting:
            # A caller on the fast path is being admitted: we are served after it (its
            # step ends with a kick), in the order we asked, not beside it.
            if deadline is not None and not queue.running:
                self.pump.arm(queue, deadline)
        else:
            self.pump.kick(queue)
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled() and future.exception() is None:
                # Granted at the very moment we were cancelled: give everything back.
                lease = future.result()
                await asyncio.shield(self.pump.undo(lease))  # (_undo never raises)
            self.pump.kick(queue)
            raise

    def fail_queued(self, owner: object, error: type[Exception], message: str) -> int:
        """Fail every caller ``owner`` has queued, each with its own ``error(message)``:
        nothing of theirs was taken or sent (a client closing). Returns how many."""
        failed = 0
        for queue in self.queues.values():
            for waiter in queue.waiting():
                if waiter.owner is owner:
                    waiter.future.set_exception(error(message))
                    failed += 1
        return failed

    @property
    def in_use(self) -> bool:  # (a client has it open: ledger_status shows it live)
        return self._users > 0

    def attach(self) -> Scheduler:
        """A client starts using this scheduler (at its first call in this loop)."""
        self._users += 1
        if self.heartbeat.store is not None:
            # Again after the last client closed: the token's queue, made by the first
            # one, then outlives it, and a call would not start the heartbeat.
            self.heartbeat.start()
        return self

    async def detach(self) -> None:
        """A client closed; the last one closes the backend's connections for this loop
        (Redis, SQLite), which reopen on next use."""
        self._users -= 1
        if self._users == 0:
            self._subscribed = False
            self.ready = self._announcer is None  # (subscribed again at the next call)
            await self.pump.idle()
            await self.heartbeat.stop()
            await self.backend.close()

    # ---- releasing and feedback ---------------------------------------------------------

    async def release(
        self,
        lease: Lease,
        outcome: Outcome,
        *,
        hold: float = 60.0,
        feedback: Feedback | None = None,
    ) -> None:
        """Give the lease back as ``RELEASES`` says for ``outcome``: one that holds its
        slot keeps it until ``sent_at + hold`` (the server's limit). ``feedback`` (what the
        server said) is applied in the same backend step, before anyone waiting is woken."""
        slot = self.slot(lease.key, hold=hold)
        slot.lease = lease
        slot.report(outcome, feedback)
        await slot.__aexit__(None, None, None)

    def released(self, token: str, spent: bool) -> None:
        """A lease of ``token`` was given back: serve its queue (``spent``: every token's,
        since every caller of the operation fails at once)."""
        if spent:
            for queue in self.queues.values():
                self.pump.kick(queue)
        else:
            self.pump.kick(self.queues[token])

    async def forget(self, lease: Lease) -> None:
        """Clear the poll stamp of ``lease``'s read, released ANSWERED, whose answer its
        caller could not use (a download stopped before it delivered the rows): reading it
        again is then no poll of delivered data. Nothing else changes: the lease was
        released with the answer, so this is its release again, the stamp alone going
        (each backend clears a stamp only while it is that lease's)."""
        try:
            await self.backend.release(lease.record, Release(self.clock.time(), unstamp=True))
        except Exception as exc:  # the stamp ends with its interval
            log.warning("could not clear the poll stamp of %s (%s)", lease.record.id, exc)

    def tell_siblings(self, token: str) -> None:
        """A slot freed: wake the token's waiters in the other event loops of this backend."""
        for other in list(self.siblings):
            loop = other.loop
            if other is not self and loop is not None and not loop.is_closed():
                with contextlib.suppress(RuntimeError):  # closed meanwhile
                    loop.call_soon_threadsafe(other._released_elsewhere, token)

    def _released_elsewhere(self, token: str) -> None:
        queue = self.queues.get(token)
        if queue is not None and queue.head() is not None:
            self.pump.kick(queue)

    def spent_counts(self, lease: Lease) -> bool:
        """Whether a TOKEN LIMIT EXCEEDED answer to the call of ``lease`` spends its day.

        The day is the one the call was admitted in, not the day of whoever reads the
        answer (one sent at 23:59:59 changes nothing after midnight); the limit becomes
        what the day had counted without the refused call, which the server did not count
        either (a second call refused beside it lowers the limit to the count again, so
        the limit ends at what the server counted, not at our count of attempts). In the
        first ``MIDNIGHT_SKEW`` seconds of a day the refusal may be the server's clock
        still in the previous day: it costs that one call, never the new day.
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
        day, _ = self.pump.today(limits.tz, self.clock.time())
        await self.backend.set_quota(limits.operation, day, used=used, limit=limit, since=since)
        for queue in self.queues.values():
            self.pump.kick(queue)

    def count_retry(self, token: str, kind: str) -> None:
        """Record a retry (for stats)."""
        self.refusals.retry(token, kind)

    async def stats(self, token: str) -> SchedulerStats:
        """Monitoring numbers for one (registered) token and its operation."""
        limits = self._limits[token]
        day, resets_at = self.pump.today(limits.tz, self.clock.time())
        queue = self.queues.get(token, _Queue())
        quota = await self.backend.quota(limits.operation, day)
        fenced = None
        if isinstance(self.backend, ReportsFence):
            fenced = await self.backend.fenced_until(
                limits.operation, limits.lease_ttl, self.clock.time()
            )
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
            refusals=dict(self.refusals.refused.get(token, {})),
            retries=dict(self.refusals.retried.get(token, {})),
            fenced_until=None if fenced is None else datetime.fromtimestamp(fenced, UTC),
        )
