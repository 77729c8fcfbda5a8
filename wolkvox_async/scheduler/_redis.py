"""The Redis backend: many processes on many hosts share one token's slots and quota.

One node, a Cluster or a Sentinel's primary (``_redis_connect``). Every admission,
release and state change is one Lua script (``_redis_lua``) that reads Redis TIME, so no
host's clock takes part in a decision, and touches keys under one hash tag (the
operation's), so on a Cluster a decision is one slot on one node. Leases live in the
operation's ledger hash with their expiry, beside its epoch, and are reclaimed inside the
admitting script: a host that dies holding a lease costs that slot until the lease expires
(a lease lifetime). Releases are announced (``_redis_releases``); waiting schedulers in
every process wake on the message and look again every second anyway, in case one is
lost. Tokens appear only as hashes. Times in a reply are Redis's: they are turned into the
caller's clock (its ``now`` against Redis's, both in the reply) before a timer is set on
them, so a host whose clock is off neither wakes in a loop nor sleeps too long.

A lost ledger (a restart, a flush, an eviction, a failover that lost writes) admits nothing
on the operation for a lease lifetime; an evicting ``maxmemory-policy`` is refused at
first use unless allowed (``_redis_policy``). A Cluster reshard moves the keys whole:
scripts wait out TRYAGAIN while the slot moves (redis-py follows MOVED and ASK).

Unreachable Redis: by default nothing is sent without admission, and callers get
:class:`~wolkvox_async.SchedulerUnavailable` (fail closed); the client works again as soon
as Redis answers. With ``?fallback=memory`` in the URL (or ``fallback=``), admission falls
back to this process's own memory backend while Redis is away, with a warning: the limits
then hold per process only.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
from collections.abc import Awaitable, Callable, Collection
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConfigError, SchedulerUnavailable
from . import _redis_connect, _redis_policy, _redis_status
from . import _redis_lua as lua
from ._backend import Backend, LeaseRecord, QuotaState
from ._heartbeat import RawLedger
from ._memory import MemoryBackend
from ._redis_connect import Topology, reason, text, unreachable
from ._redis_releases import Releases
from ._rules import Admission, Decision, Granted, Release

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["RELEASE_CHANNEL", "RedisBackend"]

log = logging.getLogger("wolkvox_async.scheduler.redis")
T = TypeVar("T")

RELEASE_CHANNEL = "wolkvox:released"
RESHARD_PATIENCE = 10.0
"""Seconds a script waits for a Cluster slot that is being moved (TRYAGAIN)."""


class RedisBackend:
    """Scheduler state in Redis, shared by every process that points at it."""

    cross_process = True
    poll_fallback = 1.0
    instant = False
    """Seconds between looks while blocked, besides the pub/sub wake-ups."""

    def __init__(
        self,
        url: str | Redis | RedisCluster,
        *,
        prefix: str = "wolkvox",
        fallback: Backend | None = None,
        time_offset: float = 0.0,
        allow_eviction: bool | None = None,
        restart_fence: bool | None = None,
    ) -> None:
        """``url``: a Redis URL (see ``_redis_connect``) or a redis-py asyncio client.
        ``allow_eviction`` and ``restart_fence`` override the URL's options of those names
        (default: an evicting Redis is refused; the restart fence is on)."""
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the Redis backend needs redis-py: pip install 'wolkvox-async[redis]'"
            ) from None
        self.target = (
            _redis_connect.parse(url) if isinstance(url, str) else _redis_connect.adopt(url)
        )
        if fallback is None and self.target.fallback == "memory":
            fallback = MemoryBackend()
        self.where = self.target.where
        self.cluster = self.target.topology is Topology.CLUSTER
        self.prefix = prefix
        self.fallback = fallback
        self.time_offset = time_offset
        """Added to Redis TIME; zero except in tests that move time by hand."""
        self.allow_eviction = (
            self.target.allow_eviction if allow_eviction is None else allow_eviction
        )
        self.restart_fence = self.target.restart_fence if restart_fence is None else restart_fence
        self._trusted = self.allow_eviction
        """The server's eviction policy was checked (again after each lost ledger)."""
        self._links: dict[asyncio.AbstractEventLoop, tuple[Any, list[Any], dict[str, Any]]] = {}
        self.releases = Releases(lambda: self._client()[0], RELEASE_CHANNEL, cluster=self.cluster)
        self._bases: dict[str, str] = {}
        self._ids = itertools.count(1)
        self.lease_prefix = self._lease_prefix = f"r{os.getpid()}-{os.urandom(3).hex()}-"
        self._warned = False
        self._epochs: dict[str, str] = {}
        self.lost: set[str] = set()
        """The ledger epoch last seen per operation (a change means the state was lost)."""

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        """``redis://``, ``redis+cluster://`` or ``redis+sentinel://`` (``?fallback=memory``
        to fall back when unreachable; ``?allow_eviction=1``; ``?restart_fence=0``)."""
        return cls(url)

    # ---- plumbing -----------------------------------------------------------------------

    def _client(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            client, owned = self.target.connect()
            scripts = {
                name: client.register_script(getattr(lua, name))
                for name in ("ADMIT", "RELEASE", "SET_STATE", "SET_QUOTA", "IN_FLIGHT", "FENCE")
            }
            link = self._links[loop] = (client, owned, scripts)
        return link[0], link[2]

    def connection(self) -> Any:
        """This event loop's redis-py client (``doctor`` reads the server with it)."""
        return self._client()[0]

    def _base(self, operation: str) -> str:
        """The operation's keys share this prefix and its hash tag: one slot on a Cluster.
        Hashed once per operation (an admission names four of its keys)."""
        base = self._bases.get(operation)
        if base is None:
            digest = hashlib.sha256(operation.encode()).hexdigest()[:16]
            base = self._bases[operation] = f"{self.prefix}:{{op{digest}}}"
        return base

    def _ledger(self, operation: str) -> str:
        """The operation's one hash: epoch, leases, state and quota (``_redis_lua``)."""
        return f"{self._base(operation)}:ledger"

    def _older(self, operation: str) -> list[str]:
        """The epoch and quota keys of the layout of before (read once, at a new ledger)."""
        base = self._base(operation)
        return [f"{base}:epoch", f"{base}:quota"]

    def _stamp_key(self, operation: str, poll_key: str | None) -> str:
        return f"{self._base(operation)}:stamp:{poll_key or '-'}"

    def _channel(self, operation: str) -> str:
        """Where releases are announced: one channel for all on a single node or Sentinel
        (PUBLISH reaches every subscriber), the operation's shard channel on a Cluster."""
        return f"{self._base(operation)}:released" if self.cluster else RELEASE_CHANNEL

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        import redis.exceptions as e

        _, scripts = self._client()
        patience: float | None = None
        while True:
            try:
                reply = await scripts[script](keys=keys, args=[self.time_offset, *args])
                break
            except e.RedisError as exc:
                # A reshard moving the slot: while its keys are split between two nodes a
                # script gets TRYAGAIN, which redis-py retries for ~0.4 s only. The script
                # did not run; ask again until the move is done (RESHARD_PATIENCE at most).
                moving = isinstance(exc, e.TryAgainError) or (
                    type(exc) is e.ClusterError and "TTL exhausted" in str(exc)
                )
                now = asyncio.get_running_loop().time()
                patience = patience or now + RESHARD_PATIENCE
                if moving and now < patience:
                    await asyncio.sleep(0.05)
                    continue
                if isinstance(exc, e.AskError) or str(exc).startswith("CROSSSLOT"):  # or MOVED
                    raise ConfigError(
                        f"{self.where} is a node of a Redis Cluster: use "
                        "redis+cluster://host:port (or a redis-py RedisCluster client)"
                    ) from None
                raise
        if isinstance(reply, list):  # a client of the caller's may not decode
            return [text(part) for part in reply]
        return reply

    async def _guard(
        self, step: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]] | None
    ) -> T:
        """Run a Redis step; unreachable Redis fails closed, or falls back if allowed. A
        dropped connection (a restart, ``CLIENT KILL``) is tried once more at once, on a new
        one: only a Redis that stays away is a failure."""
        try:
            try:
                result = await step()
            except unreachable():
                result = await step()
        except unreachable() as exc:
            if fallback is None:
                raise SchedulerUnavailable(backend=self.where, reason=reason(exc)) from None
            if not self._warned:
                log.warning(
                    "Redis at %s unreachable; admitting with the local fallback", self.where
                )
                self._warned = True
            return await fallback()
        self._warned = False
        return result

    # ---- the Backend interface ----------------------------------------------------------

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide in one script; when granted, take lease, quota unit and stamp."""
        lease_id = f"{self._lease_prefix}{next(self._ids)}"
        offset = req.limits.tz.utcoffset(None)
        tz_seconds = 0 if offset is None else int(offset.total_seconds())
        args = [
            lease_id,
            -1 if req.limits.limit is None else req.limits.limit,
            req.limits.cap,
            req.limits.lease_ttl,
            req.limits.poll_interval,
            "1" if req.poll_key else "0",
            tz_seconds,
            "1" if req.corrects_quota else "0",
            self._epochs.get(req.limits.operation, ""),
            os.urandom(8).hex(),
            req.limits.reserve if req.bulk else 0,
            repr(req.limits.reserve_fraction if req.bulk else 0.0),
            "1" if self.cluster else "0",
            req.limits.token,
            "1" if self.restart_fence else "0",
        ]
        keys = [
            self._ledger(req.limits.operation),
            self._stamp_key(req.limits.operation, req.poll_key),
        ]
        keys += self._older(req.limits.operation)
        fallback = self.fallback
        fall = (lambda: fallback.admit(req, now)) if fallback is not None else None
        if self.cluster:
            self.releases.join(self._channel(req.limits.operation))

        async def step() -> Any:
            if not self._trusted:
                client, _ = self._client()
                await _redis_policy.check(client, cluster=self.cluster, where=self.where)
                self._trusted = True
            return await self._run("ADMIT", keys, args)

        reply = await self._guard(step, fall)
        if isinstance(reply, tuple):
            return reply  # from the fallback
        decision, epoch, recent, day = lua.admission(reply, now)
        self._saw(req.limits.operation, epoch, recent)
        if not isinstance(decision, Granted):
            return decision, None
        lease = LeaseRecord(
            id=lease_id,
            token=req.limits.token,
            operation=req.limits.operation,
            day=day,
            poll_key=req.poll_key,
        )
        return decision, lease

    def _saw(self, operation: str, epoch: str, recent_loss: bool) -> None:
        """Remember the ledger's epoch; another than the one known, or a first one born
        of a loss today, means this process must re-read the day's count."""
        known = self._epochs.get(operation)
        if epoch != known and (known is not None or recent_loss):
            self.lost.add(operation)  # its count restarted: the client re-reads it
            self._trusted = self.allow_eviction  # perhaps another node: check it again
            log.warning(
                "the Redis ledger of operation %s was lost (restart, flush, eviction or "
                "failover): nothing admitted until calls it knew of must be over",
                operation,
            )
        self._epochs[operation] = epoch

    async def release(self, lease: LeaseRecord, done: Release) -> None:
        """End or hold the lease, undo what was asked, apply what the server said, and
        publish the release: one script (see :class:`Release`)."""
        if self.fallback is not None and not lease.id.startswith("r"):
            await self.fallback.release(lease, done)
            return
        hold_until = done.hold_until
        hold = 0.0 if hold_until is None else hold_until - done.now  # relative: Redis's clock
        args = [
            lease.id,
            hold,
            "1" if done.refund else "0",
            "1" if done.unstamp else "0",
            lua.day_number(lease.day),
            self._channel(lease.operation),
            lease.token,
            done.cap_for,
            done.pause_for,
            "1" if done.spent else "0",
            "SPUBLISH" if self.cluster else "PUBLISH",
        ]
        keys = [self._ledger(lease.operation), self._stamp_key(lease.operation, lease.poll_key)]
        try:
            await self._guard(lambda: self._run("RELEASE", keys, args), None)
        except SchedulerUnavailable:
            # The lease expires by itself (timeout + margin); the answer must not be lost.
            log.warning("Redis unreachable at release; lease %s expires on its own", lease.id)

    async def _set_state(self, operation: str, field: str, seconds: float) -> None:
        keys, args = [self._ledger(operation)], [field, seconds]
        await self._guard(lambda: self._run("SET_STATE", keys, args), None)

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Cap 1 for ``seconds`` (of Redis time)."""
        await self._set_state(operation, f"cap:{token}", seconds)

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Nothing admitted for ``seconds`` (of Redis time)."""
        await self._set_state(operation, f"pause:{token}", seconds)

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's numbers for ``day``."""
        args = [lua.day_number(day), used, -1 if limit is None else limit]
        args.append(-1 if since is None else since)
        keys = [self._ledger(operation)]
        await self._guard(lambda: self._run("SET_QUOTA", keys, args), None)

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""
        client, _ = self._client()
        ledger, number = self._ledger(operation), lua.day_number(day)
        used, limit = await self._guard(
            lambda: client.hmget(ledger, f"used:{number}", f"limit:{number}"), None
        )
        return QuotaState(used=int(used or 0), limit_override=None if limit is None else int(limit))

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases of the token, everywhere."""
        keys, args = [self._ledger(operation)], [token]
        return int(await self._guard(lambda: self._run("IN_FLIGHT", keys, args), None))

    async def fenced_until(self, operation: str, lease_ttl: float, now: float) -> float | None:
        """When the lost-ledger pause ends, on the caller's clock: the one the ledger holds,
        or the one the next admission would set (None: no pause)."""
        keys = [self._ledger(operation), *self._older(operation)]
        args = [self._epochs.get(operation, ""), lease_ttl, "1" if self.cluster else "0"]
        args.append("1" if self.restart_fence else "0")
        redis_now, until = await self._guard(lambda: self._run("FENCE", keys, args), None)
        ends = float(until)
        return ends + now - float(redis_now) if ends > float(redis_now) else None

    async def _beats(self, script: str, *args: Any) -> Any:
        client, _ = self._client()
        key = f"{self.prefix}:heartbeats"
        return await self._guard(lambda: client.eval(script, 1, key, *args), None)

    async def write_heartbeat(
        self, key: str, body: str, now: float, ttl: float, lease_life: float | None
    ) -> None:
        """Store this process's heartbeat for ``ttl`` s of Redis time."""
        await self._beats(_redis_status.BEAT, self.time_offset, key, ttl, body)

    async def drop_heartbeat(self, key: str) -> None:
        """Remove the heartbeat ``key`` (``_redis_status`` has the scripts)."""
        await self._beats(_redis_status.DROP, key)

    async def read_ledger(self, now: float, operations: Collection[str]) -> RawLedger:
        """The heartbeats, and the ledgers of ``operations`` and of those they name."""
        reply, client = await self._beats(_redis_status.READ, self.time_offset), self._client()[0]
        ledgers: dict[str, Any] = {}
        for operation in sorted(set(operations) | _redis_status.operations_of(reply)):
            read = partial(client.hgetall, self._ledger(operation))
            ledgers[operation] = await self._guard(read, None)
        return _redis_status.raw_ledger(reply, ledgers, operations)

    # ---- release messages ---------------------------------------------------------------

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(token_key)`` whenever any process releases a lease."""
        self.releases.subscribe(callback)

    async def close(self) -> None:
        """Stop listening and close this loop's connections (reopened on next use); a
        client the caller made stays open."""
        loop = asyncio.get_running_loop()
        await self.releases.stop(loop)
        _, owned, _ = self._links.pop(loop, (None, [], None))
        for client in owned:
            await client.aclose()
