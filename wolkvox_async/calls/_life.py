"""A client's life: its scheduler in each event loop, its calls under way, its closing.

A client and its views share one :class:`Life`. The first call in an event loop attaches
it to that loop's scheduler; closing fails the calls still queued for a slot (nothing of
them was sent), wakes the ones resting before a retry, waits for those in flight (their
answers delivered, their slots released as their outcome says), then detaches. The call
path (``_call``) counts its calls in and out here.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from .._errors import ClientClosed
from ..scheduler import scheduler_for

if TYPE_CHECKING:
    from ..scheduler import Backend, Clock, Scheduler, TokenLimits
    from ._transport import Transport

__all__ = ["Life"]

log = logging.getLogger("wolkvox_async.client")


class Life:
    """Whether a client is closed, and its calls in flight (shared with its views)."""

    __slots__ = ("active", "attached", "cached", "closed", "closing", "idle")

    def __init__(self) -> None:
        self.attached: Scheduler | None = None
        """The scheduler attached to (detached once every call, its views' too, is over)."""
        self.cached: tuple[weakref.ref[asyncio.AbstractEventLoop], Scheduler] | None = None
        """The running loop's scheduler: looked up once per loop, not per call."""
        self.closed = False
        self.closing: asyncio.Event | None = None
        """Set when the client closes: calls resting before a retry wake on it."""
        self.active = 0
        """Calls of the client (and its views) begun and not yet ended: queued, being
        admitted, in flight or resting before a retry."""
        self.idle: asyncio.Event | None = None
        """Set when ``active`` falls to 0 while the client closes."""

    def attach(
        self, transport: Transport | None, backend: Backend, clock: Clock, limits: TokenLimits
    ) -> Scheduler:
        """The running loop's scheduler, the token registered, the client attached (the
        last client of a loop to detach closes the backend). Kept for the loop's next
        calls once ``transport`` has been checked for it (before any admission: a session
        of another loop costs nothing); without one (stats, a retry's count), not kept."""
        loop = asyncio.get_running_loop()
        if transport is not None:
            transport.ready()
        scheduler = scheduler_for(backend, clock)
        scheduler.register(limits)
        if self.attached is None:
            self.attached = scheduler.attach()
        if transport is not None:
            self.cached = (weakref.ref(loop), scheduler)
        return scheduler

    async def rest(self, clock: Clock, delay: float) -> None:
        """Sleep ``delay`` before a retry, or until the client closes."""
        if self.closing is None:
            self.closing = asyncio.Event()
        sleep = asyncio.ensure_future(clock.sleep(delay))
        closing = asyncio.ensure_future(self.closing.wait())
        try:
            await asyncio.wait((sleep, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            closing.cancel()

    async def close(self, message: str) -> None:
        """Close: the queued calls fail with ClientClosed(``message``) at once, the resting
        ones wake, those in flight are waited for; then detach from the scheduler."""
        self.closed = True
        if self.closing is not None:
            self.closing.set()  # calls resting before a retry end now
        if self.attached is not None:
            failed = self.attached.fail_queued(self, ClientClosed, message)
            if failed:
                log.info("client closed: %d queued calls failed, nothing of them sent", failed)
        try:
            if self.active:  # the failed ones end at once; those in flight when answered
                self.idle = asyncio.Event()
                await self.idle.wait()
        finally:
            # Detached once the calls in flight are released (theirs, its views' too).
            attached, self.attached, self.cached = self.attached, None, None
            if attached is not None:
                await attached.detach()
