"""Which Redis a backend URL (or a redis-py client) names, and the clear errors for the
ones that name none; a URL's password never shows in a message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis_server import NEW_REDIS, ClusterServers, RedisServer, running

from wolkvox_async import ConfigError, WolkvoxClient
from wolkvox_async.scheduler import RedisBackend, resolve_backend
from wolkvox_async.scheduler._redis_connect import Topology, adopt, parse
from wolkvox_async.testing import FakeWolkvox


@pytest.mark.parametrize(
    ("url", "topology", "where"),
    [
        ("redis://:pw@h:6380/2", Topology.SINGLE, "redis://h:6380"),
        ("rediss://h", Topology.SINGLE, "rediss://h:6379"),
        ("redis+cluster://u:pw@a:7000,b:7001", Topology.CLUSTER, "redis+cluster://a:7000,b:7001"),
        ("rediss+cluster://a", Topology.CLUSTER, "rediss+cluster://a:6379"),
        ("redis+sentinel://:pw@s1,s2:5000/mymaster", Topology.SENTINEL,
         "redis+sentinel://s1:26379,s2:5000/mymaster"),
        ("redis+sentinel://[::1]:26380/svc/3?fallback=memory", Topology.SENTINEL,
         "redis+sentinel://::1:26380/svc"),
    ],
)  # fmt: skip
def test_urls_name_their_topology_without_credentials(
    url: str, topology: Topology, where: str
) -> None:
    target = parse(url)
    assert (target.topology, target.where) == (topology, where)
    assert "pw" not in target.where


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis+sentinel://:pw@s1:26379", "needs /service_name"),
        ("redis+sentinel://s1/svc/x", "must be a number"),
        ("redis+cluster://:pw@a:99999", "bad host:port"),
        ("redis+cluster://a:7000/3", "only database 0"),
        ("redis+cluster://a:7000?pool=9", "unknown option 'pool'"),
        ("redis+cluster://a:7000?socket_timeout=soon", "number of seconds"),
        ("redis+shard://:pw@a", "not a Redis URL"),
        ("redis://:pw@h:1/0?fallback=disk", "fallback must be 'memory'"),
        # One node: redis-py took these at the first call, a TypeError from deep inside
        # (``wolkvox status`` printed a traceback).
        ("redis://:pw@h:1/0?pool=9", "'pool'"),
        ("redis://:pw@h:1/0?socket_timeout=soon", "socket_timeout"),
    ],
)
def test_a_url_that_names_no_redis_is_a_clear_error(url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        RedisBackend(url)
    assert "pw" not in str(caught.value)


def test_credentials_and_options_reach_the_clients() -> None:
    client, owned = parse("redis+cluster://me:s%40cret@a:7000?socket_timeout=1.5").connect()
    kwargs = client.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["socket_timeout"]) == (
        "me",
        "s@cret",
        1.5,
    )
    assert owned == [client]
    client, owned = parse("redis+sentinel://:data@s1/svc/2?sentinel_password=watch").connect()
    assert client.connection_pool.connection_kwargs["password"] == "data"
    assert client.connection_pool.connection_kwargs["db"] == 2
    sentinels = owned[1:]
    assert [s.connection_pool.connection_kwargs["password"] for s in sentinels] == ["watch"]


def test_only_an_asyncio_redis_client_is_taken() -> None:
    with pytest.raises(ConfigError, match=r"redis.client.Redis"):
        resolve_backend(redis.Redis())
    assert adopt(aioredis.Redis()).topology is Topology.SINGLE
    assert adopt(RedisCluster(host="127.0.0.1", port=1)).topology is Topology.CLUSTER


async def test_a_ready_made_cluster_client_is_shared_and_left_open(
    fake: FakeWolkvox, redis_cluster: ClusterServers, cluster_url: str
) -> None:
    host, port = redis_cluster.nodes[0].address.split(":")
    made = RedisCluster(host=host, port=int(port))
    try:

        def on(backend: Any) -> WolkvoxClient:
            return WolkvoxClient(
                server=fake.server, token=fake.token, base_url=fake.url, backend=backend
            )

        # Another process made the ledger (a process finding none on a cluster started
        # moments ago would wait out a lease lifetime: see test_lost_ledger).
        async with on(cluster_url) as other:
            await other.token_info()
        async with on(made) as a, on(made) as b:
            await a.token_info()
            await b.token_info()
            assert resolve_backend(made) is resolve_backend(made)  # one state per client
        assert await made.ping()  # ours to close, not the library's
        assert await made.exists(*[k async for k in made.scan_iter("wolkvox:*")]) == 1
    finally:
        await made.aclose()


async def test_a_plain_url_at_a_cluster_node_says_to_use_the_cluster_scheme(
    fake: FakeWolkvox, redis_cluster: ClusterServers, cluster_url: str
) -> None:
    backends = [RedisBackend(node.url) for node in redis_cluster.masters()]
    # The operation's slot lives on one of the three masters: the other two say MOVED.
    refused = 0
    for backend in backends:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, backend=backend
        ) as wv:
            try:
                await wv.token_info()
            except ConfigError as exc:
                assert "use redis+cluster://" in str(exc)
                refused += 1
        await backend.close()
    assert refused == 2


async def test_the_urls_password_is_used(fake: FakeWolkvox, tmp_path: Path) -> None:
    with running(RedisServer(tmp_path, args=["--requirepass", "s3cret"])) as server:
        backend = RedisBackend(f"redis://:s3cret@127.0.0.1:{server.port}/0?{NEW_REDIS}")
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, backend=backend
        ) as wv:
            assert (await wv.token_info()).token_use_today == 1


@pytest.mark.parametrize("url", ["redis+cluster://127.0.0.1:1", "redis+sentinel://127.0.0.1:1/s"])
async def test_an_unreachable_cluster_or_sentinel_falls_back_when_asked(
    fake: FakeWolkvox, url: str
) -> None:
    backend = RedisBackend(f"{url}?fallback=memory")
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=backend
    ) as wv:
        assert (await wv.token_info()).token_use_today == 1  # admitted by the local ledger
