"""Upload throughput: wolkvox-async against the physical bound and the loops users write.

The simulator runs in its own process (``python -m wolkvox_async.testing``) with a fixed
latency L per call; every contender loads the same records into its own campaign, in the
same run. With 2 requests in flight and 10,000 records per call, no client can load more
than 2 × 10,000 / L records per second: that is the bound each result is divided by.

    python benchmarks/upload_throughput.py --records 1000000 --latency-ms 20 50 200

Prints a table and writes benchmarks/results/upload_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend

TOKEN = "bench-token"
RESULTS = Path(__file__).parent / "results"


def make_records(count: int) -> list[dict[str, str]]:
    return [
        {"customer_id": f"b{i}", "customer_name": f"Lead {i}", "tel1": f"3{i:09d}"}
        for i in range(count)
    ]


class Simulator:
    """FakeWolkvox in a subprocess, and a raw session to drive it."""

    def __init__(self, latency_ms: float, licenses: int) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wolkvox_async.testing",
                "--port",
                "0",
                "--token",
                TOKEN,
                "--latency",
                str(latency_ms),
                "--licenses",
                str(licenses),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().split(" on ")[1].split()[0]

    async def call(
        self, session: aiohttp.ClientSession, method: str, query: str, body: Any = None
    ) -> tuple[int, Any]:
        async with session.request(
            method,
            f"{self.url}/api/v2/{query}",
            headers={"wolkvox-token": TOKEN},
            data=None if body is None else json.dumps(body),
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def new_campaign(self, session: aiohttp.ClientSession) -> str:
        _, body = await self.call(
            session,
            "POST",
            "campaign.php?api=create_campaign&type_campaign=predictive",
            {"campaign_name": "bench", "skill_id": "1"},
        )
        return str(body["data"][0]["id_campaign"])

    async def used(self, session: aiohttp.ClientSession) -> int:
        _, body = await self.call(session, "GET", "information.php?api=token_info")
        return int(body["data"][0]["all_token_today"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


Loader = Callable[
    [Simulator, aiohttp.ClientSession, str, list[dict[str, str]], float], Awaitable[int]
]


def _path(campaign: str) -> str:
    return (
        "campaign.php?api=add_record&type_campaign=predictive"
        f"&campaign_id={campaign}&campaign_status=start"
    )


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
        await wv.upload_records(campaign, rows)
        return sum((await wv.scheduler_stats()).retries.values())


async def sequential(size: int) -> Loader:
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
                session, "POST", _path(campaign), rows[start : start + size]
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
                status, _body = await sim.call(session, "POST", _path(campaign), chunk)
                return int(status == 403)

        chunks = (rows[i : i + 10_000] for i in range(0, len(rows), 10_000))
        return sum(await asyncio.gather(*(one(chunk) for chunk in chunks)))

    return load


def _limiter(latency: float) -> Any:
    from aiolimiter import AsyncLimiter

    return AsyncLimiter(2, max(latency, 0.001))  # tuned to 2 / L calls per second


async def measure(records: int, latency_ms: float) -> list[dict[str, Any]]:
    rows = make_records(records)
    bound = 2 * 10_000 / (latency_ms / 1000)
    contenders: list[tuple[str, Loader]] = [
        ("wolkvox-async", ours),
        ("sequential, 100 per call", await sequential(100)),
        ("sequential, 10,000 per call", await sequential(10_000)),
        ("Semaphore(2) + gather", gathered(lambda _: asyncio.Semaphore(2))),
        ("aiolimiter 2/L", gathered(_limiter)),
    ]
    sim = Simulator(latency_ms, licenses=max(3, records * len(contenders) // 7000 + 10))
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            for name, loader in contenders:
                campaign = await sim.new_campaign(session)
                before = await sim.used(session)
                started = time.perf_counter()
                refused = await loader(sim, session, campaign, rows, latency_ms / 1000)
                elapsed = time.perf_counter() - started
                used = await sim.used(session) - before - 1
                rate = records / elapsed
                results.append(
                    {
                        "contender": name,
                        "latency_ms": latency_ms,
                        "records": records,
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
    header = (
        f"{'contender':30} {'L ms':>6} {'records/s':>10} {'/bound':>7} {'quota':>6} {'403s':>5}"
    )
    print(header)
    for row in table:
        print(
            f"{row['contender']:30} {row['latency_ms']:>6g} {row['records_per_s']:>10} "
            f"{row['ratio_to_bound']:>7} {row['quota_units']:>6} {row['refusals_403']:>5}"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "upload_throughput.json").write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
