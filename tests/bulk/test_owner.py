"""One load per journal, and per input and campaign on a shared ledger (bulk/_owner.py,
bulk/_claims.py): a second load beside a running one is refused at once (another coroutine,
another process, another "host" on one Redis), or waits for it with ``wait=True``; a
killed load leaves nothing locked; after a load ended, another journal is told it loaded.
Every test checks the campaign: no record ever lands twice."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from helpers import seed, until, worker

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.bulk import _owner
from wolkvox_async.scheduler import RedisBackend, SQLiteBackend
from wolkvox_async.testing import FakeWolkvox, Fault

UPLOAD = worker("upload_worker.py")


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(licenses=40) as server:
        yield server


def records(n: int, prefix: str = "k") -> list[Record]:
    return [Record(customer_id=f"{prefix}{i}", phones=(f"300{i:07d}",)) for i in range(n)]


def landed(fake: FakeWolkvox, campaign_id: str) -> Counter[str]:
    return Counter(r["customer_id"] for r in fake.campaign(campaign_id).records)


def once(n: int, prefix: str = "k") -> Counter[str]:
    return Counter(f"{prefix}{i}" for i in range(n))


def client_for(fake: FakeWolkvox, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url, **kw)


async def started(fake: FakeWolkvox, campaign_id: str, task: asyncio.Future[Any]) -> None:
    """Until the load ``task`` has landed something (it is mid-load, not before it)."""
    await until(lambda: len(fake.campaign(campaign_id).records) > 0 or task.done(), 30)
    assert not task.done(), task


async def test_a_second_load_of_one_journal_is_refused_at_once_naming_the_first(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Main today: both run, every record lands twice, both return a report.
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    fake.latency = 0.05
    async with client_for(fake) as wv:
        first = asyncio.ensure_future(
            wv.upload_records(camp.id, records(2_000), chunk_size=100, journal=journal)
        )
        await started(fake, camp.id, first)
        sent = fake.stats.requests
        with pytest.raises(w.LoadRunning) as info:
            await wv.upload_records(camp.id, records(2_000), chunk_size=100, journal=journal)
        said = str(info.value)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in said
        assert f"journal {journal}" in said and "since 20" in said and "nothing was sent" in said
        assert info.value.upload_report is None  # refused, not a load that stopped
        assert fake.stats.requests - sent <= 2  # the first load's calls only
        report = await first
    assert report.complete and landed(fake, camp.id) == once(2_000)
    assert not _owner.JournalLock(journal).path.exists()  # its holder removed it


async def test_a_second_load_of_the_input_from_another_journal_or_none_is_refused(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Another journal (another folder, another host's state) cannot see the first: the
    # claim on the ledger (here the process's memory ledger) can.
    camp = fake.create_campaign()
    fake.latency = 0.05
    async with client_for(fake) as wv:
        first = asyncio.ensure_future(
            wv.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "a")
        )
        await started(fake, camp.id, first)
        for other in (tmp_path / "b", None):
            with pytest.raises(w.LoadRunning, match=f"campaign {camp.id} from this input"):
                await wv.upload_records(camp.id, records(2_000), chunk_size=100, journal=other)
        assert not (tmp_path / "b").exists()  # refused before its journal was kept
        # Another campaign, or another input, is another load: it runs beside.
        beside = fake.create_campaign()
        await wv.upload_records(beside.id, records(300), chunk_size=100)
        await wv.upload_records(camp.id, records(300, prefix="x"), chunk_size=100)
        await first
    assert landed(fake, camp.id) == once(2_000) + once(300, "x")
    assert landed(fake, beside.id) == once(300)


async def test_wait_waits_for_the_running_load_then_does_what_is_left(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    fake.latency = 0.02
    async with client_for(fake) as wv:
        first = asyncio.ensure_future(
            wv.upload_records(camp.id, records(1_000), chunk_size=100, journal=journal)
        )
        await started(fake, camp.id, first)
        second = await wv.upload_records(
            camp.id, records(1_000), chunk_size=100, journal=journal, wait=True
        )
        assert first.done() and (await first).complete
        assert second.finished_at is not None and second.requests == 0  # already loaded
        # From another journal, waiting ends in "another journal loaded it".
        third = asyncio.ensure_future(
            wv.upload_records(camp.id, records(1_000, "w"), chunk_size=100, journal=tmp_path / "c")
        )
        await until(lambda: any(r["customer_id"] == "w0" for r in camp.records) or third.done())
        with pytest.raises(w.AlreadyLoaded) as info:
            await wv.upload_records(
                camp.id, records(1_000, "w"), chunk_size=100, journal=tmp_path / "d", wait=True
            )
        assert third.done()
    assert info.value.state == "finished" and info.value.records_landed == 1_000
    assert str(tmp_path / "c") in info.value.journal
    assert landed(fake, camp.id) == once(1_000) + once(1_000, "w")


async def test_after_a_load_ended_another_journal_is_told_and_reload_overrides(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Its own journal knows nothing of what landed: loading again would double all of it.
    camp = fake.create_campaign()
    async with client_for(fake) as wv:
        await wv.upload_records(camp.id, records(250), chunk_size=100, journal=tmp_path / "a")
        for journal in (tmp_path / "b", None):
            with pytest.raises(w.AlreadyLoaded, match=r"finished on .* with 250 records landed"):
                await wv.upload_records(camp.id, records(250), chunk_size=100, journal=journal)
        # Its own journal's file removed, the same path is told the same.
        w.bulk._journal.remove(tmp_path / "a")
        with pytest.raises(w.AlreadyLoaded):
            await wv.upload_records(camp.id, records(250), chunk_size=100, journal=tmp_path / "a")
        assert landed(fake, camp.id) == once(250)
        camp.keep_records(lambda _: False)  # the campaign cleared: now load it again
        again = await wv.upload_records(
            camp.id, records(250), chunk_size=100, journal=tmp_path / "b", reload=True
        )
    assert again.complete and landed(fake, camp.id) == once(250)


@pytest.mark.slow
async def test_another_process_on_the_journal_is_named_and_a_killed_one_leaves_it_free(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    camp = fake.create_campaign()
    journal = tmp_path / "load.journal"
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"  # one host: processes share the ledger
    fake.latency = (0.01, 0.03)
    # The simulator stops calls after 1 s, and the clients know it: the killed process's
    # slots in the ledger come back after 1 s (Wolkvox's 60 s would make this a minute).
    fake.call_limit = 1.0
    args = [sys.executable, UPLOAD, fake.url, fake.token, camp.id, "6000", str(journal), ledger]
    proc = await asyncio.create_subprocess_exec(
        *args, "200", stdout=asyncio.subprocess.PIPE, env={**os.environ, "WORKER_SERVER_LIMIT": "1"}
    )
    await until(lambda: len(camp.records) >= 400 or proc.returncode is not None, 60)
    async with client_for(fake, backend=ledger, server_limit=1.0) as wv:
        for other in (journal, tmp_path / "other.journal"):  # the journal; the input
            with pytest.raises(w.LoadRunning, match=f"pid {proc.pid} on host"):
                await wv.upload_records(camp.id, records(6_000), chunk_size=200, journal=other)
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
        await fake.drain()
        # No lock outlives its process; the claim of a dead holder of this very journal is
        # taken over at once (we hold its lock, so it is gone).
        report = await wv.upload_records(camp.id, records(6_000), chunk_size=200, journal=journal)
    assert report.complete
    assert landed(fake, camp.id) == once(6_000)


@pytest.mark.slow
@pytest.mark.parametrize("same_journal", [True, False])
async def test_loads_started_at_random_moments_never_double(
    fake: FakeWolkvox, tmp_path: Path, same_journal: bool
) -> None:
    """Six coroutines and two processes start the same load at random moments (one
    journal, or each its own on one SQLite ledger): the input lands once; every other
    start is refused (running) or told it was loaded."""
    run_seed = seed()
    rng = random.Random(run_seed)
    camp = fake.create_campaign()
    ledger = f"sqlite:///{tmp_path / 'ledger.db'}"
    fake.latency = (0.0, 0.02)
    n = 3_000

    def journal(i: int) -> Path:
        return tmp_path / ("load.journal" if same_journal else f"load-{i}.journal")

    async def one(i: int) -> str:
        await asyncio.sleep(rng.uniform(0, 0.5))
        async with client_for(fake, backend=ledger) as wv:
            try:
                await wv.upload_records(camp.id, records(n), chunk_size=100, journal=journal(i))
            except (w.LoadRunning, w.AlreadyLoaded) as exc:
                return type(exc).__name__
        return "loaded"

    async def process(i: int) -> str:
        await asyncio.sleep(rng.uniform(0, 0.5))
        args = [sys.executable, UPLOAD, fake.url, fake.token, camp.id, str(n), str(journal(i))]
        proc = await asyncio.create_subprocess_exec(
            *args, ledger, "100", stdout=asyncio.subprocess.PIPE
        )
        out, _ = await proc.communicate()
        return "loaded" if proc.returncode == 0 else out.decode().split()[0]

    outcomes = await asyncio.gather(*(one(i) for i in range(6)), process(6), process(7))
    assert landed(fake, camp.id) == once(n), f"seed {run_seed}: {outcomes}"
    # With one journal, a start after the end is the same load: "already finished".
    assert outcomes.count("loaded") >= 1, f"seed {run_seed}: {outcomes}"
    if not same_journal:
        assert outcomes.count("loaded") == 1, f"seed {run_seed}: {outcomes}"
    assert set(outcomes) <= {"loaded", "LoadRunning", "AlreadyLoaded"}, outcomes


# ---- two hosts on one Redis -----------------------------------------------------------


async def test_two_hosts_on_one_redis_never_load_one_input_twice(
    fake: FakeWolkvox, tmp_path: Path, redis_url: str
) -> None:
    # Main today: both load, every record twice, nothing warns.
    camp = fake.create_campaign()
    fake.latency = 0.03
    host_a, host_b = RedisBackend(redis_url), RedisBackend(redis_url)  # each host its own
    async with client_for(fake, backend=host_a) as a, client_for(fake, backend=host_b) as b:
        first = asyncio.ensure_future(
            a.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "a")
        )
        await started(fake, camp.id, first)
        with pytest.raises(w.LoadRunning, match=f"campaign {camp.id} from this input"):
            await b.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "b")
        await first
        with pytest.raises(w.AlreadyLoaded) as info:  # its journal knows nothing of it
            await b.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "b")
    assert info.value.state == "finished" and info.value.records_landed == 2_000
    assert landed(fake, camp.id) == once(2_000)


async def test_a_claim_is_renewed_while_its_load_runs_and_lapses_when_its_holder_dies(
    fake: FakeWolkvox, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_owner, "LEASE_TTL", 0.3)  # renewed every 0.1 s (real time)
    camp = fake.create_campaign()
    fake.inject(Fault.HELD, api="add_record", times=2)  # the load runs until let go
    host_a, host_b = RedisBackend(redis_url), RedisBackend(redis_url)
    async with client_for(fake, backend=host_a) as a, client_for(fake, backend=host_b) as b:
        first = asyncio.ensure_future(
            a.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "a")
        )
        await until(lambda: fake.stats.in_flight[fake.token] == 2)
        await asyncio.sleep(0.7)  # over two TTLs: only renewal keeps the claim
        assert not first.done()
        with pytest.raises(w.LoadRunning):
            await b.upload_records(camp.id, records(2_000), chunk_size=100, journal=tmp_path / "b")
        fake.let_go()
        await first
    # A holder that dies (its renewals stop, nothing ends the claim) leaves a "died"
    # marker once the claim lapses: another journal is told; its own journal goes on.
    claim = _owner.Claim(
        host_a, operation="0014", campaign_id="9", journal=tmp_path / "x", on_lost=lambda _: None
    )
    await claim.take("f", wait=False, trusted=False, reload=False)
    assert claim._renewer is not None
    claim._renewer.cancel()  # it dies: no renewal, no end
    await claim._close()
    other = _owner.Claim(
        host_b, operation="0014", campaign_id="9", journal=tmp_path / "y", on_lost=lambda _: None
    )
    with pytest.raises(w.LoadRunning):
        await other.take("f", wait=False, trusted=False, reload=False)
    await asyncio.sleep(0.4)
    with pytest.raises(w.AlreadyLoaded, match="ended without finishing") as info:
        await other.take("f", wait=False, trusted=False, reload=False)
    assert info.value.records_landed is None
    again = _owner.Claim(
        host_b, operation="0014", campaign_id="9", journal=tmp_path / "x", on_lost=lambda _: None
    )
    await again.take("f", wait=False, trusted=True, reload=False)
    await again.end(kept=True, finished=True, landed=5)
    await host_a.close()
    await host_b.close()
    assert landed(fake, camp.id) == once(2_000)


@pytest.mark.parametrize("kind", ["memory", "sqlite", "redis"])
async def test_each_ledger_keeps_claims_by_one_rule(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """The same steps on memory, SQLite and Redis: the same answers."""
    backend: Any = {
        "memory": lambda: w.MemoryBackend(),
        "sqlite": lambda: SQLiteBackend(tmp_path / "ledger.db"),
        "redis": lambda: RedisBackend(request.getfixturevalue("redis_url")),
    }[kind]()

    def claim(journal: str | None, campaign: str = "1") -> _owner.Claim:
        where = None if journal is None else tmp_path / journal
        return _owner.Claim(
            backend, operation="op", campaign_id=campaign, journal=where, on_lost=lambda _: None
        )

    a = claim("a")
    await a.take("F", wait=False, trusted=False, reload=False)
    for other in (claim("b"), claim(None)):
        with pytest.raises(w.LoadRunning):
            await other.take("F", wait=False, trusted=False, reload=False)
        with pytest.raises(w.LoadRunning):  # reload overrides a marker, never a live claim
            await other.take("F", wait=False, trusted=False, reload=True)
    beside = [claim("b", campaign="2"), claim("b")]  # another campaign, another input
    await beside[0].take("F", wait=False, trusted=False, reload=False)
    await beside[1].take("G", wait=False, trusted=False, reload=False)
    # Whoever holds journal a's lock takes over a claim running from journal a: its
    # holder held that lock, so it is gone.
    a2 = claim("a")
    await a2.take("F", wait=False, trusted=False, reload=False)
    await a.end(kept=True, finished=True, landed=1)  # the old holder's end: not its claim
    await a2.end(kept=True, finished=False, landed=7)
    with pytest.raises(w.AlreadyLoaded, match="stopped with records pending") as info:
        await claim("b").take("F", wait=False, trusted=False, reload=False)
    assert info.value.records_landed == 7
    with pytest.raises(w.AlreadyLoaded):  # its own path, but a new file (not trusted)
        await claim("a").take("F", wait=False, trusted=False, reload=False)
    resumed = claim("a")
    await resumed.take("F", wait=False, trusted=True, reload=False)
    await resumed.end(kept=False, finished=False, landed=0)  # nothing kept: no marker
    bare = claim(None)
    await bare.take("F", wait=False, trusted=False, reload=False)
    await bare.end(kept=False, finished=True, landed=3)  # no journal: no marker either
    last = claim("b")
    await last.take("F", wait=False, trusted=False, reload=False)
    for held in (*beside, last):
        await held.end(kept=False, finished=True, landed=0)
    await backend.close()


async def test_a_lock_file_in_a_place_that_cannot_hold_one_is_a_journal_error(
    tmp_path: Path,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    lock = _owner.JournalLock(blocker / "load.journal")
    with pytest.raises(w.JournalError, match="lock file"):
        lock.try_acquire()
    with contextlib.suppress(Exception):
        lock.release()


@pytest.mark.parametrize("taken", [False, True])
async def test_a_claim_that_lapsed_while_its_process_starved_is_taken_again_or_stops_the_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: bool
) -> None:
    """A process starved past LEASE_TTL (a blocked loop, a paused VM) finds its claim
    lapsed: nobody took it, it is its own again; somebody did, the load must stop."""
    monkeypatch.setattr(_owner, "LEASE_TTL", 0.3)
    backend = w.MemoryBackend()
    lost: list[w.LoadRunning] = []

    def claim(journal: str) -> _owner.Claim:
        return _owner.Claim(
            backend,
            operation="op",
            campaign_id="1",
            journal=tmp_path / journal,
            on_lost=lost.append,
        )

    mine = claim("a")
    await mine.take("F", wait=False, trusted=False, reload=False)
    time.sleep(0.5)  # noqa: ASYNC251 - the loop starved: no renewal for over LEASE_TTL
    other = claim("b")
    if taken:  # its lapsed claim reads "died": only a reload takes it over
        await other.take("F", wait=False, trusted=False, reload=True)
    await asyncio.sleep(0.25)  # the next beat of the renewal
    if taken:
        assert [str(exc) for exc in lost] and "another load took it" in str(lost[0])
        await other.end(kept=False, finished=True, landed=0)
    else:
        assert not lost
        with pytest.raises(w.LoadRunning):  # it is held again, renewed
            await other.take("F", wait=False, trusted=False, reload=False)
    await mine.end(kept=False, finished=True, landed=0)


async def test_a_journal_lock_held_by_the_caller_is_passed_as_the_journal(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # What the command does: read the journal under its lock, then load under the same.
    camp = fake.create_campaign()
    lock = _owner.JournalLock(tmp_path / "load.journal")
    async with client_for(fake) as wv:
        with pytest.raises(w.ConfigError, match="not held"):
            await wv.upload_records(camp.id, records(10), journal=lock)
        lock.try_acquire()
        try:
            with pytest.raises(w.LoadRunning):  # anyone else is refused meanwhile
                await wv.upload_records(camp.id, records(10), journal=tmp_path / "load.journal")
            report = await wv.upload_records(
                camp.id, records(300), chunk_size=100, journal=lock, notes={"by": "me"}
            )
            assert lock.held  # still the caller's
        finally:
            lock.release()
    assert report.complete and landed(fake, camp.id) == once(300)
    meta = w.bulk._journal.read_meta(tmp_path / "load.journal")
    assert meta is not None and meta["by"] == "me" and meta["finished"]
