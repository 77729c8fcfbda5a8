"""``python -m wolkvox_async.testing``: run FakeWolkvox as a process for other tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os

from ._server import FakeWolkvox


async def _serve(args: argparse.Namespace) -> None:
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
        if not args.token:
            # A generated credential of the simulator, not a real Wolkvox token.
            print(f"simulator token: {fake.token}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m wolkvox_async.testing", description=__doc__)
    parser.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (0 = any)")
    parser.add_argument("--server", default="0014", help="operation server number")
    parser.add_argument("--licenses", type=int, default=3, help="quota = licenses x 1000")
    parser.add_argument("--max-concurrency", type=int, default=2, choices=(1, 2))
    parser.add_argument("--latency", type=float, default=0.0, help="latency per call, in ms")
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
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
