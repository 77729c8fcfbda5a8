"""A process of the status tests: a load (``load``: upload_records, BULK) or a service
(``service``: find_record calls, one after another) on one token and a shared ledger,
running until a stop file appears. Prints ``ready`` once its first call was answered,
then, at the end, ``done``."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator

from wolkvox_async import Record, WolkvoxClient


def stopped(stop: str) -> bool:
    return os.path.exists(stop)


async def main(mode: str, url: str, token: str, backend: str, stop: str) -> None:
    async with WolkvoxClient(
        server="0014",
        token=token,
        base_url=url,
        backend=backend,
        server_limit=5.0,
        licenses=3,
        quota_reserve=300,
    ) as wv:
        if mode == "load":
            camp = await wv.create_campaign(name="status", campaign_type="predictive", skill_id="1")
            print("ready", flush=True)

            async def records() -> AsyncIterator[Record]:
                n = 0
                while not stopped(stop):
                    n += 1
                    yield Record(customer_id=f"k{n}", phones=(f"300{n:07d}",))
                    await asyncio.sleep(0.01)  # (a source that trickles: chunks keep coming)

            await wv.upload_records(camp.id, records(), chunk_size=5)
        else:
            await wv.find_record(customer_id="0")
            print("ready", flush=True)

            n = 0
            while not stopped(stop):
                n += 1
                await wv.find_record(customer_id=str(n))
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
