"""Redis eviction cannot break the cap.

A Redis with ``maxmemory`` and a policy that evicts (``volatile-ttl``, ``allkeys-lru``…)
deletes keys when full; the ledger's leases, which had the shortest TTL, went first and
nothing noticed: 4 processes × 30 find_record beside a client filling Redis put a third
call in flight and got 106 of 120 refused 403 SIMULTANEOUS. Now an evicting policy is
refused at first use (``SchedulerUnavailable`` naming it and the fix, nothing sent) unless
the URL opts in, and with the opt-in the leases share one key with the epoch, so whatever
removes them removes the epoch and the lost-ledger rule holds the slots.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from helpers import admission, worker
from redis_server import Filler, RedisServer, evicting, plain, running, with_option

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import RedisBackend
from wolkvox_async.scheduler._rules import Blocked, Granted
from wolkvox_async.testing import FakeWolkvox

WORKER = worker("finder_worker.py")
POLICIES = ["volatile-ttl", "allkeys-lru"]


def client(fake: FakeWolkvox, backend: str | RedisBackend, **settings: object) -> WolkvoxClient:
    return WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=backend, **settings
    )


@pytest.mark.parametrize("policy", POLICIES)
async def test_an_evicting_redis_is_refused_naming_the_policy_and_the_fix(
    fake: FakeWolkvox, tmp_path: Path, policy: str
) -> None:
    with running(evicting(tmp_path, policy)) as server:
        async with client(fake, server.url) as wv:
            with pytest.raises(w.SchedulerUnavailable) as info:
                await wv.find_record(campaign_id="1", customer_id="1")
    message = str(info.value)
    assert f"maxmemory-policy is {policy}" in message
    assert "noeviction" in message and "?allow_eviction=1" in message
    assert "nothing was sent" in message and "unreachable" not in message
    assert fake.stats.requests == 0


async def test_where_config_is_disabled_the_policy_is_read_from_info(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # As on managed services that rename or forbid CONFIG.
    with running(evicting(tmp_path, "volatile-lru", "--rename-command", "CONFIG", "")) as server:
        async with client(fake, server.url) as wv:
            with pytest.raises(w.SchedulerUnavailable, match="maxmemory-policy is volatile-lru"):
                await wv.find_record(campaign_id="1", customer_id="1")
    assert fake.stats.requests == 0


async def test_a_policy_that_cannot_be_read_is_refused_too(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Neither CONFIG nor INFO: nobody can say the policy is noeviction, so it is not trusted.
    renamed = ["--rename-command", "CONFIG", "", "--rename-command", "INFO", ""]
    with running(RedisServer(tmp_path, args=renamed)) as server:
        async with client(fake, server.url) as wv:
            with pytest.raises(w.SchedulerUnavailable, match="cannot be read") as info:
                await wv.find_record(campaign_id="1", customer_id="1")
    assert "CONFIG GET" in str(info.value) and "INFO memory" in str(info.value)
    assert fake.stats.requests == 0


def test_the_command_on_an_evicting_redis_says_what_to_change(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    # The command, in a process of its own: exit 3 (refused by a limit), one line naming
    # the policy and the two ways out, nothing sent.
    with running(evicting(tmp_path / "redis", "allkeys-lru")) as server:
        env = {
            **os.environ,
            "WOLKVOX_SERVER": served.server,
            "WOLKVOX_TOKEN": served.token,
            "WOLKVOX_BASE_URL": served.url,
            "WOLKVOX_REDIS_URL": server.url,
            "XDG_STATE_HOME": str(tmp_path / "state"),
        }
        command = [sys.executable, "-m", "wolkvox_async", "find", "--customer-id", "a0"]
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 3, output
    assert "maxmemory-policy is allkeys-lru" in output and "allow_eviction=1" in output
    assert "noeviction" in output and "nothing was sent" in output
    assert len(output.strip().splitlines()) == 1 and served.token not in output
    assert not served.requests


async def test_the_opt_in_in_the_url_or_the_constructor(fake: FakeWolkvox, tmp_path: Path) -> None:
    with running(evicting(tmp_path, "allkeys-lru")) as server:
        async with client(fake, with_option(server.url, "allow_eviction=1")) as wv:
            assert await wv.find_record(campaign_id="1", customer_id="1") == ()
        backend = RedisBackend(server.url, allow_eviction=True)
        async with client(fake, backend) as wv:
            assert await wv.find_record(campaign_id="1", customer_id="2") == ()
        await backend.close()
    with pytest.raises(w.ConfigError, match="allow_eviction must be 1 or 0"):
        RedisBackend("redis://127.0.0.1:1/0?allow_eviction=maybe")


async def test_a_full_redis_that_never_evicts_refuses_calls_not_the_cap(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # noeviction: when Redis is full it refuses writes (OOM) instead of deleting keys; our
    # scripts' writes too, so calls fail with nothing sent, and go once there is room.
    with running(evicting(tmp_path, "noeviction")) as server:
        with redis.Redis.from_url(server.plain_url) as cache:
            full = False
            for n in range(1_000):
                try:
                    cache.set(f"cache:{n}", b"x" * 10_000)
                except redis.exceptions.OutOfMemoryError:
                    full = True
                    break
            assert full
            async with client(fake, server.url) as wv:
                with pytest.raises(w.SchedulerUnavailable, match="maxmemory"):
                    await wv.find_record(campaign_id="1", customer_id="1")
                assert fake.stats.requests == 0
                cache.flushall()
                assert await wv.find_record(campaign_id="1", customer_id="1") == ()


async def test_whichever_key_is_evicted_no_third_lease_is_granted(redis_url: str) -> None:
    """Eviction removes whole keys, silently. While two leases are held, delete each key
    the backend keeps for the operation, in turn: the next admission of the process that
    knew the ledger must not grant a third (today's keys: the ledger and a poll stamp)."""
    backend = RedisBackend(redis_url)
    victims: list[str] = []
    try:
        async with aioredis.from_url(plain(redis_url), decode_responses=True) as admin:
            for round_ in range(8):
                operation = f"op{round_}"
                for poll in ("p", None):
                    decision, lease = await backend.admit(
                        admission(operation=operation, poll=poll), 0
                    )
                    assert isinstance(decision, Granted) and lease is not None
                mine = sorted([k async for k in admin.scan_iter(f"{backend._base(operation)}*")])
                if round_ == len(mine):
                    break
                victims.append(mine[round_].split("}:")[1])
                await admin.delete(mine[round_])
                decision, lease = await backend.admit(admission(operation=operation), 0)
                assert lease is None and isinstance(decision, Blocked), (victims[-1], decision)
    finally:
        await backend.close()
    assert victims == ["ledger", "stamp:p"]


@pytest.fixture(params=POLICIES)
def full_redis(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RedisServer]:
    with running(evicting(tmp_path, request.param)) as server, Filler(server.plain_url):
        yield server


async def four_processes(fake: FakeWolkvox, backend: str) -> list[dict[str, object]]:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            WORKER,
            fake.url,
            fake.token,
            backend,
            "30",
            "2",
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outs = await asyncio.wait_for(asyncio.gather(*(p.communicate() for p in procs)), 120)
    assert [p.returncode for p in procs] == [0] * 4
    return [json.loads(out) for out, _ in outs]


@pytest.mark.slow
async def test_four_processes_on_a_full_redis_are_refused_by_default(
    full_redis: RedisServer,
) -> None:
    async with FakeWolkvox(latency=(0.02, 0.1), call_limit=2.0) as fake:
        results = await four_processes(fake, full_redis.url)
    assert [r.get("SchedulerUnavailable") for r in results] == [30] * 4
    assert all("maxmemory-policy is" in str(r["message"]) for r in results)
    assert fake.stats.requests == 0  # refused before anything was sent


@pytest.mark.slow
async def test_four_processes_on_a_full_redis_with_the_opt_in_never_exceed_the_cap(
    full_redis: RedisServer,
) -> None:
    async with FakeWolkvox(latency=(0.02, 0.1), call_limit=2.0) as fake:
        results = await four_processes(fake, with_option(full_redis.url, "allow_eviction=1"))
    totals: Counter[str] = Counter()
    for result in results:
        totals.update({k: v for k, v in result.items() if isinstance(v, int)})
    assert totals == {"answered": 120}
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert fake.stats.refusals["simultaneous"] == 0
    evicted = int(full_redis.ask("INFO", "stats")["evicted_keys"])
    assert evicted > 0  # Redis was full and evicting all along
