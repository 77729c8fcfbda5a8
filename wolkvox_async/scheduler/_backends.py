"""Which backend a client uses: ``backend=`` as an object, a URL or a redis-py client,
and the one cache that makes clients of one URL share a state.

One URL (or one redis-py client) gives one object, kept in :data:`BACKENDS` (the one
cache), so clients created with the same URL share one state. Without one, a client uses
the per-user ledger (``sqlite:///$XDG_STATE_HOME/wolkvox-async/ledger.db``), the one the
``wolkvox`` command uses, so a service and a command run by the same user on one host
share the token's two slots and its quota; ``WOLKVOX_BACKEND`` overrides it; where that
folder is not writable the default is ``memory://``, with a warning. Nothing in the library
changes it (running a FakeWolkvox neither): a test passes ``backend=``, or sets
``WOLKVOX_BACKEND=memory://`` for its session (or calls ``testing.reset_shared_state()``,
which sets ``BACKENDS.default``).

Apart from :mod:`._backend` (the interface every backend imports), so that the backends
it makes never import it back.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, cast
from urllib.parse import urlsplit

from .._errors import ConfigError
from ._backend import Backend
from ._memory import MemoryBackend
from ._schedulers import schedulers_of
from ._sqlite import SQLiteBackend

if TYPE_CHECKING:
    from redis.asyncio import Redis, RedisCluster

    BackendSpec: TypeAlias = "Backend | str | Redis | RedisCluster | None"

__all__ = [
    "BACKENDS",
    "BackendCache",
    "default_backend_url",
    "default_state_dir",
    "resolve_backend",
]

log = logging.getLogger("wolkvox_async.scheduler")


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
        url = _key(backend or self.default_url())
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


def _key(url: str) -> str:
    """One key per state: ``" memory://"``, ``MEMORY://`` and ``memory:///`` are the one
    memory state of the process; each kept its own, and two clients of the token given
    two spellings sent four calls at once (403 SIMULTANEOUS)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # (an unclosed [ of an IPv6 host): the URL, which may
        # hold a password, is not repeated
        raise ConfigError(f"the backend URL is malformed: {exc}") from None
    if parts.scheme != "memory":
        return url
    if parts.netloc or parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigError(f"a memory backend URL is memory:// alone, got {url!r}")
    return "memory://"


def _make(scheme: str, url: str) -> Backend:
    if scheme == "memory":
        return MemoryBackend()
    if scheme == "sqlite":
        return SQLiteBackend.from_url(url)
    if scheme.partition("+")[0] in ("redis", "rediss"):
        from ._redis import RedisBackend

        return RedisBackend.from_url(url)
    raise ConfigError(
        "backend must be memory://, sqlite:///path, redis://host:port/db, "
        "redis+cluster://host:port,…, redis+sentinel://host:port,…/service, "
        f"a redis-py asyncio client or a Backend object, got {url.partition('://')[0]}://…"
    )
