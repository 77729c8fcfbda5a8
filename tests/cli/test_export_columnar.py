"""``wolkvox export --format parquet|arrow`` (issue 35, item 3): typed files DuckDB and
pyarrow read back with every row and its types, written window by window through a
spool, so an export killed mid-file continues with ``--resume`` to exactly the rows of
an uninterrupted run; and ``--excel-safe`` still never touches a number or a phone."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import os
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from aiohttp import ClientSession, web
from test_export import PYTHON, Lines, _state, ctrl_c_reaches_it, env, wolkvox

from wolkvox_async import report_schema
from wolkvox_async.cli import _export as export_module
from wolkvox_async.cli._columnar import ColumnarWriter, assemble, segments
from wolkvox_async.cli._files import neutralise
from wolkvox_async.endpoints._report_table import REPORTS
from wolkvox_async.models import CallResult, PhoneResult, ReportRow
from wolkvox_async.testing import FakeWolkvox

ARGS = ["--start", "2026-05-01", "--end", "2026-07-31"]
__all__ = ["env"]  # the fixture, from the CSV export's tests


def _read(path: Path, fmt: str) -> pa.Table:
    return pq.read_table(path) if fmt == "parquet" else pa.ipc.open_file(path).read_all()


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_an_export_is_typed_and_has_every_row_once(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 3_000)
    out = tmp_path / f"results.{fmt}"
    done = wolkvox(env, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(out))
    assert done.exit_code == 0, done.output
    assert f"3,000 rows in 3 requests -> {out}" in " ".join(done.output.split())
    table = _read(out, fmt)
    assert table.schema == report_schema("campaign_3")
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)
    if fmt == "parquet":
        assert pq.ParquetFile(out).num_row_groups == 3  # one per window, as they came
    else:
        assert len(table.column("result").chunks) == 3
    by_id = {a.conn_id: a for a in attempts}
    for row in table.to_pylist()[::97]:
        sent = by_id[row["conn_id"]]
        assert row["telephone"] == sent.telephone  # text: never a number
        assert row["date"] == sent.at.replace(tzinfo=row["date"].tzinfo)  # Wolkvox time
        assert row["date"].utcoffset() == timedelta(hours=-5)
        assert row["result"] == CallResult.parse(sent.result).value
    assert not list(tmp_path.glob("results.*.partial*"))


def test_duckdb_reads_the_parquet_file_with_its_types(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path
) -> None:
    camp = served.create_campaign()
    served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 900)
    out = tmp_path / "results.parquet"
    args = ["export", "campaign_3", camp.id, *ARGS, "--format", "parquet", "-o", str(out)]
    assert wolkvox(env, *args).exit_code == 0
    con = duckdb.connect()
    described = con.execute(f"DESCRIBE SELECT * FROM '{out}'").fetchall()
    types = {name: kind for name, kind, *_ in described}
    assert types["date"] == "TIMESTAMP WITH TIME ZONE" and types["telephone"] == "VARCHAR"
    assert types["opts"] == "VARCHAR[]"
    (count,) = con.execute(f"SELECT count(*) FROM '{out}'").fetchone()  # type: ignore[misc]
    assert count == 900


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
def test_an_empty_export_is_a_file_with_the_schema_and_no_rows(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str
) -> None:
    camp = served.create_campaign()
    out = tmp_path / f"empty.{fmt}"
    done = wolkvox(env, "export", "campaign_3", camp.id, *ARGS, "--format", fmt, "-o", str(out))
    assert done.exit_code == 0, done.output
    table = _read(out, fmt)
    assert table.num_rows == 0 and table.schema == report_schema("campaign_3")


def test_what_a_columnar_export_cannot_do_is_refused_before_any_request(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    camp = served.create_campaign()
    base = ["export", "campaign_3", camp.id, *ARGS, "--format", "parquet"]
    to_stdout = wolkvox(env, *base)
    assert to_stdout.exit_code == 2 and "give --output FILE" in to_stdout.output
    safe = wolkvox(env, *base, "--excel-safe", "-o", str(tmp_path / "x.parquet"))
    assert safe.exit_code == 2 and "--excel-safe is for CSV" in safe.output
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # pyarrow not installed
    missing = wolkvox(env, *base, "-o", str(tmp_path / "x.parquet"))
    assert missing.exit_code == 2
    assert 'pip install "wolkvox-async[arrow]"' in " ".join(missing.output.split())
    assert served.stats.requests == 0 and not list(tmp_path.iterdir())


# ---- stopped and continued -------------------------------------------------------------


@contextlib.contextmanager
def holding(upstream: str, date_ini: str, gate: threading.Event) -> Iterator[str]:
    """A loopback proxy in front of ``upstream`` that holds the request whose ``date_ini``
    is ``date_ini`` until ``gate`` is set: that window answers after the next, whatever
    the machine's load (a fixed delay may not be enough). Its URL."""

    async def forward(request: web.Request) -> web.Response:
        while request.query.get("date_ini") == date_ini and not gate.is_set():
            await asyncio.sleep(0.005)
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
        gate.set()
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("moment", ["between-windows", "in-a-continuation", "read-ahead"])
def test_a_killed_export_resumes_to_exactly_the_rows_of_a_whole_run(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, fmt: str, moment: str
) -> None:
    """SIGKILL leaves no footer and no printed advice: the spool and its checkpoint stand,
    and the same command with --resume ends with every row once. ``read-ahead``: Ctrl-C
    while window 2 is out and window 3 answered, which is kept and not read again."""
    camp = served.create_campaign()
    start = datetime(2026, 5, 1)
    attempts = served.add_call_results(camp.id, start, datetime(2026, 7, 31), 3_000)
    if moment == "in-a-continuation":  # window 1 above the 60,000-row cap
        dense = datetime(2026, 5, 3)
        attempts += served.add_call_results(camp.id, dense, dense + timedelta(hours=20), 65_000)
    served.latency = 0.3
    limit = 5.0 if moment == "in-a-continuation" else 1.0
    served.call_limit = limit
    env = {**os.environ, **env, "WOLKVOX_LOG_LEVEL": "DEBUG", "WOLKVOX_SERVER_LIMIT": str(limit)}
    target = tmp_path / f"results.{fmt}"
    command = [*PYTHON, "export", "campaign_3", camp.id, *ARGS, "--format", fmt]
    command += ["-o", str(target)]
    checkpoint = tmp_path / f"results.{fmt}.partial.json"
    gate = threading.Event()
    with holding(served.url, "20260601000000", gate) as proxy:
        if moment == "read-ahead":  # window 2 answers only once the signal is sent
            env["WOLKVOX_BASE_URL"] = proxy
        proc = subprocess.Popen(
            command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it
        )
        stderr = Lines(proc)

        def reached() -> bool:
            through = (_state(checkpoint) or {}).get("through")
            if moment == "in-a-continuation":
                return through is not None and through < "2026-05-31T23:59:59"
            if moment == "between-windows":
                return through is not None and through >= "2026-05-31T23:59:59"
            return sum("(answered)" in line for line in stderr.lines) == 2  # windows 1, 3

        while not reached():
            assert proc.poll() is None, stderr.text()
            time.sleep(0.002)
        proc.send_signal(signal.SIGINT if moment == "read-ahead" else signal.SIGKILL)
        gate.set()
        proc.wait(60)
        said = stderr.text()
    assert not target.exists() and "Traceback" not in said
    state = _state(checkpoint)
    assert state is not None and state["rows"] > 0  # windows written before the end
    spool = tmp_path / f"results.{fmt}.partial"
    assert spool.stat().st_size >= state["bytes"] > 0
    if moment == "read-ahead":
        assert [w["start"] for w in state["ahead"]] == ["2026-07-02T00:00:00"], said
    served.latency = 0.0
    env["WOLKVOX_BASE_URL"] = served.url
    done = subprocess.run(
        [*command, "--resume"], env=env, capture_output=True, text=True, timeout=180
    )
    if done.returncode == 3:
        # docs/cli.md: after a SIGKILL, a read the killed run had answered but not
        # written may wait its 5 minutes (the ledger kept its poll; exit 3, the time
        # said). The spool and its checkpoint stand; a ledger that has seen those 5
        # minutes pass (a fresh one here) lets the same command finish.
        assert moment != "read-ahead", done.stderr  # Ctrl-C forgets undelivered reads
        assert "within its polling interval; retry at" in done.stderr
        after = _state(checkpoint)
        assert after is not None and not target.exists()
        # Its windows are as they were; a window it read beside the refused one is kept.
        assert {k: v for k, v in after.items() if k != "ahead"} == {
            k: v for k, v in state.items() if k != "ahead"
        }
        env["XDG_STATE_HOME"] = str(tmp_path / "five-minutes-later")
        done = subprocess.run(
            [*command, "--resume"], env=env, capture_output=True, text=True, timeout=180
        )
    assert done.returncode == 0, said + done.stderr
    table = _read(target, fmt)
    assert table.schema == report_schema("campaign_3")
    assert Counter(table.column("conn_id").to_pylist()) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob(f"results.{fmt}.partial*"))
    if moment == "read-ahead":  # window 2 only: window 3 was kept
        sent = [line for line in done.stderr.splitlines() if "-> GET" in line]
        assert len(sent) == 1 and "date_ini=20260601000000" in sent[0], sent


# ---- memory --------------------------------------------------------------------------


def _window(n: int, size: int) -> list[PhoneResult]:
    at = datetime(2026, 5, 1) + timedelta(days=n)
    return [
        PhoneResult(conn_id=f"{n}-{i}", telephone=f"+57300{i:07d}", date=at, result_raw="BUSY")
        for i in range(size)
    ]


def _peak(windows: int, tmp_path: Path) -> int:
    """The most memory (Python's and Arrow's) spooling then assembling ``windows``
    windows of 5,000 rows takes, each window made as a download delivers it."""
    spool, out = tmp_path / f"{windows}.spool", tmp_path / f"{windows}.parquet"
    tracemalloc.start()
    arrow_peak = 0
    try:
        with spool.open("wb") as file:
            writer = ColumnarWriter(file, "campaign_3")
            for n in range(windows):
                for row in _window(n, 5_000):
                    writer.add(row)
                writer.flush()
                arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
        assemble(spool, out, "parquet", "campaign_3")
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pq.ParquetFile(out).metadata.num_rows == windows * 5_000
    return python_peak + arrow_peak


def test_memory_stays_flat_in_the_number_of_rows(tmp_path: Path) -> None:
    few, many = _peak(4, tmp_path), _peak(32, tmp_path)  # 8 times the rows
    assert many < 1.5 * few, (few, many)
    assert sum(b.num_rows for b in segments(tmp_path / "32.spool")) == 160_000


# ---- CSV, still exact ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        *("+573001234567", "+57 300 123 4567", "-5", "+1 (555) 123-4567", "-1e5", "+3.25"),
        *("-12,5", "-1,234", "-1.234,56", "-12.5%", "+57.300.123.4567", "-(5)"),
    ],
)
def test_excel_safe_never_touches_a_number_or_a_phone(cell: str) -> None:
    assert neutralise(cell) == cell


@pytest.mark.parametrize(
    "cell",
    ["=1+1", "+SUM(A1)", "-2+cmd|' /C calc'!A0", "@A1", "\t=1", "-1,A1", "+1%|x", "-5,2!A1"],
)
def test_excel_safe_quotes_a_formula(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


# ---- every report: the same rows as its CSV ---------------------------------------------


def _text(value: object) -> str:
    """A typed value as the CSV export writes it."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


@pytest.mark.parametrize("report", sorted(REPORTS))
def test_every_report_exports_the_rows_and_values_of_its_csv(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, report: str
) -> None:
    camp = served.create_campaign()
    start, end = datetime(2026, 8, 1), datetime(2026, 9, 9)
    served.add_call_results(camp.id, start, end, 400, seed=7)
    table = REPORTS[report]
    if table.row is ReportRow:
        served.world.add_report_rows(
            report,
            [
                (start + timedelta(hours=n), {k: f"{k}-{n}" for k in table.columns} | {"x": n})
                for n in range(40)
            ],
        )
    args = ["export", report, *([camp.id] if table.scope == "campaign" else [])]
    args += ["--start", "2026-08-01", "--end", "2026-09-09"]
    args += ["--type", "predictive"] if report == "detail" else []
    csv_out, parquet_out = tmp_path / "out.csv", tmp_path / "out.parquet"
    assert wolkvox(env, *args, "-o", str(csv_out)).exit_code == 0
    again = {**env, "XDG_STATE_HOME": str(tmp_path / "s2")}  # (a fresh ledger: no 5 minutes)
    done = wolkvox(again, *args, "--format", "parquet", "-o", str(parquet_out))
    assert done.exit_code == 0, done.output
    with csv_out.open(newline="", encoding="utf-8") as handle:
        expected = list(csv.DictReader(handle))
    got = pq.read_table(parquet_out)
    assert got.schema == report_schema(report)
    assert got.num_rows == len(expected) > 0, report
    for row, sent in zip(got.to_pylist(), expected, strict=True):
        for name, value in row.items():
            if name in sent:  # (lists are tel1.., opt1.. in CSV; unread is not a column)
                assert _text(value) == sent[name], (report, name)


def test_a_file_that_could_not_be_assembled_is_assembled_by_resume_without_a_request(
    served: FakeWolkvox, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every window spooled, then the disk refuses the Parquet file: nothing is lost, and
    the printed --resume writes it from the spool alone."""
    camp = served.create_campaign()
    attempts = served.add_call_results(camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31), 900)
    out = tmp_path / "results.parquet"
    args = ["export", "campaign_3", camp.id, *ARGS, "--format", "parquet", "-o", str(out)]

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(export_module, "assemble", full)
    failed = wolkvox(env, *args)
    said = " ".join(failed.output.split())
    assert failed.exit_code == 2 and "No space left on device" in said, said
    assert not out.exists() and "continue with: wolkvox export" in said
    monkeypatch.undo()
    before = served.stats.requests
    done = wolkvox(env, *args, "--resume")
    assert done.exit_code == 0, done.output
    assert served.stats.requests == before
    got = pq.read_table(out).column("conn_id").to_pylist()
    assert Counter(got) == Counter(a.conn_id for a in attempts)
    assert not list(tmp_path.glob("results.parquet.partial*"))
