"""No process-wide state (issue 33.4): a backend object owns its per-loop schedulers, the
bulk layer's pace gate and the memory ledger's claims; the one cache of URL backends
(``scheduler.BACKENDS``) is what makes clients given the same URL share one state; a
FakeWolkvox changes nothing outside itself."""

from __future__ import annotations

import ast
import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import wolkvox_async
from wolkvox_async import ConfigError, WolkvoxClient
from wolkvox_async.bulk._claims import store_of
from wolkvox_async.bulk._pace import gate
from wolkvox_async.scheduler import (
    BACKENDS,
    SYSTEM_CLOCK,
    MemoryBackend,
    Scheduler,
    SQLiteBackend,
    resolve_backend,
    scheduler_for,
)
from wolkvox_async.scheduler._backends import default_backend_url
from wolkvox_async.testing import FakeWolkvox, serving_in_thread

PACKAGE = Path(wolkvox_async.__file__).parent


@pytest.fixture
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user who never set a backend: the default is the per-user ledger."""
    monkeypatch.delenv("WOLKVOX_BACKEND")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(BACKENDS, "default", None)
    return tmp_path / "state" / "wolkvox-async" / "ledger.db"


async def test_a_fake_created_started_and_closed_leaves_the_default_backend_alone(
    user_env: Path,
) -> None:
    # It made memory:// the default of the whole process: a service that ran a simulator
    # beside its real clients (a demo, a smoke test at start) then kept their quota in memory.
    ledger = f"sqlite:///{user_env}"
    assert default_backend_url() == ledger
    before = resolve_backend(None)
    try:
        fake = FakeWolkvox(licenses=3)
        assert default_backend_url() == ledger
        async with fake:
            assert default_backend_url() == ledger
        with serving_in_thread(licenses=3):
            assert default_backend_url() == ledger
        assert default_backend_url() == ledger
        assert resolve_backend(None) is before
        assert isinstance(before, SQLiteBackend)
    finally:
        await before.close()


async def test_two_clients_of_one_url_share_one_backend_and_one_scheduler(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    fake.latency = 0.01
    campaign = fake.create_campaign()
    kw: dict[str, Any] = {"server": fake.server, "token": fake.token, "base_url": fake.url}
    async with WolkvoxClient(backend=url, **kw) as a, WolkvoxClient(backend=url, **kw) as b:
        # 12 lookups at once through the two: one state, so never more than the 2 slots.
        await asyncio.gather(*(c.find_record(campaign_id=campaign.id) for c in [a, b] * 6))
        backend = resolve_backend(url)
        assert resolve_backend(url) is backend  # one object per URL, from the one cache
        assert scheduler_for(backend, SYSTEM_CLOCK) is scheduler_for(backend, SYSTEM_CLOCK)
        # the backend object owns its schedulers: nothing of them lives in a module
        assert backend.schedulers.get(backend, SYSTEM_CLOCK) is scheduler_for(  # type: ignore[attr-defined]
            backend, SYSTEM_CLOCK
        )
    assert fake.stats.peak_in_flight[fake.token] == 2
    assert fake.stats.refusals["simultaneous"] == 0
    BACKENDS.clear()  # forgotten: the next client of the URL gets a new state
    fresh = resolve_backend(url)
    assert fresh is not backend
    await fresh.close()


def test_two_event_loops_get_two_schedulers_that_hear_each_others_releases(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    # Two threads, each its own event loop, each a client of one URL making a call.
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    kw: dict[str, Any] = {"server": served.server, "token": served.token, "base_url": served.url}
    made: list[tuple[object, Scheduler]] = []
    both = threading.Barrier(2)

    def in_a_loop() -> None:
        async def main() -> None:
            async with WolkvoxClient(backend=url, **kw) as wv:
                await wv.token_info()
                backend = resolve_backend(url)
                mine = scheduler_for(backend, SYSTEM_CLOCK)
                assert scheduler_for(backend, SYSTEM_CLOCK) is mine  # one per loop
                made.append((backend, mine))
                both.wait(10)  # both loops alive at once

        asyncio.run(main())

    threads = [threading.Thread(target=in_a_loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (backend, one), (same, other) = made
    assert backend is same  # one backend for the URL, whichever loop asked
    assert one is not other and one.loop is not other.loop
    assert one.siblings is other.siblings and set(one.siblings) == {one, other}
    assert served.stats.requests == 2


async def test_the_pace_gate_and_the_memory_claims_belong_to_the_backend() -> None:
    one, other = MemoryBackend(), MemoryBackend()
    assert gate(one) is gate(one)  # every load in this loop on `one` shares it
    assert gate(one) is not gate(other)
    assert store_of(one) is store_of(one)
    assert store_of(one) is not store_of(other)  # a new ledger: no claims of another

    def other_loop() -> object:
        return asyncio.run(_gate_of(one))

    assert await asyncio.to_thread(other_loop) is not gate(one)  # one per event loop


async def _gate_of(backend: MemoryBackend) -> object:
    return gate(backend)


async def test_the_fixture_backend_isolates_a_test_without_switching_anything(
    fake_wolkvox: FakeWolkvox, wolkvox_backend: MemoryBackend, user_env: Path
) -> None:
    # The plugin's fixtures: the fake and a backend of this test alone, given explicitly.
    kw: dict[str, Any] = {"server": fake_wolkvox.server, "token": fake_wolkvox.token}
    async with WolkvoxClient(base_url=fake_wolkvox.url, backend=wolkvox_backend, **kw) as wv:
        await wv.token_info()
        assert (await wv.scheduler_stats()).quota_used == 1
    assert default_backend_url() == f"sqlite:///{user_env}"
    assert not await asyncio.to_thread(user_env.exists)  # the ledger never saw the fake


def _registries(tree: ast.Module) -> list[str]:
    """Module-level names bound to an empty mutable container (a registry in the making),
    and every ``global`` statement (a module-level switch)."""
    makers: set[str] = {"dict", "set", "list", "defaultdict", "WeakKeyDictionary"}
    makers |= {"WeakValueDictionary", "WeakSet", "OrderedDict"}
    found = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        empty = (isinstance(value, ast.Dict) and not value.keys) or (
            isinstance(value, ast.Set | ast.List) and not value.elts
        )
        called = isinstance(value, ast.Call) and _name(value.func) in makers
        if empty or called:
            found.append(ast.unparse(node).split("=")[0].strip())
    found += [f"global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
    return found


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def test_no_module_of_the_library_keeps_a_registry_or_a_switch() -> None:
    kept = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if (found := _registries(ast.parse(path.read_text())))
    }
    # A bounded memo of a pure function (CallResult.parse), as an lru_cache is: it holds
    # no state of anyone's, and whatever it holds, every answer reads the same.
    assert kept == {"calls/_fastrows.py": ["_RESULTS: Final[dict[str, CallResult]]"]}


def test_the_registry_check_sees_what_it_looks_for() -> None:
    seen: Callable[[str], list[str]] = lambda text: _registries(ast.parse(text))  # noqa: E731
    assert seen("_BY_URL: dict[str, int] = {}") == ["_BY_URL: dict[str, int]"]
    assert seen("_G = weakref.WeakKeyDictionary()") == ["_G"]
    assert seen("def f():\n    global _d\n    _d = 1") == ["global _d"]
    assert seen("TABLE = {'a': 1}\nCONST = 3") == []


class _Own:
    """A backend of the caller's own making (here, forwarding to a MemoryBackend)."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.lost, self.cross_process, self.poll_fallback = set[str](), False, 1.0
        self.instant, self.where = True, "own://"

    async def admit(self, *args: Any) -> Any:
        return await self.inner.admit(*args)

    async def release(self, *args: Any, **kwargs: Any) -> None:
        await self.inner.release(*args, **kwargs)

    async def close(self) -> None:
        await self.inner.close()


async def test_a_backend_object_of_ones_own_holds_the_schedulers_of_its_clients() -> None:
    own = _Own()
    a = WolkvoxClient(server="0014", token="t" * 56, backend=own)  # type: ignore[arg-type]
    b = WolkvoxClient(server="0014", token="t" * 56, backend=own)  # type: ignore[arg-type]
    async with a, b:
        assert scheduler_for(own, SYSTEM_CLOCK) is scheduler_for(own, SYSTEM_CLOCK)  # type: ignore[arg-type]
        assert own.schedulers.get(own, SYSTEM_CLOCK) is scheduler_for(own, SYSTEM_CLOCK)  # type: ignore[attr-defined,arg-type]


def test_a_backend_object_that_cannot_hold_its_schedulers_is_refused_at_once() -> None:
    class Sealed:
        __slots__ = ("where",)

    with pytest.raises(wolkvox_async.ConfigError, match=r"Sealed.*'schedulers'"):
        WolkvoxClient(server="0014", token="t" * 56, backend=Sealed())  # type: ignore[arg-type]


async def test_the_cache_closes_what_it_made_and_then_makes_anew(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    made = resolve_backend(url)
    assert isinstance(made, SQLiteBackend)
    closed: list[bool] = []
    real_close = made.close

    async def close() -> None:
        closed.append(True)
        await real_close()

    made.close = close  # type: ignore[method-assign]
    await BACKENDS.aclose()
    assert closed == [True]
    again = resolve_backend(url)
    assert again is not made
    await again.close()


@pytest.mark.parametrize("other", ["memory:///", "MEMORY://", " memory://", "memory:// "])
async def test_every_spelling_of_the_memory_url_is_the_one_state(other: str) -> None:
    # Before: each spelling made its own MemoryBackend, so a client given "memory://" and
    # one given "memory:///" had 2 slots each: 4 calls at Wolkvox, 403 SIMULTANEOUS.
    assert resolve_backend(other) is resolve_backend("memory://")
    async with FakeWolkvox() as fake:
        fake.inject("held", times=4, api="find_record")
        settings: dict[str, Any] = {"server": fake.server, "token": fake.token}
        settings |= {"base_url": fake.url, "max_attempts": 1}
        async with (
            WolkvoxClient(**settings, backend="memory://") as one,
            WolkvoxClient(**settings, backend=other) as two,
        ):
            calls = [c.find_record(customer_id=str(i)) for i in range(2) for c in (one, two)]
            tasks = [asyncio.ensure_future(call) for call in calls]
            while fake.stats.in_flight[fake.token] < 2:
                await asyncio.sleep(0.01)
            # One state: the other two wait in the one scheduler (two states would have
            # admitted them, and none would wait).
            for _ in range(500):
                if (await one.scheduler_stats()).queued_interactive == 2:
                    break
                await asyncio.sleep(0.01)
            assert (await two.scheduler_stats()).queued_interactive == 2
            assert fake.stats.in_flight[fake.token] == 2
            fake.let_go()
            assert await asyncio.gather(*tasks) == [(), (), (), ()]
        assert fake.stats.peak_in_flight[fake.token] == 2
        assert not fake.stats.refusals.get("simultaneous")


@pytest.mark.parametrize("url", ["memory://a", "memory://?x=1", "memory:///tmp/x"])
def test_a_memory_url_with_more_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="memory:// alone"):
        resolve_backend(url)


def test_a_malformed_backend_url_is_a_config_error_without_its_password() -> None:
    # urlsplit raises a bare ValueError on an unclosed IPv6 bracket; it escaped the
    # documented ConfigError (the CLI showed a traceback, exit 1: "warnings" for doctor).
    with pytest.raises(ConfigError, match="malformed") as raised:
        resolve_backend("redis://user:s3cretpw@[::1/0")
    assert "s3cretpw" not in str(raised.value)
