"""The SQL of the SQLite ledger's steps: one admission's read, decision and writes, and a
release's writes, each inside a transaction the backend (``_sqlite``) opened.

An admission reads what its decision needs in one statement (the token's leases, its cap
and pause, the day's count, the poll stamp) and deletes expired leases only when there are
some: each statement and each page a step writes is paid by every call
(``benchmarks/ledger.py``).
"""

from __future__ import annotations

import sqlite3

from ._backend import LeaseRecord
from ._rules import Admission, Decision, Granted, Release, Snapshot, decide
from ._sqlite_ledger import Moment, raise_until

__all__ = ["STAMPS_KEPT", "admit", "release", "release_plain"]

STAMPS_KEPT = 86_400.0
"""Seconds a poll stamp is kept after its interval ended (then swept)."""

_SNAPSHOT = """
SELECT l.n, l.earliest, l.gone, t.cap_until, t.paused_until, q.used, q.limit_override, s.at
FROM (SELECT SUM(expires > ?1) AS n, MIN(CASE WHEN expires > ?1 THEN expires END)
    AS earliest, SUM(expires <= ?1) AS gone FROM leases WHERE token = ?2) AS l
LEFT JOIN tokens AS t ON t.token = ?2
LEFT JOIN quota AS q ON q.operation = ?3 AND q.day = ?4
LEFT JOIN stamps AS s ON s.key = ?5
"""
"""Parameters: the ledger's time, the token, the operation, the day, the poll key."""


def admit(
    conn: sqlite3.Connection, moment: Moment, req: Admission, lease_id: str
) -> tuple[Decision, LeaseRecord | None]:
    """Decide ``req`` at ``moment`` and, when granted, take lease, quota unit and stamp."""
    at = moment.at  # the ledger's time: every time below is in it
    snapshot = conn.execute(
        _SNAPSHOT, (at, req.limits.token, req.limits.operation, req.day, req.poll_key)
    ).fetchone()
    count, earliest, gone, cap_until, paused_until, used, limit, poll_at = snapshot
    if gone:
        conn.execute("DELETE FROM leases WHERE token = ? AND expires <= ?", (req.limits.token, at))
    snap = Snapshot(
        leases=count or 0,
        earliest_expiry=earliest,
        cap_until=cap_until or 0.0,
        paused_until=paused_until or 0.0,
        used=used or 0,
        limit_override=limit,
        poll_at=poll_at if req.poll_key else None,
    )
    decision = decide(req, snap, at)
    if not isinstance(decision, Granted):
        return moment.told(decision), None
    conn.execute(
        "INSERT INTO leases VALUES (?, ?, ?)",
        (lease_id, req.limits.token, moment.keep(decision.expires)),
    )
    if used is None:
        conn.execute(
            "INSERT INTO quota (operation, day, used) VALUES (?, ?, 1) "
            "ON CONFLICT (operation, day) DO UPDATE SET used = used + 1",
            (req.limits.operation, req.day),
        )
    else:  # (the row is there: a plain update is cheaper)
        conn.execute(
            "UPDATE quota SET used = used + 1 WHERE operation = ? AND day = ?",
            (req.limits.operation, req.day),
        )
    if req.poll_key:
        conn.execute(
            "INSERT OR REPLACE INTO stamps VALUES (?, ?, ?, ?)",
            (req.poll_key, moment.keep(at), moment.keep(at + req.limits.poll_interval), lease_id),
        )
    lease = LeaseRecord(
        id=lease_id,
        token=req.limits.token,
        operation=req.limits.operation,
        day=req.day,
        poll_key=req.poll_key,
    )
    return moment.told(decision), lease


def release_plain(conn: sqlite3.Connection, lease: LeaseRecord, done: Release) -> None:
    """End the lease; undo the quota unit and stamp when asked (no time involved)."""
    conn.execute("DELETE FROM leases WHERE token = ? AND id = ?", (lease.token, lease.id))
    if done.refund:
        conn.execute(
            "UPDATE quota SET used = MAX(0, used - 1) WHERE operation = ? AND day = ?",
            (lease.operation, lease.day),
        )
    if (done.refund or done.unstamp) and lease.poll_key:
        conn.execute("DELETE FROM stamps WHERE key = ? AND lease = ?", (lease.poll_key, lease.id))


def release(conn: sqlite3.Connection, moment: Moment, lease: LeaseRecord, done: Release) -> None:
    """End or hold the lease; undo the quota unit and stamp when asked; apply what the
    server said, at ``moment`` (the release's own)."""
    at = moment.at
    if done.hold_until is not None and done.hold_until > done.now:
        # (a lease already expired is not revived)
        conn.execute(
            "UPDATE leases SET expires = ? WHERE token = ? AND id = ? AND expires > ?",
            (moment.keep(moment.to_ledger(done.hold_until)), lease.token, lease.id, at),
        )
    else:
        conn.execute("DELETE FROM leases WHERE token = ? AND id = ?", (lease.token, lease.id))
    if done.refund:
        conn.execute(
            "UPDATE quota SET used = MAX(0, used - 1) WHERE operation = ? AND day = ?",
            (lease.operation, lease.day),
        )
    if (done.refund or done.unstamp) and lease.poll_key:
        conn.execute("DELETE FROM stamps WHERE key = ? AND lease = ?", (lease.poll_key, lease.id))
    conn.execute("DELETE FROM stamps WHERE free_at < ?", (at - STAMPS_KEPT,))
    for column, seconds in (("cap_until", done.cap_for), ("paused_until", done.pause_for)):
        if seconds > 0:
            raise_until(conn, column, lease.token, moment.keep(at + seconds))
    if done.spent:
        conn.execute(
            "UPDATE quota SET limit_override = used WHERE operation = ? AND day = ?",
            (lease.operation, lease.day),
        )
