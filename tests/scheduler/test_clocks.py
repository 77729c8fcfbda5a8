"""Clocks: a process whose clock runs ahead of another's never ends that one's leases early.

Two clients on one ledger, the second reading the host's clock 30 s in the future (a step
of the clock between two processes' reads, a container with its own idea of the time). On
SQLite each process maps its clock onto the ledger's own time at its first step; on Redis
every decision reads Redis TIME, and what the scripts answer in it (a lease's expiry, when
to look again) is turned into the caller's clock before any timer is set on it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import admission
from redis_server import plain

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import Backend, RedisBackend, SQLiteBackend, SystemClock
from wolkvox_async.scheduler._clock import Timer
from wolkvox_async.scheduler._rules import Blocked, Granted, Release
from wolkvox_async.testing import FakeWolkvox

SERVER_LIMIT = 3.0
"""The simulator stops calls at 3 s: a lease lives 4.75 s (timeout 4.5 s + 0.25 s)."""
AHEAD = 30.0


class AheadClock(SystemClock):
    """The host's clock read ``ahead`` seconds in the future."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:  # type: ignore[override]
        return time.time() + self.ahead

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - self.time()), callback)


async def evals(url: str) -> int:
    """Scripts Redis has run so far (its command statistics)."""
    async with aioredis.from_url(plain(url)) as client:
        stats: dict[str, Any] = await client.info("commandstats")
    return sum(
        int(v["calls"]) for k, v in stats.items() if k in ("cmdstat_evalsha", "cmdstat_eval")
    )


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
async def test_a_clock_30_s_ahead_never_ends_the_leases_of_another_process(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    def backend() -> Backend:  # one object per "process"
        if kind == "sqlite":
            return SQLiteBackend(tmp_path / "ledger.db")
        return RedisBackend(request.getfixturevalue("redis_url"))

    first, second = backend(), backend()
    calls = 12
    async with FakeWolkvox(latency=(0.1, 0.4), call_limit=SERVER_LIMIT, seed=7) as fake:
        settings: dict[str, Any] = {
            "server": fake.server, "token": fake.token, "base_url": fake.url,
            "server_limit": SERVER_LIMIT, "max_attempts": 1,
        }  # fmt: skip
        before = await evals(request.getfixturevalue("redis_url")) if kind == "redis" else 0
        async with (
            WolkvoxClient(backend=first, clock=SystemClock(), **settings) as behind,
            WolkvoxClient(backend=second, clock=AheadClock(AHEAD), **settings) as ahead,
        ):

            async def caller(wv: WolkvoxClient, n: int) -> None:
                for i in range(calls):
                    await wv.find_record(campaign_id="1", customer_id=f"{n}-{i}")

            await asyncio.wait_for(
                asyncio.gather(*(caller(wv, n) for n in range(3) for wv in (behind, ahead))), 60
            )
        if kind == "redis":
            # Redis: the client ahead sets its timers on its own clock; read as Redis time,
            # a lease's expiry lies 30 s in its past and it asked again at once, in a loop.
            scripts = await evals(request.getfixturevalue("redis_url")) - before
            assert scripts < 20 * 6 * calls, scripts
    assert fake.stats.refusals["simultaneous"] == 0
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert fake.stats.requests == 6 * calls


async def test_sqlite_leases_end_on_the_ledgers_time_not_the_readers(tmp_path: Path) -> None:
    """Step by step: a lease taken by a process at T, read by one whose clock says T + 30,
    lives its 65 s on the ledger's time — neither 30 s less nor more."""
    slow, fast = SQLiteBackend(tmp_path / "l.db"), SQLiteBackend(tmp_path / "l.db")
    start = 1_800_000_000.0
    try:
        _, lease = await slow.admit(admission(cap=1), start)
        assert lease is not None
        assert await fast.in_flight("tA", "op", start + AHEAD) == 1  # not ended early
        blocked, _ = await fast.admit(admission(cap=1), start + AHEAD + 1)
        assert isinstance(blocked, Blocked) and blocked.reason == "concurrency"
        assert blocked.retry_at == pytest.approx(start + AHEAD + 65.0)  # on fast's clock
        assert isinstance((await fast.admit(admission(cap=1), start + AHEAD + 64.9))[0], Blocked)
        granted, _ = await fast.admit(admission(cap=1), start + AHEAD + 65.1)
        assert isinstance(granted, Granted)  # and not held 30 s longer either
    finally:
        await slow.close()
        await fast.close()


async def test_a_process_of_an_earlier_version_never_sees_our_lease_end_early(
    tmp_path: Path,
) -> None:
    """A service of 0.2 shares the per-user ledger with a newer command: it reads the file
    by its own clock. A newer process that joins the ledger's time while a lease is live
    (its clock an hour past the ledger's last step) still stores its lease's end no
    earlier on its own clock."""
    path = tmp_path / "ledger.db"
    start = 1_800_000_000.0
    later = start + 3600
    first = SQLiteBackend(path)
    _, lease = await first.admit(admission(), start)  # the ledger's time: start; then idle
    assert lease is not None
    await first.release(lease, Release(start))
    await first.close()
    with sqlite3.connect(path) as old:  # the 0.2 service, an hour later, on its clock
        old.execute("INSERT INTO leases VALUES ('s0.2-1', 'tA', ?)", (later + 65.0,))
    newer = SQLiteBackend(path)
    try:
        _, mine = await newer.admit(admission(), later)
        assert mine is not None
    finally:
        await newer.close()
    with sqlite3.connect(path) as old:
        (expires,) = old.execute("SELECT expires FROM leases WHERE id = ?", (mine.id,)).fetchone()
    assert expires >= later + 65.0  # the service keeps it its whole life


async def _left_by_a_killed_process(path: Path, start: float, poll: str | None = None) -> None:
    """A process takes a lease (and a read's poll stamp) at ``start`` and is SIGKILLed:
    nothing of it is released, and the ledger sits idle from then on."""
    killed = SQLiteBackend(path)
    _, lease = await killed.admit(admission(cap=1, poll=poll), start)
    assert lease is not None
    await killed.close()  # (the file is as the kill left it: the lease, the stamp)


@pytest.mark.parametrize(
    ("since_kill", "wait"),
    [(10.0, 65.0), (100.0, 30.0), (130.0, 0.0), (3600.0, 0.0)],
)
async def test_sqlite_a_killed_process_s_lease_is_waited_out_from_the_kill(
    tmp_path: Path, since_kill: float, wait: float
) -> None:
    """The next process, ``since_kill`` seconds after a kill, waits for the killed lease
    (65 s life) at most two lifetimes after the ledger's last step — its life, and as much
    again for a clock of the killed holder's behind ours — never its whole life from the
    newcomer's arrival however long ago the kill was."""
    path, start = tmp_path / "ledger.db", 1_800_000_000.0
    await _left_by_a_killed_process(path, start)
    arrival = start + since_kill
    newcomer = SQLiteBackend(path)
    try:
        decision, _ = await newcomer.admit(admission(cap=1), arrival)
        if wait == 0:
            assert isinstance(decision, Granted), decision
        else:
            assert isinstance(decision, Blocked) and decision.reason == "concurrency"
            assert decision.retry_at == pytest.approx(arrival + wait)
            assert isinstance(
                (await newcomer.admit(admission(cap=1), arrival + wait - 0.1))[0], Blocked
            )
            granted, _ = await newcomer.admit(admission(cap=1), arrival + wait + 0.1)
            assert isinstance(granted, Granted)
    finally:
        await newcomer.close()


async def test_sqlite_a_read_in_flight_at_a_kill_waits_its_5_minutes_from_the_read(
    tmp_path: Path,
) -> None:
    """A read in flight when its process was killed keeps its poll stamp (the server may
    have answered it): the same read from a process 10 minutes later is made at once, one
    4 minutes later waits no more than the rest of its 5 minutes plus the lease lifetime
    allowed for a clock behind ours (not the whole 5 minutes from its arrival)."""
    path, start = tmp_path / "ledger.db", 1_800_000_000.0
    await _left_by_a_killed_process(path, start, poll="report-1")
    late = SQLiteBackend(path)
    try:
        decision, _ = await late.admit(admission(cap=1, poll="report-1"), start + 600)
        assert isinstance(decision, Granted), decision
    finally:
        await late.close()

    other = tmp_path / "other.db"
    await _left_by_a_killed_process(other, start, poll="report-1")
    sooner = SQLiteBackend(other)
    try:
        arrival = start + 240
        decision, _ = await sooner.admit(admission(cap=1, poll="report-1"), arrival)
        assert isinstance(decision, Blocked) and decision.reason == "poll_interval"
        assert decision.retry_at == pytest.approx(start + 300 + 65)  # 125 s, not 300
    finally:
        await sooner.close()
