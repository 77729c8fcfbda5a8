"""The SQLite ledger's file failing under a running client: corrupt, locked past the busy
timeout, in a folder that cannot exist. Each is SchedulerUnavailable naming the file and
the cause, with nothing sent; the client works again once the file does; ``?fallback=
memory`` keeps it working meanwhile; the command exits 3 with the message."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ask

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import (
    Admission,
    Outcome,
    Scheduler,
    SQLiteBackend,
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
        token="tA", operation="op", limit=None, cap=2, lease_ttl=65.0, day="d", resets_at=2e9
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
from wolkvox_async.scheduler import Admission, SQLiteBackend
from wolkvox_async import SchedulerUnavailable

async def main(path):
    backend = SQLiteBackend(path)
    def ask(token):
        return Admission(token=token, operation="op", limit=None, cap=2, lease_ttl=65.0,
                         day="d", resets_at=2e9)
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
