"""The waiting room of one token: two FIFO lanes, reads waiting out their interval, deadlines.

Cancelled or failed waiters are not searched for and removed (O(n) per cancel, O(n²) for a
crowd); they stay where they are with a done future and are skipped when they reach the top.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

import attrs

from ._rules import Admission

if TYPE_CHECKING:
    from ._clock import Timer
    from ._lease import Lease, Priority

__all__ = ["Queue", "Waiter"]


@attrs.define(eq=False)
class Waiter:
    admission: Admission
    future: asyncio.Future[Lease]
    priority: Priority
    deadline: float | None
    max_wait: float | None
    raise_on_poll: bool = False
    ready_at: float = 0.0
    owner: object = None
    """Who queued it (a client's caller): a client that closes fails its own waiters."""


@attrs.define(eq=False)
class Queue:
    """Everything waiting on one token."""

    lanes: tuple[deque[Waiter], deque[Waiter]] = attrs.field(factory=lambda: (deque(), deque()))
    delayed: list[tuple[float, int, Waiter]] = attrs.field(factory=list)
    deadlines: list[tuple[float, int, Waiter]] = attrs.field(factory=list)
    timer: Timer | None = None
    timer_at: float | None = None
    running: bool = False
    dirty: bool = False
    admitting: bool = False
    """A fast-path admission is being decided."""

    def head(self) -> Waiter | None:
        for lane in self.lanes:
            while lane and lane[0].future.done():
                lane.popleft()  # cancelled or failed while queued: skip lazily
            if lane:
                return lane[0]
        return None

    def waiting(self) -> list[Waiter]:
        found = [w for lane in self.lanes for w in lane]
        found += [w for _, _, w in self.delayed]
        return [w for w in found if not w.future.done()]

    def count(self, priority: Priority) -> int:
        lane = [w for w in self.lanes[priority] if not w.future.done()]
        delayed = [w for _, _, w in self.delayed if w.priority is priority and not w.future.done()]
        return len(lane) + len(delayed)
