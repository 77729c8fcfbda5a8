"""Test helpers shared by several modules."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
from aiohttp import ClientResponse
from yarl import URL

from wolkvox_async.scheduler import Admission, Lease, Scheduler, SchedulerStats, TokenLimits


class CompatResponse(ClientResponse):
    """aioresponses 0.7.9 predates aiohttp 3.14's required ``stream_writer`` argument
    (pnuckowski/aioresponses#289); supply a stand-in for the already-sent request."""

    def __init__(self, method: str, url: URL, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Let real I/O happen (virtual time stands still) until ``condition`` holds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while not condition():
        assert loop.time() < end, "condition never held"
        await asyncio.sleep(0.002)


def assert_accounted(report: Any) -> None:
    """Every record an upload read is landed, rejected or pending, and only a complete
    load has nothing pending (the invariant of UploadReport)."""
    assert report.records_read == (
        report.records_landed + len(report.failures) + report.records_pending
    ), report
    assert sum(c.landed for c in report.chunks) == report.records_landed
    if report.records_pending:
        assert not report.complete and report.stopped is not None


async def drive(
    call: Awaitable[Any], clock: Any, stalled: Callable[[], bool] = lambda: False
) -> Any:
    """Run ``call`` to its end on a VirtualClock, moving virtual time on only when the
    client waits for it: in a sleep, or (``stalled``) on an answer that will come too late."""
    task = asyncio.ensure_future(call)
    while not task.done():
        await until(lambda: task.done() or clock.sleeping > 0 or stalled())
        due = clock.next_due
        if not task.done() and due is not None:
            await clock.advance(max(0.0, due - clock.time()))
    return task.result()


def seed() -> int:
    """The seed of a test's randomness: WOLKVOX_TEST_SEED, else fixed under CI, else fresh.
    Tests put it in every failure message, so a failure can be replayed."""
    given = os.environ.get("WOLKVOX_TEST_SEED")
    if given:
        return int(given)
    return 20261128 if os.environ.get("CI") else int.from_bytes(os.urandom(4), "big")


def settled(fake: Any, in_flight: int = 0) -> Callable[[], bool]:
    """For :func:`drive`: True once the server has had at most ``in_flight`` requests
    running (say, one whose answer comes an hour late) and no new request for ~20 ms of
    real time: the client waits on virtual time only (a paused queue, a call timeout)."""
    last = [-1, 0]

    def stalled() -> bool:
        seen = fake.stats.requests
        if fake.stats.in_flight[fake.token] > in_flight or seen != last[0]:
            last[:] = [seen, 0]
            return False
        last[1] += 1
        return last[1] >= 10

    return stalled


def admission(
    token: str = "tA",
    *,
    operation: str = "op",
    limit: int | None = None,
    cap: int = 2,
    poll: str | None = None,
    **more: Any,
) -> Admission:
    """An admission as a client of ``token`` makes it (65 s leases, 5-minute reads);
    ``more`` sets fields of its TokenLimits or of the call (one with a reserve is BULK)."""
    limits = {name: more.pop(name) for name in list(more) if name in _LIMITS}
    limits.setdefault("lease_ttl", 65.0)
    limits.setdefault("poll_interval", 300.0)
    more.setdefault("bulk", bool(limits.get("reserve") or limits.get("reserve_fraction")))
    return Admission(
        limits=TokenLimits(token=token, operation=operation, limit=limit, cap=cap, **limits),
        poll_key=poll,
        **more,
    )


_LIMITS = {f.name for f in attrs.fields(TokenLimits)}


def limits_of(admission: Admission) -> TokenLimits:
    """The token limits an admission was made with."""
    return admission.limits


async def ask(scheduler: Scheduler, admission: Admission, **options: Any) -> Lease:
    """``scheduler.acquire`` for the call ``admission`` describes, its token registered."""
    scheduler.register(limits_of(admission))
    return await scheduler.acquire(
        admission.limits.token,
        admission.poll_key,
        corrects_quota=admission.corrects_quota,
        **options,
    )


async def stats_of(scheduler: Scheduler, admission: Admission) -> SchedulerStats:
    """``scheduler.stats`` of the token of ``admission``, registered."""
    scheduler.register(limits_of(admission))
    return await scheduler.stats(admission.limits.token)


def worker(name: str) -> str:
    """The path of a worker script of the suite (they live beside this module)."""
    return str(Path(__file__).with_name(name))
