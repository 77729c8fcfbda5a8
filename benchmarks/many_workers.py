"""Many workers on one token: 1, 2, 4 and 8 processes loading leads at once.

Ours: each process runs upload_records with the Redis backend (one ledger for the token).
Peer: each process guards itself with its own asyncio.Semaphore(2) — correct alone, but
blind to the other processes. Every process loads its share of the same total into one
campaign; the simulator (its own process, latency L) counts what it stored. The bound is
the token's: 2 × 10,000 / L records per second, however many processes share it.

    python benchmarks/many_workers.py --records 400000 --latency-ms 200 --runs 3

Prints a table, writes benchmarks/results/many_workers.json and .png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from typing import Any

import aiohttp
from _common import (
    LOAD_COLUMNS,
    RESULTS,
    TOKEN,
    Redis,
    Simulator,
    lead,
    publish,
    save,
    semaphore_gather,
    summarize,
)

from wolkvox_async import WolkvoxClient


async def worker(
    kind: str, url: str, campaign: str, rows: list[dict[str, str]], redis: str
) -> dict[str, Any]:
    if kind == "ours":
        async with WolkvoxClient(
            server="0014", token=TOKEN, base_url=url, backend=redis, max_wait=600
        ) as wv:
            report = await wv.upload_records(campaign, rows)
            stats = await wv.scheduler_stats()
            return {
                "refused": stats.retries.get("TooManySimultaneous", 0),
                "landed": report.records_landed,
            }
    landed, refused = await semaphore_gather(url, campaign, rows)
    return {"refused": refused, "landed": landed}


def run_worker(argv: list[str]) -> None:
    kind, url, campaign, first, count, redis, start_at = argv
    rows_ready = asyncio.run(
        _delayed(kind, url, campaign, int(first), int(count), redis, float(start_at))
    )
    print(json.dumps(rows_ready), flush=True)


async def _delayed(
    kind: str, url: str, campaign: str, first: int, count: int, redis: str, start_at: float
) -> dict[str, Any]:
    rows = [lead(i) for i in range(first, first + count)]
    await asyncio.sleep(max(0.0, start_at - time.time()))  # all processes start together
    result = await worker(kind, url, campaign, rows, redis)
    result["ended_at"] = time.time()
    return result


async def measure(
    records: int, latency_ms: float, redis_url: str, run: int
) -> list[dict[str, Any]]:
    bound = 2 * 10_000 / (latency_ms / 1000)
    results = []
    for kind, name in (("ours", "wolkvox-async via Redis"), ("peer", "Semaphore(2) per process")):
        for processes in (1, 2, 4, 8):
            # A fresh simulator per run: one holding the records of the runs before answers
            # later runs more slowly.
            sim = Simulator(latency_ms, licenses=records * 2 // 7000 + 20)
            try:
                async with aiohttp.ClientSession() as session:
                    campaign = await sim.new_campaign(session)
                    before = await sim.used(session)
                    share = records // processes
                    start_at = time.time() + 2.0  # past every process's imports
                    procs = [
                        await asyncio.create_subprocess_exec(
                            sys.executable,
                            __file__,
                            "--worker",
                            kind,
                            sim.url,
                            campaign,
                            str(p * share),
                            str(share),
                            redis_url,
                            str(start_at),
                            stdout=subprocess.PIPE,
                        )
                        for p in range(processes)
                    ]
                    outs = [json.loads((await proc.communicate())[0]) for proc in procs]
                    elapsed = max(o["ended_at"] for o in outs) - start_at
                    stored = await sim.stored(session, campaign)
                    used = await sim.used(session) - before - 2
                    results.append(
                        {
                            "contender": name,
                            "run": run,
                            "processes": processes,
                            "latency_ms": latency_ms,
                            "records": share * processes,
                            "records_stored": stored,
                            "records_per_s": round(stored / elapsed),
                            "ratio_to_bound": round(stored / elapsed / bound, 3),
                            "quota_units": used,
                            "refusals_403": sum(o["refused"] for o in outs),
                        }
                    )
                    print(results[-1], flush=True)
            finally:
                sim.stop()
    return results


def plot(table: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name in dict.fromkeys(row["contender"] for row in table):
        rows = [r for r in table if r["contender"] == name]
        procs = [r["processes"] for r in rows]
        left.plot(procs, [r["ratio_to_bound"] for r in rows], marker="o", label=name)
        right.plot(procs, [r["refusals_403"] for r in rows], marker="o", label=name)
    left.set_xlabel("processes on one token")
    left.set_ylabel("stored records/s ÷ bound")
    left.set_ylim(0, 1.05)
    right.set_xlabel("processes on one token")
    right.set_ylabel("403 refusals (records lost for the peer)")
    for ax in (left, right):
        ax.set_xticks([1, 2, 4, 8])
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(RESULTS / "many_workers.png", dpi=110)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        run_worker(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    redis = Redis()
    if redis.url is None:
        sys.exit("many_workers needs redis-server (apt-get install redis-server)")
    table: list[dict[str, Any]] = []
    try:
        for run in range(args.runs):
            table += asyncio.run(measure(args.records, args.latency_ms, redis.url, run))
    finally:
        redis.stop()
    rows = summarize(table, ("contender", "processes"))
    publish(
        "many_workers",
        rows,
        [
            ("contender", "contender", 26),
            ("processes", "procs", 5),
            *LOAD_COLUMNS,
            ("ratio_to_bound_spread", "spread", 11),
        ],
    )
    save("many_workers_runs", table)
    plot(rows)


if __name__ == "__main__":
    main()
