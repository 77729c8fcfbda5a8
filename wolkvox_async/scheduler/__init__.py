"""The per-token scheduler: admission for concurrency, daily quota and polling interval.

Public pieces: :class:`Priority`, the backends (:class:`MemoryBackend`,
:class:`SQLiteBackend`, or a URL through :func:`resolve_backend`), the clocks
(:class:`SystemClock`, :class:`VirtualClock` for tests) and :class:`SchedulerStats`.
"""

from __future__ import annotations

import asyncio
import threading
import weakref

from ._backend import Backend as Backend
from ._backend import LeaseRecord as LeaseRecord
from ._backend import QuotaState as QuotaState
from ._backend import resolve_backend as resolve_backend
from ._clock import Clock as Clock
from ._clock import SystemClock as SystemClock
from ._clock import VirtualClock as VirtualClock
from ._lease import Feedback as Feedback
from ._lease import Lease as Lease
from ._lease import Outcome as Outcome
from ._lease import Priority as Priority
from ._lease import SchedulerStats as SchedulerStats
from ._memory import MemoryBackend as MemoryBackend
from ._redis import RedisBackend as RedisBackend
from ._rules import CAP_COOLDOWN as CAP_COOLDOWN
from ._rules import Admission as Admission
from ._rules import Release as Release
from ._rules import TokenLimits as TokenLimits
from ._rules import token_key as token_key
from ._scheduler import Scheduler as Scheduler
from ._slot import Slot as Slot
from ._sqlite import SQLiteBackend as SQLiteBackend

__all__ = [
    "CAP_COOLDOWN",
    "SYSTEM_CLOCK",
    "Admission",
    "Backend",
    "Clock",
    "Feedback",
    "Lease",
    "LeaseRecord",
    "MemoryBackend",
    "Outcome",
    "Priority",
    "QuotaState",
    "RedisBackend",
    "Release",
    "SQLiteBackend",
    "Scheduler",
    "SchedulerStats",
    "Slot",
    "SystemClock",
    "TokenLimits",
    "VirtualClock",
    "resolve_backend",
    "scheduler_for",
    "token_key",
]

SYSTEM_CLOCK = SystemClock()
"""The clock clients use unless given one; shared, so their schedulers are too."""

_BY_LOOP: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[int, int], Scheduler]] = (
    weakref.WeakKeyDictionary()
)


_SIBLINGS: dict[int, weakref.WeakSet[Scheduler]] = {}
_SIBLINGS_LOCK = threading.Lock()


def scheduler_for(backend: Backend, clock: Clock) -> Scheduler:
    """The scheduler of ``backend`` and ``clock`` in the running loop.

    Clients with the same backend and clock share it, so the queues, priorities and
    wake-ups of one token are one, however many clients use the token.
    """
    loop = asyncio.get_running_loop()
    schedulers = _BY_LOOP.setdefault(loop, {})
    key = (id(backend), id(clock))
    found = schedulers.get(key)
    if found is None or found.backend is not backend or found.clock is not clock:
        found = schedulers[key] = Scheduler(backend, clock)
        # Schedulers of one backend in other event loops (threads) hear of its releases.
        with _SIBLINGS_LOCK:
            found.siblings = _SIBLINGS.setdefault(id(backend), weakref.WeakSet())
            found.siblings.add(found)
    return found
