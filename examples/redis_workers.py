"""Recipe: several worker processes (on one host or many) sharing one token through Redis.

Each worker is an ordinary process with its own WolkvoxClient. What they share is the
``backend`` URL and the token: the scheduler's ledger lives in Redis, so all of them
together never have more than 2 calls in flight on the token, never spend more than the
day's quota, and honour the 5-minute rule for identical reads. A worker that dies holding a
slot gives it back when its lease ends; nothing else is needed.

Here a supervisor starts ``--workers`` processes; each makes ``--calls`` lookups::

    WOLKVOX_SERVER=0014 WOLKVOX_TOKEN=... WOLKVOX_LICENSES=3 \\
        python redis_workers.py --redis redis://cache:6379/0 --workers 8 --calls 100

In production the workers are usually started by your process manager (systemd,
Kubernetes, Celery, RQ) with the same environment; the client code is the same. For a
Redis Cluster use ``redis+cluster://h1:6379,h2:6379``, for Sentinel
``redis+sentinel://s1:26379,s2:26379/mymaster``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys

from wolkvox_async import QuotaSpent, WolkvoxClient


async def work(worker: int, redis_url: str, calls: int, campaign_id: str) -> dict[str, int]:
    """One worker: ``calls`` lookups, as fast as the shared limits let them go."""
    found = quota_spent = 0
    async with WolkvoxClient(
        server=os.environ["WOLKVOX_SERVER"],
        token=os.environ["WOLKVOX_TOKEN"],
        licenses=int(os.environ.get("WOLKVOX_LICENSES", "1")),
        base_url=os.environ.get("WOLKVOX_BASE_URL"),
        backend=redis_url,  # the one thing the workers share
    ) as wolkvox:

        async def lookup(n: int) -> None:
            nonlocal found, quota_spent
            try:
                hits = await wolkvox.find_record(
                    campaign_id=campaign_id, customer_id=f"{worker}-{n}"
                )
            except QuotaSpent:
                quota_spent += 1
                return
            found += len(hits)

        # All at once: the scheduler queues them, the token never sees more than 2.
        await asyncio.gather(*(lookup(n) for n in range(calls)))
    return {"worker": worker, "calls": calls, "found": found, "quota_spent": quota_spent}


def worker_main(worker: int, redis_url: str, calls: int, campaign_id: str) -> None:
    line = json.dumps(asyncio.run(work(worker, redis_url, calls, campaign_id))) + "\n"
    # One write of the whole line: workers share stdout, and a pipe keeps a write of up
    # to 4 KiB whole (print() may write the text and its newline apart, and interleave).
    os.write(sys.stdout.fileno(), line.encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", required=True, help="redis://host:port/db")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--calls", type=int, default=50, help="lookups per worker")
    parser.add_argument("--campaign-id", default="7001")
    args = parser.parse_args()
    # spawn: each worker a fresh interpreter, as on separate hosts (no state inherited).
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=worker_main, args=(n, args.redis, args.calls, args.campaign_id))
        for n in range(args.workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
