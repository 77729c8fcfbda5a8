"""Chaos: worker processes on one token over Redis and over SQLite, against FakeWolkvox with
0.05–0.8 s calls, while workers are SIGKILLed at random, Redis connections are killed in
bursts and Redis restarts empty mid-run. Every surviving caller ends (an answer, or typed
errors it retried), the server never sees more than 2 calls in flight nor refuses one,
and never more calls than the quota. Bounded in time; its seed is printed on failure."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from pathlib import Path

import helpers
import pytest
from helpers import worker
from redis_server import RedisServer, kill_clients

from wolkvox_async.testing import FakeWolkvox

WORKER = worker("chaos_worker.py")
SERVER_LIMIT = 1.5
"""The simulator stops calls after 1.5 s and the workers know it: a killed worker's lease
is over 1.6 s later, not Wolkvox's 65 (the rule is the same)."""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "sqlite"])
async def test_chaos_on_one_token(kind: str, tmp_path: Path) -> None:
    seed = helpers.seed()
    rng = random.Random(seed)
    redis_server = RedisServer(tmp_path) if kind == "redis" else None
    if redis_server is not None:
        redis_server.start()
        backend = redis_server.url
    else:
        backend = f"sqlite:///{tmp_path / 'ledger.db'}"
    quota = 400
    try:
        async with FakeWolkvox(
            latency=(0.05, 0.8), call_limit=SERVER_LIMIT, daily_quota=quota, seed=seed
        ) as fake:
            args = [fake.url, fake.token, backend, "6", str(SERVER_LIMIT)]
            workers = [
                await asyncio.create_subprocess_exec(
                    sys.executable, WORKER, *args, stdout=asyncio.subprocess.PIPE
                )
                for _ in range(6)
            ]
            killed: set[int] = set()
            # The plan, drawn from the seed: two kills, three bursts of connection kills
            # and one restart (Redis), at random moments of the first 6 s.
            plan = [(rng.uniform(0.5, 6.0), "kill") for _ in range(2)]
            if redis_server is not None:
                plan += [(rng.uniform(0.3, 6.0), "client_kill") for _ in range(3)]
                plan.append((rng.uniform(1.0, 4.0), "restart"))
            started = time.monotonic()
            for at, action in sorted(plan):
                await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                live = [i for i, w in enumerate(workers) if w.returncode is None]
                if action == "kill" and len(live) > 2:
                    victim = rng.choice(live)
                    workers[victim].send_signal(signal.SIGKILL)
                    killed.add(victim)
                elif action == "client_kill" and redis_server is not None:
                    await asyncio.to_thread(kill_clients, redis_server.url)
                elif action == "restart" and redis_server is not None:
                    await asyncio.to_thread(redis_server.stop)
                    await asyncio.to_thread(redis_server.start)  # empty: no persistence
            outs = await asyncio.wait_for(asyncio.gather(*(w.communicate() for w in workers)), 90)
            answered = 0
            for i, (worker, (out, _)) in enumerate(zip(workers, outs, strict=True)):
                if i in killed:
                    continue
                assert worker.returncode == 0, f"worker {i} (seed {seed})"
                seen = json.loads(out)
                assert set(seen) <= {"answered", "unavailable"}, f"{seen} (seed {seed})"
                assert seen.get("answered", 0) == 18, f"{seen} (seed {seed})"
                answered += seen["answered"]
            note = f"seed {seed}, plan {sorted(plan)}, killed {sorted(killed)}"
            assert fake.stats.peak_in_flight[fake.token] <= 2, note
            assert fake.stats.refusals["simultaneous"] == 0, note
            assert fake.quota_used() <= quota, note
            assert answered >= 18 * (6 - len(killed)), note
    finally:
        if redis_server is not None:
            redis_server.stop()
