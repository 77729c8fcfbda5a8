"""A process whose main coroutine starts an upload in a task and returns mid-load, so
asyncio.run's shutdown cancels it (as a service's loop ends): the process must end."""

from __future__ import annotations

import asyncio
import sys

from wolkvox_async import Record, WolkvoxClient


async def main(base_url: str, token: str, campaign_id: str, journal: str, backend: str) -> None:
    records = (Record(customer_id=f"k{i}", phones=(f"300{i:07d}",)) for i in range(20_000))
    wv = WolkvoxClient(server="0014", token=token, base_url=base_url, backend=backend)
    upload = asyncio.create_task(
        wv.upload_records(campaign_id, records, chunk_size=500, journal=journal)
    )
    while not upload.done() and (await wv.scheduler_stats()).quota_used < 4:
        await asyncio.sleep(0.01)  # a few chunks in: chunks in flight, the queue full
    print("returning", flush=True)
    # main returns: asyncio.run cancels the upload task (and every task it made).


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
    print("ended", flush=True)
