"""Attacks on issue 32 items 5 and 6 as a user meets them (found by the attack32 helper):
the TruncatedAnswer advice followed literally, and options an operation-wide report does
not take. Real loopback servers (FakeWolkvox, or an aiohttp app answering 60,000 rows);
the command in-process through click's runner."""

from __future__ import annotations

import csv
import io
import json
import shlex
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from click.testing import CliRunner

from wolkvox_async import ConfigError, TruncatedAnswer, WolkvoxClient
from wolkvox_async.cli._app import cli
from wolkvox_async.testing import Attempt, FakeWolkvox, Fault

START = datetime(2026, 8, 1)
CAP = 60_000
TOKEN = "6b65792d666f722d7265706f72742d6d697375736520746573747321"


def _answer(rows: int) -> dict[str, Any]:
    return {"code": "0", "error": None, "msg": f"{rows} records", "data": [{}] * rows}


async def _ask(answer: Any, call: Callable[[WolkvoxClient], Awaitable[Any]]) -> Any:
    """``call``'s result when a loopback server answers every request ``answer``."""
    body = json.dumps(answer).encode()

    async def reply(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", reply)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with WolkvoxClient(
            server="0014", token=TOKEN, base_url=url, backend="memory://"
        ) as wv:
            return await call(wv)
    finally:
        await runner.cleanup()


ADVISED: dict[str, Callable[[WolkvoxClient, dict[str, Any]], Awaitable[Any]]] = {
    "agents": lambda wv, kw: wv.agents(**kw),
    "activity_codes": lambda wv, kw: wv.activity_codes(**kw),
}


@pytest.mark.parametrize("name", ADVISED)
async def test_the_truncated_advice_followed_literally_returns_marked_rows(name: str) -> None:
    """agents() and activity_codes() at the cap raise TruncatedAnswer saying "pass
    allow_truncated=True to take these rows, marked .truncated" (and the README says every
    method that returns rows takes it); doing so raised TypeError (unexpected keyword)."""
    call = ADVISED[name]
    with pytest.raises(TruncatedAnswer, match=r"pass allow_truncated=True") as info:
        await _ask(_answer(CAP), lambda wv: call(wv, {}))
    assert TOKEN not in str(info.value)
    marked = await _ask(_answer(CAP), lambda wv: call(wv, {"allow_truncated": True}))
    assert len(marked) == CAP and marked.truncated is True


async def test_an_operation_report_refuses_a_campaign_type_before_sending() -> None:
    """cdr_5 covers the whole operation: a campaign_id given to it is refused (ConfigError,
    nothing sent), but campaign_type="predictive" was silently dropped and every call of
    the operation returned, as if filtered. The typed method (unconnected_calls) has no
    such argument at all; the generic ones should refuse it the same way."""
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            with pytest.raises(ConfigError, match="campaign_type"):
                await wv.report(
                    "cdr_5", START, START + timedelta(days=1), campaign_type="predictive"
                )
            with pytest.raises(ConfigError, match="campaign_type"):
                wv.iter_report(
                    "agent_1", None, START, START + timedelta(days=1), campaign_type="preview"
                )
        assert fake.stats.requests == 0


def test_the_command_refuses_type_for_an_operation_report(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """`wolkvox export cdr_5 --type predictive` exited 0 with every unconnected call of
    the operation: --type ("Campaign type") means nothing to a report that takes no
    campaign, and is refused like a CAMPAIGN_ID given to it (exit 2, nothing sent)."""
    env = {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    before = served.stats.requests
    out = tmp_path / "cdr5.csv"
    args = ["export", "cdr_5", "--type", "predictive", "--days", "3", "-o", str(out)]
    done = CliRunner().invoke(cli, args, env=env)
    assert done.exit_code == 2, done.output
    assert "--type" in done.output and "cdr_5" in done.output
    assert served.stats.requests == before and not out.exists()


# ---- typed methods: bad input refused before sending ---------------------------------


@pytest.mark.parametrize("permanent", ["no", "yes"])
async def test_add_ip_refuses_a_permanent_that_is_not_a_bool(permanent: Any) -> None:
    """add_ip(ip, permanent="no") (Wolkvox's own word on the wire) registered a PERMANENT
    IP: any truthy value became permanent="yes", and the operation has at most 5 of them.
    A typed flag takes True/False only, refused before anything is sent otherwise."""
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            with pytest.raises(ConfigError, match="permanent"):
                await wv.add_ip("10.3.3.3", permanent=permanent)
        assert fake.stats.requests == 0


async def test_detail_refuses_an_include_unmanaged_that_is_not_a_bool() -> None:
    """The same truthiness on detail: include_unmanaged="no" sent detail=all (records
    coded without a call included). Found beside add_ip's by the fix32 helper."""
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            with pytest.raises(ConfigError, match="include_unmanaged"):
                await wv.campaign_detail(
                    "7", START, START + timedelta(days=1), campaign_type="preview",
                    include_unmanaged="no",  # type: ignore[arg-type]
                )  # fmt: skip
        assert fake.stats.requests == 0


# ---- the windowed download's cap ------------------------------------------------------


async def _drain(download: Any) -> list[Any]:
    return [row async for row in download]


@pytest.mark.parametrize("cap", [0, -1])
async def test_iter_report_refuses_a_cap_below_one_before_sending(cap: int) -> None:
    """iter_report("cdr_5", None, start, end, cap=0) spent 33 calls halving one empty day
    down to a second, then raised DownloadError "the second ... alone holds 0 or more
    rows": a cap below 1 is bad input, refused before any request."""
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            with pytest.raises(ConfigError, match="cap"):
                await _drain(
                    wv.iter_report("cdr_5", None, START, START + timedelta(days=1), cap=cap)
                )
        assert fake.stats.requests == 0


async def test_iter_report_with_a_cap_above_wolkvox_s_never_delivers_a_cut_window() -> None:
    """cap=70_000 (a user who believes their server returns more): the simulator cuts the
    window at Wolkvox's 60,000, which is under the given cap, so the window was taken as
    complete and 1 of 60,001 unconnected calls silently lost. Either refuse such a cap
    (ConfigError, nothing sent) or still read the window whole."""
    at = START + timedelta(hours=1)
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        camp.add_attempts(
            Attempt(
                at=at + timedelta(seconds=i // 10),
                conn_id=f"{i:08d}",
                customer_id=str(i),
                telephone="3001234567",
                result="BUSY",
            )
            for i in range(CAP + 1)
        )
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            try:
                download = wv.iter_report(
                    "cdr_5", None, START, START + timedelta(days=1), cap=70_000
                )
                rows = [row.conn_id async for row in download]
            except ConfigError:
                assert fake.stats.requests == 0
                return
    assert len(rows) == CAP + 1 and len(set(rows)) == CAP + 1


# ---- generic rows in CSV: every value as Wolkvox sent it ------------------------------


def _env(fake: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        "WOLKVOX_SERVER": fake.server,
        "WOLKVOX_TOKEN": fake.token,
        "WOLKVOX_BASE_URL": fake.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def _export_agent_1(fake: FakeWolkvox, tmp_path: Path, row: dict[str, Any]) -> dict[str, str]:
    fake.world.add_report_rows("agent_1", [(START + timedelta(hours=10), row)])
    out = tmp_path / "agents.csv"
    args = ["export", "agent_1", "--start", "2026-08-01", "--end", "2026-08-01", "-o", str(out)]
    done = CliRunner().invoke(cli, args, env=_env(fake, tmp_path))
    assert done.exit_code == 0, done.output
    [written] = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    return written


def test_a_generic_row_s_json_literals_are_written_as_sent(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """agent_1's field tables type some values "Int": a row holding JSON true/false was
    written `True`/`False` (Python's spelling), not what Wolkvox sent; a nested value is
    already its JSON, so a boolean should be too."""
    written = _export_agent_1(
        served, tmp_path, {"agent_id": "1001", "login": True, "logout": False, "calls": 5}
    )
    assert (written["login"], written["logout"], written["calls"]) == ("true", "false", "5")


def test_a_generic_row_s_null_is_told_apart_from_an_empty_string(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """The same rule for null (fix32): JSON null is written `null`, "" stays empty, and a
    documented key the row lacks is an empty cell."""
    written = _export_agent_1(served, tmp_path, {"agent_id": "1001", "login": None, "logout": ""})
    assert (written["login"], written["logout"], written["calls"]) == ("null", "", "")
    assert written["undocumented"] == ""


def test_a_key_named_undocumented_is_kept(served: FakeWolkvox, tmp_path: Path) -> None:
    """docs/cli.md: any key a row holds beyond the documented ones is kept in the
    `undocumented` column, "never dropped". A row whose own key is `undocumented` (beside
    another new key) lost that value: the column held only the other key."""
    written = _export_agent_1(
        served, tmp_path, {"agent_id": "1001", "undocumented": "x", "extra": "y"}
    )
    assert json.loads(written["undocumented"]) == {"undocumented": "x", "extra": "y"}


# ---- the simulator serves the operation reports of any attempt it is given ---------------


@pytest.mark.parametrize("report", ["cdr_1", "cdr_5"])
async def test_the_simulator_serves_attempts_whose_conn_id_is_not_digits(report: str) -> None:
    """Attempt(conn_id=...) is the simulator's public way to place a call (the suite's own
    export tests name them "first", "sep30-2330"); campaign_3 and cdr_6 serve them, but
    cdr_1 and cdr_5 answered HTTP 500 (a ValueError reading the conn_id's last three
    characters as a number to make up a ring time): an export of them cannot pass."""
    async with FakeWolkvox() as fake:
        camp = fake.create_campaign()
        result = "ANSWER" if report == "cdr_1" else "BUSY"
        camp.add_attempts(
            Attempt(at=START + timedelta(hours=h), conn_id=name, customer_id="1",
                    telephone="3001234567", result=result)
            for h, name in enumerate(["first", "sep30-2330", "x"])
        )  # fmt: skip
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            rows = await wv.report(report, START, START + timedelta(days=1))
        assert {r.status for r in fake.requests} == {200}
    ids = [row["conn_id"] if report == "cdr_1" else row.conn_id for row in rows]
    assert sorted(ids) == ["first", "sep30-2330", "x"]


# ---- what the help promises ----------------------------------------------------------


def test_detail_of_all_campaigns_works_as_the_help_says(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """`wolkvox export --help`, docs/cli.md and docs/client.md: "campaign_1..campaign_10
    and detail take a CAMPAIGN_ID (or all)". `wolkvox export detail all --type predictive`
    exited 2, "campaign_id must be digits (up to 20), got 'all'" (iter_report and report
    refuse it too). Either detail reads every campaign, or the help stops promising it."""
    # fix32 took the docstring's second branch: wolkvox-api.md §5 #6 gives detail as
    # campaign.php?api=detail&type_campaign=...&campaign_id={id}; "all" is documented only
    # for reports_manager's campaign_N (§6.1), and detail's own `detail=all` means
    # unmanaged records. So the help stops promising it, and `detail all` is refused
    # clearly, before sending, instead of "campaign_id must be digits".
    help_text = " ".join(CliRunner().invoke(cli, ["export", "--help"]).output.split())
    assert "detail take a CAMPAIGN_ID (or all)" not in help_text
    assert "campaign_1..campaign_10 take a CAMPAIGN_ID (or all), detail one CAMPAIGN_ID" in (
        help_text
    )
    first, second = served.create_campaign(), served.create_campaign()
    served.add_call_results(first.id, START, START + timedelta(days=2), 20, seed=1)
    served.add_call_results(second.id, START, START + timedelta(days=2), 20, seed=2)
    out = tmp_path / "detail.csv"
    args = ["export", "detail", "all", "--type", "predictive"]
    args += ["--start", "2026-08-01", "--end", "2026-08-03", "-o", str(out)]
    before = served.stats.requests
    done = CliRunner().invoke(cli, args, env=_env(served, tmp_path))
    assert done.exit_code == 2, done.output
    assert "detail reads one campaign" in done.output and "digits" not in done.output
    assert served.stats.requests == before and not out.exists()


async def test_detail_of_all_is_refused_by_the_library_before_sending() -> None:
    """report(), iter_report() and campaign_detail() say the same as the command (fix32)."""
    end = START + timedelta(days=2)
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:

            def refused() -> Any:
                return pytest.raises(ConfigError, match="detail report reads one campaign")

            with refused():
                wv.iter_report("detail", "all", START, end, campaign_type="preview")
            with refused():
                await wv.report("detail", START, end, campaign_id="all", campaign_type="preview")
            with refused():
                await wv.campaign_detail("all", START, end, campaign_type="preview")
        assert fake.stats.requests == 0


# ---- the printed advice, followed literally ----------------------------------------------


def test_the_printed_resume_keeps_the_options_given_before_export(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """A user who names the server on the command line (`wolkvox --server 0014
    --base-url URL export agent_8 ...`, no WOLKVOX_SERVER/WOLKVOX_BASE_URL) and whose
    export stops is told "continue with: wolkvox export agent_8 ... --resume": the
    options before `export` are gone, so the command as printed exits 2 ("set the server
    number"), or, with WOLKVOX_SERVER set, goes to https://wv<server>.wolkvox.com instead
    of the server the rows came from. The printed command must continue the export."""
    env = {"WOLKVOX_TOKEN": served.token, "XDG_STATE_HOME": str(tmp_path / "state")}
    start = datetime(2026, 5, 1)
    rows = [(start + timedelta(hours=i), {"agent_id": str(i)}) for i in range(2000)]
    served.world.add_report_rows("agent_8", rows)
    for fault in (Fault.WRONG_CONTENT_TYPE, Fault.WRONG_CONTENT_TYPE, Fault.HTML):
        served.inject(fault, api="agent_8")  # the third window's answer is not JSON
    target = tmp_path / "agents.csv"
    options = ["--server", served.server, "--base-url", served.url]
    args = ["export", "agent_8", "--start", "2026-05-01", "--end", "2026-08-30"]
    failed = CliRunner().invoke(cli, [*options, *args, "-o", str(target)], env=env)
    assert failed.exit_code == 4, failed.output
    hint = failed.output.rsplit("continue with: ", 1)[1].split("\n", 1)[0]
    done = CliRunner().invoke(cli, shlex.split(hint)[1:], env=env)
    assert done.exit_code == 0, done.output
    written = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert [row["agent_id"] for row in written] == [row["agent_id"] for _, row in rows]


def test_the_upload_s_printed_commands_keep_the_options_given_before_upload(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """The same for the upload (fix32): a load given `--server --base-url` (no env) that
    stops at a bad row prints "continue with: wolkvox upload ... --resume", which lacked
    them too; the printed --skip-invalid command, run as printed, loads the rest, and
    never shows the token."""
    env = {"WOLKVOX_TOKEN": served.token, "XDG_STATE_HOME": str(tmp_path / "state")}
    camp = served.create_campaign()
    source = tmp_path / "leads.jsonl"
    rows = [{"customer_id": f"r{i}", "tel1": "3"} for i in range(500)]
    rows[249] = {"customer_id": "r249", "opt7": "x" * 201}
    source.write_text("".join(json.dumps(row) + "\n" for row in rows))
    options = ["--server", served.server, "--base-url", served.url]
    upload = ["upload", camp.id, str(source), "--chunk-size", "100"]
    stopped = CliRunner().invoke(cli, [*options, *upload], env=env)
    assert stopped.exit_code == 2, stopped.output
    assert served.token not in stopped.output
    hint = stopped.output.rsplit("bad rows: ", 1)[1].split("\n", 1)[0]
    words = shlex.split(hint)
    assert words[: 1 + len(options)] == ["wolkvox", *options], hint
    done = CliRunner().invoke(cli, words[1:], env=env)
    assert done.exit_code == 0, done.output
    assert sorted(r["customer_id"] for r in camp.records) == sorted(
        f"r{i}" for i in range(500) if i != 249
    )


def test_the_repeated_options_never_hold_the_token_nor_a_redis_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What the printed commands repeat (fix32): options given on the command line, the
    token never, a Redis password as *** (the pasted command fails to log in rather than
    print a secret or quietly use another ledger); the environment's are not repeated."""
    from wolkvox_async.cli._app import given_options

    url = "redis://user:s3cret@redis.local:6379/0?sentinel_password=s4cret&x=1"
    args = ["--token", TOKEN, "--server", "0014", "--redis-url", url, "--no-server-header"]
    with cli.make_context("wolkvox", [*args, "quota"], obj=None) as ctx:
        words = given_options(ctx)
    assert words == (
        "--server", "0014",
        "--redis-url", "redis://user:***@redis.local:6379/0?sentinel_password=***&x=1",
        "--no-server-header",
    )  # fmt: skip
    monkeypatch.setenv("WOLKVOX_SERVER", "0014")
    monkeypatch.setenv("WOLKVOX_BASE_URL", "http://127.0.0.1:1")
    with cli.make_context("wolkvox", ["--licenses", "3", "quota"]) as ctx:
        assert given_options(ctx) == ("--licenses", "3")
