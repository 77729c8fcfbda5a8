"""A loader process for the multi-process tests: N calls through a shared backend URL.

Prints one JSON line: how many calls succeeded and how each failed (by error class).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from wolkvox_async import WolkvoxClient


async def main(base_url: str, token: str, backend: str, calls: int, quota: int | None) -> None:
    async with WolkvoxClient(
        server="0014", token=token, base_url=base_url, backend=backend, daily_quota=quota
    ) as wv:
        results = await asyncio.gather(
            *(wv.token_info() for _ in range(calls)), return_exceptions=True
        )
    outcome = Counter(type(r).__name__ if isinstance(r, BaseException) else "ok" for r in results)
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    url, token, backend, calls = sys.argv[1:5]
    quota = int(sys.argv[5]) if len(sys.argv) > 5 else None
    asyncio.run(main(url, token, backend, int(calls), quota))
