"""The three backends cannot drift: one random sequence of steps (admit, release with each
outcome, lower the cap, pause, take the server's quota; admissions with and without a
BULK call's interactive reserve) is run on a reference model built on
the pure rules (``_rules.decide`` and the release/refund/hold steps, written here once) and
on the memory, SQLite and Redis backends (Redis's scripts on a real redis-server, its clock
set to the step's time). After every step each backend must have decided as the model did
and hold the same state (leases in flight per token, the day's quota used and limit)."""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis_server import TimeShifted, plain

from wolkvox_async._time import WOLKVOX_TZ, day_of, next_reset
from wolkvox_async.scheduler import (
    Admission,
    Backend,
    LeaseRecord,
    MemoryBackend,
    RedisBackend,
    SQLiteBackend,
    TokenLimits,
)
from wolkvox_async.scheduler._rules import (
    Blocked,
    Exhausted,
    Granted,
    Release,
    Snapshot,
    decide,
)

START = datetime(2026, 11, 23, 4, 58, tzinfo=UTC).timestamp()  # 23:58, Wolkvox time
# Steps fall on whole seconds and every length here ends in .5, so no step lands within
# Redis's few milliseconds of clock slack of an expiry (a lease's, a hold's, a pause's).
TTL, HOLD, COOLDOWN, INTERVAL = 65.5, 60.5, 60.5, 300.5
SLACK = 0.05
"""Seconds by which Redis's times may differ from the model's (its clock is set per step)."""


class Model:
    """The reference: the rules as the docs of ``_rules`` and ``Backend`` state them."""

    def __init__(self) -> None:
        self.leases: dict[str, dict[str, float]] = defaultdict(dict)
        self.cap_until: dict[str, float] = defaultdict(float)
        self.paused: dict[str, float] = defaultdict(float)
        self.used: dict[str, int] = defaultdict(int)
        self.limits: dict[str, int] = {}
        self.stamps: dict[str, tuple[float, str]] = {}
        self.ids = 0

    def live(self, token: str, now: float) -> dict[str, float]:
        held = {i: e for i, e in self.leases[token].items() if e > now}
        self.leases[token] = held
        return held

    async def admit(self, req: Admission, now: float) -> tuple[Any, LeaseRecord | None]:
        held = self.live(req.limits.token, now)
        stamp = self.stamps.get(req.poll_key) if req.poll_key else None
        snap = Snapshot(
            leases=len(held),
            earliest_expiry=min(held.values(), default=None),
            cap_until=self.cap_until[req.limits.token],
            paused_until=self.paused[req.limits.token],
            used=self.used[req.day],
            limit_override=self.limits.get(req.day),
            poll_at=stamp[0] if stamp else None,
        )
        decision = decide(req, snap, now)
        if not isinstance(decision, Granted):
            return decision, None
        self.ids += 1
        lease = LeaseRecord(
            id=f"x{self.ids}",
            token=req.limits.token,
            operation=req.limits.operation,
            day=req.day,
            poll_key=req.poll_key,
        )
        held[lease.id] = decision.expires
        self.used[req.day] += 1
        if req.poll_key:
            self.stamps[req.poll_key] = (now, lease.id)
        return decision, lease

    async def release(self, lease: LeaseRecord, done: Release) -> None:
        now, hold_until, refund, unstamp = done.now, done.hold_until, done.refund, done.unstamp
        cap_for, pause_for, spent = done.cap_for, done.pause_for, done.spent
        held = self.leases[lease.token]
        if hold_until is not None and hold_until > now and held.get(lease.id, 0.0) > now:
            held[lease.id] = hold_until
        else:
            held.pop(lease.id, None)
        if refund:
            self.used[lease.day] = max(0, self.used[lease.day] - 1)
        stamp = self.stamps.get(lease.poll_key) if lease.poll_key else None
        if (refund or unstamp) and stamp is not None and stamp[1] == lease.id:
            del self.stamps[lease.poll_key]  # type: ignore[arg-type]
        if cap_for:
            await self.lower_cap(lease.token, "op", now, cap_for)
        if pause_for:
            await self.pause(lease.token, "op", now, pause_for)
        if spent:
            self.limits[lease.day] = self.used[lease.day]

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        self.cap_until[token] = max(self.cap_until[token], now + seconds)

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        self.paused[token] = max(self.paused[token], now + seconds)

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        self.used[day] = used + max(0, self.used[day] - since) if since is not None else used
        if limit is not None:
            self.limits[day] = limit

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        return len(self.live(token, now))

    async def quota(self, operation: str, day: str) -> tuple[int, int | None]:
        return self.used[day], self.limits.get(day)


def outcome(decision: Any) -> tuple[Any, ...]:
    """A decision as values to compare."""
    if isinstance(decision, Granted):
        return ("granted", decision.expires, decision.full_until)
    if isinstance(decision, Exhausted):
        return ("exhausted", decision.used, decision.limit, decision.resets_at, decision.reserved)
    assert isinstance(decision, Blocked)
    return ("blocked", decision.reason, decision.retry_at)


def same(got: Any, want: Any) -> bool:
    """Equal, times within SLACK."""
    if isinstance(want, tuple | list) and isinstance(got, tuple | list):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(want, float) and isinstance(got, float | int):
        return abs(got - want) <= SLACK
    return bool(got == want)


steps = st.lists(
    st.one_of(
        st.tuples(
            st.just("admit"),
            st.sampled_from(["tA", "tB"]),
            st.sampled_from([None, 3, 6]),
            st.sampled_from([1, 2]),
            st.sampled_from([None, "p1"]),
            # A BULK call's interactive reserve: none, 2 calls, or 40 % of the limit.
            st.sampled_from([(0, 0.0), (0, 0.0), (2, 0.0), (0, 0.4)]),
        ),
        st.tuples(
            st.just("release"),
            st.integers(0, 5),
            st.sampled_from(["answered", "failed", "not_sent", "abandoned"]),
            st.sampled_from(["", "", "cap", "pause", "spent"]),  # what the server said
        ),
        st.tuples(st.just("lower_cap"), st.sampled_from(["tA", "tB"])),
        st.tuples(st.just("pause"), st.sampled_from(["tA", "tB"]), st.sampled_from([5.5, 40.5])),
        st.tuples(
            st.just("set_quota"),
            st.integers(0, 8),
            st.sampled_from([None, 2, 7]),
            st.sampled_from([None, 0, 3]),  # since: the ledger's count when it was read
        ),
    ).flatmap(lambda step: st.tuples(st.just(step), st.sampled_from([0, 1, 7, 30, 70]))),
    min_size=1,
    max_size=25,
)


async def run(sequence: list[Any], backends: dict[str, Any]) -> None:
    now = START
    held: dict[str, list[LeaseRecord]] = {name: [] for name in backends}
    for index, (step, dt) in enumerate(sequence):
        now += dt
        day = day_of(now, WOLKVOX_TZ)
        seen: dict[str, Any] = {}
        for name, backend in backends.items():
            kind = step[0]
            if kind == "admit":
                _, token, limit, cap, poll, (reserve, fraction) = step
                req = Admission(
                    limits=TokenLimits(
                        token=token, operation="op", limit=limit, cap=cap, lease_ttl=TTL,
                        poll_interval=INTERVAL, tz=WOLKVOX_TZ, reserve=reserve,
                        reserve_fraction=fraction,
                    ),
                    poll_key=poll, day=day, resets_at=next_reset(now, WOLKVOX_TZ),
                    bulk=bool(reserve or fraction),
                )  # fmt: skip
                decision, lease = await backend.admit(req, now)
                seen[name] = outcome(decision)
                if lease is not None:
                    held[name].append(lease)
            elif kind == "release" and held[name]:
                lease = held[name].pop(step[1] % len(held[name]))
                how = step[2]
                done = Release(
                    now,
                    hold_until=now + HOLD if how == "abandoned" else None,
                    refund=how == "not_sent",
                    unstamp=how in ("failed", "not_sent"),
                    cap_for=COOLDOWN if step[3] == "cap" else 0.0,
                    pause_for=5.5 if step[3] == "pause" else 0.0,
                    spent=step[3] == "spent",
                )
                await backend.release(lease, done)
            elif kind == "lower_cap":
                await backend.lower_cap(step[1], "op", now, COOLDOWN)
            elif kind == "pause":
                await backend.pause(step[1], "op", now, step[2])
            elif kind == "set_quota":
                await backend.set_quota("op", day, used=step[1], limit=step[2], since=step[3])
            state = [await backend.in_flight(t, "op", now) for t in ("tA", "tB")]
            quota = await backend.quota("op", day)
            if not isinstance(quota, tuple):
                quota = (quota.used, quota.limit_override)
            seen[name] = (seen.get(name), state, quota)
        reference = seen.pop("model")
        for name, got in seen.items():
            assert same(got, reference), f"step {index} {step}: {name} {got} != {reference}"


@pytest.mark.slow
def test_the_backends_decide_and_store_as_the_rules_say(redis_url: str) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(sequence=steps)
    def check(sequence: list[Any]) -> None:
        with redis.Redis.from_url(plain(redis_url)) as admin:
            admin.flushall()
        with tempfile.TemporaryDirectory() as folder:

            async def scenario() -> None:
                backends: dict[str, Any] = {
                    "model": Model(),
                    "memory": MemoryBackend(),
                    "sqlite": SQLiteBackend(Path(folder) / "state.db"),
                    "redis": TimeShifted(RedisBackend(redis_url)),
                }
                try:
                    await run(sequence, backends)
                finally:
                    for name in ("sqlite", "redis"):
                        backend: Backend = backends[name]
                        await backend.close()

            asyncio.run(scenario())

    check()
