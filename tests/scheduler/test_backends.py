"""One conformance suite for every scheduler backend (a new backend adds one fixture param).

Each test drives the backend's atomic steps directly with explicit wall times, so the
rules of ``_rules.decide`` are checked as each backend stores and applies them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
import pytest
from helpers import admission, ask
from redis_server import TimeShifted

from wolkvox_async import QuotaExhausted, WaitTooLong
from wolkvox_async._time import WOLKVOX_TZ, day_of, next_reset
from wolkvox_async.scheduler import (
    Admission,
    Backend,
    Feedback,
    MemoryBackend,
    Outcome,
    QuotaState,
    RedisBackend,
    Scheduler,
    SQLiteBackend,
    VirtualClock,
)
from wolkvox_async.scheduler._rules import Blocked, Exhausted, Granted, Release

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC).timestamp()
BackendFactory = Callable[[], Backend]


@pytest.fixture(params=["memory", "sqlite", "redis", "cluster", "sentinel"])
async def make_backend(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[BackendFactory]:
    made: list[Any] = []
    in_files = request.param in ("memory", "sqlite")
    redis_url = "" if in_files else request.getfixturevalue(f"{request.param}_url")

    def factory() -> Backend:
        backend: Any
        if request.param == "memory":
            backend = MemoryBackend()
        elif request.param == "sqlite":
            backend = SQLiteBackend(tmp_path / "state.db")
        else:
            backend = TimeShifted(RedisBackend(redis_url))
        made.append(backend)
        return backend  # type: ignore[no-any-return]

    yield factory
    for backend in made:
        await backend.close()


@pytest.fixture
def backend(make_backend: BackendFactory) -> Backend:
    return make_backend()


def adm(
    token: str = "tA",
    *,
    limit: int | None = 100,
    cap: int = 2,
    poll: str | None = None,
    at: float = NOW,
) -> Admission:
    day, resets_at = day_of(at, WOLKVOX_TZ), next_reset(at, WOLKVOX_TZ)
    return admission(token, limit=limit, cap=cap, poll=poll, day=day, resets_at=resets_at)


async def test_concurrency_cap_and_release(backend: Backend) -> None:
    first, l1 = await backend.admit(adm(), NOW)
    second, l2 = await backend.admit(adm(), NOW)
    third, l3 = await backend.admit(adm(), NOW)
    assert isinstance(first, Granted) and isinstance(second, Granted)
    assert isinstance(third, Blocked) and third.reason == "concurrency" and l3 is None
    assert third.retry_at == pytest.approx(NOW + 65.0, abs=0.05)  # the first lease expires
    assert l1 is not None and l2 is not None
    await backend.release(l1, Release(NOW + 1))
    assert isinstance((await backend.admit(adm(), NOW + 1))[0], Granted)
    assert await backend.in_flight("tA", "op", NOW + 1) == 2


async def test_cap_of_one(backend: Backend) -> None:
    assert isinstance((await backend.admit(adm(cap=1), NOW))[0], Granted)
    assert isinstance((await backend.admit(adm(cap=1), NOW))[0], Blocked)


async def test_quota_exhausted_with_reset_time(backend: Backend) -> None:
    for _ in range(3):
        decision, lease = await backend.admit(adm(limit=3), NOW)
        assert lease is not None
        await backend.release(lease, Release(NOW))
    decision, lease = await backend.admit(adm(limit=3), NOW)
    assert lease is None and isinstance(decision, Exhausted)
    assert (decision.used, decision.limit) == (3, 3)
    assert decision.resets_at == datetime(2026, 11, 24, 5, tzinfo=UTC).timestamp()  # midnight GMT-5
    tomorrow = datetime(2026, 11, 24, 5, 0, 1, tzinfo=UTC).timestamp()
    assert isinstance((await backend.admit(adm(limit=3, at=tomorrow), tomorrow))[0], Granted)


async def test_tokens_of_an_operation_share_quota_not_leases(backend: Backend) -> None:
    for token in ("tA", "tA", "tB", "tB"):
        assert isinstance((await backend.admit(adm(token, limit=5), NOW))[0], Granted)
    assert isinstance((await backend.admit(adm("tA", limit=5), NOW))[0], Blocked)
    assert isinstance((await backend.admit(adm("tC", limit=5), NOW))[0], Granted)
    assert isinstance((await backend.admit(adm("tD", limit=5), NOW))[0], Exhausted)
    assert (await backend.quota("op", adm().day)).used == 5


async def test_poll_interval_per_key(backend: Backend) -> None:
    _, lease = await backend.admit(adm(poll="p1"), NOW)
    assert lease is not None
    await backend.release(lease, Release(NOW + 1))
    blocked, _ = await backend.admit(adm(poll="p1"), NOW + 10)
    assert isinstance(blocked, Blocked) and blocked.reason == "poll_interval"
    assert blocked.retry_at == pytest.approx(NOW + 300, abs=0.05)
    assert isinstance((await backend.admit(adm(poll="p2"), NOW + 10))[0], Granted)
    assert isinstance((await backend.admit(adm(poll="p1"), NOW + 300.05))[0], Granted)


async def test_failed_read_clears_its_stamp(backend: Backend) -> None:
    _, lease = await backend.admit(adm(poll="p1"), NOW)
    assert lease is not None
    await backend.release(lease, Release(NOW + 1, unstamp=True))
    assert isinstance((await backend.admit(adm(poll="p1"), NOW + 2))[0], Granted)


async def test_a_released_reads_stamp_alone_can_be_cleared_later(backend: Backend) -> None:
    """``Scheduler.forget``: an answered read whose answer its caller could not use (a
    download stopped before delivering it) is released again with ``unstamp``: the stamp
    goes, nothing else changes; and a later read's stamp is not the old lease's to clear."""
    _, lease = await backend.admit(adm(cap=1, poll="p1"), NOW)
    assert lease is not None
    await backend.release(lease, Release(NOW + 1))
    await backend.release(lease, Release(NOW + 2, unstamp=True))
    assert (await backend.quota("op", adm().day)).used == 1  # the call was made
    _, again = await backend.admit(adm(cap=1, poll="p1"), NOW + 3)  # at once, the slot free
    assert again is not None
    await backend.release(again, Release(NOW + 4))
    await backend.release(lease, Release(NOW + 5, unstamp=True))  # the old lease: not its stamp
    blocked, _ = await backend.admit(adm(cap=1, poll="p1"), NOW + 6)
    assert isinstance(blocked, Blocked) and blocked.reason == "poll_interval"


async def test_not_sent_refunds_quota_and_stamp(backend: Backend) -> None:
    _, lease = await backend.admit(adm(limit=1, poll="p1"), NOW)
    assert lease is not None
    await backend.release(lease, Release(NOW, refund=True))
    assert (await backend.quota("op", adm().day)).used == 0
    assert isinstance((await backend.admit(adm(limit=1, poll="p1"), NOW))[0], Granted)


async def test_crashed_holder_lease_is_reclaimed_at_expiry(backend: Backend) -> None:
    await backend.admit(adm(cap=1), NOW)  # never released: its holder died
    assert isinstance((await backend.admit(adm(cap=1), NOW + 64.9))[0], Blocked)
    assert isinstance((await backend.admit(adm(cap=1), NOW + 65.05))[0], Granted)


async def test_abandoned_lease_is_held_until_told(backend: Backend) -> None:
    _, lease = await backend.admit(adm(cap=1), NOW)
    assert lease is not None
    await backend.release(lease, Release(NOW + 5, hold_until=NOW + 60))
    blocked, _ = await backend.admit(adm(cap=1), NOW + 30)
    assert isinstance(blocked, Blocked) and blocked.retry_at == pytest.approx(NOW + 60, abs=0.05)
    assert isinstance((await backend.admit(adm(cap=1), NOW + 60.05))[0], Granted)
    assert (await backend.quota("op", adm().day)).used == 2  # the abandoned call stays counted


async def test_lowered_cap_then_recovery(backend: Backend) -> None:
    await backend.lower_cap("tA", "op", NOW, 60)
    assert isinstance((await backend.admit(adm(), NOW))[0], Granted)
    blocked, _ = await backend.admit(adm(), NOW + 1)
    assert isinstance(blocked, Blocked) and blocked.retry_at == pytest.approx(NOW + 60, abs=0.05)
    assert isinstance((await backend.admit(adm(), NOW + 60.05))[0], Granted)


async def test_pause(backend: Backend) -> None:
    await backend.pause("tA", "op", NOW, 30)
    blocked, _ = await backend.admit(adm(), NOW)
    assert isinstance(blocked, Blocked) and blocked.reason == "paused"
    assert blocked.retry_at == pytest.approx(NOW + 30, abs=0.05)
    assert isinstance((await backend.admit(adm("tB"), NOW))[0], Granted)  # other tokens go on
    assert isinstance((await backend.admit(adm(), NOW + 30.05))[0], Granted)


async def test_server_numbers_override_the_ledger(backend: Backend) -> None:
    await backend.set_quota("op", adm().day, used=99, limit=100)
    assert isinstance((await backend.admit(adm(limit=5000), NOW))[0], Granted)
    decision, _ = await backend.admit(adm(limit=5000), NOW)
    assert isinstance(decision, Exhausted) and decision.limit == 100
    await backend.set_quota("op", adm().day, used=10, limit=None)  # limit kept
    assert (await backend.quota("op", adm().day)) == QuotaState(used=10, limit_override=100)


async def test_calls_admitted_after_the_servers_read_are_added_to_its_count(
    backend: Backend,
) -> None:
    # The server's count was read when the ledger stood at 3 (the read included); two more
    # were admitted before its answer came back: they may not be in it.
    await backend.set_quota("op", adm().day, used=3, limit=None)
    for _ in range(2):
        assert isinstance((await backend.admit(adm(limit=5000), NOW))[0], Granted)
    await backend.set_quota("op", adm().day, used=1, limit=None, since=3)
    assert (await backend.quota("op", adm().day)).used == 3
    # Nothing admitted since the read: the server's count, lower as well as higher.
    await backend.set_quota("op", adm().day, used=2, limit=None, since=3)
    assert (await backend.quota("op", adm().day)).used == 2


async def test_sqlite_state_survives_a_restart(tmp_path: Path) -> None:
    # Persistence is a property of the SQLite (and Redis) backends only: memory dies with
    # its process by design.
    first = SQLiteBackend(tmp_path / "state.db")
    _, lease = await first.admit(adm(poll="p1"), NOW)
    assert lease is not None
    await first.release(lease, Release(NOW))
    await first.close()
    second = SQLiteBackend(tmp_path / "state.db")
    assert (await second.quota("op", adm().day)).used == 1
    assert isinstance((await second.admit(adm(poll="p1"), NOW + 1))[0], Blocked)
    await second.close()


# ---- the quota day belongs to the answer (scheduler over each backend) ---------------------

MIDNIGHT = datetime(2026, 11, 24, 5, 0, tzinfo=UTC).timestamp()  # 00:00 in Wolkvox time


async def test_a_token_info_that_corrects_the_ledger_is_never_refused_for_the_quota(
    backend: Backend,
) -> None:
    first, _ = await backend.admit(adm(limit=1), NOW)
    assert isinstance(first, Granted)
    spent, _ = await backend.admit(adm(limit=1), NOW + 1)
    assert isinstance(spent, Exhausted)
    correcting = attrs.evolve(adm(limit=1, at=NOW + 2), corrects_quota=True)
    granted, lease = await backend.admit(correcting, NOW + 2)
    assert isinstance(granted, Granted) and lease is not None  # it counts, like any call
    assert (await backend.quota("op", day_of(NOW, WOLKVOX_TZ))).used == 2


async def scheduler_at(backend: Backend, moment: float) -> tuple[Scheduler, VirtualClock]:
    clock = VirtualClock(moment)
    return Scheduler(backend, clock, poll_fallback=0.05), clock


async def test_a_refusal_sent_before_midnight_changes_nothing_after_it(
    backend: Backend,
) -> None:
    scheduler, clock = await scheduler_at(backend, MIDNIGHT - 2)
    request = adm(limit=None, at=MIDNIGHT - 2)
    lease = await ask(scheduler, request)
    lease.sent_at = clock.time()
    clock.set(MIDNIGHT + 3)  # the 403 TOKEN LIMIT EXCEEDED is read after midnight
    await scheduler.release(lease, Outcome.FAILED, feedback=Feedback(spent=True))
    old = await backend.quota("op", day_of(MIDNIGHT - 2, WOLKVOX_TZ))
    # The day the call left in is spent, at what the server had counted: the refused call
    # found no unit to spend, so it is not counted (0 here: it was the day's only call)...
    assert old.limit_override == old.used == 0
    after = await ask(scheduler, adm(limit=None))
    assert after.record.day == day_of(MIDNIGHT + 3, WOLKVOX_TZ)  # ...the new one is not
    await scheduler.release(after, Outcome.ANSWERED)


async def test_two_calls_refused_token_limit_leave_the_limit_the_server_counted(
    backend: Backend,
) -> None:
    """3 calls answered, then 2 in flight together refused TOKEN LIMIT: the server counted
    3 (the refused found no unit to spend), and so do we — the limit is 3, not 4 or 5."""
    scheduler, clock = await scheduler_at(backend, NOW)
    request = adm(limit=None)
    for _ in range(3):
        await scheduler.release(await ask(scheduler, request), Outcome.ANSWERED)
    first, second = await ask(scheduler, request), await ask(scheduler, request)
    for lease in (first, second):
        lease.sent_at = clock.time()
    await scheduler.release(first, Outcome.FAILED, feedback=Feedback(spent=True))
    with pytest.raises(QuotaExhausted):
        await ask(scheduler, request)  # spent at once, the second still in flight
    await scheduler.release(second, Outcome.FAILED, feedback=Feedback(spent=True))
    quota = await backend.quota("op", day_of(NOW, WOLKVOX_TZ))
    assert (quota.used, quota.limit_override) == (3, 3)
    with pytest.raises(QuotaExhausted):
        await ask(scheduler, request)


@pytest.mark.parametrize("into_day", [1.0, 4.9])
async def test_a_refusal_at_the_very_start_of_a_day_costs_one_call_not_the_day(
    backend: Backend, into_day: float
) -> None:
    """Our clock ahead of Wolkvox's by up to 5 s: its 'spent' may be yesterday's."""
    scheduler, clock = await scheduler_at(backend, MIDNIGHT + into_day)
    request = adm(limit=None)
    lease = await ask(scheduler, request)
    lease.sent_at = clock.time()
    await scheduler.release(lease, Outcome.FAILED, feedback=Feedback(spent=True))
    clock.set(MIDNIGHT + 6)
    again = await ask(scheduler, request)  # not refused
    # Later in the day the same answer is believed: the day is spent.
    again.sent_at = clock.time()
    await scheduler.release(again, Outcome.FAILED, feedback=Feedback(spent=True))
    with pytest.raises(QuotaExhausted):
        await ask(scheduler, request)


async def test_feedback_is_part_of_the_release(backend: Backend) -> None:
    """After a 403 SIMULTANEOUS no other call leaves at the old cap: the release that
    carries it lowers the cap before it wakes anyone (it woke the next caller first)."""
    scheduler, clock = await scheduler_at(backend, NOW)
    request = adm(cap=2)
    first = await ask(scheduler, request)
    second = await ask(scheduler, request)
    third = asyncio.ensure_future(ask(scheduler, request))
    await asyncio.sleep(0.05)
    assert not third.done()
    await scheduler.release(first, Outcome.FAILED, feedback=Feedback(cap_for=60))
    await asyncio.sleep(0.2)  # a woken caller would be admitted by now (SQLite polls at 0.05 s)
    assert not third.done()  # one lease held, and the cap is 1
    await scheduler.release(second, Outcome.ANSWERED)
    granted = await asyncio.wait_for(third, 5)
    assert await backend.in_flight("tA", "op", clock.time()) == 1
    await scheduler.release(granted, Outcome.ANSWERED, feedback=Feedback(pause_for=30))
    with pytest.raises(WaitTooLong):  # the pause came with the release, for everyone
        await ask(scheduler, request, max_wait=10)


@pytest.mark.parametrize(("reserve", "fraction"), [(4, 0.0), (0, 0.4)], ids=["units", "fraction"])
async def test_bulk_calls_leave_the_interactive_reserve(
    backend: Backend, reserve: int, fraction: float
) -> None:
    # limit 10, reserve 4 (or 40 %): bulk calls get 6 units, interactive ones all 10.
    plain = adm(limit=10)
    limits = attrs.evolve(plain.limits, reserve=reserve, reserve_fraction=fraction)
    bulk = attrs.evolve(plain, limits=limits, bulk=True)

    async def take(req: Admission) -> Any:
        decision, lease = await backend.admit(req, NOW)
        if lease is not None:
            await backend.release(lease, Release(NOW))
        return decision

    for _ in range(6):
        assert isinstance(await take(bulk), Granted)
    refused = await take(bulk)
    assert isinstance(refused, Exhausted) and (refused.used, refused.reserved) == (6, 4)
    for _ in range(4):
        assert isinstance(await take(adm(limit=10)), Granted)  # the reserve is theirs
    spent = await take(adm(limit=10))
    assert isinstance(spent, Exhausted) and (spent.used, spent.reserved) == (10, 0)
    assert isinstance(await take(bulk), Exhausted)
