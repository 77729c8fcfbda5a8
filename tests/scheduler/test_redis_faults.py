"""The scheduler survives its own faults: a Redis connection killed, Redis stopped and
started again, with callers queued. Every caller ends (an answer, or SchedulerUnavailable:
nothing sent) within a bound, the limit holds, and the next call works with no restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import RedisServer, kill_clients

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

BOUND = 30.0
"""Seconds within which every caller must have ended (Redis: 2 s to connect, 5 s a step)."""


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, to kill and restart."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def on_redis(fake: FakeWolkvox, server: RedisServer, **settings: Any) -> WolkvoxClient:
    return WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=server.url, **settings
    )


async def crowd(wv: WolkvoxClient, n: int) -> list[Any]:
    calls = [wv.find_record(campaign_id="1", customer_id=str(i)) for i in range(n)]
    return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), BOUND)


def only_answers_or_unavailable(outcomes: list[Any]) -> None:
    for outcome in outcomes:
        assert isinstance(outcome, tuple | w.SchedulerUnavailable), repr(outcome)


@pytest.mark.slow
async def test_killed_redis_connections_strand_no_caller(own_redis: RedisServer) -> None:
    async with FakeWolkvox(latency=0.1) as fake:
        async with on_redis(fake, own_redis) as wv:
            load = asyncio.ensure_future(crowd(wv, 40))
            for _ in range(3):  # three times while they wait
                await asyncio.sleep(0.25)
                await asyncio.to_thread(kill_clients, own_redis.url)
            outcomes = await load
            only_answers_or_unavailable(outcomes)
            assert sum(isinstance(o, tuple) for o in outcomes) >= 20  # most just carry on
            assert await wv.find_record(campaign_id="1", customer_id="x") == ()  # no restart
        assert fake.stats.peak_in_flight[fake.token] <= 2
        assert fake.stats.refusals["simultaneous"] == 0


@pytest.mark.slow
async def test_redis_stopped_and_started_with_callers_queued(own_redis: RedisServer) -> None:
    # Redis comes back empty: calls admitted before may still run, so nothing is admitted
    # for a lease lifetime — 1 s + margin here (the simulator stops calls at 1 s), not 65.
    async with FakeWolkvox(latency=0.1, call_limit=1.0) as fake:
        async with on_redis(fake, own_redis, server_limit=1.0, timeout=1.0) as wv:
            load = asyncio.ensure_future(crowd(wv, 40))
            await asyncio.sleep(0.3)
            await asyncio.to_thread(own_redis.stop)
            started = time.monotonic()
            outcomes = await load  # each ends: answered before, or told Redis is away
            assert time.monotonic() - started < BOUND
            only_answers_or_unavailable(outcomes)
            assert any(isinstance(o, w.SchedulerUnavailable) for o in outcomes)
            with pytest.raises(w.SchedulerUnavailable, match="nothing was sent"):
                await wv.find_record(campaign_id="1", customer_id="y")
            await asyncio.to_thread(own_redis.start)
            assert await wv.find_record(campaign_id="1", customer_id="z") == ()
            stats = await wv.scheduler_stats()
        assert stats.refusals.get("scheduler_unavailable", 0) >= 1
        assert fake.stats.peak_in_flight[fake.token] <= 2


@pytest.mark.slow
async def test_a_redis_restart_forgets_no_lease_into_a_third_call(own_redis: RedisServer) -> None:
    """Redis restarts without persistence while calls run at the server: the new, empty
    ledger must not let others in beside them (it did: peak 3, 403 SIMULTANEOUS)."""
    async with FakeWolkvox(latency=2.0, call_limit=2.5) as fake:
        async with on_redis(fake, own_redis, server_limit=2.5, timeout=2.6) as wv:

            async def worker(n: int) -> int:
                answered = 0
                for i in range(2):
                    for _ in range(100):  # bounded: Redis is away a moment at most
                        try:
                            await wv.find_record(campaign_id="1", customer_id=f"{n}-{i}")
                            answered += 1
                            break
                        except w.SchedulerUnavailable:
                            await asyncio.sleep(0.05)
                return answered

            workers = asyncio.ensure_future(asyncio.gather(*(worker(n) for n in range(6))))
            while fake.stats.in_flight[fake.token] < 2:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(own_redis.stop)
            await asyncio.to_thread(own_redis.start)  # empty: no persistence
            answered = await asyncio.wait_for(workers, 60)
    assert answered == [2] * 6
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert fake.stats.refusals["simultaneous"] == 0


@pytest.mark.slow
async def test_after_a_lost_ledger_the_count_is_read_from_the_server(
    own_redis: RedisServer,
) -> None:
    async with FakeWolkvox(latency=0.01, call_limit=1.0) as fake:
        async with on_redis(fake, own_redis, server_limit=1.0) as wv:
            for i in range(5):
                await wv.find_record(campaign_id="1", customer_id=str(i))
            await asyncio.to_thread(own_redis.stop)
            await asyncio.to_thread(own_redis.start)  # empty: today's count is gone
            await wv.find_record(campaign_id="1", customer_id="after")
            stats = await wv.scheduler_stats()
        apis = [r.api for r in fake.requests]
    assert apis[-2:] == ["token_info", "find_record"]  # the count first, then the call
    assert stats.quota_used == fake.quota_used() == 7  # 5 + token_info + the call
