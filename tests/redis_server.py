"""A real redis-server on a free 127.0.0.1 port, for the tests (no mocks)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from wolkvox_async.scheduler import RedisBackend


NEW_REDIS = "restart_fence=0"
"""The servers the tests start are new, and no call of a run before them can still be
running: a process finding no ledger on one need not wait out a lease lifetime after its
start (``_redis_lua``). The tests of that pause use ``plain_url``, and so must a test that
restarts its Redis under processes that may not have made their first call yet: after
the restart the Redis is no longer new to them."""


def with_option(url: str, option: str) -> str:
    """``url`` with one more ``name=value`` in its query."""
    return f"{url}{'&' if '?' in url else '?'}{option}"


def plain(url: str) -> str:
    """``url`` without our options, for redis-py itself."""
    return url.split("?", 1)[0]


def free_port(*, bus: bool = False) -> int:
    """A free loopback port; with ``bus``, one whose cluster bus port (+10000) is free too."""
    for _ in range(100):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if not bus:
            return port
        if port + 10000 < 65536:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """Start, stop and restart one redis-server process (no persistence); ``args`` add
    options (cluster mode, a primary to follow), ``config`` a file (a sentinel's)."""

    def __init__(
        self, workdir: Path, *, args: Sequence[str] = (), config: str | None = None
    ) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # the README's test command installs it; never skip silently
            raise RuntimeError("redis-server is not installed: run `bash scripts/test.sh`")
        self.binary = binary
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port(bus="--cluster-enabled" in args)
        self.args = list(args)
        self.config = config
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The backend URL the tests use: see :data:`NEW_REDIS`."""
        return with_option(self.plain_url, NEW_REDIS)

    @property
    def plain_url(self) -> str:
        """The URL as a user writes it: the restart fence on."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [self.binary]
        if self.config is not None:  # a sentinel rewrites its file: each gets its own
            path = self.workdir / "sentinel.conf"
            path.write_text(self.config)
            command += [str(path), "--sentinel"]
        command += ["--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.workdir)]
        if self.config is None:  # no persistence; a replica's first sync starts at once
            command += ["--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0"]
            command += self.args
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(
            lambda: self.ask("PING") in (True, "PONG"), f"redis-server on {self.port} did not start"
        )

    def ask(self, *command: str) -> Any:
        """One command over a plain socket-level client (None while it does not answer)."""
        import redis

        password = None
        if "--requirepass" in self.args:
            password = self.args[self.args.index("--requirepass") + 1]
        try:
            with redis.Redis(
                "127.0.0.1", self.port, password=password, socket_timeout=2, decode_responses=True
            ) as c:
                return c.execute_command(*command)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return None

    def flush(self) -> None:
        self.ask("FLUSHALL")

    def kill(self) -> None:
        """SIGKILL: no goodbye to replicas or sentinels, as a crashed host."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


S = TypeVar("S", "ClusterServers", "SentinelServers", "RedisServer")


@contextmanager
def running(servers: S) -> Iterator[S]:
    """Start a set of servers for a block, and stop them whatever happens in it."""
    try:
        servers.start()
        yield servers
    finally:
        servers.stop()


def emptied(servers: ClusterServers | SentinelServers | RedisServer) -> str:
    """The servers' backend URL, after deleting every key they hold."""
    servers.flush()
    return servers.url


def wait_until(ready: Callable[[], object], failure: str, seconds: float = 20.0) -> None:
    """Poll a real server's state (startup, failover) until ``ready``, bounded."""
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(failure)
        time.sleep(0.02)


DEBUG = ["--enable-debug-command", "yes"]
"""For DEBUG SLEEP: a replica that stops hearing its primary for a moment (failover tests)."""


class ClusterServers:
    """A Redis Cluster on loopback: 3 masters with one replica each, formed by
    ``redis-cli --cluster create`` (a failed master is replaced within ~2 s)."""

    def __init__(self, workdir: Path, *, debug: bool = False, masters: int = 3) -> None:
        options = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        options += ["--cluster-node-timeout", "500", *DEBUG * debug]
        self.nodes = [RedisServer(workdir / f"node{i}", args=options) for i in range(masters * 2)]

    @property
    def url(self) -> str:
        return with_option(self.plain_url, NEW_REDIS)

    @property
    def plain_url(self) -> str:
        return "redis+cluster://" + ",".join(node.address for node in self.nodes[:2])

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [node.address for node in self.nodes]
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
        wait_until(self.healthy, "the cluster did not form")

    def healthy(self) -> bool:
        """Every live node sees the cluster whole, and every replica is in sync."""
        live = [node for node in self.nodes if node.proc is not None]
        for node in live:
            info = str(node.ask("CLUSTER", "INFO"))
            known = f"cluster_known_nodes:{len(self.nodes)}"
            if "cluster_state:ok" not in info or known not in info:
                return False
            if self.role(node) == "slave" and node.ask("ROLE")[3] != "connected":
                return False
        return True

    def masters(self) -> list[RedisServer]:
        return [
            node for node in self.nodes if node.proc is not None and self.role(node) == "master"
        ]

    def role(self, node: RedisServer) -> str | None:
        answer = node.ask("ROLE")
        return None if answer is None else str(answer[0])

    def slot(self, key: str) -> int:
        return int(self.masters()[0].ask("CLUSTER", "KEYSLOT", key))

    def owner(self, key: str) -> RedisServer:
        """The master serving ``key``'s slot now."""
        slot = self.slot(key)
        return next(node for node in self.masters() if self.serves(node, slot))

    def replica_of(self, master: RedisServer) -> RedisServer:
        for node in self.nodes:
            role = node.ask("ROLE") if node.proc is not None else None
            if role and role[0] == "slave" and int(role[2]) == master.port:
                return node
        raise RuntimeError(f"{master.address} has no replica")

    def migrate(self, slot: int, target: RedisServer, pause: float = 0.2) -> None:
        """Move ``slot`` to ``target`` as ``redis-cli --cluster reshard`` does, pausing in
        each state (MIGRATING/IMPORTING, keys moved) so that callers meet ASK and MOVED."""
        source = next(n for n in self.masters() if self.serves(n, slot))
        source_id, target_id = source.ask("CLUSTER", "MYID"), target.ask("CLUSTER", "MYID")
        target.ask("CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id)
        source.ask("CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id)
        time.sleep(pause)
        while keys := source.ask("CLUSTER", "GETKEYSINSLOT", str(slot), "100"):
            source.ask("MIGRATE", "127.0.0.1", str(target.port), "", "0", "5000", "KEYS", *keys)
            time.sleep(pause)
        for node in self.masters():
            node.ask("CLUSTER", "SETSLOT", str(slot), "NODE", target_id)
        wait_until(lambda: all(self.serves(target, slot, n) for n in self.masters()), "no move")

    def serves(self, node: RedisServer, slot: int, asked: RedisServer | None = None) -> bool:
        """Whether ``node`` owns ``slot``, as ``asked`` (default: itself) sees it."""
        for start, end, master, *_ in (asked or node).ask("CLUSTER", "SLOTS"):
            if int(start) <= slot <= int(end):
                return int(master[1]) == node.port
        return False

    def flush(self) -> None:
        for node in self.masters():
            node.ask("FLUSHALL")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelServers:
    """A primary, its replica and three sentinels watching them as service ``wv``
    (a dead primary is replaced within ~2 s)."""

    service = "wv"

    def __init__(self, workdir: Path, *, debug: bool = False) -> None:
        self.primary = RedisServer(workdir / "primary", args=DEBUG * debug)
        follow = ["--replicaof", "127.0.0.1", str(self.primary.port), *DEBUG * debug]
        self.replica = RedisServer(workdir / "replica", args=follow)
        watch = (
            f"sentinel monitor {self.service} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {self.service} 500\n"
            f"sentinel failover-timeout {self.service} 2000\n"
        )
        self.sentinels = [RedisServer(workdir / f"sentinel{i}", config=watch) for i in range(3)]

    @property
    def url(self) -> str:
        return with_option(self.plain_url, NEW_REDIS)

    @property
    def plain_url(self) -> str:
        hosts = ",".join(s.address for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.service}"

    def start(self) -> None:
        for server in (self.primary, self.replica, *self.sentinels):
            server.start()
        wait_until(self.ready, "the sentinels did not see the replica")

    def ready(self) -> bool:
        replicas = self.sentinels[0].ask("SENTINEL", "REPLICAS", self.service) or []
        others = self.sentinels[0].ask("SENTINEL", "SENTINELS", self.service) or []
        return len(replicas) == 1 and len(others) == 2

    def current(self) -> RedisServer | None:
        """The server the sentinels name as primary now."""
        answer = self.sentinels[0].ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
        if answer is None:
            return None
        port = int(answer[1])
        return self.primary if port == self.primary.port else self.replica

    def flush(self) -> None:
        current = self.current()
        assert current is not None
        current.ask("FLUSHALL")

    def stop(self) -> None:
        for server in (*self.sentinels, self.replica, self.primary):
            server.stop()


class TimeShifted:
    """Drives a Redis backend at the suite's wall times: before each step, shift Redis
    TIME (the only clock its scripts read) so that it reads ``now``."""

    cross_process = True

    def __init__(self, backend: RedisBackend) -> None:
        self.inner = backend

    async def _at(self, now: float) -> None:
        client, _ = self.inner._client()  # the backend's own connection: any topology
        seconds, micros = await client.time()
        self.inner.time_offset = now - (seconds + micros / 1e6)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method) or name in ("quota", "set_quota", "close", "subscribe"):
            return method

        async def shifted(*args: Any, **kwargs: Any) -> Any:
            # (token | operation, operation | lease_ttl, now, ...); release(lease, done)
            third = name in ("lower_cap", "pause", "in_flight", "fenced_until")
            now = kwargs.get("now", args[2] if third else args[1])
            await self._at(now.now if name == "release" else now)  # (a Release)
            return await method(*args, **kwargs)

        return shifted


def evicting(workdir: Path, policy: str, *more: str) -> RedisServer:
    """A Redis of 3 MB that makes room by ``policy`` (``allkeys-lru``, ``volatile-ttl``…)."""
    return RedisServer(workdir, args=["--maxmemory", "3mb", "--maxmemory-policy", policy, *more])


class Filler:
    """Another client filling Redis with 10 KB values (an hour's TTL), as a cache would:
    full before the block begins, then 50 more a second, so a 3 MB Redis evicts an entry
    every 20 ms and keeps each a few seconds. It rides out restarts and killed
    connections (an error, a moment, and on)."""

    def __init__(self, url: str) -> None:
        self.url = plain(url)
        self.stop = threading.Event()
        self.full = threading.Event()
        self.thread = threading.Thread(target=self._fill)

    def _fill(self) -> None:
        import redis

        value = b"x" * 10_000
        with redis.Redis.from_url(self.url, socket_timeout=2) as cache:
            n = 0
            while not self.stop.wait(0.02 if n >= 300 else 0):
                try:
                    cache.set(f"cache:{n}", value, ex=3600)
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    self.stop.wait(0.1)
                    continue
                n += 1
                if n == 300:
                    self.full.set()

    def __enter__(self) -> Filler:
        self.thread.start()
        assert self.full.wait(10), "Redis was not filled"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        self.thread.join(10)


def kill_clients(url: str) -> int:
    """Drop every client connection of the Redis at ``url`` (CLIENT KILL TYPE normal)."""
    import redis

    with redis.Redis.from_url(plain(url)) as admin:
        return int(admin.execute_command("CLIENT", "KILL", "TYPE", "normal"))
