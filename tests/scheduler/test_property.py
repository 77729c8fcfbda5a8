"""Property: whatever mix of callers, priorities, cancellations, server faults and clock
jumps, the server never sees more than the cap in flight per token, is never asked for more
than the quota, and every call ends with a result or a typed error.

Against FakeWolkvox over loopback. The client's time is a VirtualClock that a ticker moves
one second per real millisecond (so 60 s timeouts and lease holds happen), and the server's
quota day follows it. Server-side slowness is real time, kept far below the lease hold.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wolkvox_async as w
from wolkvox_async import Priority, WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend
from wolkvox_async.testing import FakeWolkvox, Fault, VirtualClock

calls = st.lists(
    st.tuples(
        st.integers(0, 1),  # token
        st.sampled_from(list(Priority)),
        st.sampled_from(["info", "report", "start", "add"]),
        st.one_of(st.none(), st.floats(0.0, 0.02)),  # cancel after (real seconds)
    ),
    min_size=1,
    max_size=30,
)
faults = st.lists(
    st.sampled_from([Fault.HTTP_500, Fault.HTTP_503, Fault.RESET, Fault.SLOW, Fault.GARBAGE]),
    max_size=6,
)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    calls=calls,
    faults=faults,
    quota=st.integers(3, 40),
    cap=st.sampled_from([1, 2]),
    client_knows_quota=st.booleans(),
    jumps=st.lists(st.integers(1, 30_000), max_size=3),
)
def test_limits_hold_under_any_mix(
    calls: list[tuple[int, Priority, str, float | None]],
    faults: list[Fault],
    quota: int,
    cap: int,
    client_knows_quota: bool,
    jumps: list[int],
) -> None:
    asyncio.run(_scenario(calls, faults, quota, cap, client_knows_quota, jumps))


async def _scenario(
    calls: list[tuple[int, Priority, str, float | None]],
    faults: list[Fault],
    quota: int,
    cap: int,
    client_knows_quota: bool,
    jumps: list[int],
) -> None:
    clock = VirtualClock(datetime(2026, 11, 24, 4, 0, tzinfo=UTC))  # 23:00 in Bogota
    backend = MemoryBackend()
    async with FakeWolkvox(
        daily_quota=quota,
        latency=(0.0, 0.002),
        clock=lambda: datetime.fromtimestamp(clock.time(), UTC),
    ) as fake:
        camp = fake.create_campaign()
        tokens = [fake.token, fake.add_token()]
        for fault in faults:
            fake.inject(fault, delay=0.02)
        clients = [
            WolkvoxClient(
                server=fake.server,
                token=token,
                base_url=fake.url,
                backend=backend,
                clock=clock,
                max_concurrency=cap,
                daily_quota=quota if client_knows_quota else None,
                timeout=5.0,
                poll_policy="wait",
            )
            for token in tokens
        ]

        def run(token: int, priority: Priority, kind: str) -> Any:
            wv = clients[token].with_options(priority=priority)
            if kind == "info":
                return wv.token_info()
            if kind == "report":
                return wv.campaigns(camp.id)
            if kind == "start":
                return wv.start_campaign(camp.id)
            return wv.add_record(camp.id, [w.Record(customer_id="1")])

        loop = asyncio.get_running_loop()
        tasks = []
        for token, priority, kind, cancel_after in calls:
            task = asyncio.create_task(run(token, priority, kind))
            if cancel_after is not None:
                loop.call_later(cancel_after, task.cancel)
            tasks.append(task)

        async def ticker() -> None:
            pending = list(jumps)
            for step in range(60_000):
                if all(t.done() for t in tasks):
                    return
                await asyncio.sleep(0.001)
                await clock.advance(1.0)
                if pending and step % 50 == 49:
                    clock.set(clock.time() + pending.pop())  # a jump, maybe past midnight
            raise AssertionError("calls did not finish")

        await ticker()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for client in clients:
            await client.close()

    for result in results:
        assert not isinstance(result, BaseException) or isinstance(
            result, w.WolkvoxError | asyncio.CancelledError
        ), repr(result)
    for token in tokens:
        assert fake.stats.peak_in_flight[token] <= cap
    assert fake.stats.refusals["simultaneous"] == 0
    op = fake.world.operations[fake.server]
    assert all(used <= quota for used in op.used.values())
    if client_knows_quota:
        assert fake.stats.refusals["token_limit"] == 0
    else:  # learnt from the server: at most the calls already in flight are refused
        assert fake.stats.refusals["token_limit"] <= 2 * cap * (len(jumps) + 1)
