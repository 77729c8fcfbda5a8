"""The Redis backend: many processes on many hosts share one token's slots and quota.

One node, a Cluster or a Sentinel's primary (``_redis_connect``). Every admission,
release and state change is one Lua script (``_redis_lua``) that reads Redis TIME, so no
host's clock takes part in a decision, and touches keys under one hash tag (the
operation's), so on a Cluster a decision is one slot on one node. Leases live in a sorted
set scored by expiry and are reclaimed inside the admitting script: a host that dies
holding a lease costs that slot until the lease expires (call timeout + 5 s). Releases are
announced (``_redis_releases``); waiting schedulers in every process wake on the message
and look again every second anyway, in case one is lost. Tokens appear only as hashes.

A failover keeps the keys but may drop their last writes: the scripts notice (the ledger
was written under another replication id) and admit nothing on the operation for a lease
lifetime, as after any lost ledger. A Cluster reshard moves the keys whole: scripts wait
out TRYAGAIN while the slot moves (redis-py follows MOVED and ASK).

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
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from .._errors import ConfigError, SchedulerUnavailable
from . import _redis_connect
from . import _redis_lua as lua
from ._backend import Backend, LeaseRecord, QuotaState
from ._memory import MemoryBackend
from ._redis_connect import Topology, reason, text, unreachable
from ._redis_releases import Releases
from ._rules import Admission, Blocked, Decision, Exhausted, Granted, Why

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

__all__ = ["RELEASE_CHANNEL", "RedisBackend"]

log = logging.getLogger("wolkvox_async.scheduler.redis")
T = TypeVar("T")

RELEASE_CHANNEL = "wolkvox:released"
RESHARD_PATIENCE = 10.0
"""Seconds a script waits for a Cluster slot that is being moved (TRYAGAIN)."""
_EPOCH = date(1970, 1, 1)


def _day_number(day: str) -> int:
    return (date.fromisoformat(day) - _EPOCH).days


def _day_text(number: int) -> str:
    return (_EPOCH + timedelta(days=number)).isoformat()


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
    ) -> None:
        """``url``: a Redis URL (see ``_redis_connect``) or a redis-py asyncio client."""
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
        self._links: dict[asyncio.AbstractEventLoop, tuple[Any, list[Any], dict[str, Any]]] = {}
        self.releases = Releases(lambda: self._client()[0], RELEASE_CHANNEL, cluster=self.cluster)
        self._bases: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._lease_prefix = f"r{os.getpid()}-{os.urandom(3).hex()}-"
        self._warned = False
        self._epochs: dict[str, str] = {}
        self.lost: set[str] = set()
        """The ledger epoch last seen per operation (a change means the state was lost)."""

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        """``redis://``, ``redis+cluster://`` or ``redis+sentinel://`` (``?fallback=memory``
        to fall back when unreachable)."""
        return cls(url)

    # ---- plumbing -----------------------------------------------------------------------

    def _client(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        link = self._links.get(loop)
        if link is None:
            client, owned = self.target.connect()
            scripts = {
                name: client.register_script(getattr(lua, name))
                for name in ("ADMIT", "RELEASE", "SET_STATE", "SET_QUOTA", "IN_FLIGHT")
            }
            link = self._links[loop] = (client, owned, scripts)
        return link[0], link[2]

    def _base(self, operation: str) -> str:
        """The operation's keys share this prefix and its hash tag: one slot on a Cluster.
        Hashed once per operation (an admission names four of its keys)."""
        base = self._bases.get(operation)
        if base is None:
            digest = hashlib.sha256(operation.encode()).hexdigest()[:16]
            base = self._bases[operation] = f"{self.prefix}:{{op{digest}}}"
        return base

    def _keys(self, operation: str, token: str) -> tuple[str, str, str]:
        base = self._base(operation)
        return f"{base}:leases:{token}", f"{base}:state:{token}", f"{base}:quota"

    def _epoch_key(self, operation: str) -> str:
        return f"{self._base(operation)}:epoch"

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
        leases, state, quota = self._keys(req.operation, req.token)
        lease_id = f"{self._lease_prefix}{next(self._ids)}"
        offset = req.tz.utcoffset(None)
        tz_seconds = 0 if offset is None else int(offset.total_seconds())
        args = [
            lease_id,
            -1 if req.limit is None else req.limit,
            req.cap,
            req.lease_ttl,
            req.poll_interval,
            "1" if req.poll_key else "0",
            tz_seconds,
            "1" if req.corrects_quota else "0",
            self._epochs.get(req.operation, ""),
            os.urandom(8).hex(),
            req.reserve,
            repr(req.reserve_fraction),
            "1" if self.cluster else "0",
        ]
        keys = [leases, state, quota, self._stamp_key(req.operation, req.poll_key)]
        keys.append(self._epoch_key(req.operation))
        fallback = self.fallback
        fall = (lambda: fallback.admit(req, now)) if fallback is not None else None
        if self.cluster:
            self.releases.join(self._channel(req.operation))
        reply = await self._guard(lambda: self._run("ADMIT", keys, args), fall)
        if isinstance(reply, tuple):
            return reply  # from the fallback
        known, epoch = self._epochs.get(req.operation), reply[-1]
        if epoch != known and (known is not None or epoch.endswith("!")):
            self.lost.add(req.operation)  # its count restarted: the client re-reads it
            log.warning(
                "the Redis ledger of operation %s was lost (restart, flush or failover): "
                "nothing admitted until calls it knew of must be over",
                req.operation,
            )
        self._epochs[req.operation] = epoch
        kind = reply[0]
        if kind == "E":
            used, limit, resets = int(reply[1]), int(reply[2]), float(reply[3])
            return Exhausted(used, limit, resets, reserved=int(reply[5])), None
        if kind == "B":
            retry = float(reply[2])
            return Blocked(Why(reply[1]), None if retry < 0 else retry), None
        lease = LeaseRecord(
            id=lease_id,
            token=req.token,
            operation=req.operation,
            day=_day_text(int(reply[2])),
            poll_key=req.poll_key,
        )
        full = float(reply[4])
        return Granted(expires=float(reply[1]), full_until=None if full < 0 else full), lease

    async def release(
        self,
        lease: LeaseRecord,
        now: float,
        *,
        hold_until: float | None = None,
        refund: bool = False,
        unstamp: bool = False,
        cap_for: float = 0.0,
        pause_for: float = 0.0,
        spent: bool = False,
    ) -> None:
        """End or hold the lease, undo what was asked, apply what the server said, and
        publish the release: one script (see :meth:`Backend.release`)."""
        if self.fallback is not None and not lease.id.startswith("r"):
            await self.fallback.release(
                lease,
                now,
                hold_until=hold_until,
                refund=refund,
                unstamp=unstamp,
                cap_for=cap_for,
                pause_for=pause_for,
                spent=spent,
            )
            return
        leases, state, quota = self._keys(lease.operation, lease.token)
        hold = 0.0 if hold_until is None else hold_until - now  # relative: Redis has the clock
        args = [
            lease.id,
            hold,
            "1" if refund else "0",
            "1" if unstamp else "0",
            _day_number(lease.day),
            self._channel(lease.operation),
            lease.token,
            cap_for,
            pause_for,
            "1" if spent else "0",
            "SPUBLISH" if self.cluster else "PUBLISH",
        ]
        keys = [leases, quota, self._stamp_key(lease.operation, lease.poll_key), state]
        try:
            await self._guard(lambda: self._run("RELEASE", keys, args), None)
        except SchedulerUnavailable:
            # The lease expires by itself (timeout + margin); the answer must not be lost.
            log.warning("Redis unreachable at release; lease %s expires on its own", lease.id)

    async def _set_state(self, token: str, operation: str, field: str, seconds: float) -> None:
        _, state, _ = self._keys(operation, token)
        await self._guard(lambda: self._run("SET_STATE", [state], [field, seconds]), None)

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Cap 1 for ``seconds`` (of Redis time)."""
        await self._set_state(token, operation, "cap_until", seconds)

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Nothing admitted for ``seconds`` (of Redis time)."""
        await self._set_state(token, operation, "paused_until", seconds)

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's numbers for ``day``."""
        _, _, quota = self._keys(operation, "-")
        args = [_day_number(day), used, -1 if limit is None else limit]
        args.append(-1 if since is None else since)
        await self._guard(lambda: self._run("SET_QUOTA", [quota], args), None)

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""
        client, _ = self._client()
        _, _, quota = self._keys(operation, "-")
        number = _day_number(day)
        used, limit = await self._guard(
            lambda: client.hmget(quota, f"used:{number}", f"limit:{number}"), None
        )
        return QuotaState(used=int(used or 0), limit_override=None if limit is None else int(limit))

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases of the token, everywhere."""
        leases, _, _ = self._keys(operation, token)
        return int(await self._guard(lambda: self._run("IN_FLIGHT", [leases], []), None))

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
