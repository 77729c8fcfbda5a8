"""Load: 10,000 concurrent callers on one token, in one process, over loopback.

The day's quota is 1,500 calls, so 1,500 callers get their answer and the other 8,500 a
QuotaExhausted, at once when the last unit is taken (not after queueing for a slot). While
they run, a 5 ms ticker measures how late the event loop wakes it (its worst stall) and
samples the process's resident memory. The callers arrive 250 per turn of the loop, as a
server's requests would; starting 10,000 coroutines in one turn is asyncio's own stall.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os

from wolkvox_async import QuotaExhausted, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

CALLERS = 10_000
QUOTA = 1_500
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


async def test_ten_thousand_callers_on_one_token() -> None:
    loop = asyncio.get_running_loop()
    worst_lag, peak, done = 0.0, 0, False

    async def watch() -> None:
        nonlocal worst_lag, peak
        while not done:
            asked = loop.time()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, loop.time() - asked - 0.005)
            peak = max(peak, rss())

    async with FakeWolkvox(daily_quota=QUOTA) as fake:
        camp = fake.create_campaign()
        camp.add_records([{"customer_id": f"c{i}", "tel1": "3"} for i in range(10)])
        # What the suite allocated before (hypothesis, other tests' leftovers) is not ours to
        # scan: CPython's full GC pass over the heap is what stalls a loop at this size.
        gc.collect()
        gc.freeze()
        # Measured as in production: no DEBUG records (the suite logs everything at DEBUG,
        # and pytest keeps each record until the test ends).
        logging.getLogger().setLevel(logging.WARNING)
        base = rss()
        watcher = asyncio.create_task(watch())
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, daily_quota=QUOTA
        ) as wv:
            callers = []
            for i in range(CALLERS):
                call = wv.find_record(campaign_id=camp.id, customer_id=f"c{i % 10}")
                callers.append(asyncio.ensure_future(call))
                if i % 250 == 249:
                    await asyncio.sleep(0)  # they arrive as a server's requests would
            results = await asyncio.gather(*callers, return_exceptions=True)
            stats = await wv.scheduler_stats()
        done = True
        await watcher
        gc.unfreeze()

    answered = [r for r in results if isinstance(r, tuple)]
    refused = [r for r in results if isinstance(r, QuotaExhausted)]
    assert len(answered) == QUOTA and all(len(hits) == 1 for hits in answered)
    assert len(refused) == CALLERS - QUOTA  # nothing else: no other error, nobody stuck
    assert fake.stats.requests == QUOTA and not fake.stats.refusals  # no limit tripped
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert (stats.in_flight, stats.queued_interactive, stats.quota_used) == (0, 0, QUOTA)
    assert worst_lag < 0.100, f"the event loop stalled {worst_lag * 1000:.0f} ms"
    grown = (peak - base) / 2**20
    assert grown < 150, f"resident memory grew {grown:.0f} MiB for {CALLERS} callers"
    print(f"worst loop stall {worst_lag * 1000:.1f} ms, memory +{grown:.1f} MiB")
