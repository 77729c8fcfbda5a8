"""The waiting rooms: each token's queue served in order, and one timer per token.

Callers that cannot go at once wait on a future in their token's queue, one FIFO lane per
priority (INTERACTIVE before BULK). Nobody polls: a release kicks the token's queue, and
:meth:`Pump.kick` admits waiters in order until one must wait; each token then has at most
one timer, set to the next moment something can change (a poll interval or pause ends, a
lease expires, a caller's ``max_wait`` runs out). A read blocked by its polling interval
steps aside so it does not hold up the other calls of its token. Releases made in other
processes are not signalled, so with a cross-process backend a blocked token's timer also
fires every ``poll_fallback`` seconds.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from datetime import tzinfo

import attrs

from .._time import day_of, next_reset
from ._backend import Backend, LeaseRecord, StepsInline
from ._clock import Clock
from ._lease import Lease
from ._queue import Queue, Waiter
from ._refusals import Refusals
from ._rules import Admission, Blocked, Decision, Exhausted, Granted, Release, Why

__all__ = ["Pump"]

log = logging.getLogger("wolkvox_async.scheduler")
_FAIL_BATCH = 250
FENCE_LOOK = 1.0
"""Seconds between looks at a shared ledger through a lost-ledger pause."""


class Pump:
    """Serves the queue of every token of one scheduler."""

    def __init__(
        self, backend: Backend, clock: Clock, refusals: Refusals, poll_fallback: float
    ) -> None:
        self.backend = backend
        self.clock = clock
        self.refusals = refusals
        self.poll_fallback = poll_fallback
        # A backend whose steps never suspend (memory) cannot be cancelled half-way: its
        # queue is served in the releasing task, its release needs no shield
        # (benchmarks/scheduler_overhead.py).
        self.instant = backend.instant
        self.inline = backend if isinstance(backend, StepsInline) else None
        """A backend whose steps mostly need not suspend (SQLite): tried that way first."""
        self.running: set[asyncio.Task[None]] = set()
        """The pump tasks running (a backend whose steps suspend runs each in a task)."""
        self.seq = itertools.count()
        """Ties in the deadline and delay heaps go in arrival order."""
        self._days: dict[tzinfo, tuple[str, float, float]] = {}

    def today(self, tz: tzinfo, now: float) -> tuple[str, float]:
        """The quota day in ``tz`` at ``now`` and when it ends."""
        known = self._days.get(tz)
        if known is None or not known[1] <= now < known[2]:
            ends = next_reset(now, tz)
            known = (day_of(now, tz), now, ends)
            self._days[tz] = known
        return known[0], known[2]

    def dated(self, admission: Admission, now: float) -> Admission:
        """The admission with today's quota day (it may change while a caller waits)."""
        known = self._days.get(admission.limits.tz)
        if known is not None and known[1] <= now < known[2] and known[0] == admission.day:
            return admission  # the common case, without a call
        day, ends = self.today(admission.limits.tz, now)
        if day == admission.day:
            return admission
        return attrs.evolve(admission, day=day, resets_at=ends)

    def granted(self, admission: Admission, record: LeaseRecord, how: str) -> Lease:
        log.debug("admit %s %s (%s)", admission.limits.token, record.id, how)
        return Lease(
            record=record,
            key=admission.limits.token,
            granted_at=self.clock.time(),
            tz=admission.limits.tz,
            resets_at=admission.resets_at,
        )

    async def idle(self) -> None:
        """Wait until no pump task runs (each ends once its queue must wait): the last
        client of a loop closes the backend after, and a pump cancelled as its loop ends
        could lose a grant it was being made (see :meth:`admit`)."""
        while self.running:
            await asyncio.gather(*list(self.running), return_exceptions=True)

    def kick(self, queue: Queue) -> None:
        if queue.running:
            queue.dirty = True
            return
        queue.running = True
        pump = self._run(queue)
        if not self.instant:
            task = asyncio.get_running_loop().create_task(pump)
            self.running.add(task)
            task.add_done_callback(self.running.discard)
            return
        # Memory: no step suspends, so the waiters are served right here, as a Semaphore
        # wakes its own (a task per release would cost two more loop turns per call).
        try:
            pump.send(None)
        except StopIteration:
            return
        pump.close()
        raise RuntimeError("an instant scheduler backend suspended")

    async def _run(self, queue: Queue) -> None:
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
        self.arm(queue, wake_at)

    def _fail_all(self, queue: Queue, exc: Exception) -> None:
        """Fail every caller queued on the token with what the backend's failure means;
        they leave the queue now, so the next caller asks the backend afresh."""
        waiting = queue.waiting()
        for lane in queue.lanes:
            lane.clear()
        queue.delayed.clear()
        queue.deadlines.clear()
        if not waiting:
            return
        token = waiting[0].admission.limits.token
        log.warning("scheduler backend failed (%s); failing %d queued callers", exc, len(waiting))
        self.fail(queue, waiting, self.refusals.unavailable(token, exc, len(waiting)))

    async def admit(self, admission: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """``backend.admit``, safe from a cancellation while the backend decides (a SQLite
        thread, a Redis script): the step runs on, and a grant it made is given back, its
        quota unit and poll stamp with it, before the cancellation goes on, as nothing was
        sent on it (else a cancelled read would keep its stamp, Wolkvox's 5 minutes for no
        read; the caller's client may close the backend right after, and a pump is
        cancelled when its loop ends)."""
        if self.instant:  # (memory: its steps never suspend)
            return await self.backend.admit(admission, now)
        if self.inline is not None and (done := self.inline.admit_now(admission, now)):
            return done  # (nothing suspended: no cancellation can have landed in it)
        step = asyncio.ensure_future(self.backend.admit(admission, now))
        try:
            return await asyncio.shield(step)
        except asyncio.CancelledError:
            try:
                record = (await step)[1]
            except Exception:  # nothing granted
                record = None
            if record is not None:
                await self.undo(self.granted(admission, record, "for nobody"))
            raise

    async def _serve(self, queue: Queue) -> float | None:
        """Admit waiters until one must wait; return when to look again."""
        while True:
            now = self.clock.time()
            if queue.deadlines or queue.delayed:
                self._expire(queue, now)
            waiter = queue.head()
            if waiter is None:
                return self.next_wake(queue, None)
            admission = waiter.admission = self.dated(waiter.admission, now)
            decision, record = await self.admit(admission, now)
            if record is not None:
                queue.lanes[waiter.priority].popleft()
                if waiter.future.done():  # cancelled during the await: undo at once
                    await self.undo(Lease(record=record, key=admission.limits.token))
                    continue
                waiter.future.set_result(self.granted(admission, record, "after waiting"))
                if isinstance(decision, Granted) and decision.full_until is not None:
                    # The token is full: the next waiter would only be refused.
                    return self._blocked(queue, decision.full_until, now)
                continue
            if isinstance(decision, Exhausted) and decision.reserved:
                # The rest is reserved for interactive calls: this (bulk) waiter is refused,
                # those behind it are asked for in turn.
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(self.refusals.exhausted(admission, decision))
                continue
            if isinstance(decision, Exhausted):
                waiting = queue.waiting()  # every one of them is a caller refused
                self.fail(
                    queue, waiting, self.refusals.exhausted(admission, decision, len(waiting))
                )
                return self.next_wake(queue, None)
            assert isinstance(decision, Blocked)
            if decision.reason is Why.RECOVERING:
                self.refusals.fenced(admission, decision.retry_at)
            retry = decision.retry_at if decision.reason is not Why.CONCURRENCY else None
            if retry is not None and waiter.deadline is not None and retry > waiter.deadline:
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(
                    self.refusals.too_long(
                        admission, retry, waiter.max_wait or 0.0, decision.reason
                    )
                )
                continue
            if decision.reason is Why.POLL_INTERVAL and waiter.raise_on_poll:
                queue.lanes[waiter.priority].popleft()
                waiter.future.set_exception(
                    self.refusals.too_long(
                        admission, decision.retry_at or now, 0.0, "the polling interval"
                    )
                )
                continue
            if decision.reason is Why.POLL_INTERVAL and decision.retry_at is not None:
                # Step aside: this read waits for its own interval, not its token's calls.
                queue.lanes[waiter.priority].popleft()
                waiter.ready_at = decision.retry_at
                heapq.heappush(queue.delayed, (decision.retry_at, next(self.seq), waiter))
                continue
            if decision.reason is Why.CONCURRENCY:
                return self._blocked(queue, decision.retry_at, now)
            if decision.reason is Why.RECOVERING and self.backend.cross_process:
                # Look again every second through a lost-ledger pause: a ledger nobody
                # reads for the whole pause is the first key a full Redis evicts under an
                # LRU policy (allow_eviction), and it would go again as the pause ends.
                look = now + FENCE_LOOK
                return self.next_wake(queue, min(decision.retry_at or look, look))
            return self.next_wake(queue, decision.retry_at)

    def _blocked(self, queue: Queue, frees_at: float | None, now: float) -> float | None:
        """When to look again at a token blocked for concurrency: a release wakes us, a
        lease's expiry at the latest; releases in other processes are not signalled."""
        if self.backend.cross_process:
            fallback = now + self.poll_fallback
            frees_at = fallback if frees_at is None else min(frees_at, fallback)
        return self.next_wake(queue, frees_at)

    def fail(self, queue: Queue, waiters: list[Waiter], error: Exception) -> None:
        """Fail ``waiters`` now, a few hundred per turn of the loop: each wakes a task that
        unwinds its call, and 10,000 of them in one turn would stall the loop.
        Whoever queued behind them meanwhile is asked about once they are gone."""
        for waiter in waiters[:_FAIL_BATCH]:
            if not waiter.future.done():
                waiter.future.set_exception(error)
        if len(waiters) > _FAIL_BATCH:
            rest = waiters[_FAIL_BATCH:]
            asyncio.get_running_loop().call_soon(self.fail, queue, rest, error)
        else:
            self.kick_if_waiting(queue)

    def _expire(self, queue: Queue, now: float) -> None:
        """Fail waiters whose max_wait ran out; bring back reads whose interval ended."""
        while queue.deadlines and queue.deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(queue.deadlines)
            if not waiter.future.done():
                retry = max(now, waiter.ready_at)
                waiter.future.set_exception(
                    self.refusals.too_long(
                        waiter.admission, retry, waiter.max_wait or 0.0, "waiting for a slot"
                    )
                )
        while queue.delayed and queue.delayed[0][0] <= now:
            _, _, waiter = heapq.heappop(queue.delayed)
            if not waiter.future.done():
                queue.lanes[waiter.priority].appendleft(waiter)

    def next_wake(self, queue: Queue, blocked_until: float | None) -> float | None:
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

    def arm(self, queue: Queue, when: float | None) -> None:
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
            self.kick(queue)

        queue.timer, queue.timer_at = self.clock.call_at(when, fire), when

    def kick_if_waiting(self, queue: Queue) -> None:
        if queue.head() is not None:
            self.kick(queue)

    async def undo(self, lease: Lease) -> None:
        try:
            await self.backend.release(
                lease.record, Release(self.clock.time(), refund=True, unstamp=True)
            )
        except Exception as exc:  # the lease expires by itself; nothing was sent with it
            self.refusals.count(self.refusals.refused, lease.key, "release_failed")
            log.warning("undo of %s failed (%s); it expires by itself", lease.record.id, exc)
