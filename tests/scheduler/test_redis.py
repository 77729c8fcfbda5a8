"""Redis: many processes share one token safely; crashes and outages do not break it.

Every test runs a real redis-server on a free loopback port (``redis_url``) and real OS
processes against one FakeWolkvox.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import ask, worker
from redis_server import RedisServer, plain, with_option

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import RedisBackend
from wolkvox_async.scheduler._redis_connect import parse
from wolkvox_async.testing import FakeWolkvox, Fault

WORKER = worker("loader_worker.py")


async def run_workers(
    fake: FakeWolkvox, backend: str, count: int, calls: int, quota: int
) -> list[dict[str, int]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            fake.url,
            fake.token,
            backend,
            str(calls),
            str(quota),
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    assert [p.returncode for p in procs] == [0] * count
    return [json.loads(out) for out, _ in outputs]


async def stored_keys(url: str) -> dict[str, int]:
    """Every key the backend at ``url`` (any topology) holds, with its TTL (-1: none)."""
    client, owned = parse(url).connect()
    try:
        return {key: await client.ttl(key) async for key in client.scan_iter("*")}
    finally:
        for made in owned:
            await made.aclose()


async def keys_without_ttl(url: str) -> list[str]:
    return [key for key, ttl in (await stored_keys(url)).items() if ttl == -1]


@pytest.mark.slow
async def test_eight_processes_share_one_token(fake: FakeWolkvox, any_redis_url: str) -> None:
    # On each topology: one node, a Cluster (the token's keys in one slot), a Sentinel's
    # primary.
    fake.latency = 0.005
    results = await run_workers(fake, any_redis_url, count=8, calls=15, quota=100)
    totals: Counter[str] = Counter()
    for result in results:
        totals.update(result)
    assert totals == {"ok": 100, "QuotaExhausted": 20}  # 120 asked, the quota is 100
    assert fake.stats.requests == 100  # never more calls than the quota
    assert fake.stats.peak_in_flight[fake.token] == 2  # 8 processes, still 2 in flight
    assert fake.stats.refusals["simultaneous"] == 0
    stored = await stored_keys(any_redis_url)
    assert stored and [key for key, ttl in stored.items() if ttl == -1] == []
    assert fake.token not in " ".join(stored)  # only hashes of the token


@pytest.mark.slow
async def test_a_killed_holder_costs_one_lease_lifetime(fake: FakeWolkvox, redis_url: str) -> None:
    fake.inject(Fault.SLOW, delay=3600)  # the worker's first call never answers
    holder = await asyncio.create_subprocess_exec(
        sys.executable, WORKER, fake.url, fake.token, redis_url, "1", stdout=asyncio.subprocess.PIPE
    )
    for _ in range(500):
        if fake.stats.in_flight[fake.token] == 1:
            break
        await asyncio.sleep(0.01)
    os.kill(holder.pid, signal.SIGKILL)  # dies holding its lease
    await holder.wait()
    backend = RedisBackend(redis_url)
    try:
        async with WolkvoxClient(
            server="0014",
            token=fake.token,
            base_url=fake.url,
            backend=backend,
            max_concurrency=1,
            max_wait=1.0,
        ) as wv:
            with pytest.raises(w.WaitTooLong):
                await wv.token_info()  # the dead process's lease still holds the only slot
            backend.time_offset = (
                96.0  # a lease lifetime (the 90 s timeout + 5 s) later, on Redis TIME
            )
            assert (await wv.token_info()).token_use_today == 2
    finally:
        await backend.close()
    assert await keys_without_ttl(redis_url) == []


@pytest.mark.slow
async def test_redis_down_fails_closed_then_recovers(
    fake: FakeWolkvox, redis_server: RedisServer, redis_url: str
) -> None:
    backend = RedisBackend(redis_url)
    try:
        async with WolkvoxClient(
            server="0014", token=fake.token, base_url=fake.url, backend=backend, server_limit=1
        ) as wv:
            await wv.token_info()
            redis_server.stop()
            with pytest.raises(w.SchedulerUnavailable, match="nothing was sent"):
                await wv.token_info()
            assert fake.stats.requests == 1
            redis_server.start()  # a restart: state is gone; after a lease lifetime (1 s
            # here) the client reads the server's count, then goes on
            assert (await wv.token_info()).token_use_today == 3
            assert (await wv.scheduler_stats()).quota_used == 3
    finally:
        if redis_server.proc is None:
            redis_server.start()
        await backend.close()


async def test_opt_in_local_fallback(
    fake: FakeWolkvox, redis_server: RedisServer, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = RedisBackend(with_option(redis_url, "fallback=memory"))
    try:
        async with WolkvoxClient(
            server="0014", token=fake.token, base_url=fake.url, backend=backend
        ) as wv:
            redis_server.stop()
            results = await asyncio.gather(*(wv.token_info() for _ in range(4)))
            assert len(results) == 4
            assert "unreachable" in caplog.text
    finally:
        redis_server.start()
        await backend.close()
    assert fake.stats.peak_in_flight[fake.token] <= 2


async def test_release_message_wakes_a_waiter_in_another_process(
    fake: FakeWolkvox, redis_url: str
) -> None:
    first, second = RedisBackend(redis_url), RedisBackend(redis_url)  # two "processes"
    fake.latency = 0.05
    try:
        async with (
            WolkvoxClient(
                server="0014", token=fake.token, base_url=fake.url, backend=first, max_concurrency=1
            ) as a,
            WolkvoxClient(
                server="0014",
                token=fake.token,
                base_url=fake.url,
                backend=second,
                max_concurrency=1,
            ) as b,
        ):
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.gather(*(c.token_info() for c in (a, b) for _ in range(5)))
            elapsed = loop.time() - started
        # 10 calls of 50 ms one at a time: ~0.5 s. Waking only on the 1 s fallback timer
        # would take several seconds.
        assert elapsed < 2.0
        assert fake.stats.peak_in_flight[fake.token] == 1
    finally:
        await first.close()
        await second.close()


def test_redis_url_is_resolved_and_validated() -> None:
    backend: Any = w.scheduler.resolve_backend("redis://127.0.0.1:1/0")
    assert isinstance(backend, RedisBackend)
    with pytest.raises(w.ConfigError, match="fallback"):
        RedisBackend("redis://127.0.0.1:1/0?fallback=disk")


async def test_the_last_client_closes_the_backends_connections(
    fake: FakeWolkvox, redis_url: str
) -> None:
    # A backend made from a URL is shared by the process; the last client of the event
    # loop to close releases its connections (no "unclosed connection" when the loop ends).
    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, backend=redis_url
    ) as a:
        async with WolkvoxClient(
            server="0014", token=fake.token, base_url=fake.url, backend=redis_url
        ) as b:
            await a.token_info()
            await b.token_info()
        backend: Any = w.scheduler.resolve_backend(redis_url)
        assert backend._links  # a is still open
        await a.token_info()
    assert not backend._links and not backend.releases.tasks
    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, backend=redis_url
    ) as c:
        assert (await c.token_info()).token_use_today == 4  # reopened on next use
        # ...and it listens for releases again (another process's release wakes its
        # waiters at once, not at the slow safety-net look), though its call took the
        # scheduler's fast path.
        assert backend.releases.tasks


@pytest.mark.slow
async def test_a_crowd_on_one_token_uses_few_connections(redis_url: str) -> None:
    # Found by benchmarks/scheduler_overhead.py: 10,000 callers arriving at once must queue
    # behind one admission, not open 10,000 Redis connections.
    from wolkvox_async.scheduler import Admission, Outcome, Scheduler, SystemClock, TokenLimits

    backend = RedisBackend(redis_url)
    scheduler = Scheduler(backend, SystemClock())
    admission = Admission(
        limits=TokenLimits(token="tcrowd", operation="op", limit=None, cap=2, lease_ttl=65.0)
    )

    async def caller() -> None:
        lease = await ask(scheduler, admission)
        await scheduler.release(lease, Outcome.ANSWERED)

    try:
        await asyncio.wait_for(asyncio.gather(*(caller() for _ in range(3_000))), 120)
        async with aioredis.from_url(plain(redis_url)) as client:
            clients = (await client.info("clients"))["connected_clients"]
        assert clients < 20
    finally:
        await backend.close()


async def test_a_backend_closed_as_its_listener_connects_does_not_hang(redis_url: str) -> None:
    # redis-py swallows a cancel that lands while a pub/sub connection is being set up
    # (~1–2 ms in); closing then waited forever (found closing a client whose first call
    # failed at once). Closed at many moments of that set-up, each close ends.
    for delay in [0.0, 0.0005, 0.001, 0.0015, 0.002, 0.003, 0.005] * 3:
        backend = RedisBackend(redis_url)
        backend.subscribe(lambda _: None)
        await asyncio.sleep(delay)
        await asyncio.wait_for(backend.close(), 10)
