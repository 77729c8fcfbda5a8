"""The library's own CPU per find_record, with no network: the transport replaced by one
that answers at once (one turn of the loop) with a canned body.

What interactive.py cannot isolate: there, our layers run between aiohttp's steps, and
the machine's noise is as large as the differences looked for. Here the call is the
argument check, building the request, admission and release, the call's timeout, parsing
and the typed row, nothing else. Run two checkouts side by side to compare them:

    taskset -c 1 python benchmarks/own_path.py --calls 20000 --rounds 7
    PYTHONPATH=/path/to/other/checkout taskset -c 1 python benchmarks/own_path.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable

from _common import TOKEN, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.calls._protocol import RawRequest, RawResponse
from wolkvox_async.scheduler import MemoryBackend

BODY = json.dumps(
    {
        "code": 200,
        "error": None,
        "msg": "ok",
        "data": [{"customer_id": "c1", "customer_name": "Ana", "tel1": "3001234567"}],
    }
).encode()


class Canned:
    """A transport that answers every request with BODY after one turn of the loop."""

    async def send(
        self, request: RawRequest, written: Callable[[], None] | None = None
    ) -> RawResponse:
        await asyncio.sleep(0)
        return RawResponse(status=200, content_type="application/json", body=BODY)

    def ready(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def measure(calls: int, rounds: int) -> list[float]:
    async with WolkvoxClient(
        server="0014",
        token=TOKEN,
        base_url="http://127.0.0.1:1",
        backend=MemoryBackend(),
        transport=Canned(),
    ) as wv:
        for _ in range(2000):  # warm: caches, the generated row reader
            await wv.find_record(customer_id="c1")
        spent = []
        for _ in range(rounds):
            started = time.process_time()
            for _ in range(calls):
                await wv.find_record(customer_id="c1")
            spent.append((time.process_time() - started) / calls * 1e6)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    spent = asyncio.run(measure(args.calls, args.rounds))
    publish(
        "own_path",
        [
            {
                "contender": "find_record, canned answer",
                "calls": args.calls * args.rounds,
                "us_per_call": round(statistics.median(spent), 1),
                "us_min": round(min(spent), 1),
                "us_spread": f"{min(spent):.1f}–{max(spent):.1f}",
            }
        ],
        [
            ("contender", "contender", 30),
            ("us_per_call", "µs/call", 8),
            ("us_min", "min", 6),
            ("us_spread", "spread", 11),
        ],
    )


if __name__ == "__main__":
    main()
