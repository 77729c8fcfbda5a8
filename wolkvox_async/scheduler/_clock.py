"""Time, injected: wall time, timers, sleeps and timeouts behind one small interface.

Every time-based rule of the library (the 60 s call timeout, the 5-minute polling
interval, the midnight quota reset, lease expiry, backoff) reads time and waits through a
:class:`Clock`. :class:`SystemClock` is the real one; :class:`VirtualClock` only moves when a
test calls :meth:`VirtualClock.advance`, so those rules are tested in milliseconds.
Wall time is epoch seconds: leases and stamps are shared between processes (SQLite,
Redis), and only wall time means the same thing in two processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Timer", "VirtualClock"]


class Timer(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None:
        """Do not run the callback."""
        ...


class Clock(Protocol):
    """The time source of the scheduler and the client."""

    def time(self) -> float:
        """Wall time, in epoch seconds."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` at wall time ``when`` (soon, if it is past)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...

    def timeout(self, seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
        """Raise TimeoutError in the block if it runs longer than ``seconds``."""
        ...


class SystemClock:
    """The real clock: ``time.time()`` and the running event loop's timers."""

    time = staticmethod(time.time)
    """Wall time, in epoch seconds (the C function itself: the scheduler reads it per call)."""

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Schedule on the running loop, converting wall time to loop time."""
        loop = asyncio.get_running_loop()
        return loop.call_later(max(0.0, when - time.time()), callback)

    async def sleep(self, seconds: float) -> None:
        """``asyncio.sleep``."""
        await asyncio.sleep(seconds)

    def timeout(self, seconds: float) -> contextlib.AbstractAsyncContextManager[object]:
        """``asyncio.timeout``."""
        return asyncio.timeout(seconds)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A clock that moves only when told to; for tests of time-based rules.

    ``await clock.advance(60)`` runs, in time order, every timer and sleep due in the next
    60 virtual seconds, letting the event loop run between them.
    """

    def __init__(self, start: float | datetime = 1_700_000_000.0) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._heap: list[tuple[float, int, _VirtualTimer]] = []
        self._seq = itertools.count()
        self._sleeping = 0

    def time(self) -> float:
        """Virtual wall time, in epoch seconds."""
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Schedule ``callback`` at virtual time ``when``."""
        timer = _VirtualTimer(callback)
        heapq.heappush(self._heap, (when, next(self._seq), timer))
        return timer

    @property
    def pending(self) -> int:
        """Timers scheduled and not cancelled (tests count them)."""
        return sum(1 for _, _, t in self._heap if not t.cancelled)

    @property
    def next_due(self) -> float | None:
        """When the earliest timer not cancelled falls due (None: nothing scheduled)."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    @property
    def sleeping(self) -> int:
        """Tasks inside :meth:`sleep` (a retry backoff, say): waiting on virtual time only."""
        return self._sleeping

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time has moved ``seconds`` forward."""
        future = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(self._now + max(0.0, seconds), wake)
        self._sleeping += 1
        try:
            await future
        finally:
            self._sleeping -= 1
            timer.cancel()

    @contextlib.asynccontextmanager
    async def timeout(self, seconds: float) -> AsyncIterator[None]:
        """Cancel the current task after ``seconds`` of virtual time; raise TimeoutError."""
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def fire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        timer = self.call_at(self._now + seconds, fire)
        try:
            yield
        except asyncio.CancelledError:
            if fired and task.uncancel() == 0:
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing what falls due, in order."""
        target = self._now + seconds
        await _settle()
        while self._heap and self._heap[0][0] <= target:
            when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
            await _settle()
        self._now = target
        await _settle()

    def set(self, moment: float | datetime) -> None:
        """Jump to ``moment`` without firing timers (a wall-clock jump)."""
        self._now = moment.timestamp() if isinstance(moment, datetime) else float(moment)


async def _settle(rounds: int = 20) -> None:
    # Let callbacks and the tasks they wake run before the next timer fires.
    for _ in range(rounds):
        await asyncio.sleep(0)
