"""No silently cut answer (issue 32, item 5): a single call whose answer holds Wolkvox's
60,000-row cap raises TruncatedAnswer naming the window and the windowed call, or, with
``allow_truncated=True``, comes back marked; the command never shows nor writes a cut
answer. Every list-returning method is held to it against a loopback server answering
60,000 (and 59,999) rows, and the main ones end to end against FakeWolkvox."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

import wolkvox_async as w
from wolkvox_async import TruncatedAnswer, WolkvoxClient, WolkvoxError
from wolkvox_async.cli._app import cli
from wolkvox_async.endpoints._report_table import REPORTS
from wolkvox_async.testing import Attempt, FakeWolkvox

TOKEN = "6b65792d666f722d7472756e636174696f6e2d7465737473"
CAP = 60_000
END = datetime(2026, 11, 20, 23, 59, 59)
START = datetime(2026, 11, 1)

Call = Callable[[WolkvoxClient, bool], Awaitable[Any]]


def _list_calls() -> dict[str, tuple[str, Call]]:
    """Every method that returns rows, with the HTTP method it sends: (method, call)."""
    campaign = [
        "final_results", "code_results", "phone_results", "attempt_results", "preview_calls",
        "amd_totals", "amd_details", "machine_codes_by_phone", "whatsapp_statuses",
        "turbo_dial_counts",
    ]  # fmt: skip
    operation = [
        "unconnected_calls", "unconnected_results", "call_details", "agent_state_times",
        "agent_aux_times", "agent_sessions", "agent_hourly_states", "chats",
        "chat_conversations", "chat_agent_productivity",
    ]  # fmt: skip
    calls: dict[str, tuple[str, Call]] = {}
    for name in campaign:
        calls[name] = (
            "GET",
            lambda wv, ok, n=name: getattr(wv, n)("12", START, END, allow_truncated=ok),
        )
    for name in operation:
        calls[name] = ("GET", lambda wv, ok, n=name: getattr(wv, n)(START, END, allow_truncated=ok))
    for name, table in REPORTS.items():  # the generic method, for every report of the table
        campaign_id = "12" if table.scope == "campaign" else None
        kind = "predictive" if name == "detail" else None
        calls[f"report {name}"] = (
            "GET",
            lambda wv, ok, n=name, c=campaign_id, k=kind: wv.report(
                n, START, END, campaign_id=c, campaign_type=k, allow_truncated=ok
            ),
        )
    calls |= {
        "campaign_detail": ("GET", lambda wv, ok: wv.campaign_detail(
            "12", START, END, campaign_type="predictive", allow_truncated=ok)),
        "find_record": ("GET", lambda wv, ok: wv.find_record(campaign_id="12", allow_truncated=ok)),
        "dnc_list": ("GET", lambda wv, ok: wv.dnc_list(allow_truncated=ok)),
        "scheduled_recalls": ("GET", lambda wv, ok: wv.scheduled_recalls(allow_truncated=ok)),
    }  # fmt: skip
    return calls


# Reads too small to reach the cap in practice never pass one off either, and take
# allow_truncated like every method returning rows (their advice says to pass it).
SMALL_READS: dict[str, Callable[..., Awaitable[Any]]] = {
    "campaigns": lambda wv, **kw: wv.campaigns(**kw),
    "agents": lambda wv, **kw: wv.agents(**kw),
    "activity_codes": lambda wv, **kw: wv.activity_codes(**kw),
    "realtime_campaigns": lambda wv, **kw: wv.realtime_campaigns(**kw),
}


def _answer(rows: int) -> dict[str, Any]:
    return {"code": 200, "error": None, "msg": f"{rows} records were found", "data": [{}] * rows}


async def _ask(method: str, answer: Any, call: Callable[[WolkvoxClient], Awaitable[Any]]) -> Any:
    """``call``'s result when every request is answered ``answer`` (over loopback: a
    60,000-row body is more than aioresponses can feed), the request being ``method``."""
    body = json.dumps(answer).encode()

    async def reply(request: web.Request) -> web.Response:
        assert request.method == method
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with WolkvoxClient(
            server="0014", token=TOKEN, base_url=url, backend="memory://"
        ) as wv:
            return await call(wv)
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(("method", "call"), _list_calls().values(), ids=_list_calls().keys())
async def test_every_single_call_at_the_cap_raises_or_comes_marked(method: str, call: Call) -> None:
    with pytest.raises(TruncatedAnswer) as info:
        await _ask(method, _answer(CAP), lambda wv: call(wv, False))
    error = info.value
    assert isinstance(error, WolkvoxError) and (error.rows, error.cap) == (CAP, CAP)
    assert "60,000" in str(error) and "allow_truncated=True" in str(error)
    assert TOKEN not in str(error) and TOKEN not in repr(error)
    marked = await _ask(method, _answer(CAP), lambda wv: call(wv, True))
    assert isinstance(marked, tuple) and len(marked) == CAP and marked.truncated is True
    whole = await _ask(method, _answer(CAP - 1), lambda wv: call(wv, False))
    assert len(whole) == CAP - 1 and whole.truncated is False


@pytest.mark.parametrize("name", SMALL_READS)
async def test_small_reads_refuse_a_cut_answer_or_return_it_marked(name: str) -> None:
    with pytest.raises(TruncatedAnswer, match=r"no date range nor paging.*allow_truncated=True"):
        await _ask("GET", _answer(CAP), SMALL_READS[name])
    marked = await _ask("GET", _answer(CAP), lambda wv: SMALL_READS[name](wv, allow_truncated=True))
    assert len(marked) == CAP and marked.truncated is True


async def test_a_realtime_bare_list_at_the_cap_is_refused_too() -> None:
    with pytest.raises(TruncatedAnswer):
        await _ask("GET", [{}] * CAP, lambda wv: wv.realtime_campaigns())


async def test_the_error_names_the_window_and_the_windowed_call() -> None:
    with pytest.raises(TruncatedAnswer) as info:
        await _ask("GET", _answer(CAP), lambda wv: wv.phone_results("7001", START, END))
    text = str(info.value)
    assert "reports_manager.campaign_3 (campaign 7001, 2026-11-01 00:00:00 to 2026-11-20 " in text
    assert "iter_report('campaign_3', '7001', start, end)" in text
    assert info.value.window == (START, END) and info.value.campaign_id == "7001"
    with pytest.raises(TruncatedAnswer) as info:
        await _ask("GET", _answer(CAP), lambda wv: wv.unconnected_calls(START, END))
    assert "iter_report('cdr_5', None, start, end)" in str(info.value)
    assert "wolkvox export cdr_5" in str(info.value)
    with pytest.raises(TruncatedAnswer) as info:
        await _ask(
            "GET",
            _answer(CAP),
            lambda wv: wv.campaign_detail("7", START, END, campaign_type="preview"),
        )
    assert "iter_report('detail', '7', start, end, campaign_type='preview')" in str(info.value)


@pytest.mark.parametrize(
    ("total", "shown", "cut"),
    [("60000", CAP, True), ("61000", CAP, True), ("200", 150, True), ("150", 150, False)],
)
async def test_an_export_at_the_cap_or_short_of_its_total_is_cut(
    total: str, shown: int, cut: bool
) -> None:
    answer = {"code": "200", "total_records": total, "campaign_id": "12", "records": [{}] * shown}
    if cut:
        with pytest.raises(TruncatedAnswer, match="campaign_15 has no paging") as info:
            await _ask("GET", answer, lambda wv: wv.export_campaign("12"))
        assert (info.value.rows, info.value.total) == (shown, int(total))
    marked = await _ask("GET", answer, lambda wv: wv.export_campaign("12", allow_truncated=True))
    assert marked.truncated is cut and len(marked.records) == shown


# ---- end to end, over loopback -------------------------------------------------------


def _client(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, **kw)


async def test_phone_results_at_the_cap_raise_and_the_window_is_then_read_whole() -> None:
    """60,001 attempts in one window: the simulator cuts the answer at 60,000 (what public
    code fears). The single call refuses it; its read kept no poll stamp, so the windowed
    read of the same window goes at once (poll_policy="raise" would refuse a repeat) and
    gets every attempt."""
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, END, CAP + 1, seed=5)
        async with _client(fake, poll_policy="raise") as wv:
            with pytest.raises(TruncatedAnswer) as info:
                await wv.phone_results(camp.id, START, END)
            assert info.value.rows == CAP and info.value.window == (START, END)
            rows = [row.conn_id async for row in wv.iter_phone_results(camp.id, START, END)]
        assert sorted(rows) == sorted(a.conn_id for a in attempts)
    async with FakeWolkvox() as fake:  # and marked, when asked for
        camp = fake.create_campaign()
        fake.add_call_results(camp.id, START, END, CAP + 1, seed=5)
        async with _client(fake) as wv:
            marked = await wv.phone_results(camp.id, START, END, allow_truncated=True)
            assert (len(marked), marked.truncated) == (CAP, True)
            whole = await wv.phone_results(camp.id, START, START + timedelta(days=1))
            assert whole.truncated is False and len(whole) < CAP


async def test_an_export_of_a_campaign_past_the_cap_raises_and_reconciles_marked() -> None:
    async with FakeWolkvox(licenses=20) as fake:
        camp = fake.create_campaign()
        camp.add_records({"customer_id": str(i), "tel1": "300"} for i in range(CAP + 5))
        async with _client(fake) as wv:
            with pytest.raises(TruncatedAnswer) as info:
                await wv.export_campaign(camp.id)
            assert (info.value.rows, info.value.total) == (CAP, CAP + 5)
            export = await wv.export_campaign(camp.id, allow_truncated=True)
            assert (len(export.records), export.total_records, export.truncated) == (
                CAP,
                CAP + 5,
                True,
            )
            with pytest.raises(TruncatedAnswer, match="find_record has no paging"):
                await wv.find_record(campaign_id=camp.id)


def test_the_command_shows_no_cut_answer(served: FakeWolkvox, tmp_path: Path) -> None:
    """`wolkvox find --campaign C` of a campaign past the cap printed 60,000 records as if
    they were all: now it exits 3 (the download limit) saying why, and prints no record."""
    camp = served.create_campaign()
    camp.add_records({"customer_id": str(i), "tel1": "300"} for i in range(CAP + 1))
    env = {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = CliRunner().invoke(cli, ["--json", "find", "--campaign", camp.id], env=env)
    assert done.exit_code == 3, done.output
    assert "60,000" in done.output and "find_record has no paging" in done.output
    assert '"customer_id"' not in done.output


def test_the_command_never_writes_a_cut_window(served: FakeWolkvox, tmp_path: Path) -> None:
    """One second holding more rows than the cap cannot be read whole: the export stops
    (DownloadError), writes no row of it and leaves no output file."""
    camp = served.create_campaign()
    at = datetime(2026, 11, 20, 12)
    camp.add_attempts(
        Attempt(at=at, conn_id=f"{i:012d}", customer_id="1", telephone="3", result="BUSY")
        for i in range(CAP + 1)
    )
    env = {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    out = tmp_path / "cut.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-11-20T12:00:00"]
    args += ["--end", "2026-11-20T12:00:01", "-o", str(out)]
    done = CliRunner().invoke(cli, args, env=env)
    assert done.exit_code == 4, done.output
    assert "alone holds 60000 or more rows" in done.output
    assert not out.exists() and not list(tmp_path.glob("cut.csv.partial*"))


def test_the_error_is_exported_and_documented() -> None:
    assert w.TruncatedAnswer is TruncatedAnswer and "TruncatedAnswer" in w.__all__
    errors_page = Path(__file__).parents[2] / "docs" / "reference" / "errors.md"
    assert "::: wolkvox_async.TruncatedAnswer" in errors_page.read_text()
