"""The scheduler's slot: ``async with scheduler.slot(token) as slot`` admits on enter and
releases on exit with what ``slot.report`` said; the fast path of a call stays out of the
queue, the pump and every other branch.

Driven directly (no HTTP) on a MemoryBackend and a VirtualClock, except the last test,
which follows one ``find_record`` over a real socket to the simulator.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from helpers import admission, limits_of, stats_of

import wolkvox_async
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import (
    Feedback,
    MemoryBackend,
    Outcome,
    Priority,
    Scheduler,
    VirtualClock,
)
from wolkvox_async.testing import serving_in_thread

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
SCHEDULER = str(Path(wolkvox_async.__file__).parent / "scheduler")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def scheduler(clock: VirtualClock) -> Scheduler:
    return Scheduler(MemoryBackend(), clock)


async def test_a_slot_is_admitted_on_enter_and_released_on_exit(scheduler: Scheduler) -> None:
    req = admission(cap=1, limit=10)
    scheduler.register(limits_of(req))
    async with scheduler.slot("tA") as slot:
        assert (await stats_of(scheduler, req)).in_flight == 1
        slot.lease.sent_at = scheduler.clock.time()
        slot.report(Outcome.ANSWERED)
    stats = await stats_of(scheduler, req)
    assert (stats.in_flight, stats.quota_used) == (0, 1)
    async with scheduler.slot("tA") as slot:  # the slot is free again, at once
        slot.report(Outcome.NOT_SENT)
    assert (await stats_of(scheduler, req)).quota_used == 1  # NOT_SENT gave its unit back


async def test_a_slot_left_unreported_by_an_error_holds_as_abandoned(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    """The body raised after sending, nothing reported: the server may be running the
    call, so its place is held until sent + hold, and the error goes on."""
    req = admission(cap=1)
    scheduler.register(limits_of(req))

    async def call() -> None:
        async with scheduler.slot("tA", hold=30.0) as slot:
            slot.lease.sent_at = clock.time()
            raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await call()
    assert (await stats_of(scheduler, req)).in_flight == 1
    await clock.advance(29.9)
    assert (await stats_of(scheduler, req)).in_flight == 1
    await clock.advance(0.2)
    assert (await stats_of(scheduler, req)).in_flight == 0


async def test_what_the_server_said_rides_on_the_release(
    scheduler: Scheduler, clock: VirtualClock
) -> None:
    """A 403 SIMULTANEOUS reported with the outcome lowers the cap in the release's own
    step: a second caller is not admitted beside the first for 60 s."""
    req = admission(cap=2)
    scheduler.register(limits_of(req))
    async with scheduler.slot("tA") as slot:
        slot.report(Outcome.FAILED, Feedback(cap_for=60.0))
    first = await scheduler.acquire("tA")
    second = asyncio.ensure_future(scheduler.acquire("tA"))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not second.done()  # the cap is 1
    await scheduler.release(first, Outcome.ANSWERED)
    await scheduler.release(await second, Outcome.ANSWERED)
    await clock.advance(61.0)
    async with scheduler.slot("tA") as one, scheduler.slot("tA") as two:
        assert one.lease.record.id != two.lease.record.id  # the cap is back at 2
        one.report(Outcome.ANSWERED)
        two.report(Outcome.ANSWERED)


async def test_a_queued_slot_waits_its_turn_in_order(scheduler: Scheduler) -> None:
    req = admission(cap=1)
    scheduler.register(limits_of(req))
    order: list[str] = []

    async def caller(name: str, priority: Priority) -> None:
        async with scheduler.slot("tA", priority=priority) as slot:
            order.append(name)
            slot.report(Outcome.ANSWERED)

    async with scheduler.slot("tA") as held:
        tasks = [
            asyncio.ensure_future(caller("bulk", Priority.BULK)),
            asyncio.ensure_future(caller("interactive", Priority.INTERACTIVE)),
        ]
        for _ in range(5):
            await asyncio.sleep(0)
        held.report(Outcome.ANSWERED)
    await asyncio.gather(*tasks)
    assert order == ["interactive", "bulk"]


def test_a_find_record_takes_the_fast_path_through_the_scheduler() -> None:
    """One find_record (after a warm-up call) runs in the scheduler: the slot's enter and
    exit, the report, the backend's admit and release and the decision — and nothing of
    the queue, the pump, the refusals, the lease table or the admission's making."""
    ran: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code.co_filename.startswith(SCHEDULER):
            name = Path(frame.f_code.co_filename).name
            ran.add(f"{name}:{frame.f_code.co_qualname}")

    with serving_in_thread() as fake:

        async def run() -> None:
            async with WolkvoxClient(
                server=fake.server, token=fake.token, base_url=fake.url, backend=MemoryBackend()
            ) as wv:
                await wv.find_record(campaign_id="1", customer_id="warm-up")
                sys.setprofile(profile)
                try:
                    await wv.find_record(campaign_id="1", customer_id="c-1")
                finally:
                    sys.setprofile(None)

        asyncio.run(run())
    assert ran <= {
        "_slot.py:open_slot",  # (Scheduler.slot)
        "_slot.py:Slot.__aenter__",
        "_slot.py:Slot.report",
        "_slot.py:Slot.__aexit__",
        "_memory.py:MemoryBackend.admit",
        "_memory.py:MemoryBackend.release",
        "_rules.py:decide",
        "_clock.py:SystemClock.timeout",  # (the caller's timeout, not the scheduler's work)
    }, sorted(ran)
    assert "_memory.py:MemoryBackend.admit" in ran and "_slot.py:Slot.__aexit__" in ran
