"""Download: 1,000,000 phone results (campaign_3) over 90 days, some days above 60,000.

Ours: iter_phone_results over the whole span (31-date windows, each continued from its
last second while it comes back with 60,000 rows), every row read into a PhoneResult, on
the memory backend. At most two answers are asked for and not yet delivered; a window's
continuation depends on its answer, so a window at the cap is read one request after
another (the next window beside it only while no answer is being delivered): with these
dense windows ours is mostly one request at a time. Reference (not a peer): the very
requests ours made, replayed by two raw aiohttp workers two at a time, each answer parsed
by orjson and nothing more — what the HTTP stack and the simulator allow on this machine.
Whether two windows are in flight is download_overlap.py's question (here FakeWolkvox's
making of each page is part of every request's time).
Peer: the loop users write — one request per 31-day window — which silently stops at
60,000 rows a window. The floor on requests is, per 31-day window, its rows ÷ 60,000
rounded up (at least 1). CPU is this process's (the client's; the simulator has its own).

    python benchmarks/download.py --rows 1000000 --days 90 --dense 3 --latency-ms 50 --runs 3

Prints a table and writes benchmarks/results/download.json.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson
from _common import TOKEN, Noted, Simulator, publish, save, summarize

from wolkvox_async import WolkvoxClient
from wolkvox_async.bulk._windows import windows
from wolkvox_async.scheduler import MemoryBackend

START = datetime(2026, 6, 1)
REFERENCE = "(reference: raw aiohttp + orjson, same requests)"
Contender = Callable[["Simulator", str, datetime], Awaitable[tuple[int, int, int]]]


def ours(urls: list[str], dates: list[datetime]) -> Contender:
    async def run(sim: Simulator, campaign: str, end: datetime) -> tuple[int, int, int]:
        async with WolkvoxClient(
            server="0014",
            token=TOKEN,
            base_url=sim.url,
            backend=MemoryBackend(),
            transport=Noted(lambda request: urls.append(request.url)),
        ) as wv:
            download = wv.iter_phone_results(campaign, START, end)
            seen: set[str] = set()
            rows = 0
            async for row in download:
                rows += 1
                seen.add(row.conn_id or "")
                dates.append(row.date)  # type: ignore[arg-type]
            return rows, len(seen), download.requests

    return run


def reference(urls: list[str]) -> Contender:
    async def run(sim: Simulator, campaign: str, end: datetime) -> tuple[int, int, int]:
        todo = list(reversed(urls))
        rows = 0
        seen: set[str] = set()

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal rows
            while todo:
                url = todo.pop()
                async with session.get(url, headers={"wolkvox-token": TOKEN}) as resp:
                    data = orjson.loads(await resp.read()).get("data") or []
                rows += len(data)
                seen.update(r.get("conn_id", "") for r in data)

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(worker(session), worker(session))
        return rows, len(seen), len(urls)

    return run


async def naive(sim: Simulator, campaign: str, end: datetime) -> tuple[int, int, int]:
    """The loop users write: one request per 31 × 24 hours, whatever it returns."""
    rows = requests = 0
    seen: set[str] = set()
    fmt = "%Y%m%d%H%M%S"
    lo = START
    async with aiohttp.ClientSession() as session:
        while lo <= end:
            hi = min(end, lo + timedelta(days=31))
            status, body = await sim.call(
                session,
                "GET",
                f"reports_manager.php?api=campaign_3&campaign_id={campaign}"
                f"&date_ini={lo:{fmt}}&date_end={hi:{fmt}}",
            )
            requests += 1
            data = (body.get("data") or []) if status == 200 else []
            rows += len(data)
            seen.update(r.get("conn_id", "") for r in data)
            lo = hi + timedelta(seconds=1)
    return rows, len(seen), requests


def floor(dates: list[datetime], end: datetime) -> int:
    """The fewest requests that can return every row: per 31-date window, its rows ÷ 60,000
    rounded up, and at least one."""
    cuts = windows(START, end)
    counts = Counter(
        bisect.bisect_right([lo for lo, _ in cuts], d.replace(tzinfo=None)) for d in dates
    )
    return sum(max(1, math.ceil(counts.get(i + 1, 0) / 60_000)) for i in range(len(cuts)))


async def measure(
    total: int, days: int, dense: int, latency_ms: float, run: int
) -> list[dict[str, Any]]:
    sim = Simulator(
        latency_ms, 20, "--results", str(total), "--days", str(days), "--dense", str(dense)
    )
    assert sim.proc.stdout is not None
    campaign = sim.proc.stdout.readline().split()[-1]
    end = START + timedelta(days=days)
    urls: list[str] = []
    dates: list[datetime] = []
    contenders = [
        ("wolkvox-async", ours(urls, dates)),
        (REFERENCE, reference(urls)),
        ("one request per 31-day window", naive),
    ]
    results = []
    try:
        # The simulator sorts its 1M attempts on the first read (~2 s of its CPU): done
        # here, or it is charged to whichever contender runs first.
        async with aiohttp.ClientSession() as session:
            await sim.call(
                session,
                "GET",
                f"reports_manager.php?api=campaign_3&campaign_id={campaign}"
                f"&date_ini={START:%Y%m%d%H%M%S}&date_end={START:%Y%m%d%H%M%S}",
            )
        for name, contender in contenders:
            gc.collect()
            started, cpu = time.perf_counter(), time.process_time()
            rows, unique, requests = await contender(sim, campaign, end)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            results.append(
                {
                    "contender": name,
                    "latency_ms": latency_ms,
                    "run": run,
                    "rows_stored": total,
                    "rows_received": rows,
                    "rows_unique": unique,
                    "requests": requests,
                    "elapsed_s": round(elapsed, 2),
                    "client_cpu_us_per_row": round(cpu / max(rows, 1) * 1e6, 2),
                }
            )
    finally:
        sim.stop()
    lower = floor(dates, end)
    for row in results:
        row["request_floor"] = lower
        row["requests_ratio"] = round(row["requests"] / lower, 2)
        row["wall_vs_reference"] = round(row["elapsed_s"] / results[1]["elapsed_s"], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--dense", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    table: list[dict[str, Any]] = []
    for run in range(args.runs):
        table += asyncio.run(measure(args.rows, args.days, args.dense, args.latency_ms, run))
    rows = summarize(table, ("contender",), value="wall_vs_reference")
    publish(
        "download",
        rows,
        [
            ("contender", "contender", 38),
            ("rows_received", "received", 8),
            ("rows_unique", "unique", 8),
            ("requests", "requests", 8),
            ("request_floor", "floor", 5),
            ("requests_ratio", "÷floor", 6),
            ("elapsed_s", "wall s", 6),
            ("wall_vs_reference", "÷ref", 5),
            ("wall_vs_reference_spread", "÷ref spread", 11),
            ("client_cpu_us_per_row", "CPU µs/row", 10),
        ],
    )
    save("download_runs", table)


if __name__ == "__main__":
    main()
