"""The fault matrix: every broken answer a network or Wolkvox can give, on a read and a write.

One test per cell, against FakeWolkvox over loopback, time virtual (the 60 s timeout,
retry backoffs and maintenance pauses pass in milliseconds). Each cell checks three things:

1. the outcome DESIGN.md documents: the error class, or a transparent retry where a retry
   is safe (wolkvox_async/_retry.py: a read may be sent again after a 5xx, a reset or a
   timeout; a write (add_record) never is, as it may have run);
2. the scheduler is idle afterwards: no lease held, nobody queued, and the quota it
   counted equals the requests that reached the server;
3. nothing leaks: the event loop runs in debug mode, no task is left, and the process has
   exactly the file descriptors it had before the server and client existed (sockets
   included). ResourceWarnings are errors (pyproject filterwarnings).
"""

from __future__ import annotations

import asyncio
import gc
import os
from datetime import UTC, datetime

import pytest
from helpers import assert_accounted, drive, settled, until

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, Fault, VirtualClock

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
REFUSED = "connection refused"

# (fault, what a read gets, what a write gets); None = succeeds (after a transparent retry).
MATRIX: list[tuple[Fault | str, type[Exception] | None, type[Exception] | None]] = [
    (REFUSED, w.TransportError, w.TransportError),  # retried (never sent), then raised
    (Fault.RESET, None, w.TransportError),
    (Fault.RESET_MID_BODY, None, w.TransportError),
    (Fault.HTTP_500, None, w.ServerError),
    (Fault.HTTP_502, None, w.ServerError),
    (Fault.HTTP_503, None, w.ServerError),
    (Fault.MAINTENANCE, None, None),  # refused before running: safe for both, after a pause
    (Fault.SLOW, None, w.RequestTimeout),
    (Fault.TRUNCATED, w.ResponseDecodeError, w.ResponseDecodeError),
    (Fault.HTML, w.ResponseDecodeError, w.ResponseDecodeError),
    (Fault.WRONG_CONTENT_TYPE, None, None),  # PHP's text/html label on good JSON
    (Fault.EMPTY, w.ResponseDecodeError, w.ResponseDecodeError),
    (Fault.OVERSIZED, w.ResponseDecodeError, w.ResponseDecodeError),
    (Fault.CONTRADICTORY_CODE, None, w.ServerError),
]
CELLS = [
    pytest.param(fault, op, expected, id=f"{fault}-{op}")
    for fault, read, write in MATRIX
    for op, expected in (("read", read), ("write", write), ("upload", None), ("upload-state", None))
]
"""An upload either lands every record once, or raises with its report accounting for
every record (landed + rejected + pending) and pending > 0: never a success with records
missing. ``upload`` is given its campaign_status, so the fault meets its first chunk;
``upload-state`` is not, so the fault meets the read of the campaign's state before it."""


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.parametrize(("fault", "op", "expected"), CELLS)
async def test_fault_cell(fault: Fault | str, op: str, expected: type[Exception] | None) -> None:
    asyncio.get_running_loop().set_debug(True)
    gc.collect()
    fds = open_fds()
    clock = VirtualClock(START)
    fake = FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC))
    url = await fake.start()
    campaign = fake.create_campaign()
    if fault == REFUSED:
        await fake.close()  # nothing listens on the port any more
    else:
        fake.inject(fault, delay=3600.0)  # SLOW: an answer an hour late
    client = WolkvoxClient(server=fake.server, token=fake.token, base_url=url, clock=clock)

    def slow_answer_pending() -> bool:  # only the first, delayed, request has arrived
        return (
            fault is Fault.SLOW
            and fake.stats.requests == 1
            and fake.stats.in_flight[fake.token] == 1
        )

    if op == "read":
        call = client.find_record(campaign_id=campaign.id, customer_id="c1")
    elif op == "write":
        lead = [{"customer_id": "c1", "tel1": "3001234567"}]
        call = client.add_record(campaign.id, lead, campaign_status="stop")  # (nothing read)
    else:
        leads = [{"customer_id": f"c{i}", "tel1": "3001234567"} for i in range(3)]
        status = "stop" if op == "upload" else None
        call = client.upload_records(
            campaign.id, leads, chunk_size=1, patience=300, campaign_status=status
        )
    try:
        if op.startswith("upload"):
            try:
                slow = settled(fake, in_flight=1 if fault is Fault.SLOW else 0)
                report = await drive(call, clock, slow)
                assert report.complete and report.records_landed == 3
            except w.WolkvoxError as exc:
                report = exc.upload_report
                assert report is not None and report.records_pending > 0, exc
                assert fake.token not in str(exc)
            assert_accounted(report)
            ids = [r["customer_id"] for r in fake.campaign(campaign.id).records]
            assert len(ids) == len(set(ids)) == report.records_landed
        elif expected is None:
            await drive(call, clock, slow_answer_pending)
        else:
            with pytest.raises(expected) as info:
                await drive(call, clock, slow_answer_pending)
            assert fake.token not in str(info.value)
            if fault == REFUSED:
                assert isinstance(info.value, w.TransportError) and info.value.sent is False

        # The scheduler is idle once any lease held for an abandoned call has run out
        # (sent + the timeout, 90 s).
        await clock.advance(91)
        stats = await client.scheduler_stats()
        assert (stats.in_flight, stats.queued_interactive, stats.queued_bulk) == (0, 0, 0)
        assert stats.quota_used == fake.stats.requests  # one unit per request that arrived
        assert fake.quota_used() <= stats.quota_used  # never fewer than the server charged
        stored = len(fake.campaign(campaign.id).records)
        if op == "write":  # once at most, and once whenever we said it landed
            assert stored == 1 if expected is None else stored <= 1
    finally:
        await client.close()
        await fake.close()

    await until(lambda: gc.collect() >= 0 and open_fds() == fds)
    current = asyncio.current_task()
    await until(lambda: not [t for t in asyncio.all_tasks() if t is not current])
