"""The backend interface: where scheduler state lives, and how a URL picks a backend.

A backend stores, per token, the leases in flight, the temporary cap and pause; per
operation and day, the quota used; per poll key, the last admission. Each method is one
atomic step (a lock, a transaction, a script). The decision itself is
:func:`~wolkvox_async.scheduler._rules.decide`, shared by all backends.

``backend=`` takes an object, a redis-py asyncio client or a URL; one URL (or one redis-py
client) gives one object, kept in :data:`BACKENDS` (the one cache), so clients created with
the same URL share one state. Without one, a client uses the per-user ledger
(``sqlite:///$XDG_STATE_HOME/wolkvox-async/ledger.db``), the one the ``wolkvox`` command
uses, so a service and a command run by the same user on one host share the token's two
slots and its quota; ``WOLKVOX_BACKEND`` overrides it; where that folder is not writable
the default is ``memory://``, with a warning. Nothing in the library changes it (running a
FakeWolkvox neither): a test passes ``backend=``, or sets ``WOLKVOX_BACKEND=memory://`` for
its session (or calls ``testing.reset_shared_state()``, which sets
``BACKENDS.default``).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, cast, runtime_checkable
from urllib.parse import urlsplit

import attrs

from .._errors import ConfigError
from ._rules import Admission, Decision
from ._schedulers import schedulers_of

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    BackendSpec: TypeAlias = "Backend | str | Redis | RedisCluster | None"

__all__ = [
    "BACKENDS",
    "AnnouncesReleases",
    "Backend",
    "BackendCache",
    "LeaseRecord",
    "QuotaState",
    "ReportsFence",
    "StepsInline",
    "default_backend_url",
    "default_state_dir",
    "resolve_backend",
]

log = logging.getLogger("wolkvox_async.scheduler")


@attrs.frozen(kw_only=True)
class LeaseRecord:
    """A granted admission, as the backend must know it to undo or release it."""

    id: str
    token: str
    operation: str
    day: str
    poll_key: str | None


@attrs.frozen(kw_only=True)
class QuotaState:
    """An operation's consumption on one day."""

    used: int
    limit_override: int | None


class Backend(Protocol):
    """Scheduler state storage. Methods are atomic; ``now`` is wall time (epoch s)."""

    lost: set[str]
    """Operations whose ledger this backend found lost (a Redis restarted empty, a SQLite
    file replaced): their day's count restarted from zero. The client takes one out and
    reads the server's count (``token_info``) before its next call of that operation."""

    cross_process: bool
    """Other processes may change the state: their releases are not signalled here, so a
    blocked token's waiters also look again every ``poll_fallback`` seconds."""
    poll_fallback: float
    """Seconds between those looks (a backend that announces releases needs few)."""
    instant: bool
    """No step ever suspends (memory): a release needs no shield, waiters are served in
    the releasing task."""
    where: str
    """The backend's URL for messages (never a password)."""

    async def admit(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None]:
        """Decide; when granted, take the lease, the quota unit and the poll stamp."""
        ...

    async def release(
        self,
        lease: LeaseRecord,
        now: float,
        *,
        hold_until: float | None = None,
        refund: bool = False,
        unstamp: bool = False,
        cap_for: float = 0.0,
        pause_for: float = 0.0,
        spent: bool = False,
    ) -> None:
        """End a lease (or keep it until ``hold_until``); ``refund`` gives the quota unit
        back (nothing reached the server); ``unstamp`` clears the poll stamp it set. What
        the server said comes in the same step, applied before anyone can be admitted:
        ``cap_for`` (403 SIMULTANEOUS: cap 1 for that long), ``pause_for`` (maintenance),
        ``spent`` (TOKEN LIMIT EXCEEDED: the lease's day is spent at its count)."""
        ...

    async def lower_cap(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Hold the token's cap at 1 for ``seconds``."""
        ...

    async def pause(self, token: str, operation: str, now: float, seconds: float) -> None:
        """Admit nothing for the token for ``seconds``."""
        ...

    async def set_quota(
        self, operation: str, day: str, *, used: int, limit: int | None, since: int | None = None
    ) -> None:
        """Take the server's count of the day (and its limit, if given).

        ``since`` is the ledger's count when the read that gave ``used`` was admitted: the
        calls admitted after it may not have reached the server yet, so they are added
        (two processes reading token_info while the other loaded set the count back, and
        between them they loaded past a reserve). A read with nothing admitted meanwhile
        sets the count to the server's exactly, lower as well as higher."""
        ...

    async def quota(self, operation: str, day: str) -> QuotaState:
        """The day's usage."""
        ...

    async def in_flight(self, token: str, operation: str, now: float) -> int:
        """Unexpired leases of the token."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...


@runtime_checkable
class ReportsFence(Protocol):
    """A backend that can lose its ledger (SQLite, Redis) and so may hold a lost-ledger
    pause: it says until when, for ``scheduler_stats()``."""

    async def fenced_until(self, operation: str, lease_ttl: float, now: float) -> float | None:
        """When the operation's lost-ledger pause ends, if one holds at ``now`` (on the
        caller's clock) or would hold for the next admission; None otherwise."""
        ...


@runtime_checkable
class AnnouncesReleases(Protocol):
    """A shared backend that tells every process when a lease is released (Redis)."""

    def subscribe(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(token_key)`` on every release, in any process."""
        ...


@runtime_checkable
class StepsInline(Protocol):
    """A backend that can often take a step without suspending (SQLite, on the loop's
    thread when no other process holds its lock): the scheduler then needs no task to
    shield it, and a call costs no loop turn for it."""

    def admit_now(self, req: Admission, now: float) -> tuple[Decision, LeaseRecord | None] | None:
        """:meth:`Backend.admit`, done without suspending; None: await that instead."""
        ...

    def release_now(
        self,
        lease: LeaseRecord,
        now: float,
        *,
        hold_until: float | None = None,
        refund: bool = False,
        unstamp: bool = False,
        cap_for: float = 0.0,
        pause_for: float = 0.0,
        spent: bool = False,
    ) -> bool:
        """:meth:`Backend.release`, taken without suspending (written now, or before this
        process's next step and within a loop turn); False: await that instead."""
        ...


def default_state_dir() -> Path:
    """Where the per-user ledger and the command's journals live."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "wolkvox-async"


class BackendCache:
    """The backends made from URLs and redis-py clients: one per URL (per redis-py client),
    so clients given the same ``backend=`` share one state (queues, leases, quota).

    There is one, :data:`BACKENDS`: the only place the library keeps scheduler state for a
    whole process, and only what ``backend=`` URLs made; a backend object passed as
    ``backend=`` never enters it. :meth:`aclose` closes what it made (at a service's
    shutdown), :meth:`clear` forgets it (a test suite isolating its cases).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_url: dict[str, Backend] = {}
        self._adopted: weakref.WeakKeyDictionary[Any, Backend] = weakref.WeakKeyDictionary()
        self.default: str | None = None
        """The URL of a client created without ``backend=`` (``WOLKVOX_BACKEND`` wins
        over it); None until :meth:`default_url` first chooses one."""

    def default_url(self) -> str:
        """The backend of a client created without ``backend=`` (see the module's
        docstring): chosen once (the ledger's folder checked, a warning logged)."""
        chosen = os.environ.get("WOLKVOX_BACKEND") or self.default
        if chosen:
            return chosen
        ledger = default_state_dir() / "ledger.db"
        try:
            ledger.parent.mkdir(parents=True, exist_ok=True)
            writable = os.access(ledger if ledger.exists() else ledger.parent, os.W_OK)
        except OSError:
            writable = False
        if writable:
            self.default = f"sqlite:///{ledger}"
        else:
            log.warning(
                "%s is not writable: this process keeps its own ledger in memory, so other "
                "processes on this token are not counted (set backend= or WOLKVOX_BACKEND)",
                ledger.parent,
            )
            self.default = "memory://"
        return self.default

    def resolve(self, backend: BackendSpec) -> Backend:
        """The backend for ``backend=``: an object as is; a URL or a redis-py client as
        the one this cache holds for it (made at first).

        Raises:
            ConfigError: an unknown scheme or a malformed URL.
        """
        if backend is not None and not isinstance(backend, str):
            if type(backend).__module__.startswith("redis."):
                return self._adopt_redis(backend)
            own = cast("Backend", backend)  # not redis-py's: the caller's own Backend
            schedulers_of(own)  # it can hold its schedulers, or a ConfigError says so now
            return own
        url = backend or self.default_url()
        with self._lock:
            found = self._by_url.get(url)
            if found is None:
                found = self._by_url[url] = _make(urlsplit(url).scheme, url)
            return found

    def _adopt_redis(self, client: Any) -> Backend:
        """A redis-py client as ``backend=``: one backend per client, so clients given the
        same redis-py client share one state, as with one URL."""
        from ._redis import RedisBackend

        with self._lock:
            found = self._adopted.get(client)
            if found is None:
                found = self._adopted[client] = RedisBackend(client)
            return found

    def clear(self) -> None:
        """Forget every backend made and the default chosen: the next client of a URL
        gets a new backend, with a new state. Clients still using the old ones keep them
        (and close their connections when the last of them closes)."""
        with self._lock:
            self._by_url.clear()
            self._adopted.clear()
            self.default = None

    async def aclose(self) -> None:
        """Close the backends made (their connections, threads) and forget them."""
        with self._lock:
            made = [*self._by_url.values(), *self._adopted.values()]
            self._by_url.clear()
            self._adopted.clear()
        for backend in made:
            await backend.close()


BACKENDS = BackendCache()
"""The one cache of backends made from ``backend=`` URLs (and redis-py clients): what
makes clients given the same URL share a state. ``BACKENDS.aclose()`` closes them,
``BACKENDS.clear()`` forgets them."""


def default_backend_url() -> str:
    """The backend of a client created without ``backend=`` (see the module's docstring)."""
    return BACKENDS.default_url()


def resolve_backend(backend: BackendSpec) -> Backend:
    """The backend for ``backend=``: an object as is, a URL or a redis-py client as the
    one :data:`BACKENDS` holds for it.

    Raises:
        ConfigError: an unknown scheme or a malformed URL.
    """
    return BACKENDS.resolve(backend)


def _make(scheme: str, url: str) -> Backend:
    if scheme == "memory":
        from ._memory import MemoryBackend

        return MemoryBackend()
    if scheme == "sqlite":
        from ._sqlite import SQLiteBackend

        return SQLiteBackend.from_url(url)
    if scheme.partition("+")[0] in ("redis", "rediss"):
        from ._redis import RedisBackend

        return RedisBackend.from_url(url)
    raise ConfigError(
        "backend must be memory://, sqlite:///path, redis://host:port/db, "
        "redis+cluster://host:port,…, redis+sentinel://host:port,…/service, "
        f"a redis-py asyncio client or a Backend object, got {url.partition('://')[0]}://…"
    )
