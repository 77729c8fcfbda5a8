"""Patience covers the whole load (bulk/_load.py, bulk/_reconcile.py): the server going
away mid-load — while a chunk's answer is lost, while the campaign is asked what landed,
while later chunks are sent — is waited through up to ``patience`` with rests doubling;
past it the load stops resumable, and the resume lands exactly the rest. Virtual time:
the outage lasts virtual minutes, the test milliseconds."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import assert_accounted, drive, settled, until
from redis_server import free_port

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.bulk._journal import ChunkState, Journal
from wolkvox_async.testing import FakeWolkvox, Fault, VirtualClock

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def records(n: int) -> list[Record]:
    return [Record(customer_id=f"o{i}", phones=(f"300{i:07d}",)) for i in range(n)]


def exactly_once(fake: FakeWolkvox, campaign_id: str, n: int) -> None:
    landed = Counter(r["customer_id"] for r in fake.campaign(campaign_id).records)
    assert landed == Counter(f"o{i}" for i in range(n))


async def outage(fake: FakeWolkvox, load: asyncio.Future[object]) -> None:
    """Cut the server while a chunk's call is in flight (its records stored, its answer
    never sent): a lost answer whose check finds the server gone."""
    fake.inject(Fault.HELD, api="add_record")
    await until(lambda: fake.stats.refusals["fault:held"] == 1 or load.done())  # it is held
    assert not load.done()
    await fake.close()  # the held call's connection drops; nothing listens any more


@pytest.mark.parametrize("minutes", [3, 40])
async def test_a_server_down_mid_load_is_waited_for_and_every_record_lands_once(
    tmp_path: Path, minutes: int
) -> None:
    # Main today: the check of the lost chunk gets "connection refused" and the load
    # stops in seconds, whatever the patience (issue 30, item 6).
    clock = VirtualClock(START)
    fake = FakeWolkvox(
        clock=lambda: datetime.fromtimestamp(clock.time(), UTC), port=free_port(), latency=0.01
    )
    await fake.start()
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    try:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, clock=clock
        ) as wv:
            load = asyncio.ensure_future(
                drive(
                    wv.upload_records(camp.id, records(1_000), chunk_size=100, journal=journal),
                    clock,
                    settled(fake),
                )
            )
            await until(lambda: len(camp.records) >= 200)
            await outage(fake, load)
            down_at = clock.time()
            while clock.time() - down_at < minutes * 60:  # the outage, in virtual time
                assert not load.done(), load
                await asyncio.sleep(0.005)
            await fake.start()  # the same port, the same campaign
            report = await load
    finally:
        await fake.close()
    assert isinstance(report, w.UploadReport) and report.complete
    assert "reconciled" in {c.outcome for c in report.chunks}
    assert_accounted(report)
    exactly_once(fake, camp.id, 1_000)


async def test_past_its_patience_the_load_stops_resumable_and_the_resume_is_exact(
    tmp_path: Path,
) -> None:
    clock = VirtualClock(START)
    fake = FakeWolkvox(
        clock=lambda: datetime.fromtimestamp(clock.time(), UTC), port=free_port(), latency=0.01
    )
    await fake.start()
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    try:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, clock=clock
        ) as wv:
            load = asyncio.ensure_future(
                drive(
                    wv.upload_records(
                        camp.id, records(1_000), chunk_size=100, journal=journal, patience=120
                    ),
                    clock,
                    settled(fake),
                )
            )
            await until(lambda: len(camp.records) >= 200)
            down_at = clock.time()
            await outage(fake, load)
            with pytest.raises(w.TransportError) as info:
                await load
            waited = clock.time() - down_at
            # Its patience (120 s), then the lost call's check at sent + 90 s, rests of up to 30 s.
            assert 60 <= waited <= 240
            report = info.value.upload_report
            assert report is not None and report.stopped == "patience"
            assert report.records_pending > 0
            assert_accounted(report)
            # The chunk whose answer was lost is kept with its outcome unknown: the resume
            # asks the campaign before sending any of it again.
            book = Journal(journal, spec={})
            states = {book.state(i).state for i in range(10) if book.state(i) is not None}  # type: ignore[union-attr]
            book.close()
            assert ChunkState.SENDING in states
            await fake.start()
            resumed = await drive(
                wv.upload_records(camp.id, records(1_000), chunk_size=100, journal=journal),
                clock,
                settled(fake),
            )
    finally:
        await fake.close()
    assert resumed.complete
    exactly_once(fake, camp.id, 1_000)


async def test_503s_that_store_nothing_are_waited_through_not_counted_as_lost_answers() -> None:
    # A load balancer answering 503 for a while: each chunk sent is stored by nobody; the
    # check says so; the chunk is sent again after rests. Main today: five in a row stop
    # the load with "its answer was lost 5 times".
    clock = VirtualClock(START)
    async with FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC)) as fake:
        camp = fake.create_campaign()
        fake.inject(Fault.HTTP_503, api="add_record", times=12)
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, clock=clock
        ) as wv:
            began = clock.time()
            report = await drive(
                wv.upload_records(camp.id, records(300), chunk_size=300), clock, settled(fake)
            )
            # One chunk, sent 13 times: at once after the first 503, then after rests of
            # 0.5 s doubling to 30 s, each jittered to 50-100%: 90.75 s at the least.
            assert clock.time() - began >= 90.75
    assert report.complete
    exactly_once(fake, camp.id, 300)
    assert fake.stats.refusals["fault:503"] == 12  # each answered 503, stored nothing
    assert sum(1 for r in fake.requests if r.api == "add_record") == 1  # then landed once
