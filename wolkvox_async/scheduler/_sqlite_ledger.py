"""The SQLite ledger's file: its schema, its own row (the ledger's time, its birth, its
pause), and what an error of the file means.

Time. The processes of a host write one ledger, each with its own reading of the clock.
Were a lease's expiry judged by each reader's clock, a process whose clock runs 30 s
ahead of another's (a step of the host's clock between their reads, a container with its
own idea of the time, a test's injected clocks) would see the other's leases end 30 s
early and let a third call in. So every time the ledger stores is *ledger time*: the
ledger keeps the latest time written to it (``clock``), and each process maps its clock
onto it with an offset fixed at its first step — its reading then is the ledger's time —
and moved forward, never back, whenever another process has taken the ledger past it.
A lease therefore ends only at a time the ledger has reached, whoever's clock is ahead.
A process that finds no live lease at its first step starts the ledger's time at its own
reading if that is later (nothing of anyone's can end early), so an idle ledger follows
the host's clock. One that finds live leases takes the ledger's time as it stands, but no
more than a lease lifetime behind its own clock: leases left by a process that died while
the ledger sat idle then end at most two lifetimes after the ledger's last step (one for
their life, one for a clock behind ours), not a whole lifetime after the newcomer's
arrival however long ago their holder died. Live processes' clocks must therefore differ
by less than a lease lifetime (95 s at the default settings) or ``SKEW_ALLOWED`` if that
is longer. A forward
step of the host's clock moves every process at once and is not seen (a lease ends early
by the step); a backward step only makes leases last longer. Each time stored is no
earlier on the writer's own clock than on the ledger's (``Moment.keep``): a process of an
earlier version, which reads the file by its own clock, never sees a lease end early.

Birth. Deleting the ledger (``rm ledger.db*``, a cleanup script) takes with it the leases
of calls that may still be running at Wolkvox, and whoever opens the path next sees an
empty ledger like any first one. So the folder lists every ledger ever created in it
(``.wolkvox-ledgers``, a dotfile that ``rm *`` leaves): a ledger born where one existed
before is an *orphan*, and admits nothing for a lease lifetime after its birth (the
lost-ledger pause), whichever process asks. The very first ledger of a folder cannot have
had a predecessor and is not fenced. A file replaced under a running process (a restored
copy) is noticed by that process (another inode at the path), which puts the same pause
in the ledger it finds, for everyone (``lost_at``), unless that one is an orphan (born
after the deletion, it pauses long enough by itself).

What this cannot see: a folder deleted with its list; a ledger replaced by a copy of
another and first opened by a process that never had the one it replaced open.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

import attrs

from ._rules import Blocked, Decision, Granted

__all__ = ["HISTORY", "SCHEMA", "SKEW_ALLOWED", "LedgerTime", "Moment", "cause", "raise_until"]

log = logging.getLogger("wolkvox_async.scheduler")

SCHEMA = """
CREATE TABLE IF NOT EXISTS leases (
    id TEXT NOT NULL, token TEXT NOT NULL, expires REAL NOT NULL,
    PRIMARY KEY (token, id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota (
    operation TEXT NOT NULL, day TEXT NOT NULL, used INTEGER NOT NULL DEFAULT 0,
    limit_override INTEGER, PRIMARY KEY (operation, day));
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY,
    cap_until REAL NOT NULL DEFAULT 0, paused_until REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS stamps (key TEXT PRIMARY KEY, at REAL NOT NULL, free_at REAL NOT NULL,
    lease TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (id INTEGER PRIMARY KEY CHECK (id = 1),
    clock REAL NOT NULL, created REAL NOT NULL, orphan INTEGER NOT NULL,
    lost_at REAL NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS heartbeats (id TEXT PRIMARY KEY, at REAL NOT NULL,
    expires REAL NOT NULL, body TEXT NOT NULL);
"""
"""Every time stored (expires, at, free_at, cap_until, paused_until, and the ledger row's)
is ledger time. A lease is found by its token (an admission counts the token's leases), so
the leases are one b-tree keyed by token then id: an admission and the release folded into
it write one page of it, where a rowid table with an index on id and one on token writes
three. A file made by an earlier version keeps its own table (id key, token index): the
same statements work on both, each naming the token of the lease it deletes. The
heartbeats (``_heartbeat``) are a table of their own, made where missing: a version that
knows nothing of it works beside one that writes it (its leases show no holder)."""

SKEW_ALLOWED = 60.0
"""Seconds the clocks of a host's processes may differ, however short their leases live:
a newcomer takes the ledger's time up to the longer of this and a lease lifetime behind
its own clock (``LedgerTime.enter``)."""

HISTORY = ".wolkvox-ledgers"
"""The file, in a ledger's folder, naming every ledger ever created there (one a line)."""


@attrs.define
class Moment:
    """One step's time: the caller's clock reading and the ledger's time at it.

    Made for every step and never changed: not frozen, since a frozen attrs class sets
    each field through ``object.__setattr__`` (three times the cost)."""

    now: float
    """The caller's clock."""
    at: float
    """The ledger's time."""
    created: float
    orphan: bool
    """Born where another ledger had been (its leases may be running still)."""
    lost_at: float
    """When a process last found the ledger replaced under it (0: never)."""

    def to_ledger(self, when: float) -> float:
        return when + self.at - self.now

    def to_caller(self, when: float) -> float:
        return when + self.now - self.at

    def keep(self, when: float) -> float:
        """``when`` (ledger time) as stored: no earlier on the caller's clock either, where
        that runs ahead of the ledger's (after it joined a ledger with leases in flight),
        since a process of an earlier version reads the file by its own clock."""
        return when + max(0.0, self.now - self.at)

    def fence(self, lease_ttl: float) -> float:
        """When the lost-ledger pause ends (0: there is none)."""
        since = max(self.created if self.orphan else 0.0, self.lost_at)
        return since + lease_ttl if since else 0.0

    def told(self, decision: Decision) -> Decision:
        """``decision`` (made in ledger time) in the caller's time."""
        if self.at == self.now:
            return decision  # (the same times: the common case of one clock)
        if isinstance(decision, Granted):
            full = decision.full_until
            return Granted(
                self.to_caller(decision.expires), None if full is None else self.to_caller(full)
            )
        if isinstance(decision, Blocked) and decision.retry_at is not None:
            return Blocked(decision.reason, self.to_caller(decision.retry_at))
        return decision  # Exhausted: its reset is the caller's midnight


class LedgerTime:
    """One process's view of the ledger at ``path``: its offset onto the ledger's time,
    and a replacement it noticed but has not yet told the ledger of."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset: float | None = None
        """The ledger's time minus our clock (None: no step made yet)."""
        self.replaced = False
        """We found another file at the path: the next step records the loss in it."""
        self._told = False

    def enter(
        self, conn: sqlite3.Connection, now: float, lease_life: float | None = None
    ) -> Moment:
        """The ledger's time at our clock's ``now``, inside a step's transaction (which it
        may write: the ledger's clock, its birth, a loss we noticed). ``lease_life``: how
        long a lease of ours lives (an admission's step knows it), which bounds how far
        behind our clock the ledger's time is taken at our first step."""
        row = conn.execute("SELECT clock, created, orphan, lost_at FROM ledger").fetchone()
        if row is None:
            at = now + (self._offset or 0.0)  # our time goes on across a replaced file
            orphan = self._born(conn)
            conn.execute("INSERT INTO ledger VALUES (1, ?, ?, ?, 0)", (at, at, int(orphan)))
            row = (at, at, orphan, 0.0)
        clock, created, orphan, lost_at = row
        if self._offset is None:
            live = conn.execute("SELECT 1 FROM leases WHERE expires > ? LIMIT 1", (clock,))
            held = live.fetchone() is not None
            offset = clock - now if held or clock > now else 0.0
            if held and lease_life is not None:
                # Leases of a process killed while the ledger then sat idle: the ledger's
                # time stood still since, and would make us wait their whole life from now
                # however long ago the kill was. Their holder's clock is taken to be no more
                # than a lease lifetime (at least SKEW_ALLOWED) behind ours, so they end by
                # our clock at most one lifetime after the ledger's last step, plus that.
                offset = max(offset, -max(lease_life, SKEW_ALLOWED))
            self._offset = offset
        at = now + self._offset
        if clock > at:  # another process has taken the ledger past us: follow it
            self._offset, at = clock - now, clock
        elif at > clock:
            conn.execute("UPDATE ledger SET clock = ?", (at,))
        if self.replaced:
            # The file we had was replaced by this one. An orphan was born after ours was
            # deleted, so its own pause covers every call counted in ours; any other file
            # (a restored copy) says nothing of when ours went: the pause runs from now.
            self._told = True
            if not orphan:
                lost_at = max(lost_at, at)
                conn.execute("UPDATE ledger SET lost_at = ?", (lost_at,))
        return Moment(now, at, created, bool(orphan), lost_at)

    def committed(self) -> None:
        """The step's transaction is committed: what it recorded of a loss is in the file
        (rolled back, the next step records it again)."""
        if self._told:
            self.replaced = self._told = False

    def _born(self, conn: sqlite3.Connection) -> bool:
        """Whether the ledger being created here is an orphan; list it in the folder."""
        # A file with rows but no ledger row was made by an earlier version: not new.
        tables = ("leases", "quota", "tokens", "stamps")
        old = any(conn.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in tables)
        history = self.path.parent / HISTORY
        try:
            listed = self.path.name in history.read_text().splitlines()
        except FileNotFoundError:
            listed = False
        except OSError as exc:
            log.warning("cannot read %s (%s): the ledger's history is unknown", history, exc)
            listed = True  # unknown: the safe side is a pause
        if not listed:
            try:
                fd = os.open(history, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    os.write(fd, f"{self.path.name}\n".encode())
                finally:
                    os.close(fd)
            except OSError as exc:
                log.warning(
                    "cannot write %s (%s): if %s is deleted, the next one will not know "
                    "that calls counted in it may still run",
                    history,
                    exc,
                    self.path.name,
                )
        return listed and not old


def cause(exc: BaseException) -> str:
    """What is wrong with the file, in words (SQLite's own message kept)."""
    text = str(exc)
    lowered = text.lower()
    if "readonly" in lowered or "read-only" in lowered or isinstance(exc, PermissionError):
        why = "the file is read-only"
    elif "disk is full" in lowered or "no space" in lowered or "disk i/o" in lowered:
        why = "the disk is full or failing"
    elif "locked" in lowered or "busy" in lowered:
        why = "another process held its write lock past the busy timeout"
    elif "not a database" in lowered or "malformed" in lowered:
        why = "the file is corrupt (not a SQLite database)"
    else:
        why = "it cannot be used"
    return f"{why}: {type(exc).__name__}: {text}"


def raise_until(conn: sqlite3.Connection, column: str, token: str, until: float) -> None:
    """Move the token's ``cap_until`` or ``paused_until`` to ``until`` if that is later."""
    conn.execute("INSERT OR IGNORE INTO tokens (token) VALUES (?)", (token,))
    conn.execute(f"UPDATE tokens SET {column} = MAX({column}, ?) WHERE token = ?", (until, token))
