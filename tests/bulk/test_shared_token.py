"""Someone else on our token: a chunk refused before anything was done (403 SIMULTANEOUS,
maintenance, a refused connection) is pending, never "failed rows"; a bulk load waits for
it patiently; a load that gives up says so and a resume lands exactly the rest."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import assert_accounted, drive, settled, until, worker
from redis_server import free_port

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, VirtualClock

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
BUSY = worker("busy_worker.py")


def records(n: int) -> list[Record]:
    return [Record(customer_id=f"c{i}", phones=(f"300{i:07d}",)) for i in range(n)]


def exactly_once(fake: FakeWolkvox, campaign_id: str, n: int) -> bool:
    landed = Counter(r["customer_id"] for r in fake.campaign(campaign_id).records)
    return landed == Counter(f"c{i}" for i in range(n))


@pytest.fixture
async def virtual() -> AsyncIterator[tuple[FakeWolkvox, VirtualClock]]:
    clock = VirtualClock(START)
    async with FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC)) as fake:
        yield fake, clock


@pytest.mark.slow
async def test_a_busy_token_leaves_chunks_pending_until_patience_runs_out(
    virtual: tuple[FakeWolkvox, VirtualClock], tmp_path: Path
) -> None:
    fake, clock = virtual
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    fake.elsewhere = 2  # another client holds both slots, all along
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, clock=clock
    ) as wv:
        load = wv.upload_records(camp.id, records(300), chunk_size=100, journal=journal)
        with pytest.raises(w.TooManySimultaneous) as info:
            await drive(load, clock)
        assert clock.time() - START.timestamp() >= 600  # waited, in virtual time
        report = info.value.upload_report
        assert report is not None and report.stopped == "patience"
        assert (report.records_landed, report.records_pending, report.failures) == (0, 300, ())
        assert {c.outcome for c in report.chunks} == {"pending"}
        assert_accounted(report)
        assert "continue" not in str(info.value)  # the library says what, the CLI says how
        assert "300 pending" in "".join(info.value.__notes__)
        assert not camp.records and fake.stats.refusals["simultaneous"] > 0

        fake.elsewhere = 0  # the other client is done: the journal resends exactly them
        report = await drive(
            wv.upload_records(camp.id, records(300), chunk_size=100, journal=journal), clock
        )
    assert report.complete and report.records_landed == 300
    assert exactly_once(fake, camp.id, 300)


@pytest.mark.parametrize("refusal", ["simultaneous", "maintenance", "refused"])
async def test_a_refused_chunk_is_retried_patiently_and_lands_once(refusal: str) -> None:
    clock = VirtualClock(START)
    port = free_port()
    fake = FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC), port=port)
    await fake.start()
    camp = fake.create_campaign()
    if refusal == "simultaneous":
        fake.elsewhere = 2
    elif refusal == "maintenance":
        fake.maintenance = True
    else:
        await fake.close()  # nothing listens: every try is TransportError(sent=False)
    try:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, clock=clock
        ) as wv:
            load = asyncio.ensure_future(
                drive(
                    wv.upload_records(camp.id, records(250), chunk_size=100), clock, settled(fake)
                )
            )
            while clock.time() - START.timestamp() < 1200:  # 20 minutes of refusals
                assert not load.done(), load
                await asyncio.sleep(0.005)
            fake.elsewhere, fake.maintenance = 0, False
            if refusal == "refused":
                await fake.start()  # the same port, the same campaigns
            report = await load
    finally:
        await fake.close()
    assert report.complete and not report.failures
    assert_accounted(report)
    assert exactly_once(fake, camp.id, 250)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "backend"),
    [("raw", "memory"), ("client", "memory"), ("raw", "sqlite"), ("raw", "redis")],
)
async def test_a_load_beside_another_process_on_the_token_lands_every_record_once(
    mode: str, backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The reported scenario: another OS process uses the token, knowing nothing of our
    ledger; our load (its backend shared with nobody) lands every record exactly once."""
    url = {
        "memory": "memory://",
        "sqlite": f"sqlite:///{tmp_path / 'ledger.db'}",
        "redis": request.getfixturevalue("redis_url") if backend == "redis" else "",
    }[backend]
    async with FakeWolkvox(licenses=40, latency=0.05) as fake:
        camp, lookups = fake.create_campaign(), fake.create_campaign()
        busy = await asyncio.create_subprocess_exec(
            sys.executable, BUSY, mode, fake.url, fake.token, lookups.id, "1.0",
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await until(lambda: fake.stats.in_flight[fake.token] > 0)  # it is on the token
            async with WolkvoxClient(
                server=fake.server, token=fake.token, base_url=fake.url, backend=url
            ) as wv:
                report = await wv.upload_records(camp.id, records(2_000), chunk_size=250)
        finally:
            out, _ = await asyncio.wait_for(busy.communicate(), 30)
        assert busy.returncode == 0 and json.loads(out)
        assert fake.stats.refusals["simultaneous"] > 0  # the two really met on the token
        assert fake.stats.peak_in_flight[fake.token] <= 2
    assert report.complete and not report.failures
    assert_accounted(report)
    assert exactly_once(fake, camp.id, 2_000)
