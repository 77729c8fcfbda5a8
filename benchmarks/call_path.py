"""How far one call travels through the library: modules entered and functions run.

A reader following ``await wv.find_record(...)`` or one upload chunk through the code
jumps as often as the call does; this counts it. One warm-up call first (hooks and
caches are made once), then the profiled one: every library function that runs in this
thread (the simulator serves from its own thread, and ``wolkvox_async.testing`` is not
counted), the distinct modules, how many times a call crossed into each module, and the
switches: how often the module running changed, returns included (a reader's jumps back
and forth; time spent outside the library, in aiohttp or the event loop, is skipped).

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
        functions.add(f"{module}:{frame.f_code.co_qualname}")
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
            for name, call in paths.items():
                found = await trace(call)
                print(
                    f"{name}: {found['modules']} modules, {found['functions']} functions, "
                    f"{found['switches']} switches of module"
                )
                print("  entries per module:", found["entries"])
                if "-v" in sys.argv:
                    print("  " + "\n  ".join(found["names"]))


if __name__ == "__main__":
    asyncio.run(main())
