"""Shared fixtures: a FakeWolkvox on loopback and a client pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=3) as server:
        yield server


@pytest.fixture
async def client(fake: FakeWolkvox) -> AsyncIterator[WolkvoxClient]:
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        yield wv
