"""A call's turn on its token: ``async with scheduler.slot(token, ...) as slot`` is admitted
on enter and released on exit with what ``slot.report(outcome, feedback)`` said.

The shape is githubkit's ``async with throttler.async_acquire()`` around a request, with
one difference that Wolkvox needs: the release carries what the server said (a 403
SIMULTANEOUS lowers the cap, a maintenance 403 pauses the token, TOKEN LIMIT EXCEEDED
spends the day), applied in the same backend step, before anyone waiting is woken.

The fast path is written out here: one caller at a time per token, nobody queued, today's
admission already made. It asks the backend once on enter and releases once on exit.
Everything else — the first call of a token, a crowd, a refusal, a lost ledger — goes to
:meth:`Scheduler.queue_for`, branches the fast path does not enter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sized
from contextlib import AbstractContextManager
from typing import Any, Protocol

from ._backend import Backend
from ._clock import Clock
from ._lease import RELEASES, Feedback, Lease, Outcome, Priority
from ._pump import Pump
from ._queue import Queue
from ._refusals import Refusals
from ._rules import Admission, Decision, Release

__all__ = ["Slot", "open_slot"]

log = logging.getLogger("wolkvox_async.scheduler")


class Named(Protocol):
    """A call's route, as a slot keeps it for the heartbeat (read there, not per call)."""

    @property
    def name(self) -> str: ...


class Seat(Protocol):
    """What a slot uses of its :class:`~._scheduler.Scheduler` (which imports this
    module: named here by its shape, so that the two import no circle)."""

    backend: Backend
    clock: Clock
    pump: Pump
    refusals: Refusals
    queues: dict[str, Queue]
    held: dict[str, Slot]
    asks: dict[tuple[str, Priority], tuple[Admission, float]]
    ready: bool

    @property
    def siblings(self) -> Sized: ...

    def admission(
        self, token: str, poll_key: str | None, priority: Priority, corrects: bool, now: float
    ) -> Admission: ...

    async def queue_for(
        self, slot: Slot, admission: Admission, now: float, refused: Decision | None = None
    ) -> Lease: ...

    def spent_counts(self, lease: Lease) -> bool: ...

    async def forget(self, lease: Lease) -> None: ...

    def released(self, token: str, spent: bool) -> None: ...

    def tell_siblings(self, token: str) -> None: ...


class Slot:
    """One admission of a call of ``token``, held for the body of an ``async with``;
    made by :meth:`Scheduler.slot`.

    Not reported, a slot is released ABANDONED: the server may be running the call, so
    it holds its place until ``sent_at + hold`` (where ``lease.sent_at`` was set)."""

    __slots__ = (
        "corrects_quota",
        "feedback",
        "hold",
        "lease",
        "max_wait",
        "outcome",
        "owner",
        "poll_key",
        "priority",
        "raise_on_poll",
        "route",
        "scheduler",
        "token",
        "waiting",
    )

    scheduler: Seat
    token: str
    poll_key: str | None
    priority: Priority
    max_wait: float | None
    raise_on_poll: bool
    corrects_quota: bool
    owner: object
    route: Named | None
    """The call's route (its name is shown by ``status``)."""
    hold: float
    """Seconds a slot released ABANDONED stays taken after ``lease.sent_at``."""
    waiting: Callable[[], AbstractContextManager[None]] | None
    """Entered around the wait for admission (telemetry's time queued)."""
    outcome: Outcome
    """How the call ended (ABANDONED until reported)."""
    feedback: Feedback | None
    """What the server said, if anything that concerns the token."""
    lease: Lease
    """The lease granted on enter (its ``sent_at`` is set by whoever sends on it)."""

    def report(self, outcome: Outcome, feedback: Feedback | None = None) -> None:
        """How the call ended, and what the server said: given back on exit."""
        self.outcome = outcome
        self.feedback = feedback

    async def __aenter__(self) -> Slot:
        """Wait for admission (see :meth:`Scheduler.acquire` for what it raises)."""
        waiting = self.waiting
        if waiting is not None:
            self.waiting = None
            with waiting():
                return await self.__aenter__()
        s = self.scheduler
        token = self.token
        now = s.clock.time()
        made = None
        if self.poll_key is None and not self.corrects_quota:
            made = s.asks.get((token, self.priority))  # (frozen: shared by the day's calls)
        if made is not None and made[1] <= now < made[0].resets_at:
            admission = made[0]
        else:
            admission = s.admission(token, self.poll_key, self.priority, self.corrects_quota, now)
        queue = s.queues.get(token)
        if queue is None or queue.admitting or queue.lanes[0] or queue.lanes[1] or not s.ready:
            self.lease = lease = await s.queue_for(self, admission, now)
            s.held[lease.record.id] = self
            return self
        # The fast path, one caller at a time per token: a crowd arriving together queues
        # behind it instead of sending a crowd of admissions to the backend (for Redis,
        # one connection each).
        pump = s.pump
        queue.admitting = True
        try:
            if pump.instant:  # (memory: its steps never suspend)
                decision, record = await s.backend.admit(admission, now)
            else:
                decision, record = await pump.admit(admission, now)
        except Exception as exc:
            raise s.refusals.unavailable(token, exc, 1) from exc
        finally:
            queue.admitting = False
            if queue.lanes[0] or queue.lanes[1]:
                pump.kick_if_waiting(queue)  # callers that queued meanwhile
        if record is None:
            self.lease = lease = await s.queue_for(self, admission, now, decision)
            s.held[lease.record.id] = self
            return self
        log.debug("admit %s %s (at once)", token, record.id)
        self.lease = Lease(record, token, s.clock.time(), admission.limits.tz, admission.resets_at)
        s.held[record.id] = self
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Give the lease back as ``RELEASES`` says for the reported outcome; what the
        server said goes in the same backend step. A release that fails is logged and
        counted, never raised: the caller keeps the server's answer, and the lease expires
        by itself."""
        s = self.scheduler
        lease = self.lease
        s.held.pop(lease.record.id, None)
        outcome = self.outcome
        rule = RELEASES[outcome]
        sent_at = lease.sent_at
        hold_until = sent_at + self.hold if rule.hold and sent_at is not None else None
        said = self.feedback
        spent = False
        if said is None:
            done = Release(
                s.clock.time(), hold_until=hold_until, refund=rule.refund, unstamp=rule.unstamp
            )
        else:
            # A call refused for a spent quota was not counted (no unit was left to
            # charge): its unit goes back before the day's limit is taken from the count.
            spent = said.spent and s.spent_counts(lease)
            done = Release(
                s.clock.time(),
                hold_until=hold_until,
                refund=rule.refund or spent,
                unstamp=rule.unstamp,
                cap_for=said.cap_for,
                pause_for=said.pause_for,
                spent=spent,
            )
            if said.pause_for or said.cap_for:  # (for status: the last hour's pauses)
                held_back = "maintenance" if said.pause_for else "simultaneous"
                s.refusals.count(s.refusals.paused, lease.key, held_back)
        pump = s.pump
        inline = pump.inline
        try:
            if inline is None or not inline.release_now(lease.record, done):
                step = s.backend.release(lease.record, done)
                await (step if pump.instant else asyncio.shield(step))
        except asyncio.CancelledError:
            # Cancelled as the answer's release went on (shielded): the answer never
            # reaches the caller, so its read is no poll of delivered data.
            if outcome is Outcome.ANSWERED:
                await s.forget(lease)
            raise
        except Exception as exc:
            s.refusals.count(s.refusals.refused, lease.key, "release_failed")
            log.warning("release of %s failed (%s); it expires by itself", lease.record.id, exc)
        else:
            log.debug("release %s %s (%s)", lease.key, lease.record.id, outcome.value)
        queue = s.queues.get(lease.key)
        if spent or (queue is not None and (queue.lanes[0] or queue.lanes[1] or queue.delayed)):
            s.released(lease.key, spent)  # (a lane may hold only cancelled waiters: skipped)
        if len(s.siblings) > 1:
            s.tell_siblings(lease.key)


def open_slot(
    scheduler: Seat,
    token: str,
    poll_key: str | None = None,
    *,
    priority: Priority = Priority.INTERACTIVE,
    max_wait: float | None = None,
    raise_on_poll: bool = False,
    corrects_quota: bool = False,
    owner: object = None,
    hold: float = 60.0,
    waiting: Callable[[], AbstractContextManager[None]] | None = None,
    route: Named | None = None,
) -> Slot:
    """``async with scheduler.slot(token) as slot:`` (this is :meth:`Scheduler.slot`):
    admitted on enter, as :meth:`Scheduler.acquire`; released on exit as
    :meth:`Scheduler.release` with what ``slot.report`` said (not reported: ABANDONED);
    ``hold`` as there; ``route``: the call's, for the heartbeat. ``waiting`` is entered
    around the wait for admission (a telemetry span). It lives here, beside the slot it
    makes: a call enters no other module."""
    # (its fields set here, with no __init__: one function less on every call)
    slot = object.__new__(Slot)
    slot.scheduler, slot.token, slot.poll_key, slot.priority = scheduler, token, poll_key, priority
    slot.max_wait, slot.raise_on_poll, slot.corrects_quota = (
        max_wait,
        raise_on_poll,
        corrects_quota,
    )
    slot.owner, slot.hold, slot.waiting, slot.route = owner, hold, waiting, route
    slot.outcome, slot.feedback = Outcome.ABANDONED, None
    return slot
