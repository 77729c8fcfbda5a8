"""Redis as production runs it: a Cluster (every key of a decision in one slot, a reshard
under load) and Sentinel, each failing over with calls in flight.

Real servers, started by the tests on loopback (``redis_server``). The failover tests
start their own set, since they kill its primary; the others share the session's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import admission
from redis_server import ClusterServers, RedisServer, SentinelServers, running, wait_until

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import RedisBackend, Release
from wolkvox_async.testing import FakeWolkvox

BOUND = 60.0
"""Seconds within which every caller of a failover test must have ended."""


def client(fake: FakeWolkvox, backend: RedisBackend, **settings: Any) -> WolkvoxClient:
    """A client with a backend object of its own: two of them are two processes."""
    return WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=backend, **settings
    )


async def cluster_keys(servers: ClusterServers) -> list[str]:
    found: list[str] = []
    for node in servers.masters():
        found += await asyncio.to_thread(node.ask, "KEYS", "*")
    return found


async def test_every_key_of_a_decision_is_in_its_operations_slot(
    redis_cluster: ClusterServers, cluster_url: str
) -> None:
    backend = RedisBackend(cluster_url)
    try:
        for operation in ("op-a", "op-b"):
            for token in ("t1", "t2"):
                stamped = admission(token, operation=operation, limit=100, poll=f"r-{token}")
                _, lease = await backend.admit(stamped, 0.0)
                assert lease is not None
                await backend.release(lease, Release(0.0, cap_for=5.0))  # state
                _, held = await backend.admit(attrs.evolve(stamped, poll_key=None), 0.0)
                assert held is not None  # a lease in flight
                await backend.pause(token, operation, 0.0, 1.0)
                await backend.lower_cap(token, operation, 0.0, 5.0)
                await backend.set_quota(operation, lease.day, used=3, limit=100, since=1)
        keys = await cluster_keys(redis_cluster)
        kinds = {key.split("}:")[1].split(":")[0] for key in keys}
        assert kinds == {"ledger", "stamp"}  # leases, state, quota and epoch in the ledger
        for operation in ("op-a", "op-b"):
            tag = backend._base(operation)
            mine = [key for key in keys if key.startswith(tag)]
            slots = {redis_cluster.slot(key) for key in mine}
            assert len(mine) == 3 and len(slots) == 1, (mine, slots)  # the ledger, 2 stamps
            assert redis_cluster.slot(backend._channel(operation)) in slots  # sharded pub/sub
        assert len(keys) == len([k for k in keys if k.startswith(backend.prefix)])
    finally:
        await backend.close()


@pytest.mark.slow
async def test_a_reshard_under_load_moves_the_ledger_whole(
    fake: FakeWolkvox, redis_cluster: ClusterServers, cluster_url: str
) -> None:
    # The operation's slot moves to another master while two "processes" call on: scripts
    # meet ASK (keys half moved), TRYAGAIN and MOVED, and are retried by redis-py's cluster
    # client (loading the script on the new owner). The ledger arrives whole, so nothing
    # waits out a lost-ledger lease lifetime (max_wait 5 s would fail against 97 s).
    fake.latency = 0.01
    first, second = RedisBackend(cluster_url), RedisBackend(cluster_url)
    try:
        async with client(fake, first, max_wait=5.0) as a, client(fake, second, max_wait=5.0) as b:
            await a.token_info()
            ledger = next(k for k in await cluster_keys(redis_cluster) if k.endswith(":ledger"))
            slot, source = redis_cluster.slot(ledger), redis_cluster.owner(ledger)
            target = next(node for node in redis_cluster.masters() if node is not source)

            async def calls(wv: WolkvoxClient) -> None:
                for i in range(60):
                    await wv.find_record(campaign_id="1", customer_id=str(i))

            load = asyncio.gather(calls(a), calls(b))
            await asyncio.to_thread(redis_cluster.migrate, slot, target)
            await asyncio.wait_for(load, BOUND)
            assert redis_cluster.owner(ledger) is target
    finally:
        await first.close()
        await second.close()
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert fake.stats.refusals["simultaneous"] == 0
    assert [r.api for r in fake.requests].count("token_info") == 1  # no re-read: not lost


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[ClusterServers]:
    with running(ClusterServers(tmp_path / "cluster", debug=True)) as servers:
        yield servers


@pytest.fixture
def own_sentinel(tmp_path: Path) -> Iterator[SentinelServers]:
    with running(SentinelServers(tmp_path / "sentinel", debug=True)) as servers:
        yield servers


def cluster_failover(
    servers: ClusterServers,
) -> tuple[RedisServer, RedisServer, Callable[[], bool]]:
    """The master owning the token's slot, its replica, and "the replica has taken over"."""
    keys = [key for node in servers.masters() for key in node.ask("KEYS", "*")]
    ledger = next(key for key in keys if key.endswith(":ledger"))
    primary = servers.owner(ledger)
    replica = servers.replica_of(primary)
    return primary, replica, lambda: servers.role(replica) == "master" and servers.healthy()


def sentinel_failover(
    servers: SentinelServers,
) -> tuple[RedisServer, RedisServer, Callable[[], bool]]:
    return servers.primary, servers.replica, lambda: servers.current() is servers.replica


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cluster", "sentinel"])
async def test_a_failover_never_lets_a_third_call_in(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """The primary dies with two calls running at Wolkvox, and the replica never heard of
    their leases (it was asleep when they were granted: replication is asynchronous). The
    promoted replica's ledger would admit two more beside them; the backend sees that the
    ledger was written under another replication id and admits nothing on the token for a
    lease lifetime. Callers get SchedulerUnavailable while there is no primary."""
    servers = request.getfixturevalue(f"own_{kind}")
    async with FakeWolkvox(call_limit=3.5) as fake:
        backends = [RedisBackend(servers.url), RedisBackend(servers.url)]
        settings = {"server_limit": 3.5, "timeout": 3.5}
        async with (
            client(fake, backends[0], **settings) as a,
            client(fake, backends[1], **settings) as b,
        ):
            await a.token_info()  # the ledger exists, and the replica has it
            primary, replica, taken_over = (
                cluster_failover if kind == "cluster" else sentinel_failover
            )(servers)
            await asyncio.to_thread(
                wait_until, lambda: primary.ask("WAIT", "1", "1000") == 1, "no ack"
            )
            # The replica sleeps a second, cut off from its primary: what is granted now
            # reaches no replica (the link is dropped before, so no socket buffers it).
            asleep = asyncio.ensure_future(asyncio.to_thread(replica.ask, "DEBUG", "SLEEP", "1"))
            await asyncio.sleep(0.05)
            assert await asyncio.to_thread(primary.ask, "CLIENT", "KILL", "TYPE", "replica") == 1

            async def caller(wv: WolkvoxClient, n: int) -> None:
                for _ in range(400):  # bounded: ~20 s of 50 ms looks at most
                    try:
                        await wv.find_record(campaign_id="1", customer_id=str(n))
                        return
                    except w.SchedulerUnavailable:  # no primary yet: ask again
                        await asyncio.sleep(0.05)
                raise AssertionError("no primary came back")

            fake.latency = 3.0
            callers = asyncio.gather(*(caller(wv, n) for n, wv in enumerate([a, b, a, b])))
            callers_done = asyncio.ensure_future(asyncio.wait_for(callers, BOUND))
            while fake.stats.in_flight[fake.token] < 2:  # granted by the primary alone
                await asyncio.sleep(0.01)
            fake.latency = 0.0  # those two take 3 s; the calls after them, no time
            await asyncio.to_thread(primary.kill)
            # No primary until the replica wakes: a call is refused at once, nothing sent.
            probe = RedisBackend(servers.url)
            async with client(fake, probe, **settings) as c:
                with pytest.raises(w.SchedulerUnavailable, match="nothing was sent"):
                    await c.token_info()
            await probe.close()
            await asleep
            await asyncio.to_thread(wait_until, taken_over, "the replica did not take over")
            while fake.stats.in_flight[fake.token]:  # the two the replica never heard of
                await asyncio.sleep(0.01)
            # The others still wait out the recovery: a lease lifetime, 3.8 s here (waiters
            # sleep until its end on the host's clock, so Redis TIME cannot be moved on).
            assert not callers_done.done()
            await callers_done  # every caller ends, answered
        apis = [r.api for r in fake.requests]
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert fake.stats.refusals["simultaneous"] == 0
    assert apis.count("find_record") == 4
    assert apis.count("token_info") >= 2  # the day's count re-read from the server after
