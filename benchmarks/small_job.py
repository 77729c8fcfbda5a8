"""A user's whole small job, ours vs the bare script they would write instead.

The job (issue 34, item 7): create a campaign, upload 120,000 records into it, and export
90 days of phone results (campaign_3, ~150,000 rows seeded in the simulator, 3 windows of
31 dates) into a list of rows. FakeWolkvox runs in its own process with an injected
latency L per call. Each run reads its own 90 days (Wolkvox asks 5 minutes before the
same read again, and ours waits for that), both contenders the same ones.

* ours: ``WolkvoxClient`` with default settings (no ``backend=``: the per-user SQLite
  ledger, in a fresh ``XDG_STATE_HOME`` for the benchmark), ``Record`` objects,
  ``create_campaign``, ``upload_records``, ``iter_phone_results``.
* script: what a user writes with aiohttp alone: an ``asyncio.Semaphore(2)``, a retry on
  403 SIMULTANEOUS, 10,000-record chunks sent at once through the semaphore, 31-date
  windows read at once, each continued from its last second while it comes back with
  60,000 rows; orjson in and out; the records as wire dicts.

Contenders alternate which goes first, run by run. For each: wall of the whole job and of
each step, the client process's CPU (whole, and of the upload and the export), the
requests. ``÷script`` is ours ÷ the script's
wall in the same run; the table gives the median run and the spread (min–max).

    python benchmarks/small_job.py --records 120000 --rows 150000 --latency-ms 50 --runs 5

``--untyped`` adds a diagnostic contender: ours with the answers' rows left as wire dicts
(the typed rows' cost taken out), to show where the rest of the gap lies.

Prints a table and writes benchmarks/results/small_job.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
from _common import TOKEN, Simulator, add_record_path, print_table, save, summarize

import wolkvox_async.bulk._methods as methods
from wolkvox_async import Record, WolkvoxClient

START = datetime(2026, 6, 1)  # the simulator's seeded results start here, ~rows per 90 days
DAYS = 90
Steps = dict[str, float]
UNTYPED = "ours, rows as wire dicts"
UNTYPED_STATE = tempfile.mkdtemp()
Contender = Callable[[Simulator, str, list[Any], datetime], Awaitable[tuple[int, int, Steps]]]


def records_of(count: int, run: int) -> tuple[list[Record], list[dict[str, str]]]:
    """The same records as ``Record`` objects (ours) and wire dicts (the script), each
    contender loading its own into its own campaign."""
    ids = [f"r{run}-{i}" for i in range(count)]
    ours = [
        Record(customer_id=c, customer_name=f"Lead {c}", phones=(f"3{i:09d}",))
        for i, c in enumerate(ids)
    ]
    script = [
        {"customer_id": c, "customer_name": f"Lead {c}", "tel1": f"3{i:09d}"}
        for i, c in enumerate(ids)
    ]
    return ours, script


async def ours(
    sim: Simulator, results: str, records: list[Any], start: datetime
) -> tuple[int, int, Steps]:
    steps: Steps = {}
    started = time.perf_counter()
    async with WolkvoxClient(server="0014", token=TOKEN, base_url=sim.url) as wv:
        created = await wv.create_campaign(name="job", campaign_type="predictive", skill_id="1")
        steps["create"] = time.perf_counter() - started
        at, cpu = time.perf_counter(), time.process_time()
        report = await wv.upload_records(created.id, records)
        steps["upload"] = time.perf_counter() - at
        steps["upload_cpu"] = time.process_time() - cpu
        at, cpu = time.perf_counter(), time.process_time()
        end = start + timedelta(days=DAYS) - timedelta(seconds=1)
        download = wv.iter_phone_results(results, start, end)
        rows = [row async for row in download]
        steps["export"] = time.perf_counter() - at
        steps["export_cpu"] = time.process_time() - cpu
    steps["close"] = (
        time.perf_counter() - started - sum(v for k, v in steps.items() if not k.endswith("_cpu"))
    )
    assert report.records_landed == len(records), report
    return len(rows), 1 + len(report.chunks) + download.requests, steps


async def ours_untyped(
    sim: Simulator, results: str, records: list[Any], start: datetime
) -> tuple[int, int, Steps]:
    """Diagnostic (``--untyped``): ours with each answer's rows left as the wire dicts the
    script delivers, not made into typed rows: what is left of the gap once the rows'
    own cost is taken out (the library's private row step replaced for this run only)."""
    made = methods.structure_rows
    methods.structure_rows = lambda request, envelope, row, converter: list(envelope.payload)
    # A ledger of its own: on ours' ledger, its reads would share ours' answers from the
    # last 5 minutes (poll_policy "share") instead of asking the server.
    os.environ["WOLKVOX_BACKEND"] = f"sqlite:///{UNTYPED_STATE}/ledger.db"
    try:
        return await ours(sim, results, records, start)
    finally:
        methods.structure_rows = made
        del os.environ["WOLKVOX_BACKEND"]


async def script(
    sim: Simulator, results: str, records: list[Any], start: datetime
) -> tuple[int, int, Steps]:
    steps: Steps = {}
    requests = 0
    gate = asyncio.Semaphore(2)
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers={"wolkvox-token": TOKEN}) as session:

        async def call(method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
            nonlocal requests
            while True:
                async with (
                    gate,
                    session.request(method, f"{sim.url}/api/v2/{path}", data=body) as resp,
                ):
                    raw = await resp.read()
                requests += 1
                if resp.status == 403 and b"SIMULTANEOUS" in raw:
                    await asyncio.sleep(0.05)
                    continue
                return resp.status, orjson.loads(raw) if raw else None

        _, body = await call(
            "POST",
            "campaign.php?api=create_campaign&type_campaign=predictive",
            orjson.dumps({"campaign_name": "job", "skill_id": "1"}),
        )
        campaign = body["data"][0]["id_campaign"]
        steps["create"] = time.perf_counter() - started
        at, cpu = time.perf_counter(), time.process_time()
        chunks = [records[i : i + 10_000] for i in range(0, len(records), 10_000)]
        done = await asyncio.gather(
            *(call("POST", add_record_path(campaign), orjson.dumps(c)) for c in chunks)
        )
        assert all(status == 201 for status, _ in done), done
        steps["upload"] = time.perf_counter() - at
        steps["upload_cpu"] = time.process_time() - cpu
        at, cpu = time.perf_counter(), time.process_time()

        async def window(lo: datetime, hi: datetime) -> list[dict[str, str]]:
            rows: list[dict[str, str]] = []
            while True:
                status, body = await call(
                    "GET",
                    f"reports_manager.php?api=campaign_3&campaign_id={results}"
                    f"&date_ini={lo:%Y%m%d%H%M%S}&date_end={hi:%Y%m%d%H%M%S}",
                )
                data = (body.get("data") or []) if status == 200 else []
                if len(data) < 60_000:
                    return rows + data
                last = data[-1]["date"]  # at the cap: again from its last second
                rows += [row for row in data if row["date"] != last]
                lo = datetime.strptime(last, "%Y-%m-%d %H:%M:%S")

        spans, lo, end = [], start, start + timedelta(days=DAYS) - timedelta(seconds=1)
        while lo <= end:
            hi = min(end, lo + timedelta(days=31) - timedelta(seconds=1))
            spans.append((lo, hi))
            lo = hi + timedelta(seconds=1)
        parts = await asyncio.gather(*(window(lo, hi) for lo, hi in spans))
        rows = [row for part in parts for row in part]
        steps["export"] = time.perf_counter() - at
        steps["export_cpu"] = time.process_time() - cpu
    steps["close"] = (
        time.perf_counter() - started - sum(v for k, v in steps.items() if not k.endswith("_cpu"))
    )
    return len(rows), requests, steps


async def measure(
    sim: Simulator, results: str, count: int, run: int, untyped: bool
) -> list[dict[str, Any]]:
    mine, theirs = records_of(count, run)  # made before the clocks start, for both
    contenders: list[tuple[str, Contender, list[Any]]] = [
        ("wolkvox-async", ours, mine),
        ("bare script", script, theirs),
    ]
    if untyped:
        contenders.append((UNTYPED, ours_untyped, mine))
    turn = run % len(contenders)  # which goes first moves run by run
    contenders = contenders[turn:] + contenders[:turn]
    out = []
    for name, contender, records in contenders:
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        start = START + timedelta(days=DAYS * run)
        rows, requests, steps = await contender(sim, results, records, start)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        out.append(
            {
                "contender": name,
                "run": run,
                "rows": rows,
                "requests": requests,
                "wall_s": round(wall, 2),
                **{f"{step}_s": round(s, 2) for step, s in steps.items()},
                "client_cpu_s": round(cpu, 2),
            }
        )
    script_row = next(row for row in out if row["contender"] == "bare script")
    for row in out:
        row["wall_vs_script"] = round(row["wall_s"] / script_row["wall_s"], 2)
        assert row["rows"] == script_row["rows"], (row, script_row)
    return out


async def warm(sim: Simulator, results: str) -> None:
    """The simulator sorts its attempts on the first read (seconds of its CPU): done here,
    or it is charged to whichever contender reads first."""
    async with aiohttp.ClientSession() as session:
        await sim.call(
            session,
            "GET",
            f"reports_manager.php?api=campaign_3&campaign_id={results}"
            f"&date_ini={START:%Y%m%d%H%M%S}&date_end={START:%Y%m%d%H%M%S}",
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=120_000)
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--untyped", action="store_true", help=f"add the contender {UNTYPED!r} (a diagnostic)"
    )
    args = parser.parse_args()
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp()  # the default ledger, fresh
    licenses = 50  # enough quota for every run
    seeded = ("--results", str(args.rows * args.runs), "--days", str(DAYS * args.runs))
    sim = Simulator(args.latency_ms, licenses, *seeded)
    assert sim.proc.stdout is not None
    results = sim.proc.stdout.readline().split()[-1]
    table: list[dict[str, Any]] = []
    try:
        asyncio.run(warm(sim, results))
        for run in range(args.runs):
            table += asyncio.run(measure(sim, results, args.records, run, args.untyped))
            print(*table[-3 if args.untyped else -2 :], sep="\n", flush=True)
    finally:
        sim.stop()
    rows = summarize(table, ("contender",), value="wall_vs_script")
    print_table(
        rows,
        [
            ("contender", "contender", 14),
            ("requests", "requests", 8),
            ("wall_s", "wall s", 6),
            ("wall_vs_script", "÷script", 7),
            ("wall_vs_script_spread", "÷script spread", 14),
            ("create_s", "create", 6),
            ("upload_s", "upload", 6),
            ("export_s", "export", 6),
            ("close_s", "close", 5),
            ("client_cpu_s", "CPU s", 5),
            ("upload_cpu_s", "upload CPU", 10),
            ("export_cpu_s", "export CPU", 10),
        ],
    )
    save("small_job", rows)
    save("small_job_runs", table)


if __name__ == "__main__":
    main()
