"""FakeWolkvox enforces what wolkvox-api.md §10 says a faithful simulator must."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import until

from wolkvox_async import (
    ApiError,
    BadRequest,
    InvalidToken,
    Maintenance,
    QuotaExhausted,
    TokenLimitExceeded,
    WolkvoxClient,
)
from wolkvox_async._time import to_wolkvox_time
from wolkvox_async.testing import Attempt, FakeWolkvox, Knobs, VirtualClock


async def raw(
    fake: FakeWolkvox, method: str, path: str, *, token: str | None = None, body: Any = None
) -> tuple[int, Any]:
    headers = {} if token is None else {"wolkvox-token": token}
    async with aiohttp.ClientSession() as session:
        data = None if body is None else json.dumps(body)
        async with session.request(method, fake.url + path, headers=headers, data=data) as resp:
            return resp.status, await resp.json(content_type=None)


def client_for(fake: FakeWolkvox, token: str | None = None, **kw: Any) -> WolkvoxClient:
    # One attempt: these tests look at what the server answers, not at our retries.
    options = {"max_attempts": 1, **kw}
    return WolkvoxClient(
        server=fake.server, token=token or fake.token, base_url=fake.url, **options
    )


async def test_auth_errors(fake: FakeWolkvox) -> None:
    status, body = await raw(fake, "GET", "/api/v2/information.php?api=token_info")
    assert (status, body["msg"]) == (401, "PLEASE ENTER THE WOLKVOX-TOKEN")
    async with client_for(fake, token="not-a-token") as wv:
        with pytest.raises(InvalidToken):
            await wv.token_info()
    assert fake.stats.refusals["no_token"] == 1
    assert fake.stats.refusals["invalid_token"] == 1
    assert fake.quota_used() == 0


@pytest.mark.parametrize("charged", [True, False], ids=["refusal charged", "not charged"])
@pytest.mark.parametrize("cap", [1, 2])
async def test_concurrency_cap_per_token(cap: int, charged: bool) -> None:
    # Raw, unscheduled requests: the client itself would never send a third.
    knobs = Knobs(charge_refusals=charged)
    async with FakeWolkvox(max_concurrency=cap, latency=0.05, knobs=knobs) as fake:
        other = fake.add_token()
        path = "/api/v2/information.php?api=token_info"
        results = await asyncio.gather(
            *(raw(fake, "GET", path, token=fake.token) for _ in range(cap + 1)),
            raw(fake, "GET", path, token=other),
        )
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (cap + 1) + [403]  # only the (cap+1)th on the same token
    [refused] = [body for status, body in results if status == 403]
    assert f"PER TOKEN ({cap})" in str(refused)  # the message names the cap
    assert fake.stats.peak_in_flight[fake.token] == cap
    assert fake.stats.refusals["simultaneous"] == 1
    # "Every request, failed ones included" costs a unit (§10), a refused one too.
    assert fake.quota_used() == cap + 1 + charged


async def test_a_large_report_is_made_beside_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # campaign_3's rows are made in a thread: while one page is being made, the token's
    # other request is served and counted in flight beside it (a 60,000-row page made on
    # the loop held the other request for its whole render: two slots served as one).
    from wolkvox_async.testing import _report_api

    release = threading.Event()
    rows_reply = _report_api.rows_reply

    def held(ctx: Any, code: Any, rows: Any) -> Any:
        assert release.wait(10), "the page was made on the loop: nothing else was served"
        return rows_reply(ctx, code, rows)

    monkeypatch.setattr(_report_api, "rows_reply", held)
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        fake.add_call_results(camp.id, datetime(2026, 6, 1), datetime(2026, 6, 2), 100)
        page = asyncio.create_task(
            raw(
                fake,
                "GET",
                f"/api/v2/reports_manager.php?api=campaign_3&campaign_id={camp.id}"
                "&date_ini=20260601000000&date_end=20260602000000",
                token=fake.token,
            )
        )
        await until(lambda: fake.stats.in_flight[fake.token] == 1)
        status, _ = await raw(
            fake, "GET", "/api/v2/information.php?api=token_info", token=fake.token
        )
        assert status == 200 and not page.done()
        release.set()
        status, body = await page
    assert status == 200 and len(body["data"]) == 100
    assert fake.stats.peak_in_flight[fake.token] == 2  # counted as the server counts them


async def test_a_page_orjson_refuses_is_written_by_the_stdlib_in_slices() -> None:
    # A lone surrogate in a record (a value no UTF-8 encoder takes): the page is still
    # answered, as json.dumps writes it (\ud800 escaped), its 2,500 rows in slices.
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        camp.add_records([{"customer_id": "1", "customer_name": "bad \ud800 name"}])
        camp.add_attempts(
            Attempt(
                at=datetime(2026, 6, 1) + timedelta(seconds=i),
                conn_id=f"c{i}",
                customer_id="1",
                telephone="3",
                result="BUSY",
            )
            for i in range(2_500)
        )
        status, body = await raw(
            fake,
            "GET",
            f"/api/v2/reports_manager.php?api=campaign_3&campaign_id={camp.id}"
            "&date_ini=20260601000000&date_end=20260602000000",
            token=fake.token,
        )
    assert status == 200 and len(body["data"]) == 2_500
    assert {row["customer_name"] for row in body["data"]} == {"bad \ud800 name"}
    assert [row["conn_id"] for row in body["data"]] == [f"c{i}" for i in range(2_500)]


async def test_quota_is_shared_by_an_operations_tokens() -> None:
    async with FakeWolkvox(daily_quota=3) as fake:
        second = fake.add_token()
        elsewhere = fake.add_operation("0100", licenses=1, tokens=["other-op-token"])
        async with (
            client_for(fake) as a,
            client_for(fake, second) as b,
            client_for(fake, "other-op-token", operation="0100") as c,
        ):
            await a.campaigns()
            await b.campaigns()  # another token: not a shared read
            info = await a.token_info()
            assert (info.token_use_today, info.all_token_today, info.token_limit) == (2, 3, 3)
            with pytest.raises(TokenLimitExceeded):
                await b.token_info()
            await c.token_info()  # another operation has its own quota
    assert fake.quota_used() == 3
    assert elsewhere.limit == 1000
    assert fake.stats.refusals["token_limit"] == 1


async def test_quota_resets_at_midnight_bogota_for_server_and_client() -> None:
    clock = VirtualClock(datetime(2026, 11, 21, 4, 59, tzinfo=UTC))  # 23:59 in Bogota

    def server_now() -> datetime:
        return datetime.fromtimestamp(clock.time(), UTC)

    async with (
        FakeWolkvox(daily_quota=1, clock=server_now) as fake,
        client_for(fake, clock=clock) as wv,
    ):
        await wv.token_info()
        with pytest.raises(TokenLimitExceeded):
            await wv.token_info()  # the server says so, once
        with pytest.raises(QuotaExhausted) as info:
            await wv.token_info()  # then the client knows, and sends nothing
        assert info.value.resets_at == datetime(2026, 11, 21, 5, tzinfo=UTC)
        clock.set(datetime(2026, 11, 21, 4, 59, 59, tzinfo=UTC))
        with pytest.raises(QuotaExhausted):
            await wv.token_info()
        clock.set(datetime(2026, 11, 21, 5, 0, tzinfo=UTC))  # midnight in Bogota
        assert (await wv.token_info()).token_use_today == 1
    assert fake.stats.refusals["token_limit"] == 1
    assert fake.stats.requests == 3


async def test_upload_limit_and_date_range_limit_are_enforced(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign()
    records = [{"customer_id": str(i)} for i in range(10_001)]
    path = (
        "/api/v2/campaign.php?api=add_record&type_campaign=predictive"
        f"&campaign_id={camp.id}&campaign_status=start"
    )
    status, body = await raw(fake, "POST", path, token=fake.token, body=records)
    assert status == 400 and "10000" in body["msg"]
    assert camp.records == []
    status, body = await raw(
        fake,
        "GET",
        f"/api/v2/reports_manager.php?api=campaign_3&campaign_id={camp.id}&date_ini=20260101000000&date_end=20260201000001",
        token=fake.token,
    )
    assert status == 400 and "31 DAYS" in body["msg"]


async def test_seeded_attempts_are_whole_seconds_that_a_read_to_the_second_finds() -> None:
    # Wolkvox stores whole seconds, and a client cuts its windows to the second. An attempt
    # seeded at the span's end with the fraction of a `now` (as `wolkvox demo` seeds
    # them) fell after the last second read, or between two windows: a row no read finds.
    start = datetime(2026, 10, 1, 10, 0, 0, 700_000, tzinfo=UTC)
    end = start + timedelta(seconds=3)
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        seeded = fake.add_call_results(camp.id, start, end, 50)
        assert all(a.at.microsecond == 0 for a in seeded)
        assert all(to_wolkvox_time(start) <= a.at <= to_wolkvox_time(end) for a in seeded)
        async with client_for(fake) as wv:
            rows = [row async for row in wv.iter_phone_results(camp.id, start, end)]
    assert len(rows) == 50


@pytest.mark.parametrize(("mode", "expect"), [("truncate", 50), ("error", BadRequest)])
async def test_download_cap(mode: str, expect: Any) -> None:
    start = datetime(2026, 10, 1)
    async with FakeWolkvox(knobs=Knobs(download_cap=50, cap_mode=mode)) as fake:  # type: ignore[arg-type]
        camp = fake.create_campaign()
        fake.add_call_results(camp.id, start, start + timedelta(days=1), 51)
        async with client_for(fake) as wv:
            if isinstance(expect, int):
                assert (
                    len(await wv.phone_results(camp.id, start, start + timedelta(days=1))) == expect
                )
            else:
                with pytest.raises(expect, match="EXCEEDS 50"):
                    await wv.phone_results(camp.id, start, start + timedelta(days=1))
    assert Knobs().download_cap == 60_000


@pytest.mark.parametrize("as_404", [True, False])
async def test_empty_report_window(as_404: bool) -> None:
    async with FakeWolkvox(knobs=Knobs(empty_report_404=as_404)) as fake:
        camp = fake.create_campaign()
        status, _ = await raw(
            fake,
            "GET",
            f"/api/v2/reports_manager.php?api=campaign_1&campaign_id={camp.id}&date_ini=20260101000000&date_end=20260102000000",
            token=fake.token,
        )
        assert status == (404 if as_404 else 200)
        async with client_for(fake) as wv:
            assert await wv.final_results(camp.id, datetime(2026, 1, 1), datetime(2026, 1, 2)) == ()


async def test_maintenance_unknown_api_and_wrong_method(fake: FakeWolkvox) -> None:
    status, body = await raw(fake, "GET", "/api/v2/campaign.php?api=nope", token=fake.token)
    assert (status, body["msg"]) == (400, "THE API YOU WANT TO CONSULT DOES NOT EXIST")
    status, _ = await raw(
        fake, "GET", "/api/v2/campaign.php?api=start&campaign_id=1", token=fake.token
    )
    assert status == 405
    fake.maintenance = True
    async with client_for(fake) as wv:
        with pytest.raises(Maintenance):
            await wv.token_info()
    assert [r.api for r in fake.requests] == ["nope", "start", "token_info"]


async def test_missing_parameters_and_bad_token_header(fake: FakeWolkvox) -> None:
    status, body = await raw(fake, "PUT", "/api/v2/campaign.php?api=start", token=fake.token)
    assert (status, body["msg"]) == (400, "SOME PARAMETERS ARE REQUIRED")
    async with WolkvoxClient(server="0014", token="x", base_url=fake.url) as wv:
        with pytest.raises(InvalidToken):
            await wv.campaigns()
    with pytest.raises(ApiError):
        async with client_for(fake) as wv:
            await wv.start_campaign("424242")


async def test_recall_refused_for_preview_by_the_server(fake: FakeWolkvox) -> None:
    camp = fake.create_campaign(type="preview")
    body = {"recall_date": "20261120100000", "recall_telephone": "3", "customer_id": "1"}
    status, reply = await raw(
        fake,
        "PUT",
        f"/api/v2/campaign.php?api=recall&campaign_id={camp.id}",
        token=fake.token,
        body=body,
    )
    assert status == 400 and "PREVIEW" in reply["msg"]


async def test_plugin_fixture(fake_wolkvox: FakeWolkvox) -> None:
    async with client_for(fake_wolkvox) as wv:
        assert (await wv.token_info()).token_limit == 3000


async def test_runs_as_a_process_and_writes_its_timeline_on_exit(tmp_path: Path) -> None:
    trace = tmp_path / "trace.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "wolkvox_async.testing",
        "--port",
        "0",
        "--token",
        "proc-token",
        "--trace",
        str(trace),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        before = time.monotonic()
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        url = line.split(" on ")[1].split()[0]
        async with WolkvoxClient(server="0014", token="proc-token", base_url=url) as wv:
            assert (await wv.token_info()).token_use_today == 1
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/api/v2/information.php?api=token_info") as resp:
                assert resp.status == 401
        after = time.monotonic()
    finally:
        proc.terminate()
        assert await proc.wait() == 0  # SIGTERM ends it cleanly, trace written
    timeline = json.loads(trace.read_text())
    assert len(timeline) == 2  # one machine-wide clock: inside this test's own span
    assert all(before <= arrived <= answered <= after for arrived, answered in timeline)


async def test_a_call_past_the_call_limit_is_stopped_and_runs_nothing() -> None:
    # Wolkvox stops a call after 60 s (§3.1); here 0.05 s, with a body that arrives late.
    async with FakeWolkvox(call_limit=0.05) as fake:
        camp = fake.create_campaign()
        path = f"/api/v2/campaign.php?api=add_record&type_campaign=predictive&campaign_id={camp.id}"
        body = json.dumps([{"customer_id": "c1", "tel1": "3"}]).encode()

        async def late_body() -> Any:
            yield body[:5]
            await asyncio.sleep(0.1)
            yield body[5:]

        async with aiohttp.ClientSession() as session:
            async with session.post(
                fake.url + path + "&campaign_status=start",
                headers={"wolkvox-token": fake.token},
                data=late_body(),
            ) as resp:
                assert resp.status == 504
        assert camp.records == [] and fake.stats.refusals["call_limit"] == 1


async def test_add_record_follows_the_docs_where_they_speak(fake: FakeWolkvox) -> None:
    predictive = fake.create_campaign()
    preview = fake.create_campaign(type="preview")
    add = "/api/v2/campaign.php?api=add_record&campaign_id={}&type_campaign={}"
    one = [{"customer_id": "1"}]

    async def post(cid: str, kind: str, tail: str = "", body: Any = one) -> int:
        status, _ = await raw(
            fake, "POST", add.format(cid, kind) + tail, token=fake.token, body=body
        )
        return status

    # Predictive needs the campaign's status (§5 #2.1); preview's Postman request has none.
    assert await post(predictive.id, "predictive") == 400
    assert await post(predictive.id, "predictive", "&campaign_status=go") == 400
    for status in ("start", "stopped", "1"):
        assert await post(predictive.id, "predictive", f"&campaign_status={status}") == 201
    assert await post(preview.id, "preview") == 201
    # type_campaign in any case (Predictive, as edit_campaign's type_camp spells it).
    assert await post(predictive.id, "Predictive", "&campaign_status=start") == 201
    assert await post(preview.id, "PREVIEW") == 201
    # An impossible date is refused, on add_record and on recall.
    late = [{"customer_id": "2", "recall_date": "20260230120000"}]
    assert await post(predictive.id, "predictive", "&campaign_status=start", late) == 400
    recall = f"/api/v2/campaign.php?api=recall&campaign_id={predictive.id}"
    for when, expected in (("20261231250000", 400), ("20261231230000", 202)):
        body = {"recall_date": when, "recall_telephone": "3", "customer_id": "1"}
        status, _ = await raw(fake, "PUT", recall, token=fake.token, body=body)
        assert status == expected, when


async def test_the_date_header_is_on_the_simulators_clock() -> None:
    # doctor compares it with the client's clock: a test sets the two apart.
    moment = datetime(2026, 3, 2, 15, 4, 5, tzinfo=UTC)
    async with FakeWolkvox(clock=lambda: moment) as fake, aiohttp.ClientSession() as session:
        for headers in ({}, {"wolkvox-token": fake.token}):  # refused at the gate, answered
            url = f"{fake.url}/api/v2/information.php?api=token_info"
            async with session.get(url, headers=headers) as resp:
                assert resp.headers["Date"] == "Mon, 02 Mar 2026 15:04:05 GMT"


async def test_answering_as_one_server_knows_only_its_operations_tokens() -> None:
    async with FakeWolkvox() as fake:
        other = fake.add_operation("0100", licenses=1, tokens=["other-op-token"]).tokens
        assert other == {"other-op-token"}
        assert (
            await raw(fake, "GET", "/api/v2/information.php?api=token_info", token="other-op-token")
        )[0] == 200
        fake.answers_as = fake.server
        status, body = await raw(
            fake, "GET", "/api/v2/information.php?api=token_info", token="other-op-token"
        )
        assert status == 403 and body["msg"] == "PLEASE VALIDATE TOKEN"
        assert (await raw(fake, "GET", "/api/v2/information.php?api=token_info", token=fake.token))[
            0
        ] == 200
        fake.answers_as = "0100"  # the host of the other server: ours is unknown there
        status, _ = await raw(
            fake, "GET", "/api/v2/information.php?api=token_info", token=fake.token
        )
        assert status == 403
