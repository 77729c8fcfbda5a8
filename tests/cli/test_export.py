"""``wolkvox export`` as a user drives it (issue 30): dates that mean what a person means,
exact CSV by default, the output checked before anything is spent, empty exports with
their header, and interrupted exports continued at once by the printed command. Signals
and concurrent runs go to real subprocesses; the rest runs the command in-process."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import pytest
from aiohttp import ClientSession, web
from click.testing import CliRunner, Result

from wolkvox_async._time import WOLKVOX_TZ
from wolkvox_async.cli._app import cli
from wolkvox_async.cli._files import columns_of
from wolkvox_async.endpoints._report_methods import REPORTS
from wolkvox_async.testing import Attempt, FakeWolkvox, Fault

PYTHON = [sys.executable, "-m", "wolkvox_async"]


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def wolkvox(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert env["WOLKVOX_TOKEN"] not in result.output
    return result


def ctrl_c_reaches_it() -> None:
    """In the child: Ctrl-C interrupts it, as in a terminal's foreground (a test run in
    the background hands its children SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def attempt(at: datetime, conn_id: str, phone: str = "3001234567") -> Attempt:
    return Attempt(at=at, conn_id=conn_id, customer_id="c1", telephone=phone, result="BUSY")


def conn_ids(path: Path) -> Counter[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return Counter(row["conn_id"] for row in csv.DictReader(handle))


# ---- dates ---------------------------------------------------------------------------


def test_a_date_alone_as_end_covers_that_whole_day(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 30, item 3: `--end 2026-09-30` used to stop at 2026-09-30 00:00:00, leaving
    out the whole day with exit 0; the docs' own example left out 31 October."""
    camp = served.create_campaign()
    edges = {
        "before": datetime(2026, 7, 31, 23, 59, 59),
        "first": datetime(2026, 8, 1, 0, 0, 0),
        "sep30-2330": datetime(2026, 9, 30, 23, 30),
        "oct31-morning": datetime(2026, 10, 31, 8, 0),
        "oct31-last": datetime(2026, 10, 31, 23, 59, 59),
        "after": datetime(2026, 11, 1, 0, 0, 0),
    }
    served.campaign(camp.id).add_attempts(attempt(at, name) for name, at in edges.items())
    sep = tmp_path / "sep.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-09-30", "--end", "2026-09-30"]
    done = wolkvox(env, *args, "-o", str(sep))
    assert done.exit_code == 0, done.output
    assert conn_ids(sep) == Counter(["sep30-2330"])
    docs = tmp_path / "docs.csv"  # the example of the README and docs/cli.md
    args = ["export", "campaign_3", camp.id, "--start", "2026-08-01", "--end", "2026-10-31"]
    done = wolkvox(env, *args, "-o", str(docs))
    assert done.exit_code == 0, done.output
    assert set(conn_ids(docs)) == {"first", "sep30-2330", "oct31-morning", "oct31-last"}
    queried = [r.query for r in served.requests if r.api == "campaign_3"]
    assert queried[-1]["date_end"] == "20261031235959"
    # A time is that moment: --end 2026-10-31T12:00 leaves the evening out.
    noon = tmp_path / "noon.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-10-31", "--end", "2026-10-31T12:00"]
    assert wolkvox(env, *args, "-o", str(noon)).exit_code == 0
    assert set(conn_ids(noon)) == {"oct31-morning"}


def test_days_are_whole_calendar_days_ending_with_the_end_day(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    edges = {
        "sep27-last": datetime(2026, 9, 27, 23, 59, 59),
        "sep28-first": datetime(2026, 9, 28),
        "sep30-2330": datetime(2026, 9, 30, 23, 30),
    }
    served.campaign(camp.id).add_attempts(attempt(at, name) for name, at in edges.items())
    out = tmp_path / "three.csv"
    args = ["export", "campaign_3", camp.id, "--days", "3", "--end", "2026-09-30"]
    done = wolkvox(env, *args, "-o", str(out))
    assert done.exit_code == 0, done.output
    assert set(conn_ids(out)) == {"sep28-first", "sep30-2330"}
    # Without --end: the days end now (yesterday and today so far, in Wolkvox time).
    now = datetime.now(WOLKVOX_TZ).replace(tzinfo=None, microsecond=0)
    served.campaign(camp.id).add_attempts(
        [
            attempt(now - timedelta(minutes=1), "a-minute-ago"),
            attempt(now + timedelta(hours=2), "later"),
        ]
    )
    today = tmp_path / "today.csv"
    done = wolkvox(env, "export", "campaign_3", camp.id, "--days", "2", "-o", str(today))
    assert done.exit_code == 0, done.output
    assert set(conn_ids(today)) == {"a-minute-ago"}


@pytest.mark.parametrize(
    ("dates", "says"),
    [
        (["--start", "2026-09-01", "--days", "3"], "not both"),
        (["--end", "2026-09-01"], "give --start"),
        (["--start", "2026-09-01"], "give --end"),
        (["--start", "2026-09-02", "--end", "2026-09-01"], "is after --end"),
        (["--start", "2026-09-01", "--end", "30/09/2026"], "is not a date"),
        (["--days", "0"], "--days"),
        (["--days", "2", "--format", "jsonl", "--excel-safe"], "--excel-safe is for CSV"),
    ],
)
def test_options_that_make_no_export_are_refused_before_anything(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, dates: list[str], says: str
) -> None:
    camp = served.create_campaign()
    refused = wolkvox(env, "export", "campaign_3", camp.id, *dates, "-o", str(tmp_path / "x.csv"))
    assert refused.exit_code == 2 and says in refused.output, refused.output
    assert served.stats.requests == 0 and list(tmp_path.iterdir()) == []


def test_the_help_says_what_dates_and_excel_safe_mean() -> None:
    shown = " ".join(CliRunner().invoke(cli, ["export", "--help"]).output.split())
    assert "a date covers that whole day, to 23:59:59" in shown
    assert "(--end 2026-10-31 includes 31 October)" in shown
    assert "a date starts at 00:00:00" in shown and "--days 7" in shown
    assert "numbers and phones (+57 300 1234567, -5) are never touched" in shown
    assert "exactly as Wolkvox sent it" in shown


# ---- exact CSV -----------------------------------------------------------------------

AWKWARD = {
    "customer_name": "=cmd|' /C calc'!A0",
    "opt1": "-5",
    "opt2": "+1 (555) 123",
    "opt3": 'a "quoted", comma\r\nand a new line',
    "opt4": "@SUM(1+1)",
    "opt5": "  spaces kept  ",
    "opt6": "-2+3+cmd|' /C calc'!A0",
}


def test_csv_round_trips_every_value_as_sent_and_excel_safe_leaves_phones_alone(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 30, item 7: a quote used to be put before every cell starting with + - = @,
    so phones +57… came out as '+57…."""
    camp = served.create_campaign()
    records = [
        {"customer_id": f"c{i}", "tel1": f"+57300{i:07d}", **(AWKWARD if i % 3 == 0 else {})}
        for i in range(1_200)
    ]
    served.campaign(camp.id).add_records(records)
    start = datetime(2026, 8, 1)
    served.campaign(camp.id).add_attempts(
        attempt(start + timedelta(minutes=i), f"{i:06d}", phone=f"+57300{i:07d}")
        for i in range(1_200)
    )
    # The attempts name c1 as their customer: give each its own record's fields.
    served.campaign(camp.id).attempts[:] = [
        a._replace(customer_id=f"c{i}") for i, a in enumerate(served.campaign(camp.id).attempts)
    ]
    args = ["export", "campaign_3", camp.id, "--start", "2026-08-01", "--end", "2026-08-02"]
    exact = tmp_path / "exact.csv"
    assert wolkvox(env, *args, "-o", str(exact)).exit_code == 0
    data = exact.read_bytes()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    header, body = rows[0], rows[1:]
    assert len(body) == 1_200 and data.count(b"\r\n") >= 1_201  # RFC 4180: CRLF
    for values in body:
        row = dict(zip(header, values, strict=True))
        i = int(row["conn_id"])
        assert row["telephone"] == f"+57300{i:07d}"  # as Wolkvox sent it
        sent = {key: value for key, value in records[i].items() if key in row}
        assert {key: row[key] for key in sent} == sent, i
    # JSONL: the same values.
    lines = tmp_path / "exact.jsonl"
    env2 = {**env, "XDG_STATE_HOME": str(tmp_path / "state2")}  # (another ledger: no 5 min)
    assert wolkvox(env2, *args, "--format", "jsonl", "-o", str(lines)).exit_code == 0
    first = json.loads(lines.read_text(encoding="utf-8").splitlines()[0])
    assert first["customer_name"] == AWKWARD["customer_name"] and first["opt3"] == AWKWARD["opt3"]

    safe = tmp_path / "safe.csv"
    env3 = {**env, "XDG_STATE_HOME": str(tmp_path / "state3")}
    assert wolkvox(env3, *args, "--excel-safe", "-o", str(safe)).exit_code == 0
    with safe.open(newline="", encoding="utf-8") as handle:
        safe_rows = list(csv.DictReader(handle))
    checked = 0
    for row in safe_rows:
        i = int(row["conn_id"])
        assert row["telephone"] == f"+57300{i:07d}"  # a phone is never touched
        if i % 3 == 0:
            assert row["customer_name"] == "'" + AWKWARD["customer_name"]
            assert row["opt4"] == "'" + AWKWARD["opt4"] and row["opt6"] == "'" + AWKWARD["opt6"]
            assert (row["opt1"], row["opt2"]) == ("-5", "+1 (555) 123")  # numbers, phones
            assert (row["opt3"], row["opt5"]) == (AWKWARD["opt3"], AWKWARD["opt5"])
            checked += 1
    assert checked == 400


# ---- the output, checked first -------------------------------------------------------


def test_an_output_that_cannot_be_written_is_refused_before_any_request(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 30, item 8: `-o` naming a folder used to run the whole export, spend its
    quota, then fail on the rename with a traceback (and --resume the same)."""
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 8, 1), datetime(2026, 8, 20), 100)
    folder = tmp_path / "exports"
    folder.mkdir()
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    busy_name = tmp_path / "taken.csv"
    (tmp_path / "taken.csv.partial").mkdir()  # where the rows would go
    cases = {
        str(folder): "is a folder: name a file in it",
        str(tmp_path / "missing" / "out.csv"): "does not exist: create it first",
        str(a_file / "out.csv"): "is not a folder",
        "/dev/null": "is not a regular file (use -o - for standard output)",
        str(busy_name): "cannot write",
    }
    args = ["export", "campaign_3", camp.id, "--start", "2026-08-01", "--end", "2026-08-20"]
    for output, says in cases.items():
        for resume in ([], ["--resume"]):
            refused = wolkvox(env, *args, "-o", output, *resume)
            assert refused.exit_code == 2, (output, resume, refused.output)
            assert "Traceback" not in refused.output
            if not resume or output != str(busy_name):  # (resume: no export to continue)
                assert says in refused.output, (output, refused.output)
    assert served.stats.requests == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "exports", "taken.csv.partial"]
    assert list(folder.iterdir()) == []


def test_an_unwritable_folder_is_refused_before_any_request(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 8, 1), datetime(2026, 8, 20), 100)
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    # root writes anywhere: then the command runs without that capability, as a user would.
    as_a_user = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root, and no setpriv to drop CAP_DAC_OVERRIDE")
        as_a_user = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]
    args = ["export", "campaign_3", camp.id, "--start", "2026-08-01", "--end", "2026-08-20"]
    refused = subprocess.run(
        [*as_a_user, *PYTHON, *args, "-o", str(folder / "out.csv")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2, refused.stderr
    assert "permission denied" in refused.stderr and "Traceback" not in refused.stderr
    assert served.stats.requests == 0 and list(folder.iterdir()) == []


def test_a_full_disk_names_the_file_and_the_command_that_continues(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """A write that fails (here the file-size limit, as a full disk would) is a message
    naming the file and the command to continue, never a traceback; that command, once
    the space is there, gives every row exactly once."""
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 20_000)
    target = tmp_path / "results.csv"
    args = [*PYTHON, "export", "campaign_3", camp.id, "--start", "2026-05-01"]
    args += ["--end", "2026-07-31", "-o", str(target)]
    env = {**os.environ, **env}

    def small_files() -> None:  # (Python ignores SIGXFSZ: a write past it is EFBIG)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))  # (the rows: 2 MB)

    full = subprocess.run(
        args, env=env, capture_output=True, text=True, timeout=60, preexec_fn=small_files
    )
    assert full.returncode == 2, full.stderr
    assert f"cannot write {target}.partial: File too large" in full.stderr
    assert "Traceback" not in full.stderr and not target.exists()
    printed = full.stderr.rsplit("continue with: ", 1)[1].strip()
    done = subprocess.run(
        [*PYTHON, *shlex.split(printed)[1:]], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert conn_ids(target) == Counter(a.conn_id for a in attempts)


def test_a_stopped_export_of_the_last_days_continues_the_same_days(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """--days without --end ends now: the printed --resume names that end, so the
    continued export covers the same days, not the days of the moment it runs."""
    camp = served.create_campaign()
    now = datetime.now(WOLKVOX_TZ).replace(tzinfo=None)
    attempts = served.add_call_results(camp.id, now - timedelta(days=39), now, 1_000)
    # The first window's answer is read (mislabelled, still JSON), the second's is not.
    served.inject(Fault.WRONG_CONTENT_TYPE, api="campaign_3")
    served.inject(Fault.HTML, api="campaign_3")
    target = tmp_path / "last.csv"
    failed = wolkvox(env, "export", "campaign_3", camp.id, "--days", "40", "-o", str(target))
    assert failed.exit_code == 4, failed.output
    printed = " ".join(failed.output.split()).rsplit("continue with: ", 1)[1]
    command = shlex.split(printed)
    assert command[command.index("--days") + 1] == "40" and "--end" in command
    done = wolkvox(env, *command[1:])
    assert done.exit_code == 0, done.output
    assert conn_ids(target) == Counter(a.conn_id for a in attempts)


# ---- empty exports -------------------------------------------------------------------


def test_an_empty_export_keeps_its_header_and_says_zero_rows(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Issue 30, item 9: an empty export used to be a 0-byte file without its header."""
    camp = served.create_campaign()
    args = ["export", "campaign_3", camp.id, "--start", "2026-08-01", "--end", "2026-09-15"]
    out = tmp_path / "empty.csv"
    done = wolkvox(env, *args, "-o", str(out))
    assert done.exit_code == 0, done.output
    header = out.read_bytes()
    assert header.startswith(b"conn_id,telephone,date,result,") and header.endswith(b"opt12\r\n")
    assert header.count(b"\r\n") == 1
    assert f"0 rows in 2 requests -> {out}" in " ".join(done.output.split())
    shown = wolkvox({**env, "XDG_STATE_HOME": str(tmp_path / "s2")}, *args)  # standard output
    assert shown.exit_code == 0 and shown.stdout_bytes == header
    detail = tmp_path / "detail.csv"
    args = ["export", "detail", camp.id, "--type", "predictive", "--start", "2026-08-01"]
    assert wolkvox(env, *args, "--end", "2026-08-02", "-o", str(detail)).exit_code == 0
    assert detail.read_text() == ",".join(columns_of(REPORTS["detail"].row)) + "\n"
    lines = tmp_path / "empty.jsonl"
    args = ["export", "campaign_3", camp.id, "--start", "2026-10-01", "--end", "2026-10-02"]
    assert wolkvox(env, *args, "--format", "jsonl", "-o", str(lines)).exit_code == 0
    assert lines.read_bytes() == b""


# ---- interrupted exports -------------------------------------------------------------


def _state(path: Path) -> dict[str, Any] | None:
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return state


@contextlib.contextmanager
def slowing(upstream: str, delays: dict[str, float]) -> Iterator[str]:
    """A loopback proxy in front of ``upstream`` that holds each request whose
    ``date_ini`` is in ``delays`` that long before passing it on: one window of an
    export slower than the next, whichever the client sends first. Its URL."""

    async def forward(request: web.Request) -> web.Response:
        await asyncio.sleep(delays.get(request.query.get("date_ini", ""), 0.0))
        async with ClientSession() as session:
            async with session.request(
                request.method, upstream + request.path_qs, headers=request.headers
            ) as answer:
                body = await answer.read()
                kind = answer.headers.get("Content-Type", "application/json")
                return web.Response(
                    status=answer.status, body=body, content_type=kind.split(";")[0]
                )

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(30)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


class Lines:
    """A child's standard error, read line by line as it writes them."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        self._thread = threading.Thread(target=self._read, args=(proc.stderr,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        with stream:
            for line in stream:
                self.lines.append(line)

    def text(self) -> str:
        self._thread.join(60)
        return "".join(self.lines)


MOMENTS = ["first-request", "in-a-continuation", "between-windows", "a-window-read-ahead"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("moment", MOMENTS)
def test_an_interrupted_export_continues_at_once_with_the_printed_command(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, sig: signal.Signals, moment: str
) -> None:
    """Issue 30, item 5: Ctrl-C in the first window used to leave a 60,000-row .partial and
    no checkpoint (the printed --resume: "missing", exit 2; a plain run: the 5-minute rule,
    exit 3), and after window 1 the window in flight kept --resume waiting 5 minutes.
    Stopped once at each moment, the printed command, run as printed, exits 0 at once
    (the ledger refuses a read within 5 minutes: exit 3) with every row exactly once.
    Moments: the first request in flight; inside window 1, after its first 60,000-row
    answer was written; window 1 written, windows 2 and 3 in flight; window 2 in flight
    and window 3 answered (kept in .partial.ahead, not read again)."""
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 3_000)
    if moment == "in-a-continuation":  # window 1 above the 60,000-row cap
        dense = datetime(2026, 5, 3)
        attempts += served.add_call_results(camp.id, dense, dense + timedelta(hours=20), 65_000)
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-07-31"]
    served.latency = 0.3
    # Calls given up on hold their slots until the server must be done with them: 1 s
    # here (the simulator stops calls then), not Wolkvox's 60; 5 s where an answer holds
    # 60,000 rows (the client's timeout, 1.5 × that, must cover its transfer on a busy
    # machine).
    limit = 5.0 if moment == "in-a-continuation" else 1.0
    served.call_limit = limit
    env = {**os.environ, **env, "WOLKVOX_LOG_LEVEL": "DEBUG", "WOLKVOX_SERVER_LIMIT": str(limit)}
    with contextlib.ExitStack() as stack:
        if moment == "a-window-read-ahead":  # window 2 answers 0.6 s after window 3
            proxy = stack.enter_context(slowing(served.url, {"20260601000000": 0.6}))
            env["WOLKVOX_BASE_URL"] = proxy
        _interrupt_then_continue(served, env, tmp_path, args, sig, moment, attempts)


def _interrupt_then_continue(
    served: FakeWolkvox,
    env: dict[str, str],
    tmp_path: Path,
    args: list[str],
    sig: signal.Signals,
    moment: str,
    attempts: list[Attempt],
) -> None:
    target = tmp_path / "results.csv"
    proc = subprocess.Popen(
        [*PYTHON, *args, "-o", str(target)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    stderr = Lines(proc)
    checkpoint = tmp_path / "results.csv.partial.json"
    window_1_end = "2026-05-31T23:59:59"

    def reached() -> bool:
        state = _state(checkpoint)
        through = None if state is None else state["through"]
        in_flight = served.stats.in_flight[served.token]
        if moment == "first-request":
            return state is not None and through is None and in_flight > 0
        if moment == "in-a-continuation":
            return through is not None and through < window_1_end
        if moment == "between-windows":
            return through is not None and through >= window_1_end
        return sum("(answered)" in line for line in stderr.lines) == 2  # windows 1 and 3

    while not reached():
        assert proc.poll() is None, stderr.text()
        time.sleep(0.002)
    proc.send_signal(sig)
    assert proc.wait(60) == (130 if sig == signal.SIGINT else 143), stderr.text()
    said = stderr.text()
    assert served.token not in said and "Traceback" not in said
    printed = said.rsplit("continue with: ", 1)[1].rstrip("\n")
    assert "\n" not in printed  # one line, pasted as is
    command = shlex.split(printed)
    assert command[:2] == ["wolkvox", "export"] and command[-1] == "--resume"
    assert not target.exists()
    kept = _state(checkpoint)["ahead"]  # type: ignore[index]
    if moment == "a-window-read-ahead":
        assert [w["start"] for w in kept] == ["2026-07-02T00:00:00"], said

    served.latency = 0.0
    done = subprocess.run(
        [*PYTHON, *command[1:]], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, said + done.stderr  # at once: no 5-minute refusal (exit 3)
    assert conn_ids(target) == Counter(a.conn_id for a in attempts)  # every row once
    assert not list(tmp_path.glob("results.csv.partial*"))
    if moment == "a-window-read-ahead":  # window 2 only: window 3 was kept
        sent = [line for line in done.stderr.splitlines() if "-> GET" in line]
        assert len(sent) == 1 and "date_ini=20260601000000" in sent[0], sent


@pytest.mark.slow
def test_a_second_export_into_the_same_file_is_refused_while_one_runs(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Two exports into one file at once would write the same rows twice into it: the
    second, plain or --resume, is refused at once (exit 2), naming the one running."""
    camp = served.create_campaign()
    span = (datetime(2026, 1, 1), datetime(2026, 8, 31, 23, 59, 59))  # 8 windows
    attempts = served.add_call_results(camp.id, *span, 3_000)
    served.latency = 1.0  # two windows a second: the first export runs for 4 seconds
    target = tmp_path / "results.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-01-01", "--end", "2026-08-31"]
    env = {**os.environ, **env}
    first = subprocess.Popen(
        [*PYTHON, *args, "-o", str(target)], env=env, stderr=subprocess.PIPE, text=True
    )
    while not (tmp_path / "results.csv.partial.json").exists():
        assert first.poll() is None, first.communicate()[1]
        time.sleep(0.002)
    for extra in ([], ["--resume"]):
        second = subprocess.run(
            [*PYTHON, *args, "-o", str(target), *extra],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 2, second.stderr
        assert f"an export into {target} is running (pid {first.pid} on " in second.stderr
        assert "--resume" not in second.stderr
    _, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stderr
    assert sum(1 for r in served.requests if r.api == "campaign_3") == 8  # the first's only
    assert conn_ids(target) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob("results.csv.partial*"))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_once_the_export_is_done_ends_it_as_done(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, sig: signal.Signals
) -> None:
    """Found by the journeys (tests/cli/test_journeys.py): Ctrl-C as an export ended, its
    summary printed, made it exit 130 saying nothing to continue (12 of 12 tries), or
    print a KeyboardInterrupt traceback from the interpreter's teardown; SIGTERM then
    killed it (-15). Between the rename and the removal of the checkpoint it would leave
    a checkpoint beside the finished file, whose --resume finds no partial file. Once the
    work is done, the command ends as done: exit 0, the file whole, nothing beside it."""
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 300)
    target = tmp_path / "results.csv"
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-07-31"]
    proc = subprocess.Popen(
        [*PYTHON, *args, "-o", str(target)],
        env={**os.environ, **env, "COLUMNS": "300"},  # the summary on one line
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    assert proc.stderr is not None
    with proc, proc.stderr:
        said = proc.stderr.readline()  # the summary: the last thing it says
        assert f"300 rows in 3 requests -> {target}" in said, said
        proc.send_signal(sig)
        said += proc.stderr.read()
        assert proc.wait(60) == 0, said
    assert "Traceback" not in said and "interrupted" not in said, said
    assert conn_ids(target) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob("results.csv.partial*"))


def test_a_signal_once_the_export_is_refused_keeps_its_exit_code(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    """Found by the journeys: an export refused for the polling rule (exit 3, the time to
    retry printed) and then sent Ctrl-C exited -2 (killed in the interpreter's teardown)
    or 130 "interrupted": a script read "interrupted", not "retry at". An error said is
    the command's last word: its exit code stands."""
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 300)
    args = ["export", "campaign_3", camp.id, "--start", "2026-05-01", "--end", "2026-07-31"]
    first = tmp_path / "first.csv"
    assert wolkvox(env, *args, "-o", str(first)).exit_code == 0
    proc = subprocess.Popen(
        [*PYTHON, *args, "-o", str(tmp_path / "again.csv")],
        env={**os.environ, **env, "COLUMNS": "300"},
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    assert proc.stderr is not None
    with proc, proc.stderr:
        said = proc.stderr.readline()
        assert "within its polling interval; retry at" in said, said
        proc.send_signal(signal.SIGINT)
        said += proc.stderr.read()
        assert proc.wait(60) == 3, said
    assert "Traceback" not in said and "interrupted" not in said, said
