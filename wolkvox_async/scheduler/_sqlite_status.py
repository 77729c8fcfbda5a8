"""The SQLite ledger's heartbeats, and the ledger read whole for ``status``.

A heartbeat is a row of ``heartbeats`` (``_sqlite_ledger.SCHEMA``) written by a step of
its own, never by an admission or a release: the call path writes nothing more. Reading
writes nothing, and takes the ledger's time as the later of its clock (moved by every
step, heartbeats included) and the reader's. A heartbeat's times are the ledger's, but
never earlier than its writer's clock (``Moment.keep``): a process that joined a ledger
whose time stood still (its holders killed) runs behind its own clock, and its heartbeat
must not look dead to a reader on that clock, nor the dead ones live to it.
"""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta

from ._heartbeat import RawLedger
from ._sqlite_file import Step
from ._sqlite_ledger import LedgerTime

__all__ = ["drop_step", "read_step", "write_step"]

_DAYS_READ = 2
"""Quota rows of this many days before the ledger's date are read (a zone's today is at
most a day off UTC's)."""


def write_step(
    ledger: LedgerTime, key: str, body: str, now: float, ttl: float, lease_life: float | None
) -> Step[None]:
    """The step that writes heartbeat ``key`` and sweeps those whose time ran out."""

    def step(conn: sqlite3.Connection) -> None:
        moment = ledger.enter(conn, now, lease_life)
        at = moment.keep(moment.at)  # (see the module's docstring)
        conn.execute("DELETE FROM heartbeats WHERE expires <= ?", (at,))
        conn.execute(
            "INSERT OR REPLACE INTO heartbeats (id, at, expires, body) VALUES (?, ?, ?, ?)",
            (key, at, at + ttl, body),
        )

    return step


def drop_step(key: str) -> Step[None]:
    """The step that removes heartbeat ``key``."""

    def step(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM heartbeats WHERE id = ?", (key,))

    return step


def read_step(now: float) -> Step[RawLedger]:
    """The step that reads the ledger whole (writing nothing)."""

    def step(conn: sqlite3.Connection) -> RawLedger:
        row = conn.execute("SELECT clock, created, orphan, lost_at FROM ledger").fetchone()
        at = now if row is None else max(float(row[0]), now)
        fences: tuple[tuple[str, float], ...] = ()
        if row is not None:
            since = max(float(row[1]) if row[2] else 0.0, float(row[3]))
            fences = (("*", since),) if since else ()
        try:
            beats = conn.execute(
                "SELECT id, at, body FROM heartbeats WHERE expires > ? ORDER BY id", (at,)
            ).fetchall()
        except sqlite3.OperationalError:  # a file no process of this version has opened
            beats = []
        leases = conn.execute(
            "SELECT token, id, expires FROM leases WHERE expires > ? ORDER BY expires", (at,)
        ).fetchall()
        tokens = conn.execute(
            "SELECT token, cap_until, paused_until FROM tokens "
            "WHERE cap_until > ? OR paused_until > ?",
            (at, at),
        ).fetchall()
        first = (date.fromtimestamp(at) - timedelta(days=_DAYS_READ)).isoformat()
        quota = conn.execute(
            "SELECT operation, day, used, limit_override FROM quota WHERE day >= ?", (first,)
        ).fetchall()
        return RawLedger(
            at=at,
            beats=tuple((str(i), float(a), str(b)) for i, a, b in beats),
            leases=tuple((str(t), str(i), float(e)) for t, i, e in leases),
            quota=tuple(
                (str(o), str(d), int(u), None if n is None else int(n)) for o, d, u, n in quota
            ),
            tokens=tuple((str(t), float(c), float(p)) for t, c, p in tokens),
            fences=fences,
        )

    return step
