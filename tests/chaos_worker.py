"""A worker for the chaos test, on a shared backend (one per role in the same process):

* ``find``: 3 coroutines × N find_record calls, each tried again (bounded) while the
  backend is away or the connection was reset;
* ``close``: another client starts 20 find_record at once and closes after the first
  ends: every call ends, answered, ClientClosed (nothing of those sent), or
  SchedulerUnavailable (nothing sent: the ledger was away when it was to be admitted);
* ``upload:<campaign>:<journal>``: an upload of 3,000 records in a task that ``main``
  leaves running when it returns, so the event loop's shutdown cancels it mid-load (the
  process must still end; a resume lands the rest).

Prints its outcomes as JSON, before ``main`` returns."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import Counter

from wolkvox_async import (
    ClientClosed,
    Record,
    SchedulerUnavailable,
    TransportError,
    WolkvoxClient,
    WolkvoxError,
)

UPLOAD = 3_000


def records() -> list[Record]:
    return [Record(customer_id=f"u{i}", phones=(f"300{i:07d}",)) for i in range(UPLOAD)]


async def main(
    url: str, token: str, backend: str, calls: int, server_limit: float, roles: str
) -> None:
    seen: Counter[str] = Counter()

    def client() -> WolkvoxClient:
        return WolkvoxClient(
            server="0014", token=token, base_url=url, backend=backend, server_limit=server_limit
        )

    async def caller(wv: WolkvoxClient, n: int) -> None:
        for i in range(calls):
            for _ in range(400):  # bounded: ~20 s of the backend away at most
                try:
                    await wv.find_record(campaign_id="1", customer_id=f"{n}-{i}")
                    seen["answered"] += 1
                    break
                except SchedulerUnavailable:
                    seen["unavailable"] += 1
                    await asyncio.sleep(0.05)
                except TransportError:  # reset after sending, every attempt: again
                    seen["reset"] += 1
                except WolkvoxError as exc:
                    seen[type(exc).__name__] += 1
                    break

    async def closer() -> None:
        wv = client()
        calls = [asyncio.create_task(wv.find_record(customer_id=f"c{i}")) for i in range(20)]
        await asyncio.wait(calls, return_when=asyncio.FIRST_COMPLETED)
        await wv.close()
        seen["close_hung"] = sum(not call.done() for call in calls)
        for call in calls:
            error = call.exception() if call.done() else None
            if error is None and call.done():
                seen["close_answered"] += 1
            elif isinstance(error, ClientClosed):
                seen["close_closed"] += 1
            elif isinstance(error, SchedulerUnavailable):  # Redis away while it waited
                seen["close_unavailable"] += 1
            else:
                seen[f"close_{type(error).__name__}"] += 1

    jobs = []
    uploads = []
    async with client() as wv:
        for role in roles.split(","):
            if role == "find":
                jobs += [caller(wv, n) for n in range(3)]
            elif role == "close":
                jobs.append(closer())
            elif role.startswith("upload:"):
                _, campaign, journal = role.split(":", 2)
                loader = client()
                uploads.append(
                    asyncio.create_task(
                        loader.upload_records(campaign, records(), chunk_size=100, journal=journal)
                    )
                )
        await asyncio.gather(*jobs)
        seen["upload_done"] = sum(task.done() for task in uploads)
    print(json.dumps(seen), flush=True)
    # main returns: asyncio.run cancels an upload still running (its loader never closed).


if __name__ == "__main__":
    url, token, backend, calls, limit = sys.argv[1:6]
    roles = sys.argv[6] if len(sys.argv) > 6 else "find"
    asyncio.run(main(url, token, backend, int(calls), float(limit), roles))
