"""A loader process for the multi-process tests: N calls through a shared backend URL."""

from __future__ import annotations

import asyncio
import sys

from wolkvox_async import WolkvoxClient


async def main(base_url: str, token: str, backend: str, calls: int) -> None:
    async with WolkvoxClient(server="0014", token=token, base_url=base_url, backend=backend) as wv:
        await asyncio.gather(*(wv.token_info() for _ in range(calls)))


if __name__ == "__main__":
    url, token, backend, calls = sys.argv[1:5]
    asyncio.run(main(url, token, backend, int(calls)))
