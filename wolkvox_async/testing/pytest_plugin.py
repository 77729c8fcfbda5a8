"""pytest plugin: the ``fake_wolkvox`` fixture (a running FakeWolkvox on loopback) and
``wolkvox_backend`` (a scheduler backend of the test's own, in memory).

Registered through the ``pytest11`` entry point, so installing ``wolkvox-async[testing]``
makes the fixtures available in any test suite::

    async def test_my_loader(fake_wolkvox, wolkvox_backend):
        async with WolkvoxClient(server=fake_wolkvox.server, token=fake_wolkvox.token,
                                 base_url=fake_wolkvox.url, backend=wolkvox_backend) as wv:
            ...

Neither changes anything process-wide: each test's clients share the state of its
``wolkvox_backend`` and of no other test, and never the user's ledger.

The fixture needs pytest-asyncio; without it, using the fixture fails with a message
saying so, and nothing else in the test session is affected.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ..scheduler import MemoryBackend
from ._server import FakeWolkvox


@pytest.fixture(name="wolkvox_backend")
def _wolkvox_backend() -> MemoryBackend:
    """A MemoryBackend of this test alone (nothing to close): pass it as ``backend=`` to
    the test's clients."""
    return MemoryBackend()


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
        async with FakeWolkvox() as fake:
            yield fake
