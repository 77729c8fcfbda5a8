"""FakeWolkvox on a thread and event loop of its own, as a real server is elsewhere: for
demos, and for tests that run loops (or processes) of their own beside it."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from ._server import FakeWolkvox

__all__ = ["serving_in_thread"]


@contextlib.contextmanager
def serving_in_thread(**settings: Any) -> Iterator[FakeWolkvox]:
    """A running FakeWolkvox(**settings) served from a background thread.

    Its work on a request (reading 10,000 records, say) does not stall the caller's event
    loop, so a client's two calls overlap as they would against Wolkvox. Read its state
    (``fake.stats``, ``fake.campaign(...)``) between calls, not while they run.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="FakeWolkvox", daemon=True)
    thread.start()
    fake = FakeWolkvox(**settings)
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
