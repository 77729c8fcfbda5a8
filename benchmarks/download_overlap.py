"""Download against a server whose requests overlap: are two windows in flight?

The server (``_report_server.py``, its own process) answers each request D seconds after
it arrived whatever else is in flight, its answers rendered ahead, so only the client can
serialise the requests. Ours: iter_phone_results over the span, default settings but the
memory backend (the ledger's cost is ledger.py's question), every row made into a
PhoneResult. Reference: the very requests ours made, replayed by two raw aiohttp
workers, each answer parsed by orjson — two requests in flight from first to last, which
ours can approach only where its windows are known ahead (a window at the cap is
continued from its last row, after its answer). Ours runs first in each run (the
reference replays its requests); each distinct answer is rendered on its first request,
so the reference finds every body ready and ours, in the first run only, does not (a
join of rendered rows, a few ms, inside D).

For each: wall, wall ÷ the reference's in the same run, and the slots busy as the server
saw them: the fraction of the contender's wall with 2 requests in flight (and with 1), and
a strip of the timeline (one character per 1/60 of the wall: ``2``, ``1`` or ``.``).

    python benchmarks/download_overlap.py --rows 150000 --days 180 --delay 0.5 2 --runs 3

Prints a table and writes benchmarks/results/download_overlap.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from _common import TOKEN, Noted, print_table, save, summarize

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend

START = datetime(2026, 6, 1)
REFERENCE = "two raw workers, same requests"
Contender = Callable[[str, datetime], Awaitable[tuple[int, int]]]


def ours(urls: list[str]) -> Contender:
    async def run(url: str, end: datetime) -> tuple[int, int]:
        urls.clear()
        async with WolkvoxClient(
            server="0014",
            token=TOKEN,
            base_url=url,
            backend=MemoryBackend(),
            transport=Noted(lambda request: urls.append(request.url)),
        ) as wv:
            download = wv.iter_phone_results("1", START, end)
            rows = 0
            async for _ in download:
                rows += 1
            return rows, download.requests

    return run


def reference(urls: list[str]) -> Contender:
    async def run(url: str, end: datetime) -> tuple[int, int]:
        todo = list(reversed(urls))
        rows = 0

        async def worker(session: aiohttp.ClientSession) -> None:
            nonlocal rows
            while todo:
                one = todo.pop()
                async with session.get(one, headers={"wolkvox-token": TOKEN}) as resp:
                    body = await resp.read()
                if resp.status == 200:
                    rows += len(orjson.loads(body).get("data") or [])

        async with aiohttp.ClientSession() as session:
            await asyncio.gather(worker(session), worker(session))
        return rows, len(urls)

    return run


def busy(timeline: list[tuple[float, float]], lo: float, hi: float) -> tuple[float, float, str]:
    """Fractions of lo..hi with 2 and with 1 request in flight, and a 60-character strip."""
    edges = sorted([(a, 1) for a, _ in timeline] + [(b, -1) for _, b in timeline])
    spans = {1: 0.0, 2: 0.0}
    level, at, steps = 0, lo, []
    for moment, change in edges:
        moment = min(max(moment, lo), hi)
        if level in spans:
            spans[level] += moment - at
        steps.append((at, moment, level))
        level, at = level + change, moment
    steps.append((at, hi, level))
    strip = ""
    for i in range(60):
        mid = lo + (i + 0.5) * (hi - lo) / 60
        level = next((lvl for a, b, lvl in steps if a <= mid < b), 0)
        strip += str(level) if level else "."
    wall = max(hi - lo, 1e-9)
    return spans[2] / wall, spans[1] / wall, strip


async def measure(url: str, end: datetime, delay: float, run: int) -> list[dict[str, Any]]:
    urls: list[str] = []
    results = []
    async with aiohttp.ClientSession() as session:
        for name, contender in (("wolkvox-async", ours(urls)), (REFERENCE, reference(urls))):
            await (await session.get(f"{url}/trace")).read()  # reset
            gc.collect()
            started, cpu = time.monotonic(), time.process_time()
            rows, requests = await contender(url, end)
            ended, cpu = time.monotonic(), time.process_time() - cpu
            seen = await (await session.get(f"{url}/trace")).json()
            two, one, strip = busy([tuple(p) for p in seen["timeline"]], started, ended)
            results.append(
                {
                    "contender": name,
                    "delay_s": delay,
                    "run": run,
                    "rows": rows,
                    "requests": requests,
                    "elapsed_s": round(ended - started, 2),
                    "two_in_flight": round(two, 3),
                    "one_in_flight": round(one, 3),
                    "peak": seen["peak"],
                    "refused_403": seen["refused"],
                    "client_cpu_s": round(cpu, 2),
                    "timeline": strip,
                }
            )
    for row in results:
        row["wall_vs_reference"] = round(row["elapsed_s"] / results[1]["elapsed_s"], 2)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--delay", type=float, nargs="+", default=[0.5, 2.0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    end = START + timedelta(days=args.days) - timedelta(seconds=1)
    table: list[dict[str, Any]] = []
    for delay in args.delay:
        server = subprocess.Popen(
            [
                *(sys.executable, str(Path(__file__).parent / "_report_server.py")),
                *("--rows", str(args.rows), "--days", str(args.days), "--delay", str(delay)),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        url = server.stdout.readline().split()[2]
        try:
            for run in range(args.runs):
                table += asyncio.run(measure(url, end, delay, run))
        finally:
            server.terminate()
            server.wait(10)
    rows = summarize(table, ("delay_s", "contender"), value="wall_vs_reference")
    print_table(
        rows,
        [
            ("contender", "contender", 32),
            ("delay_s", "D s", 4),
            ("requests", "requests", 8),
            ("elapsed_s", "wall s", 6),
            ("wall_vs_reference", "÷ref", 5),
            ("wall_vs_reference_spread", "÷ref spread", 11),
            ("two_in_flight", "2 busy", 6),
            ("one_in_flight", "1 busy", 6),
            ("peak", "peak", 4),
            ("client_cpu_s", "CPU s", 5),
        ],
    )
    for row in rows:
        print(f"{row['contender'][:24]:24} D={row['delay_s']:<4} |{row['timeline']}|")
    save("download_overlap", rows)
    save("download_overlap_runs", table)


if __name__ == "__main__":
    main()
