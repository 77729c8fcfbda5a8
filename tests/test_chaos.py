"""Chaos: worker processes on one token over Redis and over SQLite (one process on memory),
against FakeWolkvox with 0.05–0.8 s calls behind a proxy that resets a connection after
forwarding its request (every 5th to 9th request: the server runs it to its end), while
workers are SIGKILLed at random, and the ledger is lost under them: Redis connections
killed in bursts, Redis restarted empty, its ledger evicted (a full Redis under
``allkeys-lru``, with the opt-in ``?allow_eviction=1``, beside a client filling it), the
SQLite file deleted — each loss followed by a fresh worker that never saw the ledger
before. One worker also closes a client with 20 calls queued, and leaves an upload running
when its main returns, so its event loop's shutdown cancels it mid-load. Every surviving
caller ends (an answer, ClientClosed, or typed errors it retried), every process ends, the
server never sees more than 2 calls in flight nor refuses one, never more calls than the
quota, and the upload resumed lands every record once. Bounded in time; its seed is
printed on failure."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
import time
from contextlib import AsyncExitStack
from pathlib import Path

import helpers
import pytest
import redis
from chaos_worker import records as chaos_records
from helpers import worker
from proxy import ResettingProxy
from redis_server import Filler, evicting, kill_clients, plain, with_option

from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

WORKER = worker("chaos_worker.py")
SERVER_LIMIT = 1.5
"""The simulator stops calls after 1.5 s and the workers know it: a killed worker's lease,
and the pause after a lost ledger, are over 2.4 s later, not Wolkvox's 95 (the rule is
the same)."""
CALLS = 6
"""Calls per coroutine (3 per worker)."""
SEEN: frozenset[str] = frozenset(
    {"answered", "unavailable", "reset", "close_answered", "close_closed", "close_hung"}
    | {"close_unavailable"}
    | {"upload_done"}
)
"""What a worker may report: anything else is an error a caller met."""


def evict_ledgers(url: str) -> int:
    """Delete every ledger key, as a full Redis evicting it would (silently, whole)."""
    with redis.Redis.from_url(plain(url)) as admin:
        keys = list(admin.scan_iter("wolkvox:*:ledger"))
        return int(admin.delete(*keys)) if keys else 0


def delete_ledger(ledger: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{ledger}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "sqlite", "memory"])
async def test_chaos_on_one_token(kind: str, tmp_path: Path) -> None:
    seed = helpers.seed()
    rng = random.Random(seed)
    redis_server = evicting(tmp_path, "allkeys-lru") if kind == "redis" else None
    ledger = tmp_path / "ledger.db"
    quota = 600
    async with AsyncExitStack() as stack:
        if redis_server is not None:
            redis_server.start()
            stack.callback(redis_server.stop)
            stack.enter_context(Filler(redis_server.plain_url))
            # The restart fence on (the plain URL): a worker whose first call comes after
            # the restart never knew the ledger, as much as one started then. (With it off,
            # such a worker was admitted beside calls running: 403 SIMULTANEOUS.)
            backend = fresh_backend = with_option(redis_server.plain_url, "allow_eviction=1")
        elif kind == "sqlite":
            backend = fresh_backend = f"sqlite:///{ledger}"
        else:
            backend = fresh_backend = "memory://"  # one process: every role in it
        async with FakeWolkvox(
            latency=(0.05, 0.8), call_limit=SERVER_LIMIT, daily_quota=quota, seed=seed
        ) as fake:
            camp = fake.create_campaign()
            journal = tmp_path / "load.journal"
            host, port = fake.url.removeprefix("http://").split(":")
            proxy = await stack.enter_async_context(
                ResettingProxy((host, int(port)), every=rng.randint(5, 9))
            )

            async def start(url: str, roles: str = "find") -> asyncio.subprocess.Process:
                args = [proxy.url, fake.token, url, str(CALLS), str(SERVER_LIMIT), roles]
                return await asyncio.create_subprocess_exec(
                    sys.executable, WORKER, *args, stdout=asyncio.subprocess.PIPE
                )

            loader_roles = f"find,close,upload:{camp.id}:{journal}"
            if kind == "memory":
                workers = [await start(backend, loader_roles)]
            else:
                workers = [await start(backend) for _ in range(5)]
                workers.append(await start(backend, loader_roles))
            killed: set[int] = set()
            # The plan, drawn from the seed, at random moments of the first 6 s: two kills;
            # on Redis three bursts of connection kills, a restart and an eviction of the
            # ledger; on SQLite the ledger deleted. After a restart or a deletion, a fresh
            # worker joins. (Memory: one process, nothing of it to kill or lose.)
            plan = [(rng.uniform(0.5, 6.0), "kill") for _ in range(2)] if kind != "memory" else []
            if redis_server is not None:
                plan += [(rng.uniform(0.3, 6.0), "client_kill") for _ in range(3)]
                plan.append((rng.uniform(1.0, 4.0), "restart"))
                plan.append((rng.uniform(0.5, 6.0), "evict"))
            elif kind == "sqlite":
                plan.append((rng.uniform(1.0, 4.0), "delete"))
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
                elif action == "evict" and redis_server is not None:
                    await asyncio.to_thread(evict_ledgers, redis_server.url)
                elif action == "restart" and redis_server is not None:
                    await asyncio.to_thread(redis_server.stop)
                    await asyncio.to_thread(redis_server.start)  # empty: no persistence
                    workers.append(await start(fresh_backend))
                elif action == "delete":
                    delete_ledger(ledger)
                    workers.append(await start(fresh_backend))
            try:
                outs = await asyncio.wait_for(
                    asyncio.gather(*(w.communicate() for w in workers)), 90
                )
            except TimeoutError:  # the seed, to replay it (WOLKVOX_TEST_SEED)
                hung = [i for i, w in enumerate(workers) if w.returncode is None]
                pytest.fail(f"workers {hung} still running after 90 s: seed {seed}, plan {plan}")
            finally:
                for w in workers:  # every process ends: one left hanging fails the test
                    if w.returncode is None:
                        w.kill()
            note = f"seed {seed}, plan {sorted(plan)}, killed {sorted(killed)}"
            for i, (worker, (out, _)) in enumerate(zip(workers, outs, strict=True)):
                if i in killed:
                    continue
                assert worker.returncode == 0, f"worker {i} ({note})"
                seen = json.loads(out)
                assert set(seen) <= SEEN, f"{seen} ({note})"
                assert seen.get("answered", 0) == 3 * CALLS, f"{seen} ({note})"
                if "close_hung" in seen:  # the worker that closed a client with calls queued
                    # Its calls queue behind five workers' for seconds: a Redis restart then
                    # fails those it meant to admit, closed (SchedulerUnavailable, nothing
                    # sent), and the first to end may be one of them (seed 2232433600).
                    ended = [seen.get(f"close_{how}", 0) for how in ("closed", "unavailable")]
                    assert seen["close_hung"] == 0, f"{seen} ({note})"
                    assert seen.get("close_answered", 0) >= 1 or ended[1], f"{seen} ({note})"
                    assert seen.get("close_answered", 0) + sum(ended) == 20, f"{seen} ({note})"
            assert len(workers) == (1 if kind == "memory" else 7), note  # a fresh one joined
            assert fake.stats.peak_in_flight[fake.token] <= 2, note
            assert fake.stats.refusals["simultaneous"] == 0, note
            assert fake.quota_used() <= quota, note
            # Every 5th to 9th request was reset (one process on memory makes ~26 requests:
            # 2 resets at every 9th; `>= 3` failed there, seed 2300202587).
            assert proxy.resets >= proxy.requests // proxy.every - 1 >= 1, note
            # The upload its loop's shutdown (or a SIGKILL) cut short: a resume lands the rest.
            await fake.drain()
            loaded = [r["customer_id"] for r in camp.records]
            assert len(loaded) == len(set(loaded)), note  # nothing twice, even cut short
            async with WolkvoxClient(
                server="0014",
                token=fake.token,
                base_url=proxy.url,  # the journal's server: the one the load went to
                backend=backend,
                server_limit=SERVER_LIMIT,
            ) as wv:
                records = chaos_records()
                report = await wv.upload_records(camp.id, records, chunk_size=100, journal=journal)
            assert report.records_landed == len(records), note
            loaded = [r["customer_id"] for r in camp.records]
            assert sorted(loaded) == sorted(r.customer_id for r in records), note
