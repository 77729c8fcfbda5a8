"""A worker for the chaos test: 3 coroutines × N find_record calls on a shared backend,
each call tried again (bounded) while the backend is away. Prints its outcomes as JSON."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from wolkvox_async import SchedulerUnavailable, WolkvoxClient, WolkvoxError


async def main(url: str, token: str, backend: str, calls: int, server_limit: float) -> None:
    seen: Counter[str] = Counter()
    async with WolkvoxClient(
        server="0014", token=token, base_url=url, backend=backend, server_limit=server_limit
    ) as wv:

        async def caller(n: int) -> None:
            for i in range(calls):
                for _ in range(400):  # bounded: ~20 s of the backend away at most
                    try:
                        await wv.find_record(campaign_id="1", customer_id=f"{n}-{i}")
                        seen["answered"] += 1
                        break
                    except SchedulerUnavailable:
                        seen["unavailable"] += 1
                        await asyncio.sleep(0.05)
                    except WolkvoxError as exc:
                        seen[type(exc).__name__] += 1
                        break

        await asyncio.gather(*(caller(n) for n in range(3)))
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    url, token, backend, calls, limit = sys.argv[1:6]
    asyncio.run(main(url, token, backend, int(calls), float(limit)))
