"""The scheduler's queueing: priorities, FIFO, cheap waiting, cancellation, failing fast.

Driven directly (no HTTP) on a MemoryBackend and a VirtualClock: time moves only when a
test says so, and every test runs in milliseconds.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import time
from datetime import UTC, datetime

import pytest
from helpers import admission, ask, stats_of

from wolkvox_async import QuotaExhausted, WaitTooLong
from wolkvox_async.scheduler import (
    Admission,
    Feedback,
    Lease,
    LeaseRecord,
    MemoryBackend,
    Outcome,
    Priority,
    Scheduler,
    SystemClock,
    TokenLimits,
    VirtualClock,
)
from wolkvox_async.scheduler._rules import Decision

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def scheduler(clock: VirtualClock) -> Scheduler:
    return Scheduler(MemoryBackend(), clock)


adm = functools.partial(admission, cap=1)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_interactive_goes_before_a_thousand_bulk_waiters(scheduler: Scheduler) -> None:
    held = await ask(scheduler, adm())
    order: list[str] = []

    async def caller(name: str, priority: Priority) -> None:
        lease = await ask(scheduler, adm(), priority=priority)
        order.append(name)
        await scheduler.release(lease, Outcome.ANSWERED)

    bulk = [asyncio.create_task(caller(f"b{i}", Priority.BULK)) for i in range(1000)]
    await settle()
    urgent = asyncio.create_task(caller("interactive", Priority.INTERACTIVE))
    await settle()
    await scheduler.release(held, Outcome.ANSWERED)
    await asyncio.gather(*bulk, urgent)
    assert order[0] == "interactive"
    assert order[1:] == [f"b{i}" for i in range(1000)]  # FIFO within a priority


async def test_ten_thousand_waiters_use_one_timer(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    held = await ask(scheduler, adm())
    waiters = [asyncio.create_task(ask(scheduler, adm(), max_wait=30.0)) for _ in range(10_000)]
    await settle()
    assert clock.pending == 1  # the token's single timer (the earliest max_wait)
    await clock.advance(30)
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, WaitTooLong) for r in results)
    await scheduler.release(held, Outcome.ANSWERED)


async def test_event_loop_stays_responsive_with_ten_thousand_callers() -> None:
    scheduler = Scheduler(MemoryBackend(), SystemClock())
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def caller() -> None:
        lease = await ask(scheduler, adm(cap=2))
        await asyncio.sleep(0)
        await scheduler.release(lease, Outcome.ANSWERED)

    held = await ask(scheduler, adm(cap=2))
    callers = [asyncio.create_task(caller()) for _ in range(10_000)]
    await asyncio.sleep(0.01)  # all 10,000 are queued now (starting 10,000 tasks is asyncio's cost)
    gc.collect()
    gc.freeze()  # earlier tests' leftovers are not this test's to scan
    beat = asyncio.create_task(heartbeat())
    await scheduler.release(held, Outcome.ANSWERED)  # now they are woken and served, 2 at a time
    await asyncio.gather(*callers)
    done.set()
    await beat
    gc.unfreeze()
    assert max(gaps) < 0.1, f"loop stalled {max(gaps) * 1000:.0f} ms"


async def test_cancelled_while_queued_takes_nothing(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    held = await ask(scheduler, adm(limit=10))
    queued = asyncio.create_task(ask(scheduler, adm(limit=10)))
    behind = asyncio.create_task(ask(scheduler, adm(limit=10)))
    await settle()
    queued.cancel()
    await settle()
    await scheduler.release(held, Outcome.ANSWERED)
    lease = await behind
    stats = await stats_of(scheduler, adm(limit=10))
    assert stats.quota_used == 2  # the held call and the one behind; nothing for the cancelled
    assert queued.cancelled()
    await scheduler.release(lease, Outcome.ANSWERED)


async def test_cancelled_at_the_moment_of_grant_gives_everything_back(scheduler: Scheduler) -> None:
    held = await ask(scheduler, adm(limit=10, poll="p"))
    assert held
    queued = asyncio.create_task(ask(scheduler, adm(limit=10)))
    await settle()
    release = asyncio.create_task(scheduler.release(held, Outcome.FAILED))
    for _ in range(50):  # step until the grant lands, then cancel before the waiter runs
        await asyncio.sleep(0)
        lanes = scheduler.queues["tA"].lanes
        if not lanes[0] and not queued.done():
            queued.cancel()
            break
    await release
    with pytest.raises(asyncio.CancelledError):
        await queued
    stats = await stats_of(scheduler, adm(limit=10))
    assert (stats.quota_used, stats.in_flight) == (1, 0)


async def test_quota_spent_fails_every_waiter_at_once(scheduler: Scheduler) -> None:
    first = await ask(scheduler, adm(limit=2))
    waiters = [asyncio.create_task(ask(scheduler, adm(limit=2))) for _ in range(4)]
    await settle()
    await scheduler.release(first, Outcome.ANSWERED)
    await settle()
    second = await waiters[0]
    await scheduler.release(second, Outcome.ANSWERED)
    results = await asyncio.gather(*waiters[1:], return_exceptions=True)
    assert all(isinstance(r, QuotaExhausted) for r in results)
    error = results[0]
    assert isinstance(error, QuotaExhausted)
    assert error.resets_at == datetime(2026, 11, 24, 5, tzinfo=UTC)  # midnight in Bogota
    with pytest.raises(QuotaExhausted):
        await ask(scheduler, adm(limit=2))  # fast path fails at once too


async def test_a_caller_arriving_while_a_crowd_is_failed_is_failed_too(
    scheduler: Scheduler,
) -> None:
    # A spent quota fails a crowd a few hundred per loop turn; one who queues behind them
    # meanwhile must be told too, not left waiting for a release that never comes.
    first = await ask(scheduler, adm(limit=2))
    crowd = [asyncio.create_task(ask(scheduler, adm(limit=2))) for _ in range(1_000)]
    await settle()
    await scheduler.release(first, Outcome.ANSWERED)  # the last unit goes to crowd[0]
    late = asyncio.create_task(ask(scheduler, adm(limit=2)))
    results = await asyncio.wait_for(asyncio.gather(*crowd[1:], return_exceptions=True), 1)
    assert all(isinstance(r, QuotaExhausted) for r in results)
    with pytest.raises(QuotaExhausted):
        await asyncio.wait_for(late, 1)
    await scheduler.release(await crowd[0], Outcome.ANSWERED)


async def test_quota_resets_at_midnight_wolkvox_time(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    lease = await ask(scheduler, adm(limit=1))
    await scheduler.release(lease, Outcome.ANSWERED)
    clock.set(datetime(2026, 11, 24, 4, 59, 59, tzinfo=UTC))  # 23:59:59 in Bogota
    with pytest.raises(QuotaExhausted):
        await ask(scheduler, adm(limit=1))
    clock.set(datetime(2026, 11, 24, 5, 0, 0, tzinfo=UTC))
    lease = await ask(scheduler, adm(limit=1))
    await scheduler.release(lease, Outcome.ANSWERED)


async def test_known_long_wait_fails_at_once_with_retry_time(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    lease = await ask(scheduler, adm(poll="report"))
    await scheduler.release(lease, Outcome.ANSWERED)
    with pytest.raises(WaitTooLong) as info:
        await ask(scheduler, adm(poll="report"), max_wait=60)
    assert info.value.retry_at == datetime.fromtimestamp(clock.time() + 300, UTC)
    with pytest.raises(WaitTooLong, match="polling interval"):
        await ask(scheduler, adm(poll="report"), raise_on_poll=True)


async def test_slot_wait_fails_when_max_wait_runs_out(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    held = await ask(scheduler, adm())
    waiter = asyncio.create_task(ask(scheduler, adm(), max_wait=10))
    await clock.advance(9.9)
    assert not waiter.done()
    await clock.advance(0.1)
    with pytest.raises(WaitTooLong):
        await waiter
    await scheduler.release(held, Outcome.ANSWERED)


async def test_max_wait_of_a_caller_queued_behind_others_still_runs_out(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    held = await ask(scheduler, adm())
    first = asyncio.create_task(ask(scheduler, adm()))
    await settle()
    second = asyncio.create_task(ask(scheduler, adm(), max_wait=10))  # joins a parked queue
    await clock.advance(10)
    with pytest.raises(WaitTooLong):
        await second
    assert not first.done()
    await scheduler.release(held, Outcome.ANSWERED)
    await scheduler.release(await first, Outcome.ANSWERED)


async def test_a_full_token_wakes_its_queue_when_a_held_lease_expires(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    # The grant that fills the token ends the pump without asking for the next waiter;
    # the timer must still be set for the abandoned lease that frees the slot.
    abandoned = await ask(scheduler, adm(cap=2))
    abandoned.sent_at = clock.time()
    await scheduler.release(abandoned, Outcome.ABANDONED, hold=60)
    running = await ask(scheduler, adm(cap=2))
    third = asyncio.create_task(ask(scheduler, adm(cap=2)))
    fourth = asyncio.create_task(ask(scheduler, adm(cap=2)))
    await settle()
    await scheduler.release(running, Outcome.ANSWERED)
    lease = await asyncio.wait_for(third, 1)
    await clock.advance(59.9)
    assert not fourth.done()
    await clock.advance(0.1)
    await scheduler.release(await fourth, Outcome.ANSWERED)
    await scheduler.release(lease, Outcome.ANSWERED)


class CountingBackend(MemoryBackend):
    """The memory backend, counting its admission steps."""

    admits = 0

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        self.admits += 1
        return await super().admit(req, now)


async def test_a_crowd_costs_one_admission_step_per_call(clock: VirtualClock) -> None:
    backend = CountingBackend()
    scheduler = Scheduler(backend, clock)

    async def call() -> None:
        lease = await ask(scheduler, adm(cap=2))
        await asyncio.sleep(0)
        await scheduler.release(lease, Outcome.ANSWERED)

    await asyncio.gather(*(call() for _ in range(1_000)))
    # Neither joining a queue nor the grant that fills the token asks the backend again.
    assert backend.admits <= 1_000 + 2
    assert (await stats_of(scheduler, adm(cap=2))).quota_used == 1_000


async def test_poll_wait_steps_aside_for_other_calls(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    lease = await ask(scheduler, adm(cap=2, poll="report"))
    await scheduler.release(lease, Outcome.ANSWERED)
    again = asyncio.create_task(ask(scheduler, adm(cap=2, poll="report")))
    await settle()
    other: Lease = await asyncio.wait_for(ask(scheduler, adm(cap=2)), 1)  # not held up
    await scheduler.release(other, Outcome.ANSWERED)
    await clock.advance(299)
    assert not again.done()
    await clock.advance(1)
    await scheduler.release(await again, Outcome.ANSWERED)


async def test_abandoned_lease_is_held_until_the_server_must_be_done(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    lease = await ask(scheduler, adm(limit=5))
    lease.sent_at = clock.time()
    await clock.advance(5)
    await scheduler.release(lease, Outcome.ABANDONED, hold=60)
    waiter = asyncio.create_task(ask(scheduler, adm(limit=5)))
    await clock.advance(54.9)
    assert not waiter.done()
    await clock.advance(0.1)
    await scheduler.release(await waiter, Outcome.ANSWERED)
    assert (
        await stats_of(scheduler, adm(limit=5))
    ).quota_used == 2  # the abandoned unit stays spent


# Each row of RELEASES, stated again here as the rule it implements: (holds the slot until
# sent + the server's limit, gives the quota unit back, clears the poll stamp).
RULES = {
    Outcome.ANSWERED: (False, False, False),
    Outcome.FAILED: (False, False, True),
    Outcome.CUT: (False, False, True),
    Outcome.NOT_SENT: (False, True, True),
    Outcome.ABANDONED: (True, False, True),
}


@pytest.mark.parametrize("outcome", list(Outcome))
async def test_each_outcome_releases_as_its_row_says(
    scheduler: Scheduler, clock: VirtualClock, outcome: Outcome
) -> None:
    holds, refunds, unstamps = RULES[outcome]
    read = adm(limit=5, poll="p1")
    lease = await ask(scheduler, read)
    lease.sent_at = clock.time()
    await clock.advance(5)
    await scheduler.release(lease, outcome, hold=60)
    assert (await stats_of(scheduler, read)).quota_used == (0 if refunds else 1)
    other = asyncio.create_task(ask(scheduler, adm(limit=5)))  # another call: the slot?
    await settle()
    assert other.done() is not holds
    if holds:
        await clock.advance(54.9)  # 59.9 s after it left: the server may be running it
        assert not other.done()
        await clock.advance(0.1)
    await scheduler.release(await other, Outcome.ANSWERED)
    again = asyncio.create_task(ask(scheduler, read))  # the same read again: its stamp?
    await settle()
    assert again.done() is unstamps
    if not unstamps:
        await clock.advance(300)
    await scheduler.release(await again, Outcome.ANSWERED)


async def test_lowered_cap_recovers(scheduler: Scheduler, clock: VirtualClock) -> None:
    refused = await ask(scheduler, adm(cap=2))  # answered 403 SIMULTANEOUS
    await scheduler.release(refused, Outcome.FAILED, feedback=Feedback(cap_for=60))
    one = await ask(scheduler, adm(cap=2))
    two = asyncio.create_task(ask(scheduler, adm(cap=2)))
    await settle()
    assert not two.done()
    await clock.advance(60)  # the cap is 2 again, and the token's timer said so
    await scheduler.release(await two, Outcome.ANSWERED)
    await scheduler.release(one, Outcome.ANSWERED)


async def test_a_cancelled_read_does_not_strand_the_reads_behind_it(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    # Found by the property test: the first of several interval-blocked reads is cancelled.
    lease = await ask(scheduler, adm(cap=2, poll="report"))
    await scheduler.release(lease, Outcome.ANSWERED)
    first = asyncio.create_task(ask(scheduler, adm(cap=2, poll="report")))
    second = asyncio.create_task(ask(scheduler, adm(cap=2, poll="report")))
    await settle()
    first.cancel()
    other = await ask(scheduler, adm(cap=2))  # a pump pass with the cancelled read on top
    await scheduler.release(other, Outcome.ANSWERED)
    await clock.advance(300)
    await scheduler.release(await asyncio.wait_for(second, 1), Outcome.ANSWERED)


async def test_raise_policy_holds_for_queued_reads_too(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    lease = await ask(scheduler, adm(poll="report"))
    await scheduler.release(lease, Outcome.ANSWERED)
    held = await ask(scheduler, adm())  # the token is busy: the next caller queues
    queued = asyncio.create_task(ask(scheduler, adm(poll="report"), raise_on_poll=True))
    await settle()
    await scheduler.release(held, Outcome.ANSWERED)
    with pytest.raises(WaitTooLong, match="polling interval"):
        await asyncio.wait_for(queued, 1)


@pytest.mark.parametrize("strict_first", [True, False])
async def test_clients_of_one_token_that_differ_are_held_to_the_stricter_limits(
    clock: VirtualClock, strict_first: bool
) -> None:
    scheduler = Scheduler(MemoryBackend(), clock)
    loose = TokenLimits(token="tA", operation="op", limit=None, cap=2, lease_ttl=65.0)
    strict = TokenLimits(
        token="tA", operation="op", limit=10, cap=1, lease_ttl=65.0, poll_interval=300.0
    )
    for limits in (strict, loose) if strict_first else (loose, strict):
        scheduler.register(limits)
    held = await scheduler.acquire("tA")
    second = asyncio.create_task(scheduler.acquire("tA"))
    await settle()
    assert not second.done()  # the cap of 1, whichever client registered last
    assert (await scheduler.stats("tA")).quota_limit == 10
    await scheduler.release(held, Outcome.ANSWERED)
    await scheduler.release(await second, Outcome.ANSWERED)
    read = await scheduler.acquire("tA", "p1")
    await scheduler.release(read, Outcome.ANSWERED)
    with pytest.raises(WaitTooLong):  # the 300 s interval of the stricter client
        await scheduler.acquire("tA", "p1", raise_on_poll=True)


@pytest.mark.parametrize("outcome", list(Outcome), ids=lambda o: o.value)
async def test_only_a_delivered_read_keeps_its_poll_stamp(
    scheduler: Scheduler, clock: VirtualClock, outcome: Outcome
) -> None:
    """An identical read within 5 minutes is refused only after an answer delivered
    whole: one that failed, was never sent, was abandoned (cancelled, timed out) or was
    cut at the row cap delivered no data to read again (issue 30, item 5)."""
    lease = await ask(scheduler, adm(cap=2, poll="report"))
    lease.sent_at = clock.time()
    await scheduler.release(lease, outcome, hold=60)
    if outcome is Outcome.ANSWERED:
        with pytest.raises(WaitTooLong, match="polling interval"):
            await ask(scheduler, adm(cap=2, poll="report"), raise_on_poll=True)
        return
    again = await ask(scheduler, adm(cap=2, poll="report"), raise_on_poll=True)
    # An abandoned call still holds its slot until the server must be done with it.
    held = 1 if outcome is Outcome.ABANDONED else 0
    assert (await stats_of(scheduler, adm(cap=2))).in_flight == 1 + held
    await scheduler.release(again, Outcome.ANSWERED)


class DecidingSlowly(MemoryBackend):
    """A memory ledger whose admission suspends after it decided, as SQLite's thread or a
    Redis script does: a caller may be cancelled between the grant and its answer."""

    instant = False

    def __init__(self) -> None:
        super().__init__()
        self.decided = asyncio.Event()
        self.answer = asyncio.Event()
        self.admissions = 0

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        self.admissions += 1
        made = await super().admit(req, now)
        self.decided.set()
        await self.answer.wait()
        return made


async def test_a_caller_cancelled_while_the_backend_admits_it_leaves_nothing_taken(
    clock: VirtualClock,
) -> None:
    """Found by the interrupted-export tests (issue 30, item 5): a read cancelled while
    SQLite granted it kept the grant's lease and poll stamp, so the export continued
    after Ctrl-C was refused for 5 minutes. The grant is given back, nothing was sent."""
    backend = DecidingSlowly()
    scheduler = Scheduler(backend, clock)
    caller = asyncio.create_task(ask(scheduler, adm(cap=2, limit=10, poll="report")))
    await backend.decided.wait()
    caller.cancel()
    await settle()
    assert not caller.done()  # it gives the grant back before it goes
    backend.answer.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    stats = await stats_of(scheduler, adm(cap=2, limit=10))
    assert (stats.in_flight, stats.quota_used) == (0, 0)
    again = await ask(scheduler, adm(cap=2, limit=10, poll="report"), raise_on_poll=True)
    await scheduler.release(again, Outcome.ANSWERED)


async def test_a_caller_arriving_during_an_admission_is_served_after_it(
    clock: VirtualClock,
) -> None:
    """A second caller that asks while the first is being admitted (a SQLite thread, a
    Redis script) waits for that step to end, then is served: grants come in the order
    asked, and the backend sees one admission at a time."""
    backend = DecidingSlowly()
    scheduler = Scheduler(backend, clock)
    granted: list[str] = []

    async def caller(name: str) -> None:
        lease = await ask(scheduler, adm(cap=2, limit=10))
        granted.append(name)
        await scheduler.release(lease, Outcome.ANSWERED)

    first = asyncio.create_task(caller("first"))
    await backend.decided.wait()
    second = asyncio.create_task(caller("second"))
    await settle()
    assert backend.admissions == 1  # the second waits for the first's step
    backend.answer.set()
    await asyncio.gather(first, second)
    assert granted == ["first", "second"]


async def test_a_pump_cancelled_while_the_backend_admits_gives_the_grant_back(
    clock: VirtualClock,
) -> None:
    """Found by the interrupted-export tests under load: when the loop ends (asyncio.run
    cancels every task left) while the queue's pump is admitting a waiter, the grant was
    lost, and with it a read's poll stamp stayed 5 minutes. It is given back."""
    backend = DecidingSlowly()
    backend.answer.set()
    scheduler = Scheduler(backend, clock)
    holder = await ask(scheduler, adm(cap=1, limit=10))
    waiting = asyncio.create_task(ask(scheduler, adm(cap=1, limit=10, poll="report")))
    await settle()
    backend.answer.clear()
    backend.decided.clear()
    await scheduler.release(holder, Outcome.ANSWERED)  # the pump admits the waiter
    await backend.decided.wait()
    tasks = asyncio.all_tasks()
    [pump] = [task for task in tasks if getattr(task.get_coro(), "__qualname__", "") == "Pump._run"]
    waiting.cancel()
    pump.cancel()  # as asyncio.run does with the tasks left when its loop ends
    backend.answer.set()
    await asyncio.gather(waiting, pump, return_exceptions=True)
    stats = await stats_of(scheduler, adm(cap=1, limit=10))
    assert (stats.in_flight, stats.quota_used) == (0, 1)  # the holder's call alone
    again = await ask(scheduler, adm(cap=1, limit=10, poll="report"), raise_on_poll=True)
    await scheduler.release(again, Outcome.ANSWERED)


async def test_the_last_client_closing_waits_for_the_pump(clock: VirtualClock) -> None:
    """Found by the interrupted-export tests under load: the export's client closed while
    the pump admitted a waiter cancelled meanwhile, and asyncio.run then cancelled every
    task left, the backend's step among them: the grant, and a read's poll stamp, were
    lost. The last client's detach waits for the pump, which gives the grant back."""
    backend = DecidingSlowly()
    backend.answer.set()
    scheduler = Scheduler(backend, clock).attach()
    holder = await ask(scheduler, adm(cap=1, limit=10))
    waiting = asyncio.create_task(ask(scheduler, adm(cap=1, limit=10, poll="report")))
    await settle()
    backend.answer.clear()
    backend.decided.clear()
    await scheduler.release(holder, Outcome.ANSWERED)  # the pump admits the waiter
    await backend.decided.wait()
    waiting.cancel()
    closing = asyncio.create_task(scheduler.detach())
    await settle()
    assert not closing.done()  # it waits for the pump
    backend.answer.set()
    await closing
    for task in asyncio.all_tasks():  # as asyncio.run does when its loop ends
        if task is not asyncio.current_task():
            task.cancel()
    await settle()
    stats = await stats_of(scheduler, adm(cap=1, limit=10))
    assert (stats.in_flight, stats.quota_used) == (0, 1)  # the holder's call alone
    again = await ask(scheduler, adm(cap=1, limit=10, poll="report"), raise_on_poll=True)
    await scheduler.release(again, Outcome.ANSWERED)
