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
gather over 10,000-record chunks, and aiolimiter tuned to 2 / L calls per second. The
reference is not a peer: two raw aiohttp workers posting bodies JSON-encoded before the
clock starts — what the HTTP stack itself allows on this machine, with no checks. It runs
right beside ours (before it in odd runs, after it in even ones), the peers after both.

    python benchmarks/upload_throughput.py --records 1000000 --latency-ms 20 50 200

Prints a table, writes benchmarks/results/upload_throughput.json and .png.

``--reader`` measures instead the load's reader alone — checking, encoding and cutting
into chunks, what a load does per record besides HTTP and the scheduler — over the same
leads as dicts, as already-checked WireRecords and as ``Record`` objects (made before the
clock), in this process, no server: process CPU µs per record, median and spread over
``--runs`` runs, the kinds interleaved. Pin it:

    taskset -c 1 python benchmarks/upload_throughput.py --reader --records 1000000 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import (
    LOAD_COLUMNS,
    RESULTS,
    TOKEN,
    Noted,
    Simulator,
    add_record_path,
    lead,
    print_table,
    publish,
    save,
    slot_idle_ms,
    summarize,
)

from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.bulk._load import Load
from wolkvox_async.bulk._pace import Gate
from wolkvox_async.bulk._reading import _cut
from wolkvox_async.endpoints._records import to_wire
from wolkvox_async.models import CampaignType
from wolkvox_async.scheduler import MemoryBackend

REFERENCE = "(reference: raw aiohttp, pre-encoded)"
SAMPLE = 20_000
"""Records timed for the 100-per-call loop."""
Loader = Callable[
    [Simulator, aiohttp.ClientSession, str, list[dict[str, str]], float], Awaitable[int]
]


def ours(sends: list[float]) -> Loader:
    async def load(
        sim: Simulator,
        session: aiohttp.ClientSession,
        campaign: str,
        rows: list[dict[str, str]],
        _: float,
    ) -> int:
        async with WolkvoxClient(
            server="0014",
            token=TOKEN,
            base_url=sim.url,
            backend=MemoryBackend(),
            transport=Noted(lambda _: sends.append(time.monotonic())),
        ) as wv:
            report = await wv.upload_records(campaign, rows)
            assert report.complete, report
            return (await wv.scheduler_stats()).retries.get("TooManySimultaneous", 0)

    return load


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


def prepared(rows: list[dict[str, str]], sends: list[float]) -> Loader:
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
                sends.append(time.monotonic())
                async with session.post(url, data=body, headers={"wolkvox-token": TOKEN}) as resp:
                    await resp.read()
                    refused += resp.status == 403

        await asyncio.gather(worker(), worker())
        return refused

    return load


def _pre_send_ms(sends: list[float], arrivals: list[float]) -> float:
    """Median milliseconds from a request handed to aiohttp to its arrival at the server
    (the k-th send is the k-th arrival: two in flight leave and arrive in order)."""
    gaps = [arrived - sent for sent, arrived in zip(sorted(sends), arrivals, strict=False)]
    return round(statistics.median(gaps) * 1000, 2) if gaps else float("nan")


async def measure(
    records: int, latency_ms: float, run: int, peers: bool = True
) -> list[dict[str, Any]]:
    rows = [lead(i) for i in range(records)]
    bound = 2 * 10_000 / (latency_ms / 1000)
    sends: dict[str, list[float]] = {"wolkvox-async": [], REFERENCE: []}
    pair: list[tuple[str, Loader, int]] = [
        ("wolkvox-async", ours(sends["wolkvox-async"]), records),
        (REFERENCE, prepared(rows, sends[REFERENCE]), records),
    ]
    # Ours and the reference side by side, first one then the other by turns (the machine
    # drifts over the seconds the peers take, and the first load of a run ran slower).
    others: list[tuple[str, Loader, int]] = [
        ("sequential, 100 per call", sequential(100), min(records, SAMPLE)),
        ("sequential, 10,000 per call", sequential(10_000), records),
        ("Semaphore(2) + gather", gathered(lambda _: asyncio.Semaphore(2)), records),
        ("aiolimiter 2/L", gathered(_limiter), records),
    ]
    contenders = (pair if run % 2 == 0 else pair[::-1]) + (others if peers else [])
    results = []
    for name, loader, count in contenders:
        # A fresh simulator for each: one holding the millions of records of the contenders
        # before (and collecting its garbage over them) answers later ones more slowly.
        sim = Simulator(latency_ms, licenses=count // 7000 + 10)
        try:
            async with aiohttp.ClientSession() as session:
                campaign = await sim.new_campaign(session)
                before = await sim.used(session)
                gc.collect()  # the previous contender's garbage is not this one's
                started, cpu = time.monotonic(), time.process_time()
                refused = await loader(sim, session, campaign, rows[:count], latency_ms / 1000)
                cpu = time.process_time() - cpu
                ended = time.monotonic()
                elapsed = ended - started
                used = await sim.used(session) - before - 1
                stored = await sim.stored(session, campaign)
        finally:
            timeline = [t for t in sim.stop() if started <= t[0] <= ended]
        rate = stored / elapsed  # what landed: refused chunks are lost
        row = {
            "contender": name,
            "latency_ms": latency_ms,
            "run": run,
            "records": count,
            "records_stored": stored,
            "records_per_s": round(rate),
            "ratio_to_bound": round(rate / bound, 3),
            "quota_units": used,
            "refusals_403": refused,
            "elapsed_s": round(elapsed, 2),
            "client_cpu_us_per_record": round(cpu / count * 1e6, 2),
            "slot_idle_ms_per_call": round(slot_idle_ms(timeline), 2),
        }
        if name in sends:
            row["pre_send_ms"] = _pre_send_ms(sends[name], [t[0] for t in timeline])
        results.append(row)
    by_name = {row["contender"]: row for row in results}
    ours_row, reference = by_name["wolkvox-async"], by_name[REFERENCE]
    ours_row["ratio_to_reference"] = round(
        ours_row["records_per_s"] / reference["records_per_s"], 3
    )
    return results


async def _read(rows: list[Any], size: int) -> int:
    """Cut ``rows`` into chunks as a load's reader does (``Load._cut``), nothing sent. The
    load is made bare: the reader uses only its kind, counters and gate."""
    load = object.__new__(Load)
    load.kind, load.read, load.held, load.failures = CampaignType.PREDICTIVE, 0, 0, []
    load.spent, load.stopped, load.gate = [], None, Gate()
    records = 0
    async for chunk in _cut(load, rows, size, "raise", None):
        records += chunk.size
    return records


def reader(records: int, runs: int) -> None:
    leads = [lead(i) for i in range(records)]
    inputs = {
        "dicts": leads,
        "WireRecords": [to_wire(row, CampaignType.PREDICTIVE) for row in leads],
        # The same leads as Record objects, made before the clock (a Record checks its
        # values as it is made: that cost is the caller's, wherever the Records come from).
        "Records": [
            Record(
                customer_id=r["customer_id"], customer_name=r["customer_name"], phones=(r["tel1"],)
            )
            for r in leads
        ],
    }
    cpu: dict[str, list[float]] = {name: [] for name in inputs}
    for run in range(runs):
        for name in list(inputs) if run % 2 == 0 else list(inputs)[::-1]:
            gc.collect()
            started = time.process_time()
            assert asyncio.run(_read(inputs[name], 10_000)) == records
            cpu[name].append((time.process_time() - started) / records * 1e6)
    print(f"the reader alone: {records:,} leads, {runs} runs, process CPU µs per record")
    for name, values in cpu.items():
        print(
            f"  {name:12} median {statistics.median(values):.3f} "
            f"(min {min(values):.3f}, max {max(values):.3f})"
        )


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
    parser.add_argument("--runs", type=int, default=3, help="runs of every contender")
    parser.add_argument(
        "--no-peers",
        action="store_true",
        help="ours and the reference only (to compare two trees of the library, run by turns)",
    )
    parser.add_argument(
        "--trace",
        action="store_true",
        help="also print, per call, the pre-send and idle-slot milliseconds (ours, reference)",
    )
    parser.add_argument(
        "--reader",
        action="store_true",
        help="measure the reader alone (checks, encoding, chunks): no server, no HTTP",
    )
    args = parser.parse_args()
    if args.reader:
        reader(args.records, args.runs)
        return
    table: list[dict[str, Any]] = []
    for run in range(args.runs):
        for latency in args.latency_ms:
            table += asyncio.run(measure(args.records, latency, run, peers=not args.no_peers))
    rows = summarize(table, ("contender", "latency_ms"))
    columns = [("contender", "contender", 38), ("latency_ms", "L ms", 5), *LOAD_COLUMNS]
    columns += [
        ("ratio_to_bound_spread", "spread", 11),
        ("ratio_to_reference", "/ref", 6),
        ("client_cpu_us_per_record", "CPU µs/rec", 10),
    ]
    if args.trace:
        columns += [("pre_send_ms", "pre-send ms", 11), ("slot_idle_ms_per_call", "idle ms", 8)]
    if args.no_peers:  # a comparison of trees: the published results stay as they are
        print_table(rows, columns)
        return
    publish("upload_throughput", rows, columns)
    save("upload_throughput_runs", table)
    plot(rows)


if __name__ == "__main__":
    main()
