"""What a backend object owns beside its ledger: its schedulers, one per event loop.

A :class:`Scheduler` serves one event loop (its queues, futures and wake-ups belong to
that loop), so one backend used from several loops (threads) has one scheduler in each;
clients of one backend and clock in one loop share theirs, so the queues, priorities and
wake-ups of a token are one however many clients use it. The schedulers of one backend in
other loops hear of its releases (their *siblings*). The bookkeeping lives on the backend
object (its ``schedulers`` attribute, a :class:`Schedulers`), not in this module: a backend
dropped is forgotten with everything it served, and nothing is process-wide.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import TYPE_CHECKING, Any, TypeVar, cast

from .._errors import ConfigError

if TYPE_CHECKING:
    from ._backend import Backend
    from ._clock import Clock
    from ._scheduler import Scheduler

__all__ = ["Schedulers", "scheduler_for", "schedulers_of"]

T = TypeVar("T")

_MAKING = threading.Lock()
"""Held while a backend of the caller's own making is given its :class:`Schedulers` (two
threads' first calls at once must not give it two). A lock, not a registry: it keeps no
state."""


class Schedulers:
    """The schedulers of one backend, per event loop and clock, and what else its users
    keep once per loop (the bulk layer's pace gate) or once per backend."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # event loops of other threads ask at once
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._siblings: dict[int, weakref.WeakSet[Scheduler]] = {}
        self._shared: dict[type[Any], Any] = {}

    def get(self, backend: Backend, clock: Clock) -> Scheduler:
        """The scheduler of ``backend`` and ``clock`` in the running loop (made at first)."""
        from ._scheduler import Scheduler

        loop = asyncio.get_running_loop()
        with self._lock:
            mine = self._by_loop.setdefault(loop, {})
            # Keyed by the backend too: a wrapper that forwards its attributes to another
            # backend (a test's time shift) shares this object with it, not its scheduler.
            key = (id(backend), id(clock))
            found = cast("Scheduler | None", mine.get(key))
            if found is None or found.backend is not backend or found.clock is not clock:
                found = mine[key] = Scheduler(backend, clock)
                found.siblings = self._siblings.setdefault(id(backend), weakref.WeakSet())
                found.siblings.add(found)
            return found

    def here(self) -> list[Scheduler]:
        """The schedulers made in the running loop (none is made)."""
        from ._scheduler import Scheduler

        loop = asyncio.get_running_loop()
        with self._lock:
            mine = self._by_loop.get(loop, {})
            return [found for found in mine.values() if isinstance(found, Scheduler)]

    def per_loop(self, kind: type[T]) -> T:
        """The running loop's ``kind()``, made once per loop for every user of the backend."""
        loop = asyncio.get_running_loop()
        with self._lock:
            mine = self._by_loop.setdefault(loop, {})
            found = mine.get(kind)
            if found is None:
                found = mine[kind] = kind()
            return cast("T", found)

    def shared(self, kind: type[T]) -> T:
        """The backend's ``kind()``, made once for every loop and user of it."""
        with self._lock:
            found = self._shared.get(kind)
            if found is None:
                found = self._shared[kind] = kind()
            return cast("T", found)


def schedulers_of(backend: Backend) -> Schedulers:
    """``backend.schedulers``; a backend of the caller's own making gets one at first use
    (so two clients given that object share its schedulers, as with ours)."""
    found = getattr(backend, "schedulers", None)
    if isinstance(found, Schedulers):
        return found
    with _MAKING:
        found = getattr(backend, "schedulers", None)
        if not isinstance(found, Schedulers):
            found = Schedulers()
            try:
                backend.schedulers = found  # type: ignore[attr-defined]
            except AttributeError:
                raise ConfigError(
                    f"backend {type(backend).__name__} must let the client set its "
                    "'schedulers' attribute (where its per-loop schedulers live); add "
                    "'schedulers' to its __slots__"
                ) from None
        return found


def scheduler_for(backend: Backend, clock: Clock) -> Scheduler:
    """The scheduler of ``backend`` and ``clock`` in the running loop.

    Clients with the same backend and clock share it, so the queues, priorities and
    wake-ups of one token are one, however many clients use the token.
    """
    return schedulers_of(backend).get(backend, clock)
