"""upload_records against FakeWolkvox: streaming, validation, quota, campaign full,
lost answers reconciled, and every record landing exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sqlite3
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_accounted, until, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.bulk._journal import NOT_SENT, ChunkState, Journal
from wolkvox_async.calls._transport import AiohttpTransport
from wolkvox_async.endpoints._records import to_wire
from wolkvox_async.testing import FakeWolkvox, Fault, Knobs, reset_shared_state

START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=40) as server:  # campaigns hold 280,000 records
        yield server


def records(n: int, first: int = 0) -> list[Record]:
    return [Record(customer_id=f"c{i}", phones=(f"300{i:07d}",)) for i in range(first, first + n)]


def landed(fake: FakeWolkvox, campaign_id: str) -> Counter[str]:
    return Counter(r["customer_id"] for r in fake.campaign(campaign_id).records)


def client_for(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, **kw)


async def test_a_list_lands_in_chunks_two_at_a_time(fake: FakeWolkvox) -> None:
    # Longer than the simulator's own work on a chunk (done inside its latency, on the
    # test's one core), so that the second chunk is sent while the first is in flight.
    fake.latency = 0.1
    camp = fake.create_campaign()
    seen: list[w.bulk.UploadProgress] = []
    async with client_for(fake) as wv:
        report = await wv.upload_records(camp.id, records(25_000), progress=seen.append)
    assert (report.records_read, report.records_sent, report.records_landed) == (25_000,) * 3
    assert report.complete and report.requests == 1 + 3  # the campaign's state, 3 chunks
    assert [r.api for r in fake.requests] == ["campaigns", *["add_record"] * 3]
    assert [(c.first_row, c.last_row, c.outcome) for c in report.chunks] == [
        (1, 10_000, "landed"),
        (10_001, 20_000, "landed"),
        (20_001, 25_000, "landed"),
    ]
    assert [p.chunks_done for p in seen] == [1, 2, 3]
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(25_000)})
    assert fake.stats.peak_in_flight[fake.token] == 2


async def test_streams_iterators_holding_a_few_chunks(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    fake.latency = 0.002
    read = 0
    worst = 0

    def source() -> Iterator[dict[str, str]]:
        nonlocal read
        for i in range(20_000):
            read += 1
            yield {"customer_id": f"s{i}", "tel1": "300"}

    def track(progress: w.bulk.UploadProgress) -> None:
        nonlocal worst
        worst = max(worst, read - progress.records_landed)

    async with client_for(fake) as wv:
        report = await wv.upload_records(camp.id, source(), chunk_size=100, progress=track)
    assert report.records_landed == 20_000
    assert worst <= 6 * 100  # read ahead of what landed: a few chunks, not the input


async def test_async_iterator_input(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()

    async def source() -> AsyncIterator[Record]:
        for record in records(250):
            yield record

    async with client_for(fake) as wv:
        report = await wv.upload_records(camp.id, source(), chunk_size=100)
    assert report.records_landed == 250 and len(report.chunks) == 3


async def test_a_bad_row_stops_before_its_chunk_is_sent(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    rows: list[Any] = [{"customer_id": str(i)} for i in range(30)]
    rows[14] = {"customer_id": "14", "opt7": "x" * 201}
    async with client_for(fake) as wv:
        with pytest.raises(w.ConfigError, match=r"row 15.*opt7") as info:
            await wv.upload_records(camp.id, rows, chunk_size=10)
        assert len(camp.records) == 10  # chunk 1 (rows 1-10) went; chunk 2 never left
        stopped = info.value.upload_report  # what landed, which row, what is pending
        assert stopped is not None and stopped.records_landed == 10
        assert (stopped.records_read, stopped.records_pending) == (30, 19)  # a list: all of it
        assert [f.row for f in stopped.failures] == [15]
        assert_accounted(stopped)
        assert "10 of 30 records landed, 1 rejected, 19 pending" in str(info.value.__notes__)
        other = fake.create_campaign()
        report = await wv.upload_records(other.id, rows, chunk_size=10, on_invalid="skip")
    assert report.records_landed == 29
    assert [(f.row, f.customer_id) for f in report.failures] == [(15, "14")]
    assert not report.complete


async def test_quota_is_checked_before_the_first_request(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    async with client_for(fake, daily_quota=2) as wv:
        with pytest.raises(w.InsufficientQuota, match="needs 3 calls but only 2"):
            await wv.upload_records(camp.id, records(25_000), campaign_status="stop")
        with pytest.raises(w.InsufficientQuota, match="needs 4 calls but only 2"):
            await wv.upload_records(camp.id, records(25_000))  # and the state's read
        assert fake.stats.requests == 0
        report = await wv.upload_records(
            camp.id, records(25_000), allow_partial=True, campaign_status="stop"
        )
    assert (report.stopped, report.records_landed, len(camp.records)) == ("quota", 20_000, 20_000)
    assert report.records_pending == report.records_read - 20_000 > 0
    assert_accounted(report)


async def test_campaign_full_stops_cleanly_with_the_exact_count() -> None:
    async with FakeWolkvox(licenses=40, campaign_capacity=25_000, latency=0.01) as fake:
        camp = fake.create_campaign()
        async with client_for(fake) as wv:
            with pytest.raises(w.CampaignFull) as info:  # records left: never a success
                await wv.upload_records(camp.id, records(60_000))
            stopped = info.value.upload_report
            assert stopped is not None and stopped.stopped == "campaign_full"
            other = fake.create_campaign()
            report = await wv.upload_records(other.id, records(60_000), allow_partial=True)
    for done, campaign in ((stopped, camp), (report, other)):
        assert done.records_landed == len(campaign.records) == 20_000
        assert done.records_pending == done.records_read - 20_000 > 0
        assert not done.failures  # a refused chunk is pending, never "failed rows"
        assert any(c.outcome == "pending" for c in done.chunks)
        assert_accounted(done)
    assert report.stopped == "campaign_full" and not report.complete


@pytest.mark.parametrize(
    "fault", [Fault.RESET, Fault.RESET_MID_BODY, Fault.HTTP_503, Fault.HTTP_500]
)
async def test_a_lost_answer_is_reconciled_not_resent_blindly(
    fake: FakeWolkvox, fault: Fault
) -> None:
    camp = fake.create_campaign()
    fake.inject(fault, api="add_record")
    async with client_for(fake) as wv:
        report = await wv.upload_records(camp.id, records(300), chunk_size=100)
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(300)})
    assert [c.outcome for c in report.chunks].count("reconciled") == 1
    assert report.records_landed == 300


async def test_a_timed_out_chunk_is_reconciled(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    fake.inject(Fault.SLOW, api="add_record", delay=0.3)  # lands, answers too late
    async with client_for(fake, timeout=0.1) as wv:
        report = await wv.upload_records(camp.id, records(200), chunk_size=100)
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(200)})
    assert report.records_landed == 200


async def test_reconciliation_probes_when_the_export_is_capped() -> None:
    async with FakeWolkvox(knobs=Knobs(download_cap=50)) as fake:
        camp = fake.create_campaign()
        fake.inject(Fault.RESET, api="add_record")
        async with client_for(fake) as wv:
            report = await wv.upload_records(camp.id, records(300), chunk_size=100)
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(300)})
    apis = [r.api for r in fake.requests]
    assert apis.count("find_record") == 3  # first, middle and last record of the chunk
    assert report.complete


async def test_resume_after_an_interruption_lands_everything_once(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    fake.latency = 0.01
    fake.inject(Fault.SLOW, api="add_record", delay=1)  # the first chunk hangs...
    async with client_for(fake) as wv:
        load = asyncio.create_task(
            wv.upload_records(camp.id, records(500), chunk_size=100, journal=journal)
        )
        while len(camp.records) < 100:  # ...after its records landed
            await asyncio.sleep(0.01)
        load.cancel()  # killed mid-load
        with pytest.raises(asyncio.CancelledError):
            await load
    await fake.drain()
    # A new process: its memory:// scheduler does not know the abandoned calls' leases (a
    # shared backend would hold them until sent + 60 s, as it should).
    reset_shared_state()
    async with client_for(fake) as wv:
        report = await wv.upload_records(camp.id, records(500), chunk_size=100, journal=journal)
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(500)})
    assert report.records_landed == 500
    with pytest.raises(w.ConfigError, match="belongs to another load"):
        async with client_for(fake) as wv:
            await wv.upload_records(camp.id, records(5), chunk_size=50, journal=journal)


@pytest.mark.parametrize("lands_late", [True, False])
async def test_a_crashed_call_still_running_is_waited_for_not_doubled(
    tmp_path: Path, lands_late: bool
) -> None:
    # A process died with chunk 0 in flight, 10 s ago. The server may run a call for 60 s
    # (§3.1) from when it got it, later than it left, so its records missing now are not
    # missing yet: the resume asks again at sent + the timeout (90 s), and only then
    # sends what is still absent.
    clock = w.scheduler.VirtualClock(START)
    journal = tmp_path / "load.journal"
    async with FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC)) as fake:
        camp = fake.create_campaign()
        died = Journal(journal, spec={"campaign": camp.id, "chunk_size": 100})
        died.mark(0, ChunkState.SENDING, sent_at=clock.time() - 10)
        died.close()
        async with client_for(fake, clock=clock) as wv:
            load = asyncio.create_task(
                wv.upload_records(camp.id, records(100), chunk_size=100, journal=journal)
            )
            while clock.sleeping == 0:  # exported once, found nothing, waits
                assert not load.done()
                await asyncio.sleep(0.01)
            await clock.advance(79)
            assert not load.done() and not camp.records
            if lands_late:  # the dead process's call completes on the server
                camp.add_records([{"customer_id": f"c{i}", "tel1": "3"} for i in range(100)])
            await clock.advance(1)
            report = await asyncio.wait_for(load, 5)
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(100)})
    assert report.chunks[0].outcome == "reconciled"
    assert [r.api for r in fake.requests].count("add_record") == (0 if lands_late else 1)


async def test_a_chunk_that_died_waiting_for_admission_is_not_waited_for(tmp_path: Path) -> None:
    # Marked SENDING while it waited for a slot, then the process died: nothing left, so
    # the resume checks the campaign once and sends, without waiting for a call to end.
    clock = w.scheduler.VirtualClock(START)
    journal = tmp_path / "load.journal"
    async with FakeWolkvox(clock=lambda: datetime.fromtimestamp(clock.time(), UTC)) as fake:
        camp = fake.create_campaign()
        died = Journal(journal, spec={"campaign": camp.id, "chunk_size": 100})
        died.mark(0, ChunkState.SENDING, sent_at=NOT_SENT)
        died.close()
        async with client_for(fake, clock=clock) as wv:
            report = await asyncio.wait_for(
                wv.upload_records(camp.id, records(100), chunk_size=100, journal=journal), 5
            )
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(100)})
    assert report.chunks[0].outcome == "reconciled"
    assert [r.api for r in fake.requests] == ["campaign_15", "campaigns", "add_record"]


async def test_a_chunk_waiting_for_admission_is_not_marked_sent(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Both slots of the token are held by another client's slow reads: the load's chunk
    # waits for admission. Nothing of it can have left, so an interruption there leaves
    # it unmarked, and the resume sends it at once (no export to reconcile it first).
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    backend = w.MemoryBackend()
    fake.inject(Fault.SLOW, api="find_record", times=2, delay=0.5)
    async with client_for(fake, backend=backend) as other, client_for(fake, backend=backend) as wv:
        reads = [asyncio.create_task(other.find_record(customer_id=f"x{i}")) for i in range(2)]
        await until(lambda: fake.stats.peak_in_flight[fake.token] == 2)
        load = asyncio.create_task(
            wv.upload_records(
                camp.id, records(100), campaign_status="stop", chunk_size=100, journal=journal
            )
        )
        while (await wv.scheduler_stats()).queued_bulk == 0:  # the load waits for a slot
            await asyncio.sleep(0.01)
        load.cancel()
        with pytest.raises(asyncio.CancelledError):
            await load
        await asyncio.gather(*reads)
    # Nothing of it was marked (it never left): a load that sent nothing leaves no journal.
    assert not journal.exists()
    assert "add_record" not in [r.api for r in fake.requests]
    before = len(fake.requests)
    async with client_for(fake) as wv:
        report = await wv.upload_records(
            camp.id, records(100), campaign_status="stop", chunk_size=100, journal=journal
        )
    assert [r.api for r in list(fake.requests)[before:]] == ["add_record"]
    assert report.chunks[0].outcome == "landed"
    assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(100)})


@pytest.mark.slow
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    n=st.integers(1, 400),
    chunk=st.integers(1, 120),
    schedule=st.lists(
        st.sampled_from([None, Fault.RESET, Fault.RESET_MID_BODY, Fault.HTTP_503, Fault.GARBAGE]),
        max_size=6,
    ),
)
def test_every_record_lands_exactly_once(n: int, chunk: int, schedule: list[Fault | None]) -> None:
    async def scenario(journal: Path) -> None:
        # A reset after sending keeps its slot until the server must be done with the
        # call: at Wolkvox's 60 s (90 s of timeout) a schedule with two resets sat idle
        # for minutes; here the server stops calls after 0.5 s and the client knows it.
        async with FakeWolkvox(licenses=40, latency=(0.0, 0.002), call_limit=0.5) as fake:
            camp = fake.create_campaign()
            for fault in schedule:
                if fault is None:
                    fake.inject(Fault.WRONG_CONTENT_TYPE, api="add_record")  # a harmless answer
                else:
                    fake.inject(fault, api="add_record")
            async with client_for(fake, server_limit=0.5, timeout=1.0) as wv:
                for _ in range(3):  # a load that gives up is resumed from its journal
                    try:
                        report = await wv.upload_records(
                            camp.id, records(n), chunk_size=chunk, journal=journal
                        )
                        break
                    except w.WolkvoxError as exc:  # never a success with records missing
                        assert exc.upload_report is not None
                        assert exc.upload_report.records_pending > 0
                        assert_accounted(exc.upload_report)
                        continue
                else:
                    raise AssertionError("three runs did not finish the load")
            assert landed(fake, camp.id) == Counter({f"c{i}": 1 for i in range(n)})
            assert report.records_landed == n and report.complete
            assert_accounted(report)

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp) / "journal.db"))


@pytest.mark.slow
async def test_a_load_killed_with_sigkill_resumes_exactly(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = str(tmp_path / "load.journal")
    script = worker("upload_worker.py")
    fake.latency = (0.005, 0.03)
    args = [sys.executable, script, fake.url, fake.token, camp.id, "20000", journal]
    live = 0
    for target in (2_000, 9_000, 15_000):  # kill at three points of the load, then finish it
        proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
        await until(lambda t=target, p=proc: len(camp.records) >= t or p.returncode is not None, 60)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):  # it may end this very moment
                proc.send_signal(signal.SIGKILL)
        await proc.communicate()
        live += proc.returncode == -signal.SIGKILL
    assert live >= 2  # the kills hit a running load (one may find it done: that is fine)
    await fake.drain()
    proc = await asyncio.create_subprocess_exec(*args, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0 and int(out) == 20_000
    assert landed(fake, camp.id) == Counter({f"k{i}": 1 for i in range(20_000)})


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("token", w.InvalidToken),
        ("campaign", w.ApiError),
        ("quota", w.TokenLimitExceeded),
    ],
)
async def test_a_fatal_answer_stops_the_whole_load_at_once(
    fake: FakeWolkvox, case: str, error: type[Exception]
) -> None:
    """An invalid token, an unknown campaign, the server's TOKEN LIMIT: the load raises
    that error after the calls already in flight (at most 2 reach the server), never a
    report full of "row failures"."""
    camp = fake.create_campaign()
    fake.latency = 0.01
    token, campaign_id = fake.token, camp.id
    if case == "token":
        token = "0" * 56
    elif case == "campaign":
        campaign_id = "999999"
    else:
        fake.world.operations[fake.server].daily_quota = 0
    async with WolkvoxClient(server=fake.server, token=token, base_url=fake.url) as wv:
        with pytest.raises(error) as info:
            await wv.upload_records(campaign_id, records(5_000), chunk_size=100)
    assert fake.stats.requests <= 2 and not camp.records
    report = info.value.upload_report  # type: ignore[attr-defined]
    assert report is not None and not report.failures and report.records_landed == 0
    assert report.records_pending == 5_000 and report.stopped in ("error", "quota")
    assert_accounted(report)


async def test_a_finished_journal_returns_the_earlier_report_and_sends_nothing(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    async with client_for(fake) as wv:
        first = await wv.upload_records(camp.id, records(250), chunk_size=100, journal=journal)
        sent = fake.stats.requests
        again = await wv.upload_records(camp.id, records(250), chunk_size=100, journal=journal)
    assert fake.stats.requests == sent and len(camp.records) == 250  # nothing sent again
    assert first.finished_at is None and again.finished_at is not None
    assert (again.records_read, again.records_landed, again.requests) == (250, 250, 0)
    assert again.complete and "already finished" in again.summary()


async def test_a_load_that_sent_nothing_leaves_no_journal(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    bad: list[Any] = [{"customer_id": "1", "opt7": "x" * 201}, {"customer_id": "2"}]
    async with client_for(fake) as wv:
        with pytest.raises(w.ConfigError, match="row 1"):
            await wv.upload_records(camp.id, bad, journal=journal)
        assert not journal.exists() and fake.stats.requests == 0
        report = await wv.upload_records(camp.id, bad[1:], journal=journal)  # just runs
    assert report.complete and journal.exists()


async def test_the_reader_never_runs_between_a_senders_answer_and_its_next_request(
    fake: FakeWolkvox,
) -> None:
    """Wolkvox's 2 slots are the bound: between a sender's answer and its next request's
    bytes on the socket (slot granted to body written), reading the next chunks waits."""
    fake.latency = 0.005  # the reader (100 records, ~0.1 ms a batch) is always ahead
    camp = fake.create_campaign()
    events: list[tuple[str, int]] = []

    class Watched(AiohttpTransport):
        async def send(self, request: Any, written: Any = None) -> Any:
            call = len([e for e in events if e[0] == "granted"])
            events.append(("granted", call))

            def body_out() -> None:
                events.append(("written", call))
                written()

            answer = await super().send(request, body_out)
            events.append(("answer", call))
            return answer

    def source() -> Iterator[Record]:
        for record in records(4_000):
            events.append(("read", 0))
            yield record

    async with client_for(fake, transport=Watched()) as wv:
        # (The campaign's state given: its read, a GET, has no body to watch leave.)
        report = await wv.upload_records(camp.id, source(), chunk_size=100, campaign_status="1")
    assert report.complete and report.requests == 40
    # Each call: no read from its slot granted to its body written.
    for call in range(40):
        start, end = events.index(("granted", call)), events.index(("written", call))
        assert all(kind != "read" for kind, _ in events[start:end]), call
    # Each answer: the next request is granted before anything more is read.
    for call in range(40):
        after = events[events.index(("answer", call)) :]
        following = [kind for kind, _ in after if kind in ("read", "granted")]
        if "granted" in following:  # the last answers have no request after them
            assert following[0] == "granted", call


async def test_loads_in_one_loop_share_the_gate_and_a_cancelled_one_does_not_hold_it(
    fake: FakeWolkvox,
) -> None:
    # Every load of an event loop shares one pacing gate: a load cancelled while a sender
    # holds it (slot granted, body not yet on the socket) must leave it open, or every
    # later load's reader waits for good.
    fake.latency = 0.005
    first, second, third = (fake.create_campaign() for _ in range(3))
    stuck = asyncio.Event()

    class Stuck(AiohttpTransport):
        async def send(self, request: Any, written: Any = None) -> Any:
            stuck.set()
            await asyncio.Event().wait()  # granted, never sent: the sender rushes here
            raise AssertionError("unreachable")

    async with client_for(fake, transport=Stuck()) as blocked, client_for(fake) as wv:
        cancelled = asyncio.ensure_future(blocked.upload_records(first.id, records(500)))
        await asyncio.wait_for(stuck.wait(), 5)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        # Two loads at once after it, each whole (a guard against a hang, not a limit).
        both = asyncio.gather(
            wv.upload_records(second.id, records(3_000), chunk_size=100),
            wv.upload_records(third.id, records(3_000, first=3_000), chunk_size=100),
        )
        reports = await asyncio.wait_for(both, 10)
    assert all(r.complete for r in reports)
    assert not first.records
    assert landed(fake, second.id) == Counter(f"c{i}" for i in range(3_000))
    assert landed(fake, third.id) == Counter(f"c{i}" for i in range(3_000, 6_000))


@pytest.mark.parametrize(
    "patience",
    [-1, float("nan"), float("inf"), 10**400, "60", True],
    ids=["negative", "nan", "inf", "past-a-float", "text", "bool"],
)
async def test_a_bad_patience_is_refused_before_anything_is_sent(
    fake: FakeWolkvox, client: w.WolkvoxClient, patience: object
) -> None:
    """10**400 came from the fuzz: it passed the check and overflowed float() after."""
    camp = fake.create_campaign()
    with pytest.raises(w.ConfigError, match="patience"):
        await client.upload_records(camp.id, [{"customer_id": "1"}], patience=patience)  # type: ignore[arg-type]
    assert fake.stats.requests == 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_a_loop_shut_down_mid_upload_ends_the_process_and_resumes_exactly(
    fake: FakeWolkvox, tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    # asyncio.run(main) where main starts an upload task and returns: the loop's shutdown
    # cancels the upload; the process ends at once (it hung), and the journal is whole.
    camp = fake.create_campaign()
    journal = str(tmp_path / "load.journal")
    if kind == "redis":
        backend = request.getfixturevalue("redis_url")
    else:
        backend = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'ledger.db'}"
    fake.latency = 0.05
    args = [worker("shutdown_worker.py"), fake.url, fake.token, camp.id, journal, backend]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, stdout=asyncio.subprocess.PIPE
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:  # it hung: never leave it behind
            proc.kill()
            await proc.wait()
    assert (proc.returncode, out.split()) == (0, [b"returning", b"ended"])
    assert 0 < len(camp.records) < 20_000
    await fake.drain()
    records = (Record(customer_id=f"k{i}", phones=(f"300{i:07d}",)) for i in range(20_000))
    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, backend="memory://"
    ) as wv:
        report = await wv.upload_records(camp.id, records, chunk_size=500, journal=journal)
    assert report.records_landed == 20_000
    assert landed(fake, camp.id) == Counter({f"k{i}": 1 for i in range(20_000)})


async def test_a_failing_task_group_ends_an_upload_in_it_and_the_resume_is_exact(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    fake.latency, fake.call_limit = 0.02, 0.5  # a chunk cut short is over 0.5 s after

    def records() -> Iterator[Record]:
        return (Record(customer_id=f"k{i}", phones=(f"300{i:07d}",)) for i in range(20_000))

    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, server_limit=0.5
    ) as wv:

        async def fail_soon() -> None:
            await until(lambda: len(camp.records) >= 1_500)
            raise RuntimeError("another task of the group failed")

        with pytest.raises(ExceptionGroup) as info:  # noqa: PT012
            async with asyncio.timeout(10), asyncio.TaskGroup() as group:
                group.create_task(
                    wv.upload_records(camp.id, records(), chunk_size=500, journal=journal)
                )
                group.create_task(fail_soon())
        assert info.group_contains(RuntimeError)
        assert len(camp.records) < 20_000
        await fake.drain()
        report = await wv.upload_records(camp.id, records(), chunk_size=500, journal=journal)
    assert report.records_landed == 20_000
    assert landed(fake, camp.id) == Counter({f"k{i}": 1 for i in range(20_000)})


async def test_each_further_chunk_runs_at_most_40_library_functions(tmp_path: Path) -> None:
    # The steady state of a load (issue 33 item 1, as benchmarks/call_path.py counts it):
    # the library functions that run at least once per chunk of a 5-chunk load, the
    # scheduler's and the generated row readers included, the simulator's not.
    package = str(Path(w.__file__).parent)
    testing = str(Path(package, "testing"))
    calls: Counter[str] = Counter()
    seen: set[int] = set()
    frames: list[Any] = []  # alive, so that their ids are not reused

    def profile(frame: Any, event: str, _: Any) -> None:
        path = frame.f_code.co_filename
        if event != "call" or id(frame) in seen:
            return  # not a call, or a coroutine resumed
        if path.startswith("<row reader of "):
            module = "_fastrows.py"
        elif path.startswith(package) and not path.startswith(testing):
            module = Path(path).relative_to(package).as_posix()
        else:
            return
        seen.add(id(frame))
        frames.append(frame)
        calls[f"{module}:{frame.f_code.co_qualname}"] += 1

    def rows(first: int) -> list[dict[str, str]]:  # wire dicts, as the benchmark loads
        return [{"customer_id": f"d{i}", "tel1": f"300{i:07d}"} for i in range(first, first + 500)]

    async with FakeWolkvox(licenses=10) as fake:
        camp = fake.create_campaign()
        async with client_for(fake, backend=w.MemoryBackend()) as wv:
            await wv.upload_records(camp.id, rows(0), chunk_size=100)  # warm
            sys.setprofile(profile)
            try:
                report = await wv.upload_records(camp.id, rows(500), chunk_size=100)
            finally:
                sys.setprofile(None)
    assert report.complete and len(report.chunks) == 5
    each = sorted(name for name, count in calls.items() if count >= 5)
    assert len(each) <= 40, each


async def test_records_of_every_shape_land_as_their_wire_forms_across_chunks(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    """Records take the reader's batch path (one wire struct each, msgspec's JSON): a load
    whose chunks cut its 100-record batches in two (chunk_size 150) lands every Record as
    its wire form, in order — quotes, tabs, blank phones between set ones, opts, a
    recall_date — and its chunks' checksums are those of the same records as dicts."""
    camp = fake.create_campaign()
    shapes = [
        lambda i: Record(customer_id=f"s{i}", customer_name='Ana "la flaca"\t', phones=("1",)),
        lambda i: Record(customer_id=f"s{i}", phones=("", f"3{i}"), opts=("", "x\\y", "é")),
        lambda i: Record(customer_id=f"s{i}", recall_date=datetime(2026, 12, 1, 10, i % 60)),
        lambda i: Record(customer_id=f"s{i}", email="a@b.co", address="Calle 5\u2028Sur"),
    ]
    items = [shapes[i % 4](i) for i in range(1_000)]
    wires = [dict(to_wire(r, w.CampaignType.PREDICTIVE)) for r in items]
    async with client_for(fake) as wv:
        report = await wv.upload_records(
            camp.id, items, chunk_size=150, journal=tmp_path / "records.journal"
        )
        await wv.upload_records(
            fake.create_campaign().id, wires, chunk_size=150, journal=tmp_path / "dicts.journal"
        )
    assert report.complete and report.records_landed == 1_000
    stored = [{k: v for k, v in r.items() if v} for r in camp.records]
    assert stored == [{k: v for k, v in wire.items() if v} for wire in wires]
    digests = {
        name: sqlite3.connect(tmp_path / f"{name}.journal")
        .execute("SELECT idx, digest FROM chunks ORDER BY idx")
        .fetchall()
        for name in ("records", "dicts")
    }
    assert len(digests["records"]) == 7 and digests["records"] == digests["dicts"]
