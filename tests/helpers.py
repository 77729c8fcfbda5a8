"""Test helpers shared by several modules."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse
from yarl import URL


class CompatResponse(ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument
    (pnuckowski/aioresponses#289); supply a stand-in for the already-sent request."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Let real I/O happen (virtual time stands still) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition():
        assert loop.time() < end, "condition never held"
        await asyncio.sleep(0.002)
