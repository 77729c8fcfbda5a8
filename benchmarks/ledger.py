"""What the default ledger costs: client CPU of the SQLite ledger beside the memory backend.

A client made without ``backend=`` keeps its admissions in the per-user SQLite ledger (so
a service and the ``wolkvox`` command share a token's two slots and its quota). This
measures what that costs the client process, in two ways, memory and SQLite interleaved
in rounds (a noisy neighbour slows both alike), µs of this process's CPU
(``time.process_time``) per call, median and min–max over the rounds:

- admit + release: the scheduler alone, no HTTP — one caller acquires a lease, yields
  once to the loop (as a request would), and releases it ANSWERED;
- find_record: the whole call against FakeWolkvox in its own process (its CPU is not
  counted), with ``backend=MemoryBackend()`` and with no ``backend=`` (the default ledger,
  in a temporary ``XDG_STATE_HOME``), and the ratio default ÷ memory of each round.

    taskset -c 1 python benchmarks/ledger.py --calls 5000 --rounds 7

Prints a table and writes benchmarks/results/ledger.json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from _common import TOKEN, Simulator, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import (
    BACKENDS,
    MemoryBackend,
    Outcome,
    Scheduler,
    SQLiteBackend,
    SystemClock,
    TokenLimits,
)

Call = Callable[[], Awaitable[Any]]


def admit_release(scheduler: Scheduler) -> Call:
    limits = TokenLimits(token="tbench", operation="bench", limit=None, cap=2, lease_ttl=65.0)
    scheduler.register(limits)

    async def call() -> None:
        lease = await scheduler.acquire(limits.token)
        await asyncio.sleep(0)
        await scheduler.release(lease, Outcome.ANSWERED)

    return call


async def rounds_of(contenders: dict[str, Call], calls: int, rounds: int) -> dict[str, list[float]]:
    for call in contenders.values():  # warm: connections, caches, the file made
        for _ in range(100):
            await call()
    spent: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            started = time.process_time()
            for _ in range(calls):
                await call()
            spent[name].append((time.process_time() - started) / calls * 1e6)
    return spent


async def scheduler_alone(calls: int, rounds: int, folder: Path) -> dict[str, list[float]]:
    memory = Scheduler(MemoryBackend(), SystemClock())
    sqlite = Scheduler(SQLiteBackend(folder / "bench.db"), SystemClock())
    try:
        return await rounds_of(
            {
                "admit + release, memory": admit_release(memory),
                "admit + release, SQLite": admit_release(sqlite),
            },
            calls,
            rounds,
        )
    finally:
        await sqlite.backend.close()


async def find_record(calls: int, rounds: int, folder: Path) -> dict[str, list[float]]:
    os.environ["XDG_STATE_HOME"] = str(folder / "state")  # the default ledger, not the user's
    os.environ.pop("WOLKVOX_BACKEND", None)
    BACKENDS.clear()
    sim = Simulator(0, 1000)
    try:
        async with aiohttp.ClientSession() as session:
            campaign = await sim.new_campaign(session)
            body = [{"customer_id": "c1", "customer_name": "Ana", "tel1": "3001234567"}]
            await sim.call(
                session,
                "POST",
                "campaign.php?api=add_record&type_campaign=predictive"
                f"&campaign_id={campaign}&campaign_status=start",
                body,
            )
        memory = WolkvoxClient(
            server="0014", token=TOKEN, base_url=sim.url, backend=MemoryBackend()
        )
        default = WolkvoxClient(server="0014", token=TOKEN, base_url=sim.url)
        backend = default._caller.scheduler.backend
        assert isinstance(backend, SQLiteBackend), f"the default is {backend.where}"
        async with memory, default:
            return await rounds_of(
                {
                    "find_record, memory": lambda: memory.find_record(customer_id="c1"),
                    "find_record, default (SQLite)": lambda: default.find_record(customer_id="c1"),
                },
                calls,
                rounds,
            )
    finally:
        sim.stop()


def rows(spent: dict[str, list[float]], calls: int) -> list[dict[str, Any]]:
    names = list(spent)
    reference = spent[names[0]]
    out = []
    for name in names:
        values = spent[name]
        ratios = [ours / ref for ours, ref in zip(values, reference, strict=True)]
        out.append(
            {
                "contender": name,
                "calls": calls * len(values),
                "us_per_call": round(statistics.median(values), 1),
                "us_spread": f"{min(values):.1f}–{max(values):.1f}",
                "x_memory": round(statistics.median(ratios), 2),
                "x_memory_spread": f"{min(ratios):.2f}–{max(ratios):.2f}",
            }
        )
    return out


async def measure(calls: int, rounds: int, http_calls: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        alone = await scheduler_alone(calls, rounds, Path(tmp))
        whole = await find_record(http_calls, rounds, Path(tmp))
    return rows(alone, calls) + rows(whole, http_calls)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=5000, help="admit + release per round")
    parser.add_argument("--http-calls", type=int, default=1000, help="find_record per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    publish(
        "ledger",
        asyncio.run(measure(args.calls, args.rounds, args.http_calls)),
        [
            ("contender", "contender", 32),
            ("us_per_call", "µs/call", 8),
            ("us_spread", "spread", 12),
            ("x_memory", "× memory", 9),
            ("x_memory_spread", "× spread", 10),
        ],
    )


if __name__ == "__main__":
    main()
