"""Shared fixtures: a FakeWolkvox on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from redis_server import RedisServer

from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, reset_shared_state


@pytest.fixture(autouse=True)
def _fresh_scheduler_state() -> None:
    """Each test starts with an empty process-wide scheduler state (quota, leases)."""
    reset_shared_state()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=3) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWolkvox) -> AsyncIterator[WolkvoxClient]:
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        yield wv


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free loopback port."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The server's URL, emptied before each test."""
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url
