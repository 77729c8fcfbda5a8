"""What one call writes to the SQLite ledger, and ledgers made by an earlier version.

Each page a step changes is written whole to the WAL at commit, by every call: a call
(its admission, with the release of the call before folded into it) writes the ledger's
clock, the token's leases and the day's count, one page each. A ledger file made by an
earlier version (leases keyed by id, with an index on token) keeps working as it is.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers import ask

from wolkvox_async.scheduler import (
    Admission,
    Outcome,
    Scheduler,
    SQLiteBackend,
    TokenLimits,
    VirtualClock,
)

REQUEST = Admission(
    limits=TokenLimits(token="tA", operation="op", limit=None, cap=2, lease_ttl=65.0),
    day="d",
    resets_at=2e9,
)

EARLIER_LEASES = """
CREATE TABLE leases (id TEXT PRIMARY KEY, token TEXT NOT NULL, expires REAL NOT NULL);
CREATE INDEX leases_token ON leases (token, expires);
"""
"""The leases table as earlier versions made it."""


class Ticking(VirtualClock):
    """A clock that moves on at each reading, without the loop turning: the ledger's
    clock is written by each call, and each release is kept for the next admission."""

    def time(self) -> float:
        self._now += 0.01
        return self._now


def wal_frames(reader: sqlite3.Connection) -> int:
    """Frames in the WAL now (pages written since it was last emptied)."""
    return int(reader.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1])


async def test_a_call_writes_three_pages_of_the_ledger(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    backend = SQLiteBackend(ledger)
    scheduler = Scheduler(backend, Ticking(1_800_000_000.0))
    calls = 40
    try:
        await scheduler.release(await ask(scheduler, REQUEST), Outcome.ANSWERED)
        await backend.file.write_kept("")  # the file made, the day's row there
        reader = sqlite3.connect(ledger, isolation_level=None)
        try:
            reader.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            assert wal_frames(reader) == 0
            for _ in range(calls):  # (nothing here lets the loop turn)
                lease = await ask(scheduler, REQUEST)
                await scheduler.release(lease, Outcome.ANSWERED)  # kept for the next
            frames = wal_frames(reader)
        finally:
            reader.close()
    finally:
        await backend.close()
    # Clock, leases (the admission's and the folded release's), count: one page each
    # per call (a table keyed by id with an index on token wrote five).
    assert frames <= 3 * calls, f"{frames / calls:.1f} pages per call"


async def test_a_ledger_made_by_an_earlier_version_keeps_working(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.db"
    earlier = sqlite3.connect(ledger)
    earlier.executescript(EARLIER_LEASES)
    earlier.close()
    clock = VirtualClock(1_800_000_000.0)
    backend = SQLiteBackend(ledger)
    scheduler = Scheduler(backend, clock)
    try:
        first, second = await ask(scheduler, REQUEST), await ask(scheduler, REQUEST)
        assert (await scheduler.stats(REQUEST.limits.token)).in_flight == 2
        first.sent_at = clock.time()
        await scheduler.release(first, Outcome.ABANDONED)  # held: an UPDATE of its row
        await scheduler.release(second, Outcome.ANSWERED)  # ended: a DELETE of its row
        await backend.file.write_kept("")
        reader = sqlite3.connect(ledger)
        try:
            rows = reader.execute("SELECT id FROM leases").fetchall()
            index = reader.execute(
                "SELECT name FROM sqlite_master WHERE name = 'leases_token'"
            ).fetchall()
        finally:
            reader.close()
        assert rows == [(first.record.id,)] and index == [("leases_token",)]
        await clock.advance(61.0)  # the hold ends
        third = await ask(scheduler, REQUEST)
        await scheduler.release(third, Outcome.ANSWERED)
    finally:
        await backend.close()
