"""End to end: 250,000 records up, 250,000 phone results over 120 days down, checked on the
server side (counts and uniqueness) through the real limits: 10,000 per upload, 2 in
flight, 31 days and 60,000 rows per download."""

from __future__ import annotations

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
            assert report.requests == 25
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
