"""The per-token scheduler: admission for concurrency, daily quota and polling interval.

Public pieces: :class:`Priority`, the backends (:class:`MemoryBackend`,
:class:`SQLiteBackend`, :class:`RedisBackend`, or a URL through :func:`resolve_backend`,
kept in :data:`BACKENDS`, the one cache of backends made from URLs), the clocks
(:class:`SystemClock`, :class:`VirtualClock` for tests), :class:`SchedulerStats`, and
:func:`ledger_status` (what a ledger's processes hold and wait for: :class:`LedgerStatus`). A
backend object owns its schedulers, one per event loop (:class:`Schedulers`).
"""

from __future__ import annotations

from ._backend import Backend as Backend
from ._backend import LeaseRecord as LeaseRecord
from ._backend import QuotaState as QuotaState
from ._backends import BACKENDS as BACKENDS
from ._backends import BackendCache as BackendCache
from ._backends import resolve_backend as resolve_backend
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
from ._schedulers import Schedulers as Schedulers
from ._schedulers import scheduler_for as scheduler_for
from ._schedulers import schedulers_of as schedulers_of
from ._slot import Slot as Slot
from ._sqlite import SQLiteBackend as SQLiteBackend
from ._status import HeldSlot as HeldSlot
from ._status import LedgerStatus as LedgerStatus
from ._status import OperationStatus as OperationStatus
from ._status import ProcessStatus as ProcessStatus
from ._status import TokenStatus as TokenStatus
from ._status import ledger_status as ledger_status

__all__ = [
    "BACKENDS",
    "CAP_COOLDOWN",
    "SYSTEM_CLOCK",
    "Admission",
    "Backend",
    "BackendCache",
    "Clock",
    "Feedback",
    "HeldSlot",
    "Lease",
    "LeaseRecord",
    "LedgerStatus",
    "MemoryBackend",
    "OperationStatus",
    "Outcome",
    "Priority",
    "ProcessStatus",
    "QuotaState",
    "RedisBackend",
    "Release",
    "SQLiteBackend",
    "Scheduler",
    "SchedulerStats",
    "Schedulers",
    "Slot",
    "SystemClock",
    "TokenLimits",
    "TokenStatus",
    "VirtualClock",
    "ledger_status",
    "resolve_backend",
    "scheduler_for",
    "schedulers_of",
    "token_key",
]

SYSTEM_CLOCK = SystemClock()
"""The clock clients use unless given one; shared, so their schedulers are too."""
