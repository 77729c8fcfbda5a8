"""Someone else on our token: another team's script, in its own OS process, with no ledger
of ours. ``raw``: two aiohttp workers calling find_record back to back, ignoring refusals
(the token's 2 slots nearly always taken); ``client``: a service on our library with its
default settings (4 coroutines calling find_record). Runs for SECONDS, prints its counts."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter

import aiohttp

from wolkvox_async import WolkvoxClient, WolkvoxError


async def main(mode: str, url: str, token: str, campaign: str, seconds: float) -> None:
    end = time.monotonic() + seconds
    seen: Counter[str] = Counter()
    if mode == "raw":
        find = f"{url}/api/v2/campaign.php?api=find_record&campaign_id={campaign}&customer_id=x"
        async with aiohttp.ClientSession(headers={"wolkvox-token": token}) as session:

            async def worker() -> None:
                while time.monotonic() < end:
                    async with session.get(find) as response:
                        await response.read()
                        seen[str(response.status)] += 1

            await asyncio.gather(worker(), worker())
    else:
        async with WolkvoxClient(server="0014", token=token, base_url=url) as wv:

            async def service() -> None:
                while time.monotonic() < end:
                    try:
                        await wv.find_record(campaign_id=campaign, customer_id="x")
                        seen["answered"] += 1
                    except WolkvoxError as exc:
                        seen[type(exc).__name__] += 1

            await asyncio.gather(*(service() for _ in range(4)))
    print(json.dumps(seen), flush=True)


if __name__ == "__main__":
    mode, url, token, campaign, seconds = sys.argv[1:6]
    asyncio.run(main(mode, url, token, campaign, float(seconds)))
