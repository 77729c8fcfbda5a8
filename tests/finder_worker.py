"""A process of the eviction test: N find_record calls at once through a shared backend
URL. Prints one JSON line: how many were answered and how each other one ended (by error
class), and the first SchedulerUnavailable's message."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter
from typing import Any

from wolkvox_async import SchedulerUnavailable, WolkvoxClient


async def main(url: str, token: str, backend: str, calls: int, server_limit: float) -> None:
    async with WolkvoxClient(
        server="0014", token=token, base_url=url, backend=backend, server_limit=server_limit
    ) as wv:
        results = await asyncio.gather(
            *(wv.find_record(campaign_id="1", customer_id=str(i)) for i in range(calls)),
            return_exceptions=True,
        )
    seen: dict[str, Any] = dict(
        Counter(type(r).__name__ if isinstance(r, BaseException) else "answered" for r in results)
    )
    refused = [r for r in results if isinstance(r, SchedulerUnavailable)]
    if refused:
        seen["message"] = str(refused[0])
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    url, token, backend, calls, limit = sys.argv[1:6]
    asyncio.run(main(url, token, backend, int(calls), float(limit)))
