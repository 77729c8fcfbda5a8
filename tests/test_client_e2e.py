"""Every endpoint end to end: WolkvoxClient -> real loopback socket -> FakeWolkvox."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from wolkvox_async import (
    CallResult,
    CampaignFull,
    CampaignStatus,
    CampaignType,
    ConfigError,
    DncEntry,
    FilterRule,
    NotFound,
    NotWolkvox,
    Record,
    WolkvoxClient,
)
from wolkvox_async.calls import _routes as routes
from wolkvox_async.testing import FakeWolkvox, Knobs, VirtualClock

END = datetime(2026, 11, 20, 23, 59, 59)
START = END - timedelta(days=30)


def _records(n: int, *, first: int = 0) -> list[Record]:
    return [
        Record(customer_id=str(i), customer_name=f"C{i}", phones=(f"300{i:07d}",), opts=("x",))
        for i in range(first, first + n)
    ]


async def test_campaign_lifecycle(fake: FakeWolkvox, client: WolkvoxClient) -> None:
    camp = await client.create_campaign(
        name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
    )
    assert camp.id in fake.world.campaigns
    result = await client.add_record(camp.id, _records(250))
    assert result.sent == 250
    assert len(fake.campaign(camp.id).records) == 250

    assert "started" in (await client.start_campaign(camp.id)).message
    [info] = await client.campaigns(camp.id)
    assert (info.status, info.records, info.type_campaign) == (
        CampaignStatus.STARTED,
        250,
        CampaignType.PREDICTIVE,
    )
    await client.set_speed(camp.id, 40)
    [live] = await client.realtime_campaigns()
    assert (live.campaign, live.speed, live.status) == (camp.id, 40, CampaignStatus.STARTED)
    await client.stop_campaign(camp.id)
    assert fake.campaign(camp.id).status == "Stopped"

    [hit] = await client.find_record(campaign_id=camp.id, customer_id="7")
    assert (hit.customer_id, hit.phones, hit.campaign_id) == ("7", ("3000000007",), camp.id)
    assert await client.find_record(customer_phone="3000000008") != ()
    assert await client.find_record(campaign_id=camp.id, customer_id="missing") == ()

    msg = (await client.recall(camp.id, customer_id="7", telephone="3000000007", at=END)).message
    assert "20261120235959" in msg

    await client.remove_records(camp.id, ["1", "2"], campaign_type="predictive")
    assert len(fake.campaign(camp.id).records) == 248
    export = await client.export_campaign(camp.id)
    assert export.total_records == 248
    assert {r.customer_id for r in export.records} == {str(i) for i in range(250)} - {"1", "2"}

    settings = await client.edit_campaign(camp.id, name="Renamed", turbo_dial=True)
    assert (settings.campaign_name, settings.turbo_dial) == ("Renamed", True)
    filtered = await client.filter_campaign(
        camp.id,
        campaign_type="predictive",
        rules=[FilterRule(field="opt1", operator="=", value="x")],
    )
    assert filtered.total_records == 248
    dnc = await client.add_dnc([DncEntry(telephone="3001112222"), "3003334444"])
    assert dnc.total_added == 2
    await client.codify(camp.id, campaign_type="predictive", customer_id="3", cod_act="002")
    await client.clear_campaign(camp.id, campaign_type="predictive")
    assert fake.campaign(camp.id).records == []
    deleted = await client.delete_campaigns([camp.id, "999999"])
    assert (deleted.deleted, deleted.failed) == (1, 1)
    assert camp.id not in fake.world.campaigns


async def test_preview_campaign_records_carry_agent(
    fake: FakeWolkvox, client: WolkvoxClient
) -> None:
    camp = await client.create_campaign(name="P", campaign_type="preview", skill_id="1")
    await client.add_record(
        camp.id, [{"customer_id": "1", "agent_id": "1001", "tel1": "300"}], campaign_type="preview"
    )
    assert fake.campaign(camp.id).records[0]["agent_id"] == "1001"


async def test_reports_over_synthetic_results(fake: FakeWolkvox, client: WolkvoxClient) -> None:
    camp = await client.create_campaign(name="R", campaign_type="predictive", skill_id="1")
    await client.add_record(camp.id, _records(50))
    attempts = fake.add_call_results(camp.id, START, END, 2_000, seed=7)
    rows = await client.phone_results(camp.id, START, END)
    assert len(rows) == 2_000
    assert {r.conn_id for r in rows} == {a.conn_id for a in attempts}
    assert all(r.date is not None and START <= r.date.replace(tzinfo=None) <= END for r in rows)
    assert all(r.result is not CallResult.OTHER for r in rows)

    finals = await client.final_results(camp.id, START, END)
    assert sum(s.records or 0 for s in finals) == 50  # one final result per customer
    per_attempt = await client.attempt_results("all", START, END)
    assert sum(s.records or 0 for s in per_attempt) == 2_000
    assert sum(c.records or 0 for c in await client.code_results(camp.id, START, END)) == 2_000
    machines = sum(1 for a in attempts if a.result == "ANSWER-MACHINE")
    [amd] = await client.amd_totals(camp.id, START, END)
    assert amd.total_amd == machines
    assert len(await client.amd_details(camp.id, START, END)) >= machines
    by_phone = await client.machine_codes_by_phone(camp.id, START, END)
    assert sum(p.total_machine_recognitions or 0 for p in by_phone) == 2_000
    assert len(await client.preview_calls(camp.id, START, END)) == 2_000
    assert len(await client.whatsapp_statuses(camp.id, START, END)) == 2_000
    assert sum(t.count or 0 for t in await client.turbo_dial_counts(camp.id, START, END)) == 2_000
    detail = await client.campaign_detail(camp.id, START, END, campaign_type="predictive")
    assert len(detail) == 2_000

    empty_start = END + timedelta(days=1)
    assert await client.phone_results(camp.id, empty_start, empty_start + timedelta(days=1)) == ()


async def test_dnc_list_shows_what_add_dnc_blocked(
    fake: FakeWolkvox, client: WolkvoxClient
) -> None:
    assert await client.dnc_list() == ()  # nothing blocked yet: an empty list (HTTP 404)
    await client.add_dnc([DncEntry(telephone="3001112222", days_block=3)])
    listed = await client.dnc_list("outbound")
    assert [(row.phone_number, row.type) for row in listed] == [("3001112222", "outbound")]
    assert listed[0].date_delete is not None
    days = listed[0].date_delete - datetime.now(listed[0].date_delete.tzinfo)
    assert timedelta(days=2, hours=23) < days <= timedelta(days=3)
    with pytest.raises(ConfigError, match="direction"):
        await client.dnc_list("sideways")  # type: ignore[arg-type]


async def test_token_info_reports_consumption(fake: FakeWolkvox, client: WolkvoxClient) -> None:
    await client.campaigns()
    info = await client.token_info()
    assert (info.token_limit, info.token_use_today, info.all_token_today) == (3000, 2, 2)
    assert fake.quota_used() == 2


async def test_campaign_full_stops_with_exact_count() -> None:
    async with FakeWolkvox(licenses=1, campaign_capacity=25_000) as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            camp = await wv.create_campaign(name="F", campaign_type="predictive", skill_id="1")
            await wv.add_record(camp.id, _records(10_000))
            await wv.add_record(camp.id, _records(10_000, first=10_000))
            with pytest.raises(CampaignFull) as info:
                await wv.add_record(camp.id, _records(10_000, first=20_000))
            assert info.value.http_status == 404
            assert len(fake.campaign(camp.id).records) == 20_000


@pytest.mark.parametrize("no_hit_404", [False, True], ids=["no hit 200 empty", "no hit 404"])
async def test_find_record_takes_each_documented_search_form(no_hit_404: bool) -> None:
    # "Either campaign_id or customer_phone may be omitted" (§5 #12); Postman sends each
    # alone. No hit is a 200 with an empty list (public code), or a 404 on some servers.
    async with FakeWolkvox() as fake:
        fake.knobs.find_record_no_hit_404 = no_hit_404
        camp = fake.create_campaign()
        other = fake.create_campaign()
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            await wv.add_record(camp.id, _records(3))
            await wv.add_record(other.id, _records(2, first=10))
            assert len(await wv.find_record(campaign_id=camp.id)) == 3  # the campaign alone
            [hit] = await wv.find_record(customer_phone="3000000011")  # the phone alone
            assert (hit.customer_id, hit.campaign_id) == ("11", other.id)
            [hit] = await wv.find_record(customer_id="1")  # across every campaign
            assert hit.campaign_id == camp.id
            assert await wv.find_record(customer_phone="999") == ()
            assert await wv.find_record(campaign_id=other.id, customer_id="1") == ()
        statuses = {r.status for r in fake.requests if r.api == "find_record"}
        assert statuses == ({200, 404} if no_hit_404 else {200})


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (CampaignStatus.STARTED, "start"),  # the enum: Postman's words
        (CampaignStatus.STOPPED, "stop"),
        *[("start", "start"), ("stop", "stop"), ("stopped", "stopped"), ("Started", "Started")],
        *[(1, "1"), ("1", "1"), (0, "0"), (" stop ", "stop")],
    ],
)
async def test_campaign_status_is_sent_as_given(given: object, sent: str) -> None:
    """The docs: "the current status of the campaign"; Postman: start/stop; public code
    also sends "stopped" and 1. A string is sent as given (which spelling the server reads
    is not documented); nothing is read when it is given."""
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            await wv.add_record(camp.id, _records(1), campaign_status=given)  # type: ignore[arg-type]
        [request] = fake.requests
        assert (request.api, request.query["campaign_status"]) == ("add_record", sent)


@pytest.mark.parametrize("kind", list(CampaignType))
async def test_a_load_into_a_stopped_campaign_never_starts_it(kind: CampaignType) -> None:
    """Were the server to apply add_record's campaign_status (the docs do not say it does
    not; the simulator's knob plays that server), the old default "start" started every
    stopped campaign loaded into. Left out, the campaign's own state is sent: read once
    (1 call), kept 5 minutes, and updated by this client's own start and stop."""
    async with FakeWolkvox(knobs=Knobs(add_record_sets_status=True)) as fake:
        camp = fake.create_campaign(type=kind.value)
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            await wv.add_record(camp.id, _records(2), campaign_type=kind)
            report = await wv.upload_records(
                camp.id, _records(30, first=2), campaign_type=kind, chunk_size=10
            )
            assert camp.status == "Stopped"
            assert (report.records_landed, report.requests) == (30, 3)  # the state known
            await wv.start_campaign(camp.id)  # its type is known: no read either
            await wv.add_record(camp.id, _records(1, first=40), campaign_type=kind)
            assert camp.status == "Started"
        sent = [(r.api, r.query.get("campaign_status")) for r in fake.requests]
        assert sent == [
            ("campaigns", None),  # the state, and the type, read once
            ("add_record", "stop"),
            *[("add_record", "stop")] * 3,
            ("start", None),
            ("add_record", "start"),
        ]
        assert fake.requests[0].query == {"campaign": camp.id}


async def test_the_state_is_read_again_after_5_minutes_and_by_each_load() -> None:
    clock = VirtualClock(datetime(2026, 11, 20, 15, tzinfo=UTC))
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, clock=clock
        ) as wv:
            await wv.add_record(camp.id, _records(1))
            fake.campaign(camp.id).status = "Started"  # started by someone else
            await wv.add_record(camp.id, _records(1, first=1))  # within 5 minutes: as read
            await clock.advance(300)
            await wv.add_record(camp.id, _records(1, first=2))
            assert await wv.campaign_status(camp.id) is CampaignStatus.STARTED  # kept
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            report = await wv.upload_records(camp.id, _records(20, first=3), chunk_size=10)
            assert (report.records_landed, report.requests) == (20, 3)  # the read counted
        sent = [(r.api, r.query.get("campaign_status")) for r in fake.requests]
        assert sent == [
            ("campaigns", None),
            ("add_record", "stop"),
            ("add_record", "stop"),
            ("campaigns", None),
            ("add_record", "start"),
            ("campaigns", None),  # another client (a load of its own): read again
            ("add_record", "start"),
            ("add_record", "start"),
        ]


async def test_a_campaign_that_does_not_exist_is_named_before_any_record_is_sent(
    fake: FakeWolkvox,
) -> None:
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        with pytest.raises(NotFound, match="campaign 424242 is not among"):
            await wv.add_record("424242", _records(1))
        with pytest.raises(NotFound, match="campaign 424242 is not among") as info:
            await wv.upload_records("424242", _records(3))
        report = info.value.upload_report
        assert report is not None and (report.records_landed, report.records_pending) == (0, 3)
        with pytest.raises(NotFound, match="campaign 424242 is not among"):
            await wv.start_campaign("424242")
    assert {r.api for r in fake.requests} == {"campaigns"}


async def _drain(rows: Any) -> list[Any]:
    return [row async for row in rows]


def _every_public_call(wv: WolkvoxClient, cid: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """Each public method of the client that calls Wolkvox, with valid arguments."""
    kind = {"campaign_type": "predictive"}
    reports = [
        "final_results", "code_results", "phone_results", "attempt_results", "preview_calls",
        "amd_totals", "amd_details", "machine_codes_by_phone", "whatsapp_statuses",
        "turbo_dial_counts",
    ]  # fmt: skip
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        name: (lambda name=name: getattr(wv, name)(cid, START, END)) for name in reports
    }
    calls |= {
        "find_record": lambda: wv.find_record(campaign_id=cid, customer_id="7"),
        "find_record by phone": lambda: wv.find_record(customer_phone="3000000007"),
        "campaign_detail": lambda: wv.campaign_detail(cid, START, END, **kind),
        "campaigns": lambda: wv.campaigns(),
        "token_info": lambda: wv.token_info(),
        "sync_quota": lambda: wv.sync_quota(),
        "dnc_list": lambda: wv.dnc_list(),
        "realtime_campaigns": lambda: wv.realtime_campaigns(),
        "export_campaign": lambda: wv.export_campaign(cid),
        "iter_phone_results": lambda: _drain(wv.iter_phone_results(cid, START, END)),
        "iter_report": lambda: _drain(wv.iter_report("campaign_1", cid, START, END)),
        # The writes: the same error, never a success.
        "add_record": lambda: wv.add_record(cid, _records(2), campaign_status="stop"),
        "add_record, the state read": lambda: wv.add_record(cid, _records(2)),
        "campaign_status": lambda: wv.campaign_status(cid),
        "upload_records": lambda: wv.upload_records(cid, _records(3), campaign_status="stop"),
        "upload_records, the state read": lambda: wv.upload_records(cid, _records(3)),
        "add_dnc": lambda: wv.add_dnc(["3001112222"]),
        "clear_campaign": lambda: wv.clear_campaign(cid, **kind),
        "create_campaign": lambda: wv.create_campaign(name="N", skill_id="1", **kind),
        "codify": lambda: wv.codify(cid, customer_id="7", cod_act="002", **kind),
        "recall": lambda: wv.recall(cid, customer_id="7", telephone="3000000007", at=END),
        "remove_records": lambda: wv.remove_records(cid, ["7"], **kind),
        "set_speed": lambda: wv.set_speed(cid, 40, **kind),
        "start_campaign": lambda: wv.start_campaign(cid, **kind),
        "start_campaign, the type read": lambda: wv.start_campaign(cid),
        "stop_campaign": lambda: wv.stop_campaign(cid, **kind),
        "delete_campaigns": lambda: wv.delete_campaigns([cid]),
        "filter_campaign": lambda: wv.filter_campaign(
            cid, rules=[FilterRule(field="opt1", operator="=", value="x")], **kind
        ),
        "recall_records": lambda: wv.recall_records(cid, field="Cod_Machine", value="x"),
        "edit_campaign": lambda: wv.edit_campaign(cid, name="Renamed"),
        # The operation's endpoints (issue 32, item 6).
        "report cdr_5": lambda: wv.report("cdr_5", START, END),
        "iter_report cdr_1": lambda: _drain(wv.iter_report("cdr_1", None, START, END)),
        "scheduled_recalls": lambda: wv.scheduled_recalls(),
        "agents": lambda: wv.agents(),
        "activity_codes": lambda: wv.activity_codes(),
        "add_ip": lambda: wv.add_ip("203.0.113.7"),
        "remove_ip": lambda: wv.remove_ip("203.0.113.7"),
        "block_numbers": lambda: wv.block_numbers(["3001112222"]),
        "unblock_numbers": lambda: wv.unblock_numbers("all"),
        "agent_recall": lambda: wv.agent_recall(
            "1001", cid, customer_id="7", telephone="3000000007", at=END
        ),
        "edit_agent_recall": lambda: wv.edit_agent_recall(
            "1001", cid, customer_id="7", telephone="3000000007", at=END
        ),
        "delete_agent_recall": lambda: wv.delete_agent_recall(
            "1001", cid, customer_id="7", telephone="3000000007"
        ),
        "delete_campaign": lambda: wv.delete_campaign(cid, **kind),
    }
    for name in ("call_details", "unconnected_calls", "unconnected_results", "chats"):
        calls[name] = lambda name=name: getattr(wv, name)(START, END)
    for name in ("agent_state_times", "agent_aux_times", "agent_sessions"):
        calls[name] = lambda name=name: getattr(wv, name)(START, END)
    for name in ("agent_hourly_states", "chat_conversations", "chat_agent_productivity"):
        calls[name] = lambda name=name: getattr(wv, name)(START, END)
    return calls


async def test_a_wrong_base_url_path_is_an_error_on_every_method() -> None:
    """Every answer is a web server's plain-text "404: Not Found": never "no hits", an empty
    report or an empty export, and never retried (the same path gives the same page)."""
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        fake.add_call_results(camp.id, START, END, 50, seed=1)
        asked = set()
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url + "/wrong"
        ) as wv:
            for name, call in _every_public_call(wv, camp.id).items():
                with pytest.raises(NotWolkvox) as info:
                    await call()
                text = str(info.value)
                assert "/wrong/api/v2/" in text, name  # the URL asked
                assert "text/plain" in text and "'404: Not Found'" in text, name  # what came
                assert "base URL" in text and fake.token not in text, name
                if name.startswith("upload_records"):  # nothing landed or lost: all pending
                    report = info.value.upload_report
                    assert report is not None
                    assert (report.records_landed, report.records_pending) == (0, 3)
                asked.add(re.findall(r"/api/v2/(\w+)\.php\?api=(\w+)", text)[0])
            stats = await wv.scheduler_stats()
        assert asked == {(r.file, r.api) for r in routes.ALL_ROUTES}  # every route
        assert stats.retries == {}  # nothing retried
        assert fake.stats.requests == 0  # (none reached the simulator's API)


async def test_calls_that_need_a_campaigns_state_at_once_share_one_read(
    fake: FakeWolkvox,
) -> None:
    """Five add_record and two start_campaign at once on a campaign the client does not
    know: one information read, not seven (each would cost a unit of the quota)."""
    camp = fake.create_campaign()
    async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        await asyncio.gather(
            *(wv.add_record(camp.id, _records(1, first=i)) for i in range(5)),
            wv.start_campaign(camp.id),
            wv.set_speed(camp.id, 20),
        )
    apis = [r.api for r in fake.requests]
    assert apis.count("campaigns") == 1 and apis[0] == "campaigns"
    assert sorted(apis[1:]) == ["add_record"] * 5 + ["speed", "start"]
    assert len(camp.records) == 5


async def test_a_subclass_overrides_a_method_and_reaches_the_clients_through_super(
    fake: FakeWolkvox,
) -> None:
    """The client's methods are its groups', bound per client; a subclass's override is
    still what its instances run (views included), ``super()`` reaches the client's, and
    so does the class's own function called with a client."""
    seen: list[str] = []

    class Audited(WolkvoxClient):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.label = "audited"

        async def find_record(self, **kwargs: Any) -> Any:
            seen.append(f"{self.label}: {sorted(kwargs)}")
            return await super().find_record(**kwargs)

    camp = fake.create_campaign()
    async with Audited(server=fake.server, token=fake.token, base_url=fake.url) as wv:
        await wv.add_record(camp.id, _records(2))
        assert [r.customer_id for r in await wv.find_record(customer_id="1")] == ["1"]
        view = wv.with_options(max_wait=5)
        assert not await view.find_record(customer_id="nobody")
        assert len(await WolkvoxClient.find_record(wv, campaign_id=camp.id)) == 2
        assert len(await WolkvoxClient.campaigns(view)) == 1
    assert seen == ["audited: ['customer_id']"] * 2  # the class's own call is not audited
