"""Windowed downloads: any span, through the 31-day and row-cap limits, each row once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from helpers import until
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async._time import WOLKVOX_TZ
from wolkvox_async.bulk._windows import windows
from wolkvox_async.calls._transport import AiohttpTransport
from wolkvox_async.testing import Attempt, FakeWolkvox, Fault, Knobs

START = datetime(2026, 7, 1)


def client_for(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, strict=True, **kw)


def burst(camp: Any, at: datetime, count: int, prefix: str) -> None:
    camp.add_attempts(
        Attempt(at=at, conn_id=f"{prefix}{i:07d}", customer_id="1", telephone="3", result="BUSY")
        for i in range(count)
    )


def test_windows_cover_the_span_without_overlap_or_gap() -> None:
    cuts = windows(START, START + timedelta(days=90, hours=5))
    assert len(cuts) == 3
    assert cuts[0] == (START, datetime(2026, 7, 31, 23, 59, 59))  # 31 dates, not 31 × 24 h
    for (_, end), (nxt, _) in itertools.pairwise(cuts):
        assert nxt == end + timedelta(seconds=1)
    assert cuts[-1][1] == START + timedelta(days=90, hours=5)
    with pytest.raises(w.ConfigError):
        windows(START, START - timedelta(seconds=1))


def dates(lo: datetime, hi: datetime) -> int:
    return (hi.date() - lo.date()).days + 1


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2024, 1, 1), datetime(2024, 12, 31, 23, 59, 59)),  # a leap year, whole
        (datetime(2023, 1, 31, 12, 30), datetime(2023, 4, 2)),  # month ends, a short February
        (datetime(2024, 2, 29, 23, 59, 59), datetime(2024, 3, 31, 23, 59, 59)),
        (datetime(2027, 12, 1), datetime(2028, 3, 1, 0, 0, 1)),  # a year's end, leap February
    ],
)
def test_windows_never_touch_more_than_31_calendar_dates(start: datetime, end: datetime) -> None:
    cuts = windows(start, end)
    assert cuts[0][0] == start and cuts[-1][1] == end
    for lo, hi in cuts[:-1]:
        assert dates(lo, hi) == 31 and hi.time() == datetime.max.time().replace(microsecond=0)
    assert dates(*cuts[-1]) <= 31
    for (_, hi), (lo, _) in itertools.pairwise(cuts):
        assert lo == hi + timedelta(seconds=1)


def test_one_query_is_refused_past_31_calendar_dates() -> None:
    from wolkvox_async.endpoints._validate import date_range

    assert date_range(datetime(2026, 1, 1), datetime(2026, 1, 31, 23, 59, 59))
    with pytest.raises(w.ConfigError, match="32 calendar dates"):
        date_range(datetime(2026, 1, 1), datetime(2026, 2, 1))  # exactly 31 × 24 h


async def test_a_leap_year_downloads_whole_from_a_server_counting_dates(
    fake: FakeWolkvox,
) -> None:
    # The simulator counts "31 days" as calendar dates, both ends: a window of 31 × 24 h
    # from midnight (32 dates) is refused there, and the download would abort.
    camp = fake.create_campaign()
    first, last = datetime(2024, 1, 1), datetime(2024, 12, 31, 23, 59, 59)
    attempts = fake.add_call_results(camp.id, first, last, 3_000, seed=5)
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(camp.id, first, last)
        rows = [row async for row in download]
    assert sorted(r.conn_id or "" for r in rows) == sorted(a.conn_id for a in attempts)
    assert download.requests == 12  # ceil(366 / 31)
    assert all(r.status == 200 for r in fake.requests)


async def test_120_days_arrive_once_each(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    attempts = fake.add_call_results(camp.id, START, START + timedelta(days=120), 5_000, seed=3)
    seen: list[w.bulk.DownloadProgress] = []
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(
            camp.id, START, START + timedelta(days=120), progress=seen.append
        )
        rows = [row async for row in download]
    assert sorted(r.conn_id or "" for r in rows) == sorted(a.conn_id for a in attempts)
    assert download.requests == 4 == len(seen)  # ceil(120 / 31) windows
    assert seen[-1].rows == 5_000


async def test_a_dense_day_continues_from_its_last_second() -> None:
    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, START + timedelta(days=1), 1_000, seed=1)
        async with client_for(fake) as wv:
            download = wv.iter_phone_results(camp.id, START, START + timedelta(days=40), cap=100)
            rows = [row.conn_id async for row in download]
    assert sorted(rows) == sorted(a.conn_id for a in attempts)  # every row, none twice
    assert download.requests <= 1.1 * (2 + 1_000 / 100)  # ~one request per cap, plus windows


async def test_a_capped_windows_next_part_is_asked_for_before_its_rows_are_delivered() -> None:
    # As a user reads it, through the client and the simulator: when the first row of a
    # part at the cap reaches the caller, the request for the next part has already left,
    # so the server works while the caller reads (before, it left after the rows).
    class Counted(AiohttpTransport):
        sent = 0

        async def send(self, request: Any, written: Any = None) -> Any:
            Counted.sent += 1
            return await super().send(request, written)

    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, START + timedelta(days=1), 350, seed=3)
        async with client_for(fake, transport=Counted()) as wv:
            download = wv.iter_phone_results(camp.id, START, START + timedelta(days=2), cap=100)
            seen: list[tuple[str | None, int]] = [(r.conn_id, Counted.sent) async for r in download]
    assert sorted(c for c, _ in seen) == sorted(a.conn_id for a in attempts)
    assert download.requests == Counted.sent == 4  # 350 rows: three parts at the cap, one under
    first_part = [sent for _, sent in seen[:90]]
    assert min(first_part) >= 2, first_part[:3]


async def test_a_refused_cap_splits_the_window() -> None:
    async with FakeWolkvox(knobs=Knobs(download_cap=100, cap_mode="error")) as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, START + timedelta(days=10), 450, seed=2)
        async with client_for(fake) as wv:
            rows = [
                row.conn_id
                async for row in wv.iter_phone_results(
                    camp.id, START, START + timedelta(days=10), cap=100
                )
            ]
    assert sorted(rows) == sorted(a.conn_id for a in attempts)


async def test_a_cut_answer_in_no_order_splits_the_window() -> None:
    # Rows past the cap cut from an unsorted answer: which rows are missing is arbitrary,
    # so the last row says nothing; the window is split until each half fits.
    async with FakeWolkvox(knobs=Knobs(download_cap=100, shuffle_at_cap=True)) as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, START + timedelta(days=3), 450, seed=4)
        async with client_for(fake) as wv:
            download = wv.iter_phone_results(camp.id, START, START + timedelta(days=3), cap=100)
            rows = [row.conn_id async for row in download]
    assert sorted(rows) == sorted(a.conn_id for a in attempts)
    assert download.requests > 5  # it did split: 450 rows never fit one answer of 100


async def test_one_second_over_the_cap_is_an_error_not_partial_data() -> None:
    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        burst(camp, START + timedelta(hours=3), 150, "x")
        async with client_for(fake) as wv:
            with pytest.raises(w.DownloadError, match="alone holds"):
                async for _ in wv.iter_phone_results(
                    camp.id, START, START + timedelta(days=1), cap=100
                ):
                    pass


async def test_empty_windows_and_other_reports(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    fake.add_call_results(camp.id, START + timedelta(days=40), START + timedelta(days=41), 30)
    async with client_for(fake) as wv:
        assert [
            r async for r in wv.iter_phone_results(camp.id, START, START + timedelta(days=30))
        ] == []
        detail = [
            r
            async for r in wv.iter_report(
                "detail", camp.id, START, START + timedelta(days=60), campaign_type="predictive"
            )
        ]
        shares = [
            r
            async for r in wv.iter_report("campaign_4", camp.id, START, START + timedelta(days=60))
        ]
        with pytest.raises(w.ConfigError, match="campaign_type"):
            wv.iter_report("detail", camp.id, START, START)
        with pytest.raises(w.ConfigError, match="report must be"):
            wv.iter_report("campaign_99", camp.id, START, START)
    assert len(detail) == 30
    assert sum(s.records or 0 for s in shares) == 30  # aggregates come per window


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spread=st.lists(st.integers(0, 100 * 86_400), max_size=300),
    bursts=st.lists(st.tuples(st.integers(0, 100 * 86_400), st.integers(1, 99)), max_size=4),
    cap=st.integers(40, 120),
)
def test_every_row_is_yielded_exactly_once(
    spread: list[int], bursts: list[tuple[int, int]], cap: int
) -> None:
    async def scenario() -> None:
        async with FakeWolkvox(knobs=Knobs(download_cap=cap)) as fake:
            camp = fake.create_campaign()
            expected = []
            per_second: Counter[int] = Counter()
            for i, offset in enumerate(spread):
                burst(camp, START + timedelta(seconds=offset), 1, f"s{i}-")
                expected.append(f"s{i}-0000000")
                per_second[offset] += 1
            for j, (offset, count) in enumerate(bursts):  # dense seconds, below the cap
                count = max(0, min(count, cap - 1 - per_second[offset]))
                per_second[offset] += count
                burst(camp, START + timedelta(seconds=offset), count, f"b{j}-")
                expected += [f"b{j}-{i:07d}" for i in range(count)]
            async with client_for(fake) as wv:
                end = START + timedelta(days=100)
                rows = [
                    r.conn_id async for r in wv.iter_phone_results(camp.id, START, end, cap=cap)
                ]
            assert sorted(rows) == sorted(expected)

    asyncio.run(scenario())


@pytest.mark.slow
async def test_a_day_above_sixty_thousand_at_the_real_cap(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    day = START + timedelta(days=10)
    attempts = fake.add_call_results(camp.id, day, day + timedelta(hours=20), 65_000, seed=5)
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(camp.id, START, START + timedelta(days=30))
        rows = Counter([row.conn_id async for row in download])
    assert len(rows) == 65_000 and set(rows.values()) == {1}
    assert set(rows) == {a.conn_id for a in attempts}
    assert download.requests == 2  # the capped window, then its continuation


async def test_a_row_with_unreadable_values_is_delivered_and_reported(
    fake: FakeWolkvox, caplog: pytest.LogCaptureFixture
) -> None:
    # One bad value used to lose the whole answer (0 of 9,000 rows yielded).
    camp = fake.create_campaign()
    end = START + timedelta(days=20)
    attempts = fake.add_call_results(camp.id, START, end, 9_000, seed=7)
    fake.inject(Fault.BAD_VALUE, api="campaign_3")
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        with caplog.at_level(logging.WARNING, logger="wolkvox_async"):
            download = wv.iter_phone_results(camp.id, START, end)
            rows = [row async for row in download]
    assert len(rows) == 9_000  # (the fault spoils the bad row's conn_id too: "n/a")
    assert len({r.conn_id for r in rows} & {a.conn_id for a in attempts}) == 8_999
    [bad] = [row for row in rows if row.unread is not None]
    assert bad.unread.fields == ("date",) and bad.date is None  # the rest of it is kept
    assert bad.unread.row["date"] == "31/02/2023" and bad.result is not None
    assert download.unread_rows == 1
    [warning] = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert "campaign_3 20260701000000..20260721000000" in warning and "(date)" in warning

    fake.inject(Fault.BAD_VALUE, api="campaign_3")
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, strict=True, poll_interval=0
    ) as wv:
        with pytest.raises(w.ResponseDecodeError, match="date"):
            await wv.phone_results(camp.id, START, end)


async def _all(rows: Any) -> list[Any]:
    return [row async for row in rows]


async def test_two_windows_are_read_at_once_and_rows_come_in_order(fake: FakeWolkvox) -> None:
    # Once the first answer is known to be under the cap, the second window's answer is
    # held until another request was in flight beside it: a download asking one window at
    # a time never gets there, whatever the machine's speed (a 20 ms latency only made the
    # overlap likely: it failed under load).
    camp = fake.create_campaign()
    fake.add_call_results(camp.id, START, START + timedelta(days=120), 4_000, seed=5)
    fake.inject(Fault.HELD, api="campaign_3")
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(camp.id, START, START + timedelta(days=120))
        rows_task = asyncio.create_task(_all(download))
        await until(lambda: fake.stats.in_flight[fake.token] == 1)
        fake.let_go()
        fake.inject(Fault.HELD, api="campaign_3")  # the second window's, when it comes
        await until(lambda: fake.stats.peak_in_flight[fake.token] == 2)
        fake.let_go()
        rows = await rows_task
    assert fake.stats.peak_in_flight[fake.token] == 2
    assert [r.date for r in rows] == sorted(r.date for r in rows)  # windows in order
    assert len(rows) == 4_000 and download.requests == 4


async def test_the_first_two_windows_are_asked_for_at_once(fake: FakeWolkvox) -> None:
    # Both are known from the start and neither depends on the other's continuation: both
    # slots are busy from the first request. Both requests are held at the server until
    # they are in flight together: a download asking the first window alone never gets
    # there (the second would wait for the first's answer).
    camp = fake.create_campaign()
    fake.add_call_results(camp.id, START, START + timedelta(days=120), 4_000, seed=5)
    fake.inject(Fault.HELD, api="campaign_3", times=2)
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(camp.id, START, START + timedelta(days=120))
        rows_task = asyncio.create_task(_all(download))
        try:
            await until(lambda: fake.stats.in_flight[fake.token] == 2)
        finally:
            fake.let_go()
        rows = await rows_task
    assert [r.date for r in rows] == sorted(r.date for r in rows)
    assert len(rows) == 4_000 and download.requests == 4
    assert fake.stats.peak_in_flight[fake.token] == 2


async def test_a_continuation_waits_for_the_neighbour_asked_beside_its_window() -> None:
    # Window 1 comes back at the cap while window 2, asked for beside it, is out: its
    # continuation is asked for once window 1's rows are delivered, never as a third
    # request beside them (a window at the cap keeps its slot for its continuation).
    cuts = windows(START, START + timedelta(days=100))  # 4 windows
    at = cuts[1][0].replace(tzinfo=WOLKVOX_TZ)
    dense = [SimpleNamespace(date=at + timedelta(seconds=i), unread=None) for i in range(250)]
    outstanding = peak = 0
    beside: dict[datetime, int] = {}  # each window's start: answers not yet made when asked

    async def fetch(lo: datetime, hi: datetime, _: Any) -> w.bulk.Deferred[Any]:
        nonlocal outstanding, peak
        beside[lo] = outstanding
        outstanding += 1
        peak = max(peak, outstanding)
        await asyncio.sleep(0)
        part = [r for r in dense if lo <= r.date.replace(tzinfo=None) <= hi][:100]
        part = part or [SimpleNamespace(date=lo.replace(tzinfo=WOLKVOX_TZ), unread=None)]

        def make() -> list[Any]:
            nonlocal outstanding
            outstanding -= 1
            return part

        return w.bulk.Deferred(count=len(part), last=lambda: part[-1], make=make)

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=100), cap=100, stamp=lambda row: row.date
    )
    rows = [row async for row in download]
    assert [r.date for r in rows] == sorted(r.date for r in rows)
    assert [r for r in rows if r in dense] == dense  # each once
    continued = [lo for lo in beside if cuts[1][0] < lo <= cuts[1][1]]
    assert continued and all(beside[lo] == 1 for lo in continued)  # window 2 alone
    assert peak == 3  # later: a window delivered, two requests out (the memory bound)


async def test_two_requests_are_out_while_a_windows_rows_are_delivered() -> None:
    # Both slots work while the client makes and hands over a window's rows: the window
    # after the next is asked for as soon as a window's delivery begins, never later.
    asked: list[tuple[int, int]] = []  # (window asked, rows delivered by then)
    delivered = 0
    cuts = windows(START, START + timedelta(days=200))

    async def fetch(lo: datetime, hi: datetime, _: Any) -> list[Any]:
        asked.append((cuts.index((lo, hi)), delivered))
        await asyncio.sleep(0)
        return [SimpleNamespace(date=lo, unread=None)] * 3

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=200)
    )
    async for _ in download:
        delivered += 1
    assert [n for n, _ in asked] == list(range(len(cuts)))
    for window, by_then in asked:
        assert by_then == 3 * max(0, window - 2), (window, by_then)
    assert delivered == 3 * len(cuts)


async def test_a_slow_reader_holds_at_most_three_answers() -> None:
    # The memory bound, with a server far faster than the reader: at most two requests
    # out and, with the window being delivered, three answers in hand; nothing more is
    # asked for until the reader catches up.
    cuts = windows(START, START + timedelta(days=300))
    out = in_hand = peak_out = peak_in_hand = 0

    async def fetch(lo: datetime, hi: datetime, _: Any) -> w.bulk.Deferred[Any]:
        nonlocal out, in_hand, peak_out, peak_in_hand
        out += 1
        peak_out = max(peak_out, out)
        await asyncio.sleep(0)
        out -= 1
        in_hand += 1
        peak_in_hand = max(peak_in_hand, in_hand)
        rows = [SimpleNamespace(date=lo, unread=None)] * 2

        def make() -> list[Any]:
            return rows

        return w.bulk.Deferred(count=len(rows), last=lambda: rows[-1], make=make)

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=300)
    )
    delivered = 0
    async for _ in download:
        delivered += 1
        if delivered % 2 == 0:  # the window's last row: its answer is let go
            in_hand -= 1
        for _ in range(5):  # a reader slower than the server
            await asyncio.sleep(0)
    assert delivered == 2 * len(cuts)
    assert peak_out == 2 and peak_in_hand == 3


async def test_a_window_at_the_cap_is_continued_before_its_rows_are_made() -> None:
    # The server reads the next part while the client makes this one's rows; still no more
    # than two answers asked for and not yet delivered.
    at = START.replace(tzinfo=WOLKVOX_TZ)
    stored = [SimpleNamespace(date=at + timedelta(seconds=i), unread=None) for i in range(250)]
    events: list[tuple[str, datetime]] = []
    outstanding = peak = 0

    async def fetch(lo: datetime, hi: datetime, _: Any) -> w.bulk.Deferred[Any]:
        nonlocal outstanding, peak
        events.append(("ask", lo))
        outstanding += 1
        peak = max(peak, outstanding)
        await asyncio.sleep(0)
        part = [row for row in stored if lo <= row.date.replace(tzinfo=None) <= hi][:100]

        def make() -> list[Any]:
            nonlocal outstanding
            events.append(("make", lo))
            outstanding -= 1
            return part

        return w.bulk.Deferred(count=len(part), last=lambda: part[-1], make=make)

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=1), cap=100, stamp=lambda row: row.date
    )
    rows = [row async for row in download]
    assert [r.date for r in rows] == [r.date for r in stored]  # each once, in order
    parts = [lo for kind, lo in events if kind == "ask"]
    assert parts == [START, START + timedelta(seconds=99), START + timedelta(seconds=198)]
    for made, after in itertools.pairwise(parts):
        assert events.index(("ask", after)) < events.index(("make", made))
    assert peak <= 2


def _told_early(
    stored: list[Any],
    events: list[tuple[str, datetime]],
    delivered: list[Any],
    *,
    most: int | None = None,
) -> Any:
    """A fetch that tells its answer's size and last row before it is "parsed", as the
    client's does from the raw body (``most``: the size it tells, if not the true one).
    Its answer comes once the rows before its window are delivered, as from a server
    slower than the client."""

    async def fetch(lo: datetime, hi: datetime, early: Any) -> w.bulk.Deferred[Any]:
        events.append(("ask", lo))
        before = sum(1 for row in stored if row.date.replace(tzinfo=None) < lo)
        while len(delivered) < before:
            await asyncio.sleep(0)
        part = [row for row in stored if lo <= row.date.replace(tzinfo=None) <= hi][:100]
        told = len(part) if most is None else most
        if part and early(lambda: events.append(("count", lo)) or told, lambda: part[-1]):
            await asyncio.sleep(0)
        events.append(("parsed", lo))
        return w.bulk.Deferred(count=len(part), last=lambda: part[-1], make=lambda: part)

    return fetch


async def _read_told_early(
    stored_rows: int, *, most: int | None = None
) -> tuple[list[tuple[str, datetime]], w.bulk.WindowedDownload[Any]]:
    """A day of ``stored_rows`` rows, one a second, read with a cap of 100 through
    :func:`_told_early`: every row once and in order; (the fetch's events, the download)."""
    at = START.replace(tzinfo=WOLKVOX_TZ)
    stored = [
        SimpleNamespace(date=at + timedelta(seconds=i), unread=None) for i in range(stored_rows)
    ]
    events: list[tuple[str, datetime]] = []
    rows: list[Any] = []
    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        _told_early(stored, events, rows, most=most),
        START,
        START + timedelta(days=1),
        cap=100,
        stamp=lambda row: row.date,
    )
    async for row in download:
        rows.append(row)
    assert [r.date for r in rows] == [r.date for r in stored]
    return events, download


async def test_a_window_at_the_cap_is_continued_before_its_answer_is_parsed() -> None:
    events, download = await _read_told_early(250)
    parts = [lo for kind, lo in events if kind == "ask"]
    assert len(parts) == download.requests == 3
    for told, after in itertools.pairwise(parts):
        assert events.index(("ask", after)) < events.index(("parsed", told))


async def test_an_answer_is_counted_only_when_its_count_could_start_a_continuation() -> None:
    # Counting a raw answer's rows is a pass over all of it (17 MB for 50,000 rows), made
    # before the answer is parsed: an answer whose early word cannot start a request (its
    # neighbour holds the second slot) is not counted. Here the first window is answered
    # while the second is out; the last one, alone, is counted (it could be at the cap).
    at = START.replace(tzinfo=WOLKVOX_TZ)
    stored = [SimpleNamespace(date=at + timedelta(days=i), unread=None) for i in range(90)]
    events: list[tuple[str, datetime]] = []
    rows: list[Any] = []
    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        _told_early(stored, events, rows),
        START,
        START + timedelta(days=90) - timedelta(seconds=1),
        cap=100,
        stamp=lambda row: row.date,
    )
    async for row in download:
        rows.append(row)
    assert rows == stored and download.requests == 3
    asked = [lo for kind, lo in events if kind == "ask"]
    counted = [lo for kind, lo in events if kind == "count"]
    assert asked[0] not in counted and counted == [asked[-1]]


async def test_an_answer_told_at_the_cap_that_is_not_drops_the_continuation() -> None:
    # The raw body over-counts rows when values hold braces: the continuation asked for on
    # that word is let end and dropped, and no row comes twice.
    _, download = await _read_told_early(60, most=100)
    assert download.requests == 2 and download.windows_done == 1


async def test_a_continuation_asked_for_early_ends_with_the_window_that_failed() -> None:
    # The answer told it was at the cap, then failed to parse: the continuation already
    # asked for is awaited with it (not left running, unread), and is not kept.
    at = START.replace(tzinfo=WOLKVOX_TZ)
    stored = [SimpleNamespace(date=at + timedelta(seconds=i), unread=None) for i in range(250)]
    ended: list[datetime] = []

    async def fetch(lo: datetime, hi: datetime, early: Any) -> w.bulk.Deferred[Any]:
        part = [row for row in stored if lo <= row.date.replace(tzinfo=None) <= hi][:100]
        try:
            if lo == START:
                assert early(lambda: len(part), lambda: part[-1])
                await asyncio.sleep(0)
                raise w.ResponseDecodeError(
                    method="GET", url="u", http_status=200, body_code=200, message="bad"
                )
            for _ in range(5):  # still in flight when the first one fails
                await asyncio.sleep(0)
            return w.bulk.Deferred(count=len(part), last=lambda: part[-1], make=lambda: part)
        finally:
            ended.append(lo)

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=1), cap=100, stamp=lambda row: row.date
    )
    with pytest.raises(w.ResponseDecodeError) as failed:
        async for _ in download:
            pass
    assert ended == [START, START + timedelta(seconds=99)]  # both done when it raised
    assert failed.value.windows_ahead == ()


async def test_windows_read_past_a_failed_one_are_kept_and_not_read_again() -> None:
    cuts = windows(START, START + timedelta(days=120))  # 4 windows
    reads: list[int] = []
    failing = [1]  # the 2nd window fails once

    async def fetch(lo: datetime, hi: datetime, _: Any) -> list[Any]:
        window = cuts.index((lo, hi))
        reads.append(window)
        await asyncio.sleep(0)
        if window in failing:
            failing.remove(window)
            raise w.ServerError(method="GET", url="u", http_status=500, body_code=500, message="x")
        return [SimpleNamespace(date=lo, unread=None, window=window)]

    first: list[Any] = []

    async def read_all() -> None:
        async for row in w.bulk.WindowedDownload(fetch, START, START + timedelta(days=120)):
            first.append(row.window)

    with pytest.raises(w.ServerError) as failed:
        await read_all()
    assert first == [0]
    [ahead] = failed.value.windows_ahead  # the 3rd was read beside the failed 2nd
    assert (ahead.start, ahead.end) == cuts[2] and [r.window for r in ahead.rows] == [2]

    # Continued with the 3rd held: it is not read again, and comes in its turn.
    reads.clear()
    order: list[Any] = []

    def progress(done: w.bulk.DownloadProgress) -> None:
        if done.held:
            order.extend(r.window for r in ahead.rows)

    download = w.bulk.WindowedDownload(
        fetch, cuts[1][0], START + timedelta(days=120), progress=progress, held=[cuts[2]]
    )
    async for row in download:
        order.append(row.window)
    assert sorted(reads) == [1, 3] and order == [1, 2, 3]


async def test_a_naive_start_and_an_aware_end_make_one_download(fake: FakeWolkvox) -> None:
    # Found by the fuzz: the up-front check of the campaign compared the two ends.
    camp = fake.create_campaign()
    async with client_for(fake) as wv:
        download = wv.iter_phone_results(
            camp.id, datetime(2026, 1, 1), datetime(2026, 1, 1, 5, tzinfo=UTC)
        )
        assert [row async for row in download] == []
    with pytest.raises(w.ConfigError):
        wv.iter_phone_results("not-an-id", START, START)  # refused before any request


@pytest.mark.parametrize(
    "held",
    [[1], [(START,)], [(START, "2026-11-01")], None, [(START, START, START)]],
    ids=["int", "one", "text", "none", "three"],
)
def test_held_windows_that_are_not_datetime_pairs_are_refused(
    client: WolkvoxClient, held: object
) -> None:
    """Found by the fuzz: a bare ValueError or TypeError from deep in the download."""
    with pytest.raises(w.ConfigError, match="held"):
        client.iter_report("campaign_3", "1", START, START + timedelta(days=1), held=held)  # type: ignore[arg-type]


async def test_a_window_cut_at_the_cap_may_be_read_again_at_once() -> None:
    # Issue 30, item 5: the polling rule guards delivered reads. A window whose answer was
    # cut at the cap delivered part of its rows: the same read again is allowed at once;
    # its continuation, delivered whole, is not (the 5-minute rule still holds for it).
    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        fake.add_call_results(camp.id, START, START + timedelta(hours=5), 150, seed=1)
        end = START + timedelta(days=1)
        async with client_for(fake, poll_policy="raise") as wv:
            download = wv.iter_phone_results(camp.id, START, end, cap=100)
            assert len([row async for row in download]) == 150
            assert download.requests == 2
            again = wv.iter_phone_results(camp.id, START, end, cap=100)
            with pytest.raises(w.WaitTooLong, match="polling interval"):
                async for _ in again:
                    pass
    reads = [r for r in fake.requests if r.api == "campaign_3"]
    # The cut window was read again; the continuation was refused by our ledger, unsent.
    assert [r.query["date_ini"] for r in reads][::2] == [reads[0].query["date_ini"]] * 2
    assert len(reads) == 3 and all(r.status == 200 for r in reads)


def test_a_span_is_cut_around_the_windows_a_stopped_run_kept() -> None:
    from wolkvox_async.bulk._windows import planned

    end = START + timedelta(days=100)
    assert planned(START, end) == (windows(START, end), set())
    # A continuation from a last second and a split half, as a stopped run keeps them.
    tail = (START + timedelta(hours=5), datetime(2026, 7, 31, 23, 59, 59))
    half = (datetime(2026, 8, 10), datetime(2026, 8, 20, 12))
    cuts, fits = planned(START, end, [half, tail])
    assert fits == {tail, half}
    assert cuts[:2] == [(START, tail[0] - timedelta(seconds=1)), tail]
    assert cuts[2:4] == [(datetime(2026, 8, 1), half[0] - timedelta(seconds=1)), half]
    assert cuts[4][0] == half[1] + timedelta(seconds=1) and cuts[-1][1] == end
    for lo, hi in cuts:
        assert lo <= hi and dates(lo, hi) <= 31
    for (_, hi), (lo, _) in itertools.pairwise(cuts):
        assert lo == hi + timedelta(seconds=1)  # no gap, no overlap
    # Held windows that do not fit (before the start, overlapping, past the end) are read.
    before = (START - timedelta(days=1), START + timedelta(hours=1))
    overlapping = (tail[0] + timedelta(hours=1), tail[1])
    after = (end, end + timedelta(days=1))
    cuts, fits = planned(START, end, [tail, before, overlapping, after])
    rest = windows(tail[1] + timedelta(seconds=1), end)
    assert fits == {tail} and cuts == [(START, tail[0] - timedelta(seconds=1)), tail, *rest]


async def test_a_window_at_the_cap_reports_the_rows_before_its_last_second() -> None:
    # A checkpoint inside a window: once the rows before the last second of an answer at
    # the cap are delivered, progress says through which second every row is delivered.
    at = START.replace(tzinfo=WOLKVOX_TZ)
    stored = [SimpleNamespace(date=at + timedelta(seconds=i // 2), unread=None) for i in range(250)]
    reports: list[tuple[int, int, datetime | None]] = []
    delivered: list[Any] = []

    async def fetch(lo: datetime, hi: datetime, _: Any) -> list[Any]:
        return [row for row in stored if lo <= row.date.replace(tzinfo=None) <= hi][:100]

    def progress(done: w.bulk.DownloadProgress) -> None:
        reports.append((done.windows_done, len(delivered), done.through))
        assert done.rows == len(delivered)
        last = delivered[-1].date.replace(tzinfo=None) if delivered else None
        assert done.through is not None and (last is None or last <= done.through)

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch,
        START,
        START + timedelta(days=1),
        cap=100,
        stamp=lambda row: row.date,
        progress=progress,
    )
    async for row in download:
        delivered.append(row)
    assert delivered == stored
    second = timedelta(seconds=1)
    assert reports == [
        (0, 98, START + 49 * second - second),  # rows of seconds 0..48; 49 is read again
        (0, 196, START + 98 * second - second),
        (1, 250, START + timedelta(days=1)),
    ]


async def test_an_interrupted_download_keeps_what_arrived_and_lets_the_rest_end() -> None:
    # Cancelled (Ctrl-C) while awaiting the 2nd window, the 3rd already answered: the 3rd
    # is kept (its read was made), the 2nd's request is let end before the download does,
    # and a continuation from the checkpoint reads the 2nd and 4th only, every row once.
    cuts = windows(START, START + timedelta(days=120))  # 4 windows
    reads: list[int] = []
    ended: list[int] = []
    stuck = asyncio.Event()

    async def fetch(lo: datetime, hi: datetime, _: Any) -> list[Any]:
        window = cuts.index((lo, hi))
        reads.append(window)
        try:
            if window == 1 and not stuck.is_set():
                await asyncio.Event().wait()  # the server never answers, until cancelled
            await asyncio.sleep(0)
            return [SimpleNamespace(date=lo, unread=None, window=window)]
        finally:
            ended.append(window)

    first: list[int] = []
    through: list[datetime | None] = []
    download = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=120), progress=lambda d: through.append(d.through)
    )

    async def read_all() -> None:
        async for row in download:
            first.append(row.window)

    task = asyncio.create_task(read_all())
    await until(lambda: 2 in ended)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert first == [0] and through == [cuts[0][1]]
    assert sorted(ended) == [0, 1, 2]  # the 2nd's request ended with the download
    [ahead] = download.windows_ahead
    assert (ahead.start, ahead.end) == cuts[2] and [r.window for r in ahead.rows] == [2]

    stuck.set()
    reads.clear()
    order: list[int] = []

    def progress(done: w.bulk.DownloadProgress) -> None:
        if done.held:
            order.extend(r.window for r in ahead.rows)

    again = w.bulk.WindowedDownload(
        fetch,
        cuts[0][1] + timedelta(seconds=1),
        START + timedelta(days=120),
        progress=progress,
        held=[(ahead.start, ahead.end)],
    )
    async for row in again:
        order.append(row.window)
    assert sorted(reads) == [1, 3] and order == [1, 2, 3]


async def test_a_cancellation_landing_as_a_window_is_answered_keeps_its_answer() -> None:
    # asyncio.run's SIGINT handler runs between any two bytecodes: here it cancels the
    # reader while the 2nd window's request is ending, its answer in hand (its read made,
    # its poll stamp kept). The answer is kept, not lost with the request's task
    # (test_export.py's interrupted export "between windows" was refused on --resume).
    cuts = windows(START, START + timedelta(days=100))  # 4 windows
    reader: asyncio.Task[None] | None = None

    async def fetch(lo: datetime, hi: datetime, _: Any) -> list[Any]:
        window = cuts.index((lo, hi))
        await asyncio.sleep(0.01 if window == 1 else 0)
        if window == 1:
            assert reader is not None
            reader.cancel()  # as the signal handler does, inside this task's last step
        return [SimpleNamespace(date=lo, unread=None, window=window)]

    download: w.bulk.WindowedDownload[Any] = w.bulk.WindowedDownload(
        fetch, START, START + timedelta(days=100)
    )
    got: list[int] = []

    async def read_all() -> None:
        async for row in download:
            got.append(row.window)

    reader = asyncio.create_task(read_all())
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert got == [0]
    assert (cuts[1][0], cuts[1][1]) in [(a.start, a.end) for a in download.windows_ahead]


@pytest.mark.parametrize("seed", range(10))
async def test_a_download_interrupted_anywhere_continues_at_once_from_its_checkpoint(
    seed: int,
) -> None:
    """Cancelled at a random moment (seeded): nothing is delivered past the last progress
    report, and continuing from the second after it, with the windows the download kept,
    is never refused by the 5-minute rule (poll_policy="raise") and gives every row once."""
    rng = random.Random(seed)
    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        end = START + timedelta(days=75)
        attempts = fake.add_call_results(camp.id, START, end, 600, seed=seed)
        dense = START + timedelta(days=40)  # a day above the cap: continued from its rows
        attempts += fake.add_call_results(camp.id, dense, dense + timedelta(hours=1), 350)
        fake.latency = (0.001, 0.02)
        async with client_for(fake, poll_policy="raise", server_limit=0.3) as wv:
            delivered: list[str | None] = []
            mark: dict[str, Any] = {"through": None, "rows": 0}

            def checkpoint(done: w.bulk.DownloadProgress) -> None:
                mark.update(through=done.through, rows=len(delivered))

            download = wv.iter_report(
                "campaign_3", camp.id, START, end, cap=100, progress=checkpoint
            )

            async def read() -> None:
                async for row in download:
                    delivered.append(row.conn_id)

            task = asyncio.create_task(read())
            await asyncio.sleep(rng.uniform(0, 0.12))
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert len(delivered) == mark["rows"], seed  # nothing past the checkpoint
            since = START if mark["through"] is None else mark["through"] + timedelta(seconds=1)
            kept = {held.start: held.rows for held in download.windows_ahead}
            rest: list[str | None] = []

            def put_held(done: w.bulk.DownloadProgress) -> None:
                if done.held:
                    rest.extend(row.conn_id for row in kept.pop(done.window_start))

            if since <= end:
                again = wv.iter_report(
                    "campaign_3",
                    camp.id,
                    since,
                    end,
                    cap=100,
                    progress=put_held,
                    held=[(h.start, h.end) for h in download.windows_ahead],
                )
                async for row in again:
                    rest.append(row.conn_id)
                assert not kept  # every kept window was put in its place, none read again
    assert Counter(delivered + rest) == Counter(a.conn_id for a in attempts), seed


@pytest.mark.parametrize("how", ["break", "error"])
async def test_answers_the_caller_did_not_take_may_be_read_again_at_once(
    fake: FakeWolkvox, how: str
) -> None:
    # The caller stops in the first window's rows (a break, or an error writing them: a
    # full disk): the answers it did not take keep no poll stamp, so the same download
    # runs again at once; once delivered, the same reads wait their 5 minutes again.
    camp = fake.create_campaign()
    attempts = fake.add_call_results(camp.id, START, START + timedelta(days=80), 900, seed=4)
    async with client_for(fake, poll_policy="raise") as wv:
        first = aiter(wv.iter_phone_results(camp.id, START, START + timedelta(days=80)))
        with contextlib.suppress(OSError):
            async with contextlib.aclosing(first):
                async for _ in first:
                    if how == "error":
                        raise OSError(28, "No space left on device")
                    break
        again = wv.iter_phone_results(camp.id, START, START + timedelta(days=80))
        rows = [row.conn_id async for row in again]
        assert sorted(rows) == sorted(a.conn_id for a in attempts)
        with pytest.raises(w.WaitTooLong):
            async for _ in wv.iter_phone_results(camp.id, START, START + timedelta(days=80)):
                pass
