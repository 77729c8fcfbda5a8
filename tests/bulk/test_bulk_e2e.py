"""End to end: 250,000 records up, 250,000 phone results over 120 days down, checked on the
server side (counts and uniqueness) through the real limits: 10,000 per upload, 2 in
flight, 31 days and 60,000 rows per download."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

N = 250_000
START = datetime(2026, 6, 1)
END = START + timedelta(days=120)


def leads() -> Iterator[Record]:
    for i in range(N):
        yield Record(customer_id=f"L{i}", customer_name=f"Lead {i}", phones=(f"3{i:09d}",))


@pytest.mark.slow
async def test_a_quarter_million_each_way() -> None:
    async with FakeWolkvox(licenses=40, latency=0.002) as fake:
        camp = fake.create_campaign()
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            report = await wv.upload_records(camp.id, leads())
            stored = Counter(r["customer_id"] for r in camp.records)
            assert report.records_landed == N == len(stored)
            assert set(stored.values()) == {1}
            assert report.requests == 1 + 25  # the campaign's state (campaign_status), 25 chunks
            # Client and simulator share one core here, so whether two calls overlap depends
            # on CPU; benchmarks/upload_throughput.py measures the overlap on its own core.
            assert fake.stats.peak_in_flight[fake.token] <= 2
            assert not fake.stats.refusals

            attempts = fake.add_call_results(camp.id, START, END, N, seed=11)
            download = wv.iter_phone_results(camp.id, START, END)
            conn_ids = Counter([row.conn_id async for row in download])
        assert len(conn_ids) == N and set(conn_ids.values()) == {1}
        assert set(conn_ids) == {a.conn_id for a in attempts}
        # 4 windows of 31 days, each above 60,000 rows: one continuation each.
        assert download.requests <= 1.1 * (4 + N / 60_000)
        assert fake.stats.refusals["simultaneous"] == 0


async def test_a_load_and_a_download_leave_the_garbage_collector_as_they_found_it(
    fake: FakeWolkvox,
) -> None:
    # A library is a guest: a service that froze its heap before forking (gc.freeze), or
    # runs with the collector off, finds it so after our work.
    camp = fake.create_campaign()
    fake.add_call_results(camp.id, START, END, 3_000, seed=3)
    for enabled in (True, False):
        sentinel = [object()]  # a container: tracked by the collector
        gc.freeze()  # the sentinel with everything else now alive: out of the passes
        if not enabled:
            gc.disable()
        try:
            async with WolkvoxClient(
                server="0014", token=fake.token, base_url=fake.url, backend="memory://"
            ) as wv:
                records = [Record(customer_id=f"{enabled}{i}") for i in range(2_500)]
                await wv.upload_records(camp.id, records, chunk_size=1_000)
                rows = [row async for row in wv.iter_phone_results(camp.id, START, END)]
            assert len(rows) == 3_000
            assert gc.isenabled() is enabled
            assert not any(o is sentinel for o in gc.get_objects())  # frozen still
        finally:
            gc.enable()
            gc.unfreeze()
