"""Release announcements of the Redis backend: every process hears when a lease is freed.

The RELEASE script publishes the token's key; each event loop that waits on a Redis
backend runs one listener task that passes it to the schedulers' callbacks. On one node or
a Sentinel's primary that is one ordinary channel (PUBLISH reaches every subscriber). On a
Cluster, each operation announces on a shard channel in its own slot (SPUBLISH, Redis 7),
so a release message stays on the node that made the decision; the listener joins an
operation's channel when this process first asks about it. Waiters also look again every
second, so a lost message, or a redis-py without asyncio cluster pub/sub (< 8), costs at
most that second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ._redis_connect import text, unreachable

__all__ = ["Releases"]

log = logging.getLogger("wolkvox_async.scheduler.redis")


class Releases:
    """One listener per event loop, relaying release messages to the callbacks."""

    def __init__(self, client: Callable[[], Any], channel: str, *, cluster: bool) -> None:
        self.client = client
        """This loop's redis-py client."""
        self.channel = channel
        self.cluster = cluster
        self.callbacks: list[Callable[[str], None]] = []
        self.channels: dict[str, None] = {}
        """A Cluster's shard channels to listen on, one per operation asked about."""
        self.tasks: dict[asyncio.AbstractEventLoop, asyncio.Task[None]] = {}

    def join(self, channel: str) -> None:
        """Listen on an operation's shard channel too (Cluster)."""
        self.channels.setdefault(channel)

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(token_key)`` on every release; listen in this loop."""
        if callback not in self.callbacks:
            self.callbacks.append(callback)
        loop = asyncio.get_running_loop()
        task = self.tasks.get(loop)
        if task is None or task.done():
            self.tasks[loop] = loop.create_task(self._listen())

    async def stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """End this loop's listener. redis-py (8.1) can swallow a cancel that lands while
        its pub/sub connection is being set up, and the task then waits forever: cancel
        again until it ends (a client closed right after its first call hung on it)."""
        task = self.tasks.pop(loop, None)
        for _ in range(100):  # bounded: 5 s
            if task is None or task.done():
                break
            task.cancel()
            await asyncio.wait([task], timeout=0.05)

    async def _listen(self) -> None:
        delay = 0.1
        while True:
            client = self.client()
            if self.cluster and not hasattr(client, "pubsub"):
                log.info("no asyncio cluster pub/sub in this redis-py: waiters look every second")
                return
            pubsub = client.pubsub()
            try:
                await self._relay(pubsub)
            except unreachable():
                await asyncio.sleep(delay)  # Redis away: the fallback timers keep waiters moving
                delay = min(delay * 2, 5.0)
            else:
                delay = 0.1
            finally:
                await pubsub.aclose()

    async def _relay(self, pubsub: Any) -> None:
        """Pass each release message on, until the connection fails."""
        if not self.cluster:
            await pubsub.subscribe(self.channel)
        joined: set[str] = set()
        while True:
            if self.cluster:
                # The short wait below bounds how long a newly joined channel goes unheard.
                new = [channel for channel in self.channels if channel not in joined]
                if new:
                    await pubsub.ssubscribe(*new)
                    joined.update(new)
                if not joined:
                    await asyncio.sleep(0.25)
                    continue
                message = await pubsub.get_sharded_message(
                    ignore_subscribe_messages=True, timeout=0.25
                )
            else:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                for callback in list(self.callbacks):
                    callback(str(text(message["data"])))
