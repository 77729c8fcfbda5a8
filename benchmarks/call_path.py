"""How far one call travels through the library: modules entered and functions run.

A reader following ``await wv.find_record(...)`` or one upload chunk through the code
jumps as often as the call does; this counts it. One warm-up call first (hooks and
caches are made once), then the profiled one: every library function that runs in this
thread (the simulator serves from its own thread, and ``wolkvox_async.testing`` is not
counted), the distinct modules, how many times a call crossed into each module, and the
switches: how often the module running changed, returns included (a reader's jumps back
and forth; time spent outside the library, in aiohttp or the event loop, is skipped).

Two upload figures: a whole ``upload_records`` of 100 records (one chunk), which counts the
load's one-time set-up too (checks, the owner's claim, the journal, the quota read); and
the steady state of a load of 5 chunks of 100 records, counting only the functions that
run at least once per chunk (called 5 times or more: the path every further chunk takes).

    python benchmarks/call_path.py
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

from _common import TOKEN, lead

import wolkvox_async
from wolkvox_async import WolkvoxClient
from wolkvox_async.scheduler import MemoryBackend
from wolkvox_async.testing import serving_in_thread

PACKAGE = str(Path(wolkvox_async.__file__).parent)
TESTING = str(Path(PACKAGE, "testing"))


def _module(frame: FrameType | None) -> str | None:
    if frame is None:
        return None
    path = frame.f_code.co_filename
    if not path.startswith(PACKAGE) or path.startswith(TESTING):
        return None
    return Path(path).relative_to(PACKAGE).as_posix()


async def trace(call: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    await call()  # warm
    functions: set[str] = set()
    calls: Counter[str] = Counter()
    entries: Counter[str] = Counter()
    seen: set[int] = set()
    frames: list[FrameType] = []  # alive, so their ids are not reused mid-trace
    running: list[str | None] = [None]
    switches = 0

    def profile(frame: FrameType, event: str, _: Any) -> None:
        nonlocal switches
        now = _module(frame) if event == "call" else _module(frame.f_back)
        if event in ("call", "return") and now is not None and now != running[0]:
            switches += 1
            running[0] = now
        if event != "call":
            return
        module = _module(frame)
        if module is None or id(frame) in seen:
            return  # not ours, or a coroutine resumed
        seen.add(id(frame))
        frames.append(frame)
        name = f"{module}:{frame.f_code.co_qualname}"
        functions.add(name)
        calls[name] += 1
        if _module(frame.f_back) != module:
            entries[module] += 1

    sys.setprofile(profile)
    try:
        await call()
    finally:
        sys.setprofile(None)
    return {
        "modules": len(entries),
        "functions": len(functions),
        "switches": switches,
        "entries": dict(entries.most_common()),
        "names": sorted(functions),
        "calls": calls,
    }


def per_chunk(found: dict[str, Any], chunks: int) -> dict[str, Any]:
    """The functions of a traced load that ran at least once per chunk, and their modules."""
    names = sorted(name for name, count in found["calls"].items() if count >= chunks)
    return {
        "functions": len(names),
        "modules": len({n.split(":")[0] for n in names}),
        "names": names,
    }


async def main() -> None:
    with serving_in_thread(token=TOKEN, licenses=100) as fake:
        async with WolkvoxClient(
            server="0014", token=TOKEN, base_url=fake.url, backend=MemoryBackend()
        ) as wv:
            camp = await wv.create_campaign(name="path", campaign_type="predictive", skill_id="1")
            await wv.add_record(camp.id, [lead(0)])
            rows = [lead(i) for i in range(100)]
            paths: dict[str, Callable[[], Awaitable[Any]]] = {
                "find_record": lambda: wv.find_record(customer_id="b0"),
                "one upload chunk (100 records)": lambda: wv.upload_records(camp.id, rows),
            }
            many = [lead(i) for i in range(1000, 1500)]
            chunked = [lead(i) for i in range(2000, 2500)]
            await wv.upload_records(camp.id, many, chunk_size=100)  # warm the chunked path
            steady = await trace(lambda: wv.upload_records(camp.id, chunked, chunk_size=100))
            for name, call in paths.items():
                found = await trace(call)
                print(
                    f"{name}: {found['modules']} modules, {found['functions']} functions, "
                    f"{found['switches']} switches of module"
                )
                print("  entries per module:", found["entries"])
                if "-v" in sys.argv:
                    print("  " + "\n  ".join(found["names"]))
            each = per_chunk(steady, 5)
            print(
                f"each further chunk (steady state, 5 chunks of 100): {each['modules']} modules, "
                f"{each['functions']} functions"
            )
            if "-v" in sys.argv:
                print("  " + "\n  ".join(each["names"]))


if __name__ == "__main__":
    asyncio.run(main())
