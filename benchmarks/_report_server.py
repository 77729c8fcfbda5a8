"""A report server whose requests overlap: campaign_3 rows rendered before it listens, each
answer sent D seconds after its request arrived, whatever else is in flight. For the
download's own question (are two windows in flight?), where FakeWolkvox's rendering of
each answer would be the bound instead.

Rows are spread evenly over the span, one attempt each, sorted by time; an answer is the
rows of date_ini..date_end (inclusive, second-aligned), the first 60,000 when more (cut in
time order, as Wolkvox's cap), HTTP 404 when none. Each row's JSON is rendered once at
start and each distinct answer's body once, on its first request (a join of rendered rows,
a few ms, inside D). A third request of the token in flight is refused 403 SIMULTANEOUS,
as Wolkvox does. ``GET /trace`` gives each request's (arrived, answered) since the last
``/trace``, in ``time.monotonic()`` seconds (one clock for every process of the machine),
with the peak in flight and the refusals.

    python benchmarks/_report_server.py --rows 150000 --days 90 --delay 0.5
    (prints "reports on http://127.0.0.1:PORT campaign 1")
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import signal
import time
from datetime import datetime, timedelta

import orjson
from aiohttp import web

START = datetime(2026, 6, 1)
CAP = 60_000
_FORMAT = "%Y%m%d%H%M%S"


class Reports:
    """The rows, the answers rendered so far, the requests in flight and the timeline."""

    def __init__(self, rows: int, days: int, delay: float) -> None:
        step = days * 86_400 / max(rows, 1)
        self.dates = [START + timedelta(seconds=int(i * step)) for i in range(rows)]
        self.rendered = [orjson.dumps(_row(i, at)) for i, at in enumerate(self.dates)]
        self.delay = delay
        self.bodies: dict[tuple[str, str], bytes] = {}
        self.in_flight = 0
        self.peak = 0
        self.refused = 0
        self.timeline: list[tuple[float, float]] = []

    def body(self, ini: str, end: str) -> bytes | None:
        """The answer's body, rendered once; None when the window holds no row."""
        if (ini, end) not in self.bodies:
            lo = bisect.bisect_left(self.dates, datetime.strptime(ini, _FORMAT))
            hi = bisect.bisect_right(self.dates, datetime.strptime(end, _FORMAT))
            rows = self.rendered[lo : min(hi, lo + CAP)]
            head = b'{"code":200,"error":null,"msg":"%d records were found","data":[' % len(rows)
            self.bodies[ini, end] = head + b",".join(rows) + b"]}" if rows else b""
        return self.bodies[ini, end] or None

    async def trace(self, request: web.Request) -> web.Response:
        """The timeline, peak and refusals since the last read of them, then reset."""
        seen = {"timeline": self.timeline, "peak": self.peak, "refused": self.refused}
        self.timeline, self.peak, self.refused = [], 0, 0
        return web.json_response(seen)

    async def handle(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        if self.in_flight >= 2:
            self.refused += 1
            return web.json_response(
                {"code": 403, "error": "FORBIDDEN", "msg": "SIMULTANEOUS REQUESTS LIMIT 2"},
                status=403,
            )
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            body = self.body(request.query["date_ini"], request.query["date_end"])
            await asyncio.sleep(max(0.0, arrived + self.delay - time.monotonic()))
            if body is None:
                return web.json_response(
                    {"code": 404, "error": "NOT FOUND", "msg": "0 records were found"},
                    status=404,
                )
            return web.Response(body=body, content_type="application/json")
        finally:
            self.in_flight -= 1
            self.timeline.append((arrived, time.monotonic()))


def _row(i: int, at: datetime) -> dict[str, str]:
    """One campaign_3 row as Wolkvox sends it (every value a string)."""
    row = {
        "campaign_id": "1",
        "customer_name": f"Customer {i}",
        "customer_last_name": "Last",
        "id_type": "CC",
        "customer_id": f"c{i}",
        "date": at.strftime("%Y-%m-%d %H:%M:%S"),
        "telephone": f"3{i:09d}",
        "result": ("ANSWER", "BUSY", "NO-ANSWER")[i % 3],
    }
    row.update({f"opt{n}": "" for n in range(1, 13)})
    row["conn_id"] = f"conn{i:09d}"
    return row


async def serve(args: argparse.Namespace) -> None:
    reports = Reports(args.rows, args.days, args.delay)
    app = web.Application()
    app.router.add_get("/api/v2/reports_manager.php", reports.handle)
    app.router.add_get("/trace", reports.trace)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(f"reports on http://127.0.0.1:{runner.addresses[0][1]} campaign 1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--delay", type=float, default=0.5, help="seconds per request (D)")
    args = parser.parse_args()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
