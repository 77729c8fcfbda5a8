"""One client or backend across event loops: ``asyncio.run`` called twice, threads each
with their own loop. A slot freed in one loop wakes waiters in the others; a client used
from a new loop works there (its own session), or, given a session of another loop,
says so before anything is admitted."""

from __future__ import annotations

import asyncio
import threading
import time

import aiohttp
import pytest

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend
from wolkvox_async.testing import FakeWolkvox


def test_a_client_used_again_in_a_second_asyncio_run(served: FakeWolkvox) -> None:
    """Its session belongs to the first loop: a clear ConfigError before anything is
    admitted or counted (it was "Event loop is closed", a quota unit spent, a slot held)."""
    backend = MemoryBackend()

    def client() -> WolkvoxClient:
        return WolkvoxClient(
            server=served.server, token=served.token, base_url=served.url, backend=backend
        )

    wv = client()

    async def lookup(using: WolkvoxClient) -> object:
        return await using.find_record(campaign_id="1", customer_id="1")

    async def first() -> object:
        return await lookup(wv)

    async def second() -> int:
        with pytest.raises(w.ConfigError, match="another event loop"):
            await lookup(wv)
        async with client() as fresh:  # one client per loop: the backend is shared
            assert await lookup(fresh) == ()
            stats = await fresh.scheduler_stats()
        assert stats.in_flight == 0
        return stats.quota_used

    loop = asyncio.new_event_loop()  # (kept open only so the test can close it cleanly)
    assert loop.run_until_complete(first()) == ()
    assert asyncio.run(second()) == 2  # the refused call took no quota unit
    assert served.stats.requests == 2
    loop.run_until_complete(wv.close())
    loop.close()


def test_a_session_of_another_loop_is_refused_before_admission(served: FakeWolkvox) -> None:
    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(make())
    wv = WolkvoxClient(
        server=served.server,
        token=served.token,
        base_url=served.url,
        session=session,
        backend=MemoryBackend(),
    )

    async def lookup() -> object:
        return await wv.find_record(campaign_id="1", customer_id="1")

    assert loop.run_until_complete(lookup()) == ()

    async def elsewhere() -> int:
        with pytest.raises(w.ConfigError, match="another event loop"):
            await lookup()
        return (await wv.scheduler_stats()).quota_used

    assert asyncio.run(elsewhere()) == 1  # the refused call took no quota unit
    assert served.stats.requests == 1
    loop.run_until_complete(session.close())
    loop.close()


def test_a_session_of_another_loop_is_refused_on_every_call_there(served: FakeWolkvox) -> None:
    """The check runs with the first call of each loop (the call path keeps the loop's
    scheduler): asking for stats there first, or a refused call, does not skip it."""

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    loop = asyncio.new_event_loop()
    session = loop.run_until_complete(make())
    wv = WolkvoxClient(
        server=served.server,
        token=served.token,
        base_url=served.url,
        session=session,
        backend=MemoryBackend(),
    )
    loop.run_until_complete(wv.find_record(customer_id="1"))

    async def elsewhere() -> None:
        await wv.scheduler_stats()
        for _ in range(2):
            with pytest.raises(w.ConfigError, match="another event loop"):
                await wv.find_record(customer_id="1")

    asyncio.run(elsewhere())
    assert served.stats.requests == 1
    loop.run_until_complete(session.close())
    loop.close()


def test_a_slot_freed_in_one_loop_wakes_a_waiter_in_another(served: FakeWolkvox) -> None:
    served.latency = 0.5
    backend = MemoryBackend()
    done: dict[str, float] = {}
    started = time.monotonic()

    def run(name: str, calls: int, delay: float) -> None:
        async def main() -> None:
            await asyncio.sleep(delay)
            async with WolkvoxClient(
                server=served.server, token=served.token, base_url=served.url, backend=backend
            ) as wv:
                await asyncio.gather(
                    *(wv.find_record(campaign_id="1", customer_id=str(i)) for i in range(calls))
                )
            done[name] = time.monotonic() - started

        asyncio.run(main())

    holder = threading.Thread(target=run, args=("holder", 2, 0.0))
    waiter = threading.Thread(target=run, args=("waiter", 1, 0.1))
    holder.start()
    waiter.start()
    holder.join(30)
    waiter.join(30)
    assert done["waiter"] < 2.5, done  # woken by the other loop's release, not at expiry
    assert served.stats.peak_in_flight[served.token] <= 2
    assert served.stats.refusals["simultaneous"] == 0
