"""Redis memory per token and per operation, for sizing a production Redis.

Drives the Redis backend's own steps on a throwaway redis-server: N operations with T
tokens each, every token with 2 leases in flight, a poll stamp, a lowered cap and the
day's quota; then reads ``MEMORY USAGE`` of each key (samples 0: exact) and
``used_memory`` before and after. Prints bytes per key kind (an operation's ledger hash
holds its epoch, quota and every token's leases and state; a stamp is one read's) and
per token.

    python benchmarks/redis_memory.py --operations 10 --tokens 20
"""

from __future__ import annotations

import argparse
import asyncio
from collections import defaultdict
from typing import Any

import redis
from _common import Redis, publish

from wolkvox_async.scheduler import Admission, RedisBackend, TokenLimits


async def fill(url: str, operations: int, tokens: int) -> None:
    backend = RedisBackend(url)
    try:
        for o in range(operations):
            for t in range(tokens):
                limits = TokenLimits(
                    token=f"t{o}-{t}", operation=f"op{o}", limit=10_000, cap=2, lease_ttl=65.0,
                    poll_interval=300.0,
                )  # fmt: skip
                base = Admission(limits=limits)
                stamped = Admission(limits=limits, poll_key=f"p{o}-{t}")
                for admission in (stamped, base):
                    decision, lease = await backend.admit(admission, 0.0)
                    assert lease is not None, decision
                await backend.lower_cap(limits.token, limits.operation, 0.0, 60.0)
    finally:
        await backend.close()


def measure(url: str, operations: int, tokens: int) -> list[dict[str, Any]]:
    admin = redis.Redis.from_url(url.split("?")[0], decode_responses=True)
    admin.flushall()
    before = int(admin.info("memory")["used_memory"])
    asyncio.run(fill(url, operations, tokens))
    after = int(admin.info("memory")["used_memory"])
    by_kind: dict[str, list[int]] = defaultdict(list)
    for key in admin.scan_iter("*"):
        kind = key.split("}:")[1].split(":")[0]
        by_kind[kind].append(int(admin.memory_usage(key, samples=0) or 0))
    per_token = sum(sum(v) for v in by_kind.values())  # everything, spread over the tokens
    rows: list[dict[str, Any]] = [
        {"what": f"{kind} key", "keys": len(sizes), "bytes_each": round(sum(sizes) / len(sizes))}
        for kind, sizes in sorted(by_kind.items())
    ]
    rows.append(
        {"what": "per token (keys)", "keys": "", "bytes_each": per_token // (operations * tokens)}
    )
    rows.append(
        {
            "what": "used_memory per token",
            "keys": "",
            "bytes_each": (after - before) // (operations * tokens),
        }
    )
    admin.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--operations", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=20, help="tokens per operation")
    args = parser.parse_args()
    server = Redis()
    if server.url is None:
        raise SystemExit("redis-server is not installed")
    try:
        rows = measure(server.url, args.operations, args.tokens)
    finally:
        server.stop()
    publish(
        "redis_memory",
        rows,
        [("what", "what", 22), ("keys", "keys", 5), ("bytes_each", "bytes", 7)],
    )


if __name__ == "__main__":
    main()
