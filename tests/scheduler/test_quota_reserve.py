"""Quota budgets: bulk work never spends the quota reserved for interactive calls.

A CRM service's lookups and a bulk load race on one operation's quota, on each backend:
the lookups always get their reserve, the load stops at its share (resumable, stopped
"quota_reserve"), and no call reaches the server's own TOKEN LIMIT.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_accounted

import wolkvox_async as w
from wolkvox_async import Priority, WolkvoxClient
from wolkvox_async.bulk import InsufficientQuota, StopReason
from wolkvox_async.testing import FakeWolkvox, VirtualClock

QUOTA, RESERVE, LOOKUPS = 1_300, 1_000, 1_000


def backend_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'ledger.db'}" if kind == "sqlite" else "memory://"


async def leads(count: int) -> AsyncIterator[dict[str, str]]:
    """A stream of unknown length: the load cannot plan, the scheduler must hold it back."""
    for i in range(count):
        yield {"customer_id": f"lead{i}", "tel1": f"300{i:07d}"}
        if i % 50 == 0:
            await asyncio.sleep(0)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_a_bulk_load_and_1000_lookups_share_one_quota(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    clock = VirtualClock(datetime.now(UTC))  # (Redis keeps its own clock: the same day)
    now = lambda: datetime.fromtimestamp(clock.time(), UTC)  # noqa: E731
    async with FakeWolkvox(daily_quota=QUOTA, clock=now) as fake:
        camp = fake.create_campaign()
        async with WolkvoxClient(
            server=fake.server,
            token=fake.token,
            base_url=fake.url,
            daily_quota=QUOTA,
            quota_reserve={Priority.INTERACTIVE: RESERVE},
            backend=backend_url(kind, tmp_path, request),
            clock=clock,
        ) as wv:
            started = asyncio.Event()

            def progress(p: Any) -> None:
                if p.records_landed >= 100:
                    started.set()  # the load is under way: now the CRM's traffic comes

            load = asyncio.create_task(
                wv.upload_records(
                    camp.id, leads(600), chunk_size=1, allow_partial=True, progress=progress
                )
            )
            await asyncio.wait_for(started.wait(), 30)

            async def lookup(i: int) -> Any:
                if i % 20 == 0:
                    await asyncio.sleep(0.001)  # the CRM's traffic arrives over time
                return await wv.find_record(customer_id=f"lead{i % 600}")

            found = await asyncio.gather(*(lookup(i) for i in range(LOOKUPS)))
            report = await load
            stats = await wv.scheduler_stats()
    assert len(found) == LOOKUPS  # every lookup answered: none refused for the quota
    assert report.stopped is StopReason.QUOTA_RESERVE and report.records_pending > 0
    assert report.resumes_at == stats.resets_at  # when the quota resets: resume then
    assert 100 <= report.records_landed <= QUOTA - RESERVE  # never more than its share
    assert_accounted(report)
    # One call a chunk, and the read of the campaign's state (the status add_record sends).
    assert fake.quota_used() == LOOKUPS + report.records_landed + 1 <= QUOTA
    assert fake.stats.refusals["token_limit"] == 0  # the server's limit was never touched
    assert (stats.quota_reserved, stats.quota_available_to_bulk) == (RESERVE, 0)


async def test_a_load_of_known_size_plans_with_what_is_left_to_bulk(
    fake: FakeWolkvox,
) -> None:
    camp = fake.create_campaign()
    records = [{"customer_id": str(i)} for i in range(50)]
    async with WolkvoxClient(
        server=fake.server,
        token=fake.token,
        base_url=fake.url,
        daily_quota=100,
        quota_reserve=0.8,  # 80 calls kept for interactive ones: 20 for bulk
    ) as wv:
        stats = await wv.scheduler_stats()
        assert (stats.quota_limit, stats.quota_reserved, stats.quota_available_to_bulk) == (
            100,
            80,
            20,
        )
        with pytest.raises(InsufficientQuota, match="80 more are reserved") as info:
            await wv.upload_records(camp.id, records, chunk_size=1)
        # 50 chunks, and the read of the campaign's state they send (campaign_status).
        assert (info.value.needed, info.value.available) == (51, 20)
        assert fake.stats.requests == 0  # refused before anything was sent
        report = await wv.upload_records(camp.id, records, chunk_size=1, allow_partial=True)
        assert (report.stopped, report.records_landed) == (StopReason.QUOTA_RESERVE, 19)
        assert report.requests == 20  # all that was left to bulk work: the read, 19 chunks
        assert report.resumes_at == stats.resets_at and "resumable after" in report.summary()
        with pytest.raises(w.QuotaReserved, match="reserved for interactive calls") as refused:
            await wv.with_options(priority=Priority.BULK).token_info()
        assert refused.value.reserved == 80 and refused.value.resets_at is not None
        assert (await wv.token_info()).token_use_today == 21  # interactive: still served
        with pytest.raises(InsufficientQuota):  # a windowed download is bulk work too
            async for _ in wv.iter_phone_results(
                camp.id, datetime(2026, 1, 1), datetime(2026, 12, 31)
            ):
                pass


def test_the_reserve_is_checked() -> None:
    for bad in (-1, 1.5, True, "300", {Priority.BULK: 10}):
        with pytest.raises(w.ConfigError, match="quota_reserve"):
            WolkvoxClient(server="0014", token="t", quota_reserve=bad)  # type: ignore[arg-type]
    assert (
        WolkvoxClient(
            server="0014", token="t", quota_reserve={"interactive": 5}
        ).config.quota_reserve
        == 5
    )
