"""Upload throughput: wolkvox-async against the physical bound and the loops users write.

The simulator runs in its own process with a fixed latency L per call (its own work done
inside L, as a real server's); every contender loads the same leads in the same run, each
against a fresh simulator (one holding the millions of records loaded before answers
later contenders more slowly). With 2 requests in flight and 10,000 records per call, no
client can load more than 2 × 10,000 / L records per second: the bound each result is
divided by.

Peers, written the way users write them: a sequential loop posting 100-record batches (as
public scripts do; timed on its first 20,000 records, since its rate is flat and a million
would take hours at 200 ms), a sequential loop of 10,000-record chunks, Semaphore(2) +
gather over 10,000-record chunks, and aiolimiter tuned to 2 / L calls per second. The last
row is a reference, not a peer: two raw aiohttp workers posting bodies JSON-encoded before
the clock starts — what the HTTP stack itself allows on this machine, with no checks.

    python benchmarks/upload_throughput.py --records 1000000 --latency-ms 20 50 200

Prints a table, writes benchmarks/results/upload_throughput.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import LOAD_COLUMNS, RESULTS, TOKEN, Simulator, add_record_path, lead, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend

SAMPLE = 20_000
"""Records timed for the 100-per-call loop."""
Loader = Callable[
    [Simulator, aiohttp.ClientSession, str, list[dict[str, str]], float], Awaitable[int]
]


async def ours(
    sim: Simulator,
    session: aiohttp.ClientSession,
    campaign: str,
    rows: list[dict[str, str]],
    _: float,
) -> int:
    async with WolkvoxClient(
        server="0014", token=TOKEN, base_url=sim.url, backend=MemoryBackend()
    ) as wv:
        report = await wv.upload_records(campaign, rows)
        assert report.complete, report
        return (await wv.scheduler_stats()).retries.get("TooManySimultaneous", 0)


def sequential(size: int) -> Loader:
    async def load(
        sim: Simulator,
        session: aiohttp.ClientSession,
        campaign: str,
        rows: list[dict[str, str]],
        _: float,
    ) -> int:
        refused = 0
        for start in range(0, len(rows), size):
            status, _body = await sim.call(
                session, "POST", add_record_path(campaign), rows[start : start + size]
            )
            refused += status == 403
        return refused

    return load


def gathered(make_gate: Callable[[float], Any]) -> Loader:
    """All 10,000-record chunks at once through ``gate`` (what users write with asyncio)."""

    async def load(
        sim: Simulator,
        session: aiohttp.ClientSession,
        campaign: str,
        rows: list[dict[str, str]],
        latency: float,
    ) -> int:
        gate = make_gate(latency)

        async def one(chunk: list[dict[str, str]]) -> int:
            async with gate:
                status, _body = await sim.call(session, "POST", add_record_path(campaign), chunk)
                return int(status == 403)

        chunks = (rows[i : i + 10_000] for i in range(0, len(rows), 10_000))
        return sum(await asyncio.gather(*(one(chunk) for chunk in chunks)))

    return load


def _limiter(latency: float) -> Any:
    from aiolimiter import AsyncLimiter

    return AsyncLimiter(2, max(latency, 0.001))  # tuned to 2 / L calls per second


def prepared(rows: list[dict[str, str]]) -> Loader:
    """The reference: two workers, bodies encoded beforehand (outside the timing)."""
    bodies = [json.dumps(rows[i : i + 10_000]).encode() for i in range(0, len(rows), 10_000)]

    async def load(
        sim: Simulator,
        session: aiohttp.ClientSession,
        campaign: str,
        _rows: list[dict[str, str]],
        _: float,
    ) -> int:
        url = f"{sim.url}/api/v2/{add_record_path(campaign)}"
        queue = list(reversed(bodies))
        refused = 0

        async def worker() -> None:
            nonlocal refused
            while queue:
                body = queue.pop()
                async with session.post(url, data=body, headers={"wolkvox-token": TOKEN}) as resp:
                    await resp.read()
                    refused += resp.status == 403

        await asyncio.gather(worker(), worker())
        return refused

    return load


async def measure(records: int, latency_ms: float) -> list[dict[str, Any]]:
    rows = [lead(i) for i in range(records)]
    bound = 2 * 10_000 / (latency_ms / 1000)
    contenders: list[tuple[str, Loader, int]] = [
        ("wolkvox-async", ours, records),
        ("sequential, 100 per call", sequential(100), min(records, SAMPLE)),
        ("sequential, 10,000 per call", sequential(10_000), records),
        ("Semaphore(2) + gather", gathered(lambda _: asyncio.Semaphore(2)), records),
        ("aiolimiter 2/L", gathered(_limiter), records),
        ("(reference: raw aiohttp, pre-encoded)", prepared(rows), records),
    ]
    results = []
    for name, loader, count in contenders:
        # A fresh simulator for each: one holding the millions of records of the contenders
        # before (and collecting its garbage over them) answers later ones more slowly.
        sim = Simulator(latency_ms, licenses=count // 7000 + 10)
        try:
            async with aiohttp.ClientSession() as session:
                campaign = await sim.new_campaign(session)
                before = await sim.used(session)
                started = time.perf_counter()
                refused = await loader(sim, session, campaign, rows[:count], latency_ms / 1000)
                elapsed = time.perf_counter() - started
                used = await sim.used(session) - before - 1
                stored = await sim.stored(session, campaign)
                rate = stored / elapsed  # what landed: refused chunks are lost
                results.append(
                    {
                        "contender": name,
                        "latency_ms": latency_ms,
                        "records": count,
                        "records_stored": stored,
                        "records_per_s": round(rate),
                        "ratio_to_bound": round(rate / bound, 3),
                        "quota_units": used,
                        "refusals_403": refused,
                        "elapsed_s": round(elapsed, 2),
                    }
                )
        finally:
            sim.stop()
    return results


def plot(table: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = sorted({row["latency_ms"] for row in table})
    names = list(dict.fromkeys(row["contender"] for row in table))
    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(names)
    for n, name in enumerate(names):
        ratios = [
            next(
                r["ratio_to_bound"]
                for r in table
                if r["contender"] == name and r["latency_ms"] == lat
            )
            for lat in latencies
        ]
        ax.bar([i + n * width for i in range(len(latencies))], ratios, width, label=name)
    ax.axhline(0.95, color="black", linestyle="--", linewidth=0.8, label="target 0.95")
    ax.set_xticks(
        [i + 0.4 - width / 2 for i in range(len(latencies))],
        [f"L = {lat:g} ms" for lat in latencies],
    )
    ax.set_ylabel("records/s ÷ bound (2 × 10,000 / L)")
    ax.set_title("Upload throughput against the physical bound")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(RESULTS / "upload_throughput.png", dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[20.0, 50.0, 200.0])
    args = parser.parse_args()
    table: list[dict[str, Any]] = []
    for latency in args.latency_ms:
        table += asyncio.run(measure(args.records, latency))
    publish(
        "upload_throughput",
        table,
        [("contender", "contender", 38), ("latency_ms", "L ms", 5), *LOAD_COLUMNS],
    )
    plot(table)


if __name__ == "__main__":
    main()
