"""A loader process for the crash and ownership tests: upload N generated records with a
journal (and, optionally, a given scheduler backend, chunk size and ``wait=True``).
``WORKER_SERVER_LIMIT`` in the environment sets the client's ``server_limit`` (a test's
simulator that stops calls sooner, so a killed worker's slots come back sooner).

Prints one line: the records landed, or ``LoadRunning`` / ``AlreadyLoaded`` and the
error's message when the load was refused (exit 2 then)."""

from __future__ import annotations

import asyncio
import os
import sys

from wolkvox_async import AlreadyLoaded, LoadRunning, Record, WolkvoxClient


async def main(
    base_url: str,
    token: str,
    campaign_id: str,
    count: int,
    journal: str,
    backend: str | None,
    chunk_size: int,
    wait: bool,
) -> int:
    records = (Record(customer_id=f"k{i}", phones=(f"300{i:07d}",)) for i in range(count))
    limit = float(os.environ.get("WORKER_SERVER_LIMIT", "60"))
    async with WolkvoxClient(
        server="0014", token=token, base_url=base_url, backend=backend, server_limit=limit
    ) as wv:
        try:
            report = await wv.upload_records(
                campaign_id, records, chunk_size=chunk_size, journal=journal, wait=wait
            )
        except (LoadRunning, AlreadyLoaded) as exc:
            print(type(exc).__name__, exc, flush=True)
            return 2
    print(report.records_landed, flush=True)
    return 0


if __name__ == "__main__":
    url, token, campaign, count, journal = sys.argv[1:6]
    backend = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] != "-" else None
    size = int(sys.argv[7]) if len(sys.argv) > 7 else 500
    wait = len(sys.argv) > 8 and sys.argv[8] == "wait"
    sys.exit(asyncio.run(main(url, token, campaign, int(count), journal, backend, size, wait)))
