"""The doctor's look at the ledger: kind, place, a step, disk, fence, Redis eviction.

Each check stands alone (a ledger that cannot be used still gets its disk and its Redis
policy looked at) and costs no quota: the ledger is where the limits are kept, so it is
read, never written beyond what one of its own steps writes. A SQLite step is a
``BEGIN IMMEDIATE`` transaction (the write lock) that writes the header's user_version
back unchanged, so a step that passes shows the file writable (a full disk fails it); a
Redis one is a ``PING`` and a short-lived ``SET`` under the backend's prefix.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Final

from .._errors import SchedulerUnavailable, WolkvoxError
from .._time import WOLKVOX_TZ
from ..models import Check, CheckLevel
from ..scheduler import MemoryBackend, RedisBackend, SQLiteBackend
from ..scheduler._redis_policy import FIX as EVICTION_FIX
from ..scheduler._redis_policy import policies

if TYPE_CHECKING:
    from ..calls._call import Caller
    from ._core import Calls

__all__ = ["LOW_DISK", "ledger_checks", "location"]

LOW_DISK: Final = 100 * 1024 * 1024
"""Free bytes below which the SQLite ledger's disk is a warning: each call writes a few
pages to its WAL, and a full disk stops every call of every process on the host."""
_CREDENTIALS: Final = re.compile(r"(?<=//)[^/@]*@")
_SECRET_QUERY: Final = re.compile(r"((?:^|[?&])[^=&]*password[^=&]*=)[^&]*", re.IGNORECASE)
_SHARE: Final = "use the per-user SQLite ledger (one host) or redis:// (several hosts) as backend"


def location(where: str) -> str:
    """A backend's URL with any user, password or password option shown as ***."""
    return _SECRET_QUERY.sub(r"\1***", _CREDENTIALS.sub("***@", where))


def kind(backend: object) -> str:
    """memory, sqlite, redis, cluster, sentinel, or the class of a backend of one's own."""
    if isinstance(backend, MemoryBackend):
        return "memory"
    if isinstance(backend, SQLiteBackend):
        return "sqlite"
    if isinstance(backend, RedisBackend):
        topology = backend.target.topology.value
        return "redis" if topology == "single" else topology
    return type(backend).__name__


async def ledger_checks(calls: Calls) -> list[Check]:
    """``ledger``, then ``ledger_disk`` (SQLite), ``ledger_fence``, ``redis_eviction``
    (Redis)."""
    caller = calls.caller
    backend = caller.backend
    checks = [await _step(caller)]
    if isinstance(backend, SQLiteBackend):
        checks.append(_disk(backend.path))
    checks.append(await _fence(calls, usable=checks[0].level is not CheckLevel.ERROR))
    if isinstance(backend, RedisBackend):
        checks.append(await _eviction(backend))
    return checks


async def _step(caller: Caller) -> Check:
    """The ledger's kind and place, and one step through it, timed."""
    backend = caller.backend
    name, where = kind(backend), location(str(getattr(backend, "where", "")))
    if isinstance(backend, MemoryBackend):
        return Check(
            name="ledger",
            level=CheckLevel.WARNING,
            seen="memory: this process only; calls of other processes on the token are not "
            "counted, and today's count is lost when it ends",
            fix=_SHARE,
        )
    started = time.perf_counter()
    try:
        if isinstance(backend, RedisBackend):
            connection = backend.connection()
            await connection.ping()
            started = time.perf_counter()
            await connection.ping()
            rtt = time.perf_counter() - started
            await connection.set(f"{backend.prefix}:doctor", "1", px=10_000)
        elif isinstance(backend, SQLiteBackend):
            # The file's own step (BEGIN IMMEDIATE: the write lock), not the backend's,
            # which a ?fallback=memory would answer from memory.
            await backend.file.run(_touch)
            rtt = time.perf_counter() - started
        else:
            limits = caller.limits
            await backend.in_flight(limits.token, limits.operation, caller.clock.time())
            rtt = time.perf_counter() - started
    except SchedulerUnavailable as exc:
        reason = exc.reason
    except Exception as exc:  # a Redis error of its own (read-only replica, ACL, gone)
        reason = location(f"{type(exc).__name__}: {exc}")
    else:
        reason = ""
    if reason and getattr(backend, "fallback", None) is not None:
        return Check(
            name="ledger",
            level=CheckLevel.WARNING,
            seen=f"{name} at {where}: unusable ({reason}); calls fall back to this process's "
            "memory (?fallback=memory): the limits hold per process only",
            fix=_unusable_fix(backend, reason),
        )
    if reason:
        return Check(
            name="ledger",
            level=CheckLevel.ERROR,
            seen=f"{name} at {where}: unusable ({reason})",
            fix=_unusable_fix(backend, reason),
        )
    return Check(
        name="ledger",
        level=CheckLevel.OK,
        seen=f"{name} at {where}: writable, round trip {rtt * 1000:.2f} ms",
    )


def _touch(conn: sqlite3.Connection) -> None:
    """The header's user_version written back as it is: a page committed, as each call's
    step commits its own. The write lock alone wrote nothing, so a full disk passed as
    "writable" while every call failed (database or disk is full)."""
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    conn.execute(f"PRAGMA user_version = {int(version)}")


def _unusable_fix(backend: object, reason: str) -> str:
    if isinstance(backend, SQLiteBackend) and "corrupt" in reason:
        # The folder is fine: making it writable changes nothing; the file must go.
        return (
            f"move {backend.path} aside (it is no SQLite database): a new ledger is made, "
            "then `wolkvox quota` takes today's count from Wolkvox"
        )
    if isinstance(backend, SQLiteBackend):
        return (
            f"make {backend.path.parent} a writable folder on a disk with room (--state-dir), "
            "or point the backend at another file"
        )
    if isinstance(backend, RedisBackend):
        return "start Redis or fix the URL, and let this user write to the primary"
    return "check the backend the client was given"


def _disk(path: Path) -> Check:
    """Free room where the SQLite ledger lives (the nearest folder that exists)."""
    folder = path.parent
    while not folder.is_dir() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return Check(
            name="ledger_disk",
            level=CheckLevel.WARNING,
            seen=f"free room under {folder} cannot be read ({exc.strerror or exc})",
            fix="check that the folder is on a mounted, readable disk",
        )
    seen = f"{free / 1024**2:,.0f} MB free under {folder}"
    if free < LOW_DISK:
        return Check(
            name="ledger_disk",
            level=CheckLevel.WARNING,
            seen=f"{seen}: under {LOW_DISK // 1024**2} MB, a full disk stops every call",
            fix="free room on that disk, or move the ledger (--state-dir) to another",
        )
    return Check(name="ledger_disk", level=CheckLevel.OK, seen=seen)


async def _fence(calls: Calls, *, usable: bool) -> Check:
    """Whether the ledger admits nothing for now, after a loss (``fenced_until``)."""
    if not usable:
        return Check(
            name="ledger_fence",
            level=CheckLevel.WARNING,
            seen="skipped: the ledger is unusable",
            fix="fix the ledger (above), then run doctor again",
        )
    try:
        stats = await calls.stats()
    except WolkvoxError as exc:
        return Check(
            name="ledger_fence",
            level=CheckLevel.WARNING,
            seen=f"cannot be read: {exc}",
            fix="fix the ledger (above), then run doctor again",
        )
    until = stats.fenced_until
    if until is None or until <= datetime.fromtimestamp(calls.caller.clock.time(), until.tzinfo):
        return Check(name="ledger_fence", level=CheckLevel.OK, seen="not fenced")
    return Check(
        name="ledger_fence",
        level=CheckLevel.WARNING,
        seen=f"fenced until {until.astimezone(WOLKVOX_TZ):%Y-%m-%d %H:%M:%S %z}: the ledger "
        "was lost, and calls it had admitted may still run at Wolkvox; nothing is admitted "
        "on the token until then",
        fix="wait until then (calls queue meanwhile); find what emptied the ledger "
        "(a restart without persistence, a FLUSH, a deleted file)",
    )


async def _eviction(backend: RedisBackend) -> Check:
    """Redis's ``maxmemory-policy`` on every primary that may hold the ledger."""
    try:
        found = await policies(backend.connection(), cluster=backend.cluster)
    except Exception as exc:
        return Check(
            name="redis_eviction",
            level=CheckLevel.ERROR,
            seen=f"the policy cannot be read ({location(f'{type(exc).__name__}: {exc}')})",
            fix="start Redis or fix the URL, then run doctor again",
        )
    bad = [(node, policy, failures) for node, policy, failures in found if policy != "noeviction"]
    if not bad:
        return Check(name="redis_eviction", level=CheckLevel.OK, seen="maxmemory-policy noeviction")
    node, policy, failures = bad[0]
    at = "" if node is None else f" (node {node})"
    seen = (
        f"maxmemory-policy is {policy}{at}: a full Redis deletes keys, the ledger's among them"
        if policy is not None
        else f"maxmemory-policy{at} cannot be read ({'; '.join(failures)})"
    )
    if backend.allow_eviction:
        return Check(
            name="redis_eviction",
            level=CheckLevel.WARNING,
            seen=f"{seen}; allowed by allow_eviction=1 (a loss then pauses the token)",
            fix="set maxmemory-policy to noeviction (CONFIG SET maxmemory-policy noeviction)",
        )
    return Check(
        name="redis_eviction",
        level=CheckLevel.ERROR,
        seen=f"{seen}; every call is refused until it changes",
        fix=EVICTION_FIX,
    )
