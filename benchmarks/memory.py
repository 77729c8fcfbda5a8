"""Memory: peak RSS of a process uploading 1,000,000 and 2,000,000 leads from a CSV file.

Ours streams the file (csv.DictReader straight into upload_records); the peer does what
most scripts do — reads the file into a list, then sends 10,000-record chunks two at a
time. Each run is a fresh process reporting its own peak RSS (ru_maxrss); the simulator
is another process (latency L).

    python benchmarks/memory.py --records 1000000 2000000 --latency-ms 5

Prints a table and writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from _common import TOKEN, Simulator, lead, publish, semaphore_gather

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend


async def ours(url: str, campaign: str, path: Path) -> int:
    async with WolkvoxClient(
        server="0014", token=TOKEN, base_url=url, backend=MemoryBackend()
    ) as wv:
        with path.open(newline="") as handle:
            report = await wv.upload_records(campaign, csv.DictReader(handle))
        return report.records_landed


async def peer(url: str, campaign: str, path: Path) -> int:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    landed, _refused = await semaphore_gather(url, campaign, rows)
    return landed


def run_worker(kind: str, url: str, campaign: str, path: str) -> None:
    loader = ours if kind == "ours" else peer
    landed = asyncio.run(loader(url, campaign, Path(path)))
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"landed": landed, "peak_rss_mib": round(peak_kib / 1024, 1)}), flush=True)


async def measure(sizes: list[int], latency_ms: float) -> list[dict[str, Any]]:
    sim = Simulator(latency_ms, licenses=sum(sizes) * 2 // 7000 + 20)
    results = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with aiohttp.ClientSession() as session:
                for size in sizes:
                    path = Path(tmp) / f"leads-{size}.csv"
                    with path.open("w", newline="") as handle:
                        writer = csv.DictWriter(handle, fieldnames=list(lead(0)))
                        writer.writeheader()
                        writer.writerows(lead(i) for i in range(size))
                    for kind, name in (
                        ("ours", "wolkvox-async (streams)"),
                        ("peer", "list(csv) + gather"),
                    ):
                        campaign = await sim.new_campaign(session)
                        started = time.perf_counter()
                        proc = await asyncio.create_subprocess_exec(
                            sys.executable,
                            __file__,
                            "--worker",
                            kind,
                            sim.url,
                            campaign,
                            str(path),
                            stdout=subprocess.PIPE,
                        )
                        out = json.loads((await proc.communicate())[0])
                        results.append(
                            {
                                "contender": name,
                                "records": size,
                                "landed": out["landed"],
                                "peak_rss_mib": out["peak_rss_mib"],
                                "elapsed_s": round(time.perf_counter() - started, 1),
                            }
                        )
                        print(results[-1], flush=True)
    finally:
        sim.stop()
    for row in results:
        first = next(r for r in results if r["contender"] == row["contender"])
        row["rss_vs_smallest"] = round(row["peak_rss_mib"] / first["peak_rss_mib"], 2)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        run_worker(*sys.argv[2:6])
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, nargs="+", default=[1_000_000, 2_000_000])
    parser.add_argument("--latency-ms", type=float, default=5.0)
    args = parser.parse_args()
    table = asyncio.run(measure(args.records, args.latency_ms))
    publish(
        "memory",
        table,
        [
            ("contender", "contender", 26),
            ("records", "records", 8),
            ("landed", "landed", 8),
            ("peak_rss_mib", "peak MiB", 8),
            ("rss_vs_smallest", "vs 1st", 6),
            ("elapsed_s", "elapsed", 7),
        ],
    )


if __name__ == "__main__":
    main()
