"""The Redis backend: many processes on many hosts share one token's slots and quota.

Every admission, release and state change is one Lua script (``_redis_lua``) that reads
Redis TIME, so no host's clock takes part in a decision, and touches keys under one hash
tag (the operation's), so it also runs on Redis Cluster. Leases live in a sorted set
scored by expiry and are reclaimed inside the admitting script: a host that dies holding a
lease costs that slot until the lease expires (call timeout + 5 s). Releases are published
on ``wolkvox:released``; waiting schedulers in every process wake on the message and look
again every second anyway, in case one is lost. Tokens appear only as hashes.

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
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import ConfigError, SchedulerUnavailable
from . import _redis_lua as lua
from ._backend import Backend, LeaseRecord, QuotaState
from ._memory import MemoryBackend
from ._rules import Admission, Blocked, Decision, Exhausted, Granted, Why

__all__ = ["RELEASE_CHANNEL", "RedisBackend"]

log = logging.getLogger("wolkvox_async.scheduler.redis")
T = TypeVar("T")

RELEASE_CHANNEL = "wolkvox:released"
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
        url: str,
        *,
        prefix: str = "wolkvox",
        fallback: Backend | None = None,
        time_offset: float = 0.0,
    ) -> None:
        try:
            import redis.asyncio  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the Redis backend needs redis-py: pip install 'wolkvox-async[redis]'"
            ) from None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        wanted = query.pop("fallback", None)
        if wanted not in (None, "memory"):
            raise ConfigError(f"fallback must be 'memory', got {wanted!r}")
        if fallback is None and wanted == "memory":
            fallback = MemoryBackend()
        self.url = urlunsplit(parts._replace(query=urlencode(query)))
        self.where = f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}"
        self.prefix = prefix
        self.fallback = fallback
        self.time_offset = time_offset
        """Added to Redis TIME; zero except in tests that move time by hand."""
        self._clients: dict[asyncio.AbstractEventLoop, Any] = {}
        self._scripts: dict[asyncio.AbstractEventLoop, dict[str, Any]] = {}
        self._listeners: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}
        self._callbacks: list[Callable[[str], None]] = []
        self._ids = itertools.count(1)
        self._lease_prefix = f"r{os.getpid()}-{os.urandom(3).hex()}-"
        self._warned = False
        self._epochs: dict[str, str] = {}
        self.lost: set[str] = set()
        """The ledger epoch last seen per operation (a change means the state was lost)."""

    @classmethod
    def from_url(cls, url: str) -> RedisBackend:
        """``redis://host:6379/0`` (``?fallback=memory`` to fall back when unreachable)."""
        return cls(url)

    # ---- plumbing -----------------------------------------------------------------------

    def _client(self) -> tuple[Any, dict[str, Any]]:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            import redis.asyncio as aioredis

            client = aioredis.from_url(
                self.url, socket_connect_timeout=2.0, socket_timeout=5.0, decode_responses=True
            )
            self._clients[loop] = client
            self._scripts[loop] = {
                name: client.register_script(getattr(lua, name))
                for name in ("ADMIT", "RELEASE", "SET_STATE", "SET_QUOTA", "IN_FLIGHT")
            }
        return client, self._scripts[loop]

    def _keys(self, operation: str, token: str) -> tuple[str, str, str]:
        tag = "{op" + hashlib.sha256(operation.encode()).hexdigest()[:16] + "}"
        base = f"{self.prefix}:{tag}"
        return f"{base}:leases:{token}", f"{base}:state:{token}", f"{base}:quota"

    def _epoch_key(self, operation: str) -> str:
        tag = "{op" + hashlib.sha256(operation.encode()).hexdigest()[:16] + "}"
        return f"{self.prefix}:{tag}:epoch"

    def _stamp_key(self, operation: str, poll_key: str | None) -> str:
        tag = "{op" + hashlib.sha256(operation.encode()).hexdigest()[:16] + "}"
        return f"{self.prefix}:{tag}:stamp:{poll_key or '-'}"

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        _, scripts = self._client()
        return await scripts[script](keys=keys, args=[self.time_offset, *args])

    async def _guard(
        self, step: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]] | None
    ) -> T:
        """Run a Redis step; unreachable Redis fails closed, or falls back if allowed. A
        dropped connection (a restart, ``CLIENT KILL``) is tried once more at once, on a new
        one: only a Redis that stays away is a failure."""
        import redis.exceptions

        try:
            try:
                result = await step()
            except redis.exceptions.ConnectionError:
                result = await step()
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError) as exc:
            if fallback is None:
                raise SchedulerUnavailable(
                    backend=self.where, reason=f"{type(exc).__name__}: {exc}"
                ) from None
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
        ]
        keys = [leases, state, quota, self._stamp_key(req.operation, req.poll_key)]
        keys.append(self._epoch_key(req.operation))
        fallback = self.fallback
        fall = (lambda: fallback.admit(req, now)) if fallback is not None else None
        reply = await self._guard(lambda: self._run("ADMIT", keys, args), fall)
        if isinstance(reply, tuple):
            return reply  # from the fallback
        known = self._epochs.get(req.operation)
        if known is not None and known != reply[-1]:
            self.lost.add(req.operation)  # its count restarted: the client re-reads it
            log.warning(
                "the Redis ledger of operation %s was lost (restart, flush or failover): "
                "nothing admitted until calls it knew of must be over",
                req.operation,
            )
        self._epochs[req.operation] = reply[-1]
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
            RELEASE_CHANNEL,
            lease.token,
            cap_for,
            pause_for,
            "1" if spent else "0",
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
        if callback not in self._callbacks:
            self._callbacks.append(callback)
        loop = asyncio.get_running_loop()
        task = self._listeners.get(loop)
        if task is None or task.done():
            self._listeners[loop] = loop.create_task(self._listen())

    async def _listen(self) -> None:
        import redis.exceptions

        delay = 0.1
        while True:
            client, _ = self._client()
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(RELEASE_CHANNEL)
                delay = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        for callback in list(self._callbacks):
                            callback(str(message["data"]))
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
                await asyncio.sleep(delay)  # Redis away: the fallback timers keep waiters moving
                delay = min(delay * 2, 5.0)
            finally:
                await pubsub.aclose()

    async def close(self) -> None:
        """Stop listening and close this loop's connections (reopened on next use)."""
        loop = asyncio.get_running_loop()
        task = self._listeners.pop(loop, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        client = self._clients.pop(loop, None)
        self._scripts.pop(loop, None)
        if client is not None:
            await client.aclose()
