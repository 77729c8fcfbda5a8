"""Shared fixtures: a FakeWolkvox on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, reset_shared_state


@pytest.fixture(autouse=True)
def _fresh_scheduler_state() -> None:
    """Each test starts with an empty process-wide scheduler state (quota, leases)."""
    reset_shared_state()


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=3) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWolkvox) -> AsyncIterator[WolkvoxClient]:
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        yield wv
