"""``python -m wolkvox_async.testing``: run FakeWolkvox as a process for other tools."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import signal
from datetime import datetime, timedelta
from pathlib import Path

from ._server import FakeWolkvox


async def _serve(args: argparse.Namespace) -> list[tuple[float, float]]:
    latency = args.latency / 1000
    async with FakeWolkvox(
        token=args.token,
        server=args.server,
        licenses=args.licenses,
        max_concurrency=args.max_concurrency,
        latency=latency,
        port=args.port,
    ) as fake:
        print(f"FakeWolkvox listening on {fake.url} (server {fake.server})", flush=True)
        if args.results:
            print(f"seeded campaign {_seed(fake, args)}", flush=True)
        if not args.token:
            # A generated credential of the simulator, not a real Wolkvox token.
            print(f"simulator token: {fake.token}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        return list(fake.timeline)


def _seed(fake: FakeWolkvox, args: argparse.Namespace) -> str:
    """A campaign with call results for download tools: ``--dense`` days (spread over the
    span) hold 70,000 attempts each, above the 60,000-row cap; the rest spread evenly."""
    camp = fake.create_campaign(name="Results")
    start = datetime(2026, 6, 1)
    dense = min(args.dense, args.days)
    rest = args.results - 70_000 * dense
    if rest < 0:
        raise SystemExit("--results must hold 70,000 per --dense day")
    fake.add_call_results(camp.id, start, start + timedelta(days=args.days), rest, seed=1)
    for n in range(dense):
        day = start + timedelta(days=(n + 1) * args.days // (dense + 1))
        fake.add_call_results(camp.id, day, day + timedelta(hours=23), 70_000, seed=n + 2)
    return camp.id


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m wolkvox_async.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any)")
    parser.add_argument("--server", default="0014", help="operation server number")
    parser.add_argument("--licenses", type=int, default=3, help="quota = licenses x 1000")
    parser.add_argument("--max-concurrency", type=int, default=2, choices=(1, 2))
    parser.add_argument("--latency", type=float, default=0.0, help="latency per call, in ms")
    parser.add_argument("--results", type=int, default=0, help="seed N call results")
    parser.add_argument("--days", type=int, default=90, help="over this many days")
    parser.add_argument("--dense", type=int, default=0, help="days of 70,000 results")
    parser.add_argument(
        "--trace", help="on exit, write each request's (arrived, answered) to this JSON file"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get("WOLKVOX_FAKE_TOKEN"),
        help="token to accept (default: $WOLKVOX_FAKE_TOKEN, else a generated one)",
    )
    args = parser.parse_args(argv)
    # A standalone simulator holds millions of loaded records, none in a reference cycle:
    # without this, full collections sweep them all again and again, and a benchmark would
    # measure the simulator's garbage collector instead of the client in front of it.
    gc.set_threshold(100_000, 50, 1_000)
    timeline = asyncio.run(_serve(args))
    if args.trace:  # each request's (arrived, answered), in time.monotonic() seconds
        Path(args.trace).write_text(json.dumps(timeline))


if __name__ == "__main__":
    main()
