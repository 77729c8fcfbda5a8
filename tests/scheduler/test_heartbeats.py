"""The heartbeats and ``ledger_status`` (issue 35 item 2): what a ledger says its
processes hold, under the injected clock."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wolkvox_async import Maintenance, WolkvoxClient
from wolkvox_async._config import DEFAULT_LEASE_LIFE
from wolkvox_async.calls._routes import FIND_RECORD
from wolkvox_async.scheduler import (
    HeldSlot,
    LedgerStatus,
    MemoryBackend,
    SQLiteBackend,
    SystemClock,
    TokenLimits,
    VirtualClock,
    ledger_status,
    scheduler_for,
)
from wolkvox_async.scheduler._heartbeat import TTL
from wolkvox_async.testing import FakeWolkvox, Fault

LIMITS = TokenLimits(token="tA", operation="op", limit=100, cap=2, lease_ttl=95.0)


def routed(found: LedgerStatus) -> bool:
    return any(s.route for op in found.operations for t in op.tokens for s in t.held)


async def beating(
    reader: SQLiteBackend,
    clock: VirtualClock | SystemClock,
    until: Callable[[LedgerStatus], bool] = bool,
) -> LedgerStatus:
    """The ledger once a heartbeat is in it (written by a task, once a second of the
    loop's time), and ``until`` holds of it."""
    for _ in range(500):
        found = await ledger_status(reader, clock=clock)
        if found.processes and until(found):
            return found
        await asyncio.sleep(0.01)
    pytest.fail("no heartbeat was written")


def held_slots(found: LedgerStatus) -> list[HeldSlot]:
    return [s for op in found.operations for t in op.tokens for s in t.held]


def delete_ledger(folder: Path) -> None:
    for path in folder.glob("ledger.db*"):
        path.unlink()


def beats_in(ledger: Path) -> int:
    with sqlite3.connect(ledger) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM heartbeats").fetchone()[0])


async def test_a_heartbeat_counts_for_its_ttl_then_its_lease_shows_no_holder(
    tmp_path: Path,
) -> None:
    """A slot held on a SQLite ledger is read from another backend object (another
    process's view) with its holder's host, pid, route and since-when. Its heartbeat
    stops (a process frozen or killed): it still counts just before its TTL ends, not
    after; the lease, still live in the ledger, then shows as held by an unknown holder,
    with the pid its id carries. The next heartbeat written by anyone sweeps the dead one."""
    ledger = tmp_path / "ledger.db"
    clock = VirtualClock()
    scheduler = scheduler_for(SQLiteBackend(ledger), clock)
    scheduler.register(LIMITS)
    reader = SQLiteBackend(ledger)
    async with scheduler.slot("tA", route=FIND_RECORD):
        began = clock.time()
        found = await beating(reader, clock, routed)
        (process,) = found.processes
        assert (process.host, process.pid) == (socket.gethostname(), os.getpid())
        (op,) = found.operations
        assert (op.operation, op.quota_used, op.quota_limit) == ("op", 1, 100)
        ((slot,),) = [t.held for t in op.tokens]
        assert (slot.known, slot.pid, slot.route) == (True, os.getpid(), "campaign.find_record")
        assert slot.since == datetime.fromtimestamp(began, UTC)
        # The process stops beating without leaving (frozen, killed): nobody removes it.
        assert scheduler.heartbeat is not None and scheduler.heartbeat.task is not None
        scheduler.heartbeat.task.cancel()
        await asyncio.gather(scheduler.heartbeat.task, return_exceptions=True)
        await clock.advance(TTL - 0.01)
        assert len((await ledger_status(reader, clock=clock)).processes) == 1
        await clock.advance(0.02)
        found = await ledger_status(reader, clock=clock)
        assert found.processes == ()
        # No heartbeat names the token's operation now: it is listed apart, its quota row
        # still under its operation.
        assert [(op.operation, op.quota_used) for op in found.operations] == [("op", 1), (None, 0)]
        ((slot,),) = [t.held for t in found.operations[1].tokens]
        assert (slot.known, slot.pid, slot.host, slot.route) == (False, os.getpid(), None, None)
        assert beats_in(ledger) == 1  # ignored, not yet swept
        other = scheduler_for(SQLiteBackend(ledger), clock)
        other.register(LIMITS)
        async with other.slot("tA"):
            await beating(reader, clock)
        assert beats_in(ledger) == 1  # the new one alone: the dead one was swept
    await other.detach()


async def test_a_closed_scheduler_leaves_no_heartbeat(tmp_path: Path) -> None:
    """The last client closing stops the task and removes its heartbeat at once (no TTL
    to wait out: a process that left is not shown as alive)."""
    ledger = tmp_path / "ledger.db"
    clock = VirtualClock()
    scheduler = scheduler_for(SQLiteBackend(ledger), clock).attach()
    scheduler.register(LIMITS)
    async with scheduler.slot("tA"):
        await beating(SQLiteBackend(ledger), clock)
    await scheduler.detach()
    assert scheduler.heartbeat is not None and scheduler.heartbeat.task is None
    assert beats_in(ledger) == 0


async def test_refusals_count_for_the_last_hour_only(tmp_path: Path) -> None:
    """A refusal counts in the heartbeat for an hour of the injected clock, then drops
    out, while a later one still counts."""
    clock = VirtualClock()
    scheduler = scheduler_for(SQLiteBackend(tmp_path / "ledger.db"), clock)
    scheduler.register(LIMITS)
    heartbeat = scheduler.heartbeat
    assert heartbeat is not None
    refused = scheduler.refusals.refused

    def counted() -> object:
        import json

        return json.loads(heartbeat.body())["tokens"]["tA"]["refused"]

    scheduler.refusals.count(refused, "tA", "quota_exhausted")
    assert counted() == {"quota_exhausted": 1}
    await clock.advance(1800)
    scheduler.refusals.count(refused, "tA", "quota_exhausted")
    assert counted() == {"quota_exhausted": 2}
    await clock.advance(1801)
    assert counted() == {"quota_exhausted": 1}


async def test_a_memory_ledger_shows_this_process_and_says_it_is_per_process(
    fake: FakeWolkvox,
) -> None:
    """A memory ledger read in its own process: the calls in flight there (route, pid),
    today's quota, and the note that no other process can see it."""
    fake.latency = 0.3
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=MemoryBackend()
    ) as wv:
        call = asyncio.create_task(wv.find_record(customer_id="1"))
        for _ in range(200):
            found = await wv.ledger_status()
            if any(t.held for op in found.operations for t in op.tokens):
                break
            await asyncio.sleep(0.005)
        await call
    assert not found.shared and found.note is not None and "per process" in found.note
    (op,) = found.operations
    ((slot,),) = [t.held for t in op.tokens]
    assert (slot.pid, slot.route) == (os.getpid(), "campaign.find_record")
    assert op.quota_used == 1 and op.operation == fake.server


async def test_a_closed_client_on_a_memory_ledger_is_no_live_process(
    fake: FakeWolkvox,
) -> None:
    """A memory ledger's status is made from the schedulers of this process, which
    outlive their clients: once the client closed, its process was still listed live
    (a closed heartbeat left behind); today's count stays, the process does not."""
    backend = MemoryBackend()
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=backend
    ) as wv:
        await wv.find_record(customer_id="1")
        assert [p.pid for p in (await wv.ledger_status()).processes] == [os.getpid()]
    found = await wv.ledger_status()
    assert found.processes == ()
    (op,) = found.operations
    assert op.quota_used == 1


async def test_a_client_opened_after_another_closed_beats_again(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    """A service opening a client per job: the scheduler (one per backend, loop and clock)
    outlives the first client, whose close stopped the heartbeat; the next client's
    calls must start it again, or the service would show as gone while it works."""
    backend = SQLiteBackend(tmp_path / "ledger.db")
    reader = SQLiteBackend(tmp_path / "ledger.db")
    for _ in range(2):
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, backend=backend
        ) as wv:
            await wv.find_record(customer_id="1")
            await beating(reader, SystemClock())
        assert (await ledger_status(reader)).processes == ()


async def test_a_process_with_two_event_loops_is_one_process(tmp_path: Path) -> None:
    """One backend used from a second event loop (a thread) has a scheduler there too,
    each writing its heartbeat: status lists the process once, with both loops' slots."""
    ledger = tmp_path / "ledger.db"
    backend = SQLiteBackend(ledger)
    clock = VirtualClock()
    here = scheduler_for(backend, clock)
    here.register(LIMITS)
    held = asyncio.Event()
    done = threading.Event()
    loop = asyncio.get_running_loop()

    async def elsewhere() -> None:
        there = scheduler_for(backend, clock)
        there.register(LIMITS)
        async with there.slot("tA", route=FIND_RECORD):
            loop.call_soon_threadsafe(held.set)
            while not done.is_set():
                await asyncio.sleep(0.01)
        if there.heartbeat is not None:
            await there.heartbeat.stop()

    thread = threading.Thread(target=asyncio.run, args=(elsewhere(),))
    thread.start()
    try:
        await held.wait()
        async with here.slot("tA", route=FIND_RECORD):
            found = await beating(
                SQLiteBackend(ledger),
                clock,
                lambda f: (
                    len([*held_slots(f)]) == 2
                    and all(s.route for s in held_slots(f))
                    and beats_in(ledger) == 2
                ),
            )
            assert [(p.host, p.pid) for p in found.processes] == [
                (socket.gethostname(), os.getpid())
            ]
    finally:
        done.set()
        await asyncio.to_thread(thread.join)


async def test_a_pause_the_server_asked_for_shows_for_the_last_hour(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    """A maintenance answer pauses the token: the pause is counted in the process's
    heartbeat and shown by status (whether or not the call was retried), with the time
    until which the ledger holds it."""
    backend = SQLiteBackend(tmp_path / "ledger.db")
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=backend, max_attempts=1
    ) as wv:
        fake.inject(Fault.MAINTENANCE)
        with pytest.raises(Maintenance):
            await wv.find_record(customer_id="1")
        found = await beating(SQLiteBackend(tmp_path / "ledger.db"), SystemClock(), paused)
    ((token,),) = [op.tokens for op in found.operations]
    assert token.pauses_last_hour == {"maintenance": 1}
    assert token.pushback_last_hour == {}  # not retried
    assert token.paused_until is not None and token.paused_until > found.read_at


def paused(found: LedgerStatus) -> bool:
    return any(t.pauses_last_hour for op in found.operations for t in op.tokens)


async def test_a_lost_ledger_shows_fenced_until_a_lease_lifetime_after(tmp_path: Path) -> None:
    """A ledger deleted and made again where one was (an orphan: calls it counted may
    still run at Wolkvox) admits nothing for a lease lifetime: status says until when."""
    ledger = tmp_path / "ledger.db"
    clock = VirtualClock()
    first = scheduler_for(SQLiteBackend(ledger), clock)
    first.register(LIMITS)
    async with first.slot("tA"):
        pass
    await first.backend.close()
    delete_ledger(tmp_path)  # (its folder's list of ledgers kept: ``rm ledger.db*``)
    await clock.advance(10)
    born = clock.time()
    again = SQLiteBackend(ledger)
    await again.write_heartbeat("other", "{}", born, TTL, None)  # any step makes the file
    found = await ledger_status(again, clock=clock, operations=["op"])
    (op,) = found.operations
    assert op.fenced_until == datetime.fromtimestamp(born + DEFAULT_LEASE_LIFE, UTC)
    await clock.advance(DEFAULT_LEASE_LIFE)
    (op,) = (await ledger_status(again, clock=clock, operations=["op"])).operations
    assert op.fenced_until is None
