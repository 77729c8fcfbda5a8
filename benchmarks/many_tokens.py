"""One process uploading on N tokens at once: how many tokens' bounds can one client
process hold?

Each token has its own 2 slots, so N tokens allow N × 2 × 10,000 / L records per second.
The server is a sink (benchmarks/_sink.py, its own process) that drops each body unread
and answers after L: the client process is the only thing measured. Every token loads
``--calls`` chunks of 10,000 leads (the same lead dicts over again: no time goes into
making input). Reports records/s ÷ N bounds and the client's CPU per record for each N,
and the largest N that holds ≥ 0.95.

    python benchmarks/many_tokens.py --latency-ms 200 1000 --tokens 1 2 4 8 16 32 64
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import Noted, lead, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend

CHUNK = 10_000
LEADS = [lead(i) for i in range(CHUNK)]


async def run(url: str, tokens: int, calls: int) -> tuple[float, float, float]:
    """(elapsed s, client CPU s, mean s to a token's first request) for ``tokens`` loads
    of ``calls`` chunks each."""
    backend = MemoryBackend()
    firsts: dict[int, float] = {}  # token -> when its first request left

    def first(n: int) -> Callable[[Any], object]:
        return lambda _: firsts.setdefault(n, time.perf_counter())

    clients = [
        WolkvoxClient(
            server="0014",
            token=f"tok{n:04d}",
            base_url=url,
            backend=backend,
            daily_quota=10**7,
            transport=Noted(first(n)),
        )
        for n in range(tokens)
    ]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        reports = await asyncio.gather(
            *(
                wv.upload_records("7001", itertools.islice(itertools.cycle(LEADS), calls * CHUNK))
                for wv in clients
            )
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        assert all(r.records_landed == calls * CHUNK for r in reports)
        return elapsed, cpu, sum(firsts.values()) / len(firsts) - started
    finally:
        await asyncio.gather(*(wv.close() for wv in clients))


def measure(latency_ms: float, counts: list[int], calls: int) -> list[dict[str, Any]]:
    sink = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).with_name("_sink.py")),
            "--latency-ms",
            str(latency_ms),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None
    url = sink.stdout.readline().split(" on ")[1].strip()
    rows = []
    try:
        for tokens in counts:
            elapsed, cpu, start = asyncio.run(run(url, tokens, calls))
            records = tokens * calls * CHUNK
            bound = tokens * 2 * CHUNK / (latency_ms / 1000)
            rows.append(
                {
                    "latency_ms": latency_ms,
                    "tokens": tokens,
                    "records": records,
                    "records_per_s": round(records / elapsed),
                    "ratio_to_bound": round(records / elapsed / bound, 3),
                    "client_cpu_us_per_record": round(cpu / records * 1e6, 2),
                    "client_cpu_share": round(cpu / elapsed, 2),
                    # Each token's first chunk is read before its first call, all of them
                    # on one core: the start every token pays before its slots work.
                    "start_s": round(start, 3),
                    "ratio_after_start": round(records / (elapsed - start) / bound, 3),
                }
            )
            print(rows[-1], flush=True)
    finally:
        sink.terminate()
        sink.wait(10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[200.0, 1000.0])
    parser.add_argument("--tokens", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
    parser.add_argument("--calls", type=int, default=12, help="chunks of 10,000 per token")
    args = parser.parse_args()
    table: list[dict[str, Any]] = []
    for latency in args.latency_ms:
        table += measure(latency, args.tokens, args.calls)
    for latency in args.latency_ms:
        held = [
            r["tokens"] for r in table if r["latency_ms"] == latency and r["ratio_to_bound"] >= 0.95
        ]
        print(f"L = {latency:g} ms: largest N holding ≥ 0.95 of N bounds: {max(held, default=0)}")
    publish(
        "many_tokens",
        table,
        [
            ("latency_ms", "L ms", 5),
            ("tokens", "tokens", 6),
            ("records_per_s", "records/s", 10),
            ("ratio_to_bound", "÷ N bounds", 10),
            ("client_cpu_us_per_record", "CPU µs/rec", 10),
            ("client_cpu_share", "CPU share", 9),
            ("start_s", "start s", 7),
            ("ratio_after_start", "÷ after start", 13),
        ],
    )


if __name__ == "__main__":
    main()
