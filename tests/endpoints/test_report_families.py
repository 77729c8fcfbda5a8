"""Every report of the one report table is exportable (issue 32, item 6): by its Wolkvox
name, through the same windowing (31 calendar dates, the 60,000-row cap continued or
split), against FakeWolkvox over loopback; typed rows where the docs give fields, a
read-only generic row where they do not; the table drives the command's choices."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from wolkvox_async import CallResult, ConfigError, WolkvoxClient
from wolkvox_async.cli._app import cli
from wolkvox_async.endpoints._report_table import REPORTS
from wolkvox_async.models import ReportRow, ResultCount, UnconnectedCall
from wolkvox_async.testing import FakeWolkvox, Fault, Knobs

START = datetime(2026, 8, 1)
END = datetime(2026, 10, 9, 23, 59, 59)  # 70 dates: 3 windows of at most 31
GIVEN = ["agent_1", "agent_3", "agent_7", "agent_8", "chat_1", "chat_2", "chat_16"]


def _client(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, strict=True, **kw)


def _given_rows(report: str, count: int, start: datetime, end: datetime) -> list[Any]:
    """``count`` rows of ``report`` spread over start..end, with the documented keys."""
    step = (end - start) / count
    keys = REPORTS[report].columns
    rows = []
    for n in range(count):
        row = {key: f"{key}-{n}" for key in keys}
        if report == "chat_2":
            row["conversation"] = [{"from": "AGENT", "message": f"hi {n}"}]
        rows.append((start + step * n, row))
    return rows


def test_the_table_names_reports_as_wolkvox_does_and_drives_the_command() -> None:
    assert set(REPORTS) == {
        *(f"campaign_{n}" for n in range(1, 11)),
        "detail",
        *("cdr_1", "cdr_5", "cdr_6"),
        *GIVEN,
    }
    choices = next(p for p in cli.commands["export"].params if p.name == "report")
    assert sorted(choices.type.choices) == sorted(REPORTS)  # type: ignore[attr-defined]
    for name, report in REPORTS.items():
        assert report.route.api == ("detail" if name == "detail" else name)
        assert report.route.file == ("campaign" if name == "detail" else "reports_manager")
        assert (report.scope == "campaign") is name.startswith(("campaign_", "detail"))
        assert bool(report.columns) is (report.row is ReportRow)


@pytest.mark.parametrize("report", ["cdr_1", "cdr_5", "cdr_6", *GIVEN])
async def test_each_operation_report_is_read_whole_window_by_window(report: str) -> None:
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, END, 3_000, seed=9)
        given = _given_rows(report, 400, START, END)
        fake.world.add_report_rows(report, given)
        async with _client(fake) as wv:
            download = wv.iter_report(report, None, START, END)
            rows = [row async for row in download]
        asked = [r for r in fake.requests if r.api == report]
    assert download.windows_total == 3 and len(asked) == 3
    assert all(set(r.query) == {"date_ini", "date_end"} for r in asked)  # no campaign_id
    if report in GIVEN:
        assert all(isinstance(row, ReportRow) for row in rows)
        assert [row.to_dict() for row in rows] == [row for _, row in given]
    elif report == "cdr_6":  # an aggregate: its counts per window add up
        assert all(isinstance(row, ResultCount) for row in rows)
        unconnected = [
            a for a in attempts if a.result in ("NO-ANSWER", "BUSY", "CONGESTION", "FAILED")
        ]
        assert sum(row.count or 0 for row in rows) == len(unconnected)
        assert {row.result for row in rows} <= {
            CallResult.NO_ANSWER, CallResult.BUSY, CallResult.CONGESTION, CallResult.CHANUNAVAIL,
        }  # fmt: skip
    else:
        connected = report == "cdr_1"
        expected = [
            a.conn_id
            for a in attempts
            if (a.result in ("ANSWER", "ANSWER-MACHINE", "ABANDON")) is connected
        ]
        ids = [row["conn_id"] if connected else row.conn_id for row in rows]
        assert sorted(ids) == sorted(expected) and len(set(ids)) == len(ids)
        if not connected:
            assert all(isinstance(row, UnconnectedCall) and row.date for row in rows)
            assert {row.result_raw for row in rows} <= {
                "No answer",
                "Busy",
                "Congestion",
                "Chanunavail",
            }


@pytest.mark.parametrize("report", ["cdr_5", "agent_1"], ids=["timed: continued", "untimed: split"])
async def test_a_window_at_the_cap_is_continued_or_split_never_cut(report: str) -> None:
    """The simulator cuts at 100 rows (its knob) and the download's cap is 100: cdr_5's
    rows carry their time, so a window at the cap continues from its last second; agent_1's
    generic rows do not, so it is split. Either way every row comes once."""
    async with FakeWolkvox(knobs=Knobs(download_cap=100)) as fake:
        camp = fake.create_campaign()
        attempts = fake.add_call_results(camp.id, START, START + timedelta(days=5), 900, seed=2)
        given = _given_rows(report, 450, START, START + timedelta(days=5))
        fake.world.add_report_rows(report, given)
        async with _client(fake) as wv:
            download = wv.iter_report(report, None, START, START + timedelta(days=5), cap=100)
            rows = [row async for row in download]
    if report == "cdr_5":
        expected = [
            a.conn_id for a in attempts if a.result in ("NO-ANSWER", "BUSY", "CONGESTION", "FAILED")
        ]
        assert sorted(row.conn_id for row in rows) == sorted(expected)
    else:
        assert Counter(row["agent_id"] for row in rows) == Counter(r["agent_id"] for _, r in given)
    assert len(rows) > 400 and download.requests >= len(rows) / 100  # no answer held more


async def test_an_empty_day_is_a_404_and_an_empty_window() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        for report in ("cdr_5", "agent_3", "chat_1"):
            assert [row async for row in wv.iter_report(report, None, START, END)] == []
            assert await wv.report(report, START, START + timedelta(days=1)) == ()
        assert {r.status for r in fake.requests} == {404}


async def test_the_scope_is_checked_before_any_request() -> None:
    async with FakeWolkvox() as fake, _client(fake) as wv:
        with pytest.raises(ConfigError, match="cdr_5 covers the whole operation"):
            wv.iter_report("cdr_5", "7001", START, END)
        with pytest.raises(ConfigError, match="campaign_3 needs a campaign_id"):
            wv.iter_report("campaign_3", None, START, END)
        with pytest.raises(ConfigError, match="report must be one of"):
            await wv.report("agent_99", START, END)
        with pytest.raises(ConfigError, match="31 days"):
            await wv.report("chat_1", START, END)
        assert fake.stats.requests == 0


# ---- the command ---------------------------------------------------------------------


def _env(fake: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        "WOLKVOX_SERVER": fake.server,
        "WOLKVOX_TOKEN": fake.token,
        "WOLKVOX_BASE_URL": fake.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def _export(env: dict[str, str], *args: str) -> Any:
    done = CliRunner().invoke(cli, ["export", *args], env=env)
    assert env["WOLKVOX_TOKEN"] not in done.output
    return done


def test_the_command_exports_the_operation_reports(served: FakeWolkvox, tmp_path: Path) -> None:
    env = _env(served, tmp_path)
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, START, END, 500, seed=4)
    span = ["--start", "2026-08-01", "--end", "2026-10-09"]
    out = tmp_path / "cdr5.csv"
    done = _export(env, "cdr_5", *span, "-o", str(out))
    assert done.exit_code == 0, done.output
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    unconnected = [a for a in attempts if a.result in ("NO-ANSWER", "BUSY", "CONGESTION", "FAILED")]
    assert sorted(row["conn_id"] for row in table) == sorted(a.conn_id for a in unconnected)
    assert table[0]["result_raw"] in ("No answer", "Busy", "Congestion", "Chanunavail")

    # A generic report: the documented columns, and any other key kept, as JSON.
    rows = _given_rows("chat_2", 3, START, START + timedelta(days=2))
    rows[1][1]["new_key"] = "added by Wolkvox"
    served.world.add_report_rows("chat_2", rows)
    out = tmp_path / "chat2.csv"
    assert _export(env, "chat_2", *span, "-o", str(out)).exit_code == 0
    table = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(table[0]) == [*REPORTS["chat_2"].columns, "undocumented"]
    assert json.loads(table[0]["conversation"]) == [{"from": "AGENT", "message": "hi 0"}]
    assert [row["undocumented"] for row in table] == ["", '{"new_key": "added by Wolkvox"}', ""]
    lines = tmp_path / "chat2.jsonl"
    again = {**env, "XDG_STATE_HOME": str(tmp_path / "s2")}  # (a fresh ledger: no 5 minutes)
    assert _export(again, "chat_2", *span, "--format", "jsonl", "-o", str(lines)).exit_code == 0
    assert [json.loads(line) for line in lines.read_text().splitlines()] == [r for _, r in rows]


def test_the_command_refuses_a_campaign_where_none_is_taken(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    env = _env(served, tmp_path)
    before = served.stats.requests
    done = _export(env, "cdr_5", "7001", "--days", "3")
    assert done.exit_code == 2 and "cdr_5 covers the whole operation" in done.output
    done = _export(env, "campaign_3", "--days", "3")
    assert done.exit_code == 2 and "campaign_3 needs a CAMPAIGN_ID" in done.output
    assert served.stats.requests == before


def test_a_stopped_export_of_an_operation_report_resumes_as_printed(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """agent_8's generic rows through the whole stop-and-continue path: a failed third
    window, the fourth kept beside it (spooled as generic rows), the printed --resume
    (with no campaign in it) writing every row once."""
    env = _env(served, tmp_path)
    start = datetime(2026, 5, 1)
    given = _given_rows("agent_8", 800, start, start + timedelta(days=120))
    served.world.add_report_rows("agent_8", given)
    target = tmp_path / "agents.csv"
    args = ["agent_8", "--start", "2026-05-01", "--end", "2026-08-30", "-o", str(target)]
    for fault in (Fault.WRONG_CONTENT_TYPE, Fault.WRONG_CONTENT_TYPE, Fault.HTML):
        served.inject(fault, api="agent_8")  # the third window's answer is not JSON
    failed = _export(env, *args)
    assert failed.exit_code == 4, failed.output
    hint = failed.output.rsplit("continue with: ", 1)[1].split()
    assert hint[:3] == ["wolkvox", "export", "agent_8"] and hint[3] == "--start"
    done = CliRunner().invoke(cli, hint[1:], env=env)
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert [row["agent_id"] for row in rows] == [row["agent_id"] for _, row in given]
