"""Shared fixtures: a FakeWolkvox on loopback and a client pointed at it; the whole suite
logs at DEBUG and fails any test during which a token-like string reached a log record."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings
from redis_server import ClusterServers, RedisServer, SentinelServers, emptied, running

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import BACKENDS
from wolkvox_async.testing import FakeWolkvox, serving_in_thread

# FakeWolkvox tokens (and the suite's fixed ones) are 56 hex digits; nothing else we log
# is (token keys, lease ids and poll keys are short hashes).
_TOKEN_LIKE = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{56}(?![0-9a-fA-F])")


class _TokenWatch(logging.Handler):
    """Sees every record of every logger at DEBUG; keeps those showing a token."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.leaks: list[str] = []
        self.seen = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.seen += 1
        try:
            text = record.getMessage()
        except Exception:  # a malformed record is not ours to judge
            text = str(record.msg)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        if _TOKEN_LIKE.search(text):
            self.leaks.append(f"{record.name} {record.levelname}: {text[:300]}")


_WATCH = _TokenWatch()

# Under CI, Hypothesis draws the same examples every run (a failure there is a bug to find,
# reproducible as is); on a developer's machine it explores, and prints how to replay.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config: pytest.Config) -> None:
    # Never the user's own ledger or journals; and processes the tests start keep their
    # ledger in memory (as a fresh process on a real host would not: the test of the
    # per-user default ledger sets its own environment).
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="wolkvox-tests-")
    os.environ["WOLKVOX_BACKEND"] = "memory://"
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(_WATCH)


@pytest.fixture(autouse=True)
def _no_token_in_logs() -> Iterator[None]:
    logging.getLogger().setLevel(logging.DEBUG)  # a test may have raised it
    yield
    leaks, _WATCH.leaks = _WATCH.leaks, []
    assert not leaks, f"a token reached the logs: {leaks[:3]}"


@pytest.fixture
def token_watch() -> _TokenWatch:
    """The suite's log watch (to test the watch itself)."""
    return _WATCH


@pytest.fixture(autouse=True)
def _fresh_scheduler_state() -> None:
    """Each test's clients start with a scheduler state (quota, leases) of their own: those
    given a URL or no ``backend=`` (``WOLKVOX_BACKEND=memory://``, set above) get a new
    backend from the cache of URL backends, emptied here through its public ``clear()``.
    Nothing else is switched: FakeWolkvox leaves the default alone."""
    BACKENDS.clear()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=3) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWolkvox) -> AsyncIterator[WolkvoxClient]:
    # strict: an answer of our own simulator with a key or a value the models cannot read
    # is a bug in one of the two, not a row to deliver with a None.
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, strict=True
    ) as wv:
        yield wv


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session, on a free loopback port."""
    with running(RedisServer(tmp_path_factory.mktemp("redis"))) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterServers]:
    """One real Redis Cluster (3 masters, 3 replicas) for the session."""
    with running(ClusterServers(tmp_path_factory.mktemp("cluster"))) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelServers]:
    """One real primary + replica + 3 sentinels for the session."""
    with running(SentinelServers(tmp_path_factory.mktemp("sentinel"))) as servers:
        yield servers


# Each test gets its topology's backend URL with the data emptied (every master, or the
# primary the sentinels name).
@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return emptied(redis_server)


@pytest.fixture
def cluster_url(redis_cluster: ClusterServers) -> str:
    return emptied(redis_cluster)


@pytest.fixture
def sentinel_url(redis_sentinel: SentinelServers) -> str:
    return emptied(redis_sentinel)


@pytest.fixture(params=["redis", "cluster", "sentinel"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """Each Redis topology in turn, emptied: one node, a Cluster, a Sentinel's primary."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def served() -> Iterator[FakeWolkvox]:
    """FakeWolkvox on a thread of its own: for tests that run the CLI, loops or processes
    of their own beside it."""
    with serving_in_thread(licenses=10) as fake:
        yield fake
