"""Download: 1,000,000 phone results (campaign_3) over 90 days, some days above 60,000.

Ours: iter_phone_results over the whole span (31-day windows, continued or split at the
60,000-row cap). Peer: the loop users write — one request per 31-day window — which
silently stops at 60,000 rows a window. The lower bound on requests is one per window
plus one per 60,000 rows; elapsed is compared with that many calls at latency L, two in
flight.

    python benchmarks/download.py --rows 1000000 --days 90 --dense 3 --latency-ms 50

Prints a table and writes benchmarks/results/download.json.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from _common import TOKEN, Simulator, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend

START = datetime(2026, 6, 1)


async def ours(sim: Simulator, campaign: str, end: datetime) -> tuple[int, int, int]:
    async with WolkvoxClient(
        server="0014", token=TOKEN, base_url=sim.url, backend=MemoryBackend()
    ) as wv:
        download = wv.iter_phone_results(campaign, START, end)
        seen: set[str] = set()
        rows = 0
        async for row in download:
            rows += 1
            seen.add(row.conn_id or "")
        return rows, len(seen), download.requests


async def naive(sim: Simulator, campaign: str, end: datetime) -> tuple[int, int, int]:
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


async def measure(total: int, days: int, dense: int, latency_ms: float) -> list[dict[str, Any]]:
    sim = Simulator(
        latency_ms, 20, "--results", str(total), "--days", str(days), "--dense", str(dense)
    )
    assert sim.proc.stdout is not None
    campaign = sim.proc.stdout.readline().split()[-1]
    end = START + timedelta(days=days)
    windows = math.ceil(days / 31)
    lower = windows + total // 60_000
    results = []
    try:
        for name, run in (("wolkvox-async", ours), ("one request per 31-day window", naive)):
            started = time.perf_counter()
            rows, unique, requests = await run(sim, campaign, end)
            elapsed = time.perf_counter() - started
            results.append(
                {
                    "contender": name,
                    "latency_ms": latency_ms,
                    "rows_stored": total,
                    "rows_received": rows,
                    "rows_unique": unique,
                    "requests": requests,
                    "request_lower_bound": lower,
                    "requests_ratio": round(requests / lower, 2),
                    "elapsed_s": round(elapsed, 2),
                    "elapsed_bound_s": round(lower * latency_ms / 1000 / 2, 2),
                }
            )
    finally:
        sim.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--dense", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    args = parser.parse_args()
    table = asyncio.run(measure(args.rows, args.days, args.dense, args.latency_ms))
    publish(
        "download",
        table,
        [
            ("contender", "contender", 30),
            ("rows_stored", "stored", 8),
            ("rows_received", "received", 8),
            ("rows_unique", "unique", 8),
            ("requests", "requests", 8),
            ("request_lower_bound", "bound", 5),
            ("requests_ratio", "ratio", 5),
            ("elapsed_s", "elapsed", 7),
            ("elapsed_bound_s", "bound s", 7),
        ],
    )


if __name__ == "__main__":
    main()
