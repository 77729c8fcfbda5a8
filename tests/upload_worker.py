"""A loader process for the crash test: upload N generated records with a journal."""

from __future__ import annotations

import asyncio
import sys

from wolkvox_async import Record, WolkvoxClient


async def main(base_url: str, token: str, campaign_id: str, count: int, journal: str) -> None:
    records = (Record(customer_id=f"k{i}", phones=(f"300{i:07d}",)) for i in range(count))
    async with WolkvoxClient(server="0014", token=token, base_url=base_url) as wv:
        report = await wv.upload_records(campaign_id, records, chunk_size=500, journal=journal)
    print(report.records_landed, flush=True)


if __name__ == "__main__":
    url, token, campaign, count, journal = sys.argv[1:6]
    asyncio.run(main(url, token, campaign, int(count), journal))
