"""pytest plugin: the ``fake_wolkvox`` fixture (a running FakeWolkvox on loopback).

Registered through the ``pytest11`` entry point, so installing ``wolkvox-async[testing]``
makes the fixture available in any test suite::

    async def test_my_loader(fake_wolkvox):
        async with WolkvoxClient(server=fake_wolkvox.server, token=fake_wolkvox.token,
                                 base_url=fake_wolkvox.url) as wv:
            ...

The fixture needs pytest-asyncio; without it, using the fixture fails with a message
saying so, and nothing else in the test session is affected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..scheduler._backend import isolate_for_tests as reset_shared_state
from ._server import FakeWolkvox

try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio

    @pytest.fixture(name="fake_wolkvox")
    def _fake_wolkvox_unavailable() -> None:
        """Unavailable: pytest-asyncio is missing."""
        pytest.fail("the fake_wolkvox fixture needs pytest-asyncio: pip install pytest-asyncio")

else:

    @pytest_asyncio.fixture(name="fake_wolkvox")
    async def _fake_wolkvox() -> AsyncIterator[FakeWolkvox]:
        """A FakeWolkvox listening on 127.0.0.1 (operation "0014", 3 licenses)."""
        reset_shared_state()
        async with FakeWolkvox() as fake:
            yield fake
