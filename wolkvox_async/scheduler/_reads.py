"""Sharing the result of an identical read made within its polling interval.

With ``poll_policy="share"`` (the default) a report or information read that was made, or
is being made, less than ``poll_interval`` ago by any client of the token in this process
returns that read's result instead of calling again: the docs ask to consume such
information "every 5 minutes" (wolkvox-api.md §3.1), and every call costs quota.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from ._clock import Clock

__all__ = ["ReadCache"]

T = TypeVar("T")


class _LeaderGone(Exception):
    """The read others were sharing did not produce a result."""


class ReadCache:
    """Recent and in-flight reads, by poll key."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._reads: dict[str, tuple[float, asyncio.Future[Any]]] = {}

    async def get(self, poll_key: str) -> Any | None:
        """The result of an identical read made within its interval (or in flight), if any."""
        entry = self._reads.get(poll_key)
        if entry is None:
            return None
        free_at, future = entry
        if future.done() and self.clock.time() >= free_at:
            del self._reads[poll_key]
            return None
        try:
            return await asyncio.shield(future)
        except _LeaderGone:
            return None  # the identical read failed or was cancelled: make our own

    async def run(self, poll_key: str, interval: float, read: Awaitable[T]) -> T:
        """Run ``read`` and let identical reads within ``interval`` share its result."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._reads[poll_key] = (self.clock.time() + interval, future)
        try:
            result = await read
        except BaseException:
            self._reads.pop(poll_key, None)
            future.set_exception(_LeaderGone())
            future.exception()  # retrieved: nobody need be waiting
            raise
        future.set_result(result)
        if len(self._reads) > 1_000:
            now = self.clock.time()
            self._reads = {k: v for k, v in self._reads.items() if v[0] > now or not v[1].done()}
        return result
