"""The SQLite ledger's file failing under a running client: corrupt, locked past the busy
timeout, in a folder that cannot exist. Each is SchedulerUnavailable naming the file and
the cause, with nothing sent; the client works again once the file does; ``?fallback=
memory`` keeps it working meanwhile; the command exits 3 with the message."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import ask, worker

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import (
    Admission,
    Outcome,
    Scheduler,
    SQLiteBackend,
    TokenLimits,
    VirtualClock,
)
from wolkvox_async.testing import FakeWolkvox


def client(fake: FakeWolkvox, url: str) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, backend=url)


async def test_a_corrupt_ledger_is_named_and_the_client_recovers(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(b"this is not a database, it is a spreadsheet " * 100)
    async with client(fake, f"sqlite:///{ledger}") as wv:
        with pytest.raises(w.SchedulerUnavailable) as info:
            await wv.find_record(campaign_id="1", customer_id="1")
        assert str(ledger) in str(info.value) and "corrupt" in str(info.value)
        assert "nothing was sent" in str(info.value) and fake.stats.requests == 0
        ledger.unlink()  # the operator removes it: the next call opens a fresh one
        assert await wv.find_record(campaign_id="1", customer_id="1") == ()


async def test_a_lock_held_past_the_busy_timeout(fake: FakeWolkvox, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    async with client(fake, f"sqlite:///{ledger}?timeout=0.2") as wv:
        await wv.find_record(campaign_id="1", customer_id="1")  # the file exists now
        holder = sqlite3.connect(ledger, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, and writing...
        try:
            with pytest.raises(w.SchedulerUnavailable, match="held its write lock"):
                await wv.find_record(campaign_id="1", customer_id="2")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert await wv.find_record(campaign_id="1", customer_id="3") == ()
    assert fake.stats.requests == 2


async def test_a_ledger_folder_that_cannot_exist(fake: FakeWolkvox, tmp_path: Path) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the folder should be")
    async with client(fake, f"sqlite:///{blocker / 'ledger.db'}") as wv:
        with pytest.raises(w.SchedulerUnavailable, match="cannot be used"):
            await wv.find_record(campaign_id="1", customer_id="1")
    assert fake.stats.requests == 0


async def test_fallback_memory_keeps_working_and_says_so(
    fake: FakeWolkvox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ledger = tmp_path / "ledger.db"
    ledger.write_bytes(b"garbage" * 1000)
    async with client(fake, f"sqlite:///{ledger}?fallback=memory") as wv:
        with caplog.at_level(logging.WARNING):
            assert await wv.find_record(campaign_id="1", customer_id="1") == ()
            assert await wv.find_record(campaign_id="1", customer_id="2") == ()
        stats = await wv.scheduler_stats()
    assert "unusable; admitting with the local fallback" in caplog.text
    assert stats.in_flight == 0 and fake.stats.requests == 2


def test_a_bad_sqlite_url_is_a_config_error() -> None:
    with pytest.raises(w.ConfigError, match="timeout"):
        WolkvoxClient(server="0014", token="t", backend="sqlite:///x.db?timeout=never")


def replace_with_an_empty_one(ledger: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)
    sqlite3.connect(ledger).close()


async def test_a_ledger_replaced_under_a_running_process_is_a_lost_ledger(
    tmp_path: Path,
) -> None:
    """Leases of calls still running were in the old file: the new one must not let
    others in beside them for a lease lifetime (as a Redis restarted empty)."""
    ledger = tmp_path / "ledger.db"
    backend = SQLiteBackend(ledger)
    clock = VirtualClock(1_800_000_000.0)
    scheduler = Scheduler(backend, clock, poll_fallback=0.05)
    request = Admission(
        limits=TokenLimits(token="tA", operation="op", limit=None, cap=2, lease_ttl=65.0),
        day="d",
        resets_at=2e9,
    )
    try:
        running = await ask(scheduler, request)  # a call in flight, its lease in the file
        replace_with_an_empty_one(ledger)  # a restore, a cleanup script
        with pytest.raises(w.WaitTooLong):
            await ask(scheduler, request, max_wait=30)  # the old slot is not free
        await clock.advance(66)
        later = await ask(scheduler, request)  # a lease lifetime on: the call is over
        await scheduler.release(later, Outcome.ANSWERED)
        await scheduler.release(running, Outcome.ANSWERED)
    finally:
        await backend.close()


FULL_DISK = """
import asyncio, resource, signal, sys
from wolkvox_async.scheduler import Admission, SQLiteBackend, TokenLimits
from wolkvox_async import SchedulerUnavailable

async def main(path):
    backend = SQLiteBackend(path)
    def ask(token):
        return Admission(limits=TokenLimits(token=token, operation="op", limit=None, cap=2,
                                            lease_ttl=65.0), day="d", resets_at=2e9)
    await backend.admit(ask("first"), 1.0)  # the file exists, then the disk fills up
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
    try:
        for i in range(500):
            await backend.admit(ask(f"t{i}"), 2.0)
    except SchedulerUnavailable as exc:
        print(exc)
    await backend.close()

asyncio.run(main(sys.argv[1]))
"""


def test_a_full_disk_is_named(tmp_path: Path) -> None:
    """The disk filling up under the ledger (a file size limit stands in for it, in a
    process of its own): SchedulerUnavailable naming the file and the cause."""
    ledger = tmp_path / "ledger.db"
    result = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(ledger)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert str(ledger) in result.stdout and "the disk is full or failing" in result.stdout


@pytest.mark.slow
async def test_four_processes_hammering_one_ledger_hold_the_cap_and_the_quota(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    """Four real processes share one ledger file, each with 600 calls queued at once
    (2,400 admissions, every step contended, on the loop's thread or the worker's): the
    server never sees a third call in flight, and exactly the day's 2,000 go out."""
    fake.latency = 0.002
    fake.world.operations[fake.server].daily_quota = 2000  # the server counts too
    backend = f"sqlite:///{tmp_path / 'ledger.db'}"
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            worker("loader_worker.py"),
            fake.url,
            fake.token,
            backend,
            "600",
            "2000",
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    seen: Counter[str] = Counter()
    for out, _ in outs:
        seen.update(json.loads(out))
    assert seen == {"ok": 2000, "QuotaExhausted": 400}
    assert fake.stats.requests == 2000
    assert fake.stats.peak_in_flight[fake.token] == 2
    assert not fake.stats.refusals  # no 403 SIMULTANEOUS, no TOKEN LIMIT EXCEEDED
    async with client(fake, backend) as wv:
        stats = await wv.scheduler_stats()
    assert (stats.quota_used, stats.in_flight) == (2000, 0)


def leases_in(ledger: Path) -> int:
    """Leases in the file, as another process reads it."""
    reader = sqlite3.connect(ledger)
    try:
        return int(reader.execute("SELECT COUNT(*) FROM leases").fetchone()[0])
    finally:
        reader.close()


REQUEST = Admission(
    limits=TokenLimits(token="tA", operation="op", limit=None, cap=2, lease_ttl=65.0),
    day="d",
    resets_at=2e9,
)


async def test_a_release_reaches_another_process_within_a_loop_turn(tmp_path: Path) -> None:
    """Process A frees a slot and then does nothing more: process B, waiting for the
    slot, is admitted at its next look, not when A happens to call again."""
    ledger = tmp_path / "ledger.db"
    a_backend, b_backend = SQLiteBackend(ledger), SQLiteBackend(ledger)  # two "processes"
    clock = VirtualClock(1_800_000_000.0)
    a = Scheduler(a_backend, clock, poll_fallback=0.1)
    b = Scheduler(b_backend, clock, poll_fallback=0.1)
    try:
        # Both files open (opening one is the worker thread's, and its step then holds the
        # write lock for a while, as another process's would: A's write waits for it
        # there). From here every step of either runs on this thread, in turn.
        await b_backend.in_flight(REQUEST.limits.token, REQUEST.limits.operation, clock.time())
        first, second = await ask(a, REQUEST), await ask(a, REQUEST)
        waiting = asyncio.create_task(ask(b, REQUEST))
        for _ in range(3):
            await asyncio.sleep(0)
        assert not waiting.done()  # both slots are A's
        await a.release(first, Outcome.ANSWERED)
        await asyncio.sleep(0)  # one turn of A's loop, and A asks nothing
        assert leases_in(ledger) == 1
        await clock.advance(0.1)  # B looks again
        granted = await asyncio.wait_for(waiting, 5)
        await b.release(granted, Outcome.ANSWERED)
        await a.release(second, Outcome.ANSWERED)
    finally:
        await a_backend.close()
        await b_backend.close()
    assert leases_in(ledger) == 0


async def test_close_writes_the_releases_kept(tmp_path: Path) -> None:
    """A release kept for the next step is in the file once close() has written it,
    before the loop has turned even once."""
    ledger = tmp_path / "ledger.db"
    backend = SQLiteBackend(ledger)
    scheduler = Scheduler(backend, VirtualClock(1_800_000_000.0))
    await ask(scheduler, REQUEST)  # the file is open

    async def release_then_close() -> None:
        lease = await ask(scheduler, REQUEST)
        await scheduler.release(lease, Outcome.ANSWERED)
        await backend.close()

    # Driven by hand up to close()'s first suspension, so no callback of the loop (the
    # release's own turn) can have run: what is in the file is what close() wrote.
    steps = release_then_close()
    pending = steps.send(None)
    try:
        assert leases_in(ledger) == 1  # the first lease only
    finally:
        await asyncio.wait({pending})  # (close()'s own wait, done by hand too)
        with pytest.raises(StopIteration):
            steps.send(None)


async def test_a_write_lock_held_elsewhere_does_not_stop_the_loop(tmp_path: Path) -> None:
    """Another process holding the write lock: the step waits for it on the worker
    thread, and the event loop goes on serving everything else meanwhile."""
    ledger = tmp_path / "ledger.db"
    backend = SQLiteBackend(ledger, busy_timeout=10.0)
    scheduler = Scheduler(backend, VirtualClock(1_800_000_000.0))
    try:
        await scheduler.release(await ask(scheduler, REQUEST), Outcome.ANSWERED)
        holder = sqlite3.connect(ledger, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # another process, writing
        try:
            asking = asyncio.create_task(ask(scheduler, REQUEST))
            turns = 0
            while turns < 200:  # the loop turns while the step waits for the lock
                await asyncio.sleep(0)
                turns += 1
            assert not asking.done()
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        lease = await asyncio.wait_for(asking, 10)
        await scheduler.release(lease, Outcome.ANSWERED)
    finally:
        await backend.close()
    assert leases_in(ledger) == 0
