"""Load: 10,000 concurrent callers on one token, in one process, over loopback.

The day's quota is 1,500 calls, so 1,500 callers get their answer and the other 8,500 a
QuotaExhausted, at once when the last unit is taken (not after queueing for a slot). While
they run, a 5 ms ticker measures the event loop's worst stall as the CPU time the loop's
thread spent between two ticks — the work that kept it from the ticker — so a busy machine
taking the CPU away does not count (wall-clock lateness did, and failed under load), and
samples the process's resident memory. The callers arrive 250 per turn of the loop, as a
server's requests would; starting 10,000 coroutines in one turn is asyncio's own stall.

The worst stall is mostly one full pass of CPython's collector over the pending calls
(~15 objects each). It runs in a fresh interpreter, as a service's process starts: inside
the suite's process (hundreds of MB of other tests' leftovers) the same run stalled
longer and once went over the bound: 73 and 90 ms after the 511 tests before it, 104 ms
in one full run, against 45-76 ms in 10 runs in a fresh process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import subprocess
import sys
import time
from collections import Counter

import pytest

from wolkvox_async import QuotaExhausted, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, reset_shared_state

CALLERS = 10_000
QUOTA = 1_500
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


async def ten_thousand_callers() -> tuple[float, float]:
    """One run; checks every caller's outcome; returns (worst stall s, memory grown MiB)."""
    worst_lag, peak, done = 0.0, 0, False

    async def watch() -> None:
        nonlocal worst_lag, peak
        while not done:
            spent = time.thread_time()
            await asyncio.sleep(0.005)
            worst_lag = max(worst_lag, time.thread_time() - spent)
            peak = max(peak, rss())

    # An empty process-wide ledger: what ran before must not have spent this quota.
    reset_shared_state()
    async with FakeWolkvox(daily_quota=QUOTA) as fake:
        camp = fake.create_campaign()
        camp.add_records([{"customer_id": f"c{i}", "tel1": "3"} for i in range(10)])
        # What the suite allocated before (hypothesis, other tests' leftovers) is not ours to
        # scan: CPython's full GC pass over the heap is what stalls a loop at this size.
        gc.collect()
        gc.freeze()
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
    others = Counter(f"{type(r).__name__}: {r}"[:300] for r in results if isinstance(r, Exception))
    assert len(answered) == QUOTA, others.most_common(3)
    assert all(len(hits) == 1 for hits in answered)
    assert len(refused) == CALLERS - QUOTA  # nothing else: no other error, nobody stuck
    assert fake.stats.requests == QUOTA and not fake.stats.refusals  # no limit tripped
    assert fake.stats.peak_in_flight[fake.token] <= 2
    assert (stats.in_flight, stats.queued_interactive, stats.quota_used) == (0, 0, QUOTA)
    return worst_lag, (peak - base) / 2**20


def main() -> None:
    """Run once in this process and print (stall, grown) as JSON: what the test reads."""
    # Measured as in production: no DEBUG records kept.
    logging.getLogger().setLevel(logging.WARNING)
    print(json.dumps(asyncio.run(ten_thousand_callers())))


@pytest.mark.slow
def test_ten_thousand_callers_on_one_token() -> None:
    done = subprocess.run(
        [sys.executable, __file__],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]  # an outcome check failed in the run
    stall, grown = json.loads(done.stdout.strip().splitlines()[-1])
    assert stall < 0.100, f"the event loop stalled {stall * 1000:.0f} ms"
    assert grown < 150, f"resident memory grew {grown:.0f} MiB for {CALLERS} callers"
    print(f"worst loop stall {stall * 1000:.1f} ms, memory +{grown:.1f} MiB")


if __name__ == "__main__":
    main()
