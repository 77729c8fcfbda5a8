"""The floor under the default ledger's cost: its SQL alone, from Python's sqlite3.

The statements one find_record's admission writes on the SQLite ledger, with the previous
call's release folded into its transaction (``_sqlite_steps``), run in a loop on a file
opened as the ledger opens it (WAL, synchronous NORMAL), with nothing of the library
around them: no step function, no ledger time, no lease record. What ``ledger.py``
measures above this is the library's own code. µs of this process's CPU per call, median
and min–max over the rounds; BEGIN IMMEDIATE + COMMIT alone beside it.

    taskset -c 1 python benchmarks/sql_floor.py --calls 5000 --rounds 7
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable

from wolkvox_async.scheduler._sqlite_ledger import SCHEMA
from wolkvox_async.scheduler._sqlite_steps import _SNAPSHOT

TOKEN, OPERATION, DAY = "t" * 21, "0014", "2026-12-06"


def ledger() -> sqlite3.Connection:
    conn = sqlite3.connect(os.path.join(tempfile.mkdtemp(), "ledger.db"), isolation_level=None)
    for pragma in ("page_size = 1024", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    conn.executescript(SCHEMA)
    conn.execute("INSERT INTO ledger VALUES (1, 0, 0, 0, 0)")
    conn.execute("INSERT INTO quota (operation, day, used) VALUES (?, ?, 0)", (OPERATION, DAY))
    return conn


def one_call(conn: sqlite3.Connection) -> Callable[[int], None]:
    calls = itertools.count()  # its own: the folded release deletes the lease it took last

    def call(now: int) -> None:
        i, at = next(calls), float(now)
        conn.execute("BEGIN IMMEDIATE")
        if i:  # the previous call's release, folded into this transaction
            conn.execute("DELETE FROM leases WHERE token = ? AND id = ?", (TOKEN, f"s-{i - 1}"))
        conn.execute("SELECT clock, created, orphan, lost_at FROM ledger").fetchone()
        conn.execute("UPDATE ledger SET clock = ?", (at,))
        conn.execute(_SNAPSHOT, (at, TOKEN, OPERATION, DAY, "")).fetchone()
        conn.execute("INSERT INTO leases VALUES (?, ?, ?)", (f"s-{i}", TOKEN, at + 95))
        conn.execute(
            "UPDATE quota SET used = used + 1 WHERE operation = ? AND day = ?", (OPERATION, DAY)
        )
        conn.execute("COMMIT")

    return call


def empty(conn: sqlite3.Connection) -> Callable[[int], None]:
    def call(_: int) -> None:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("COMMIT")

    return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    conn = ledger()
    parts = {
        "one call's statements (8)": one_call(conn),
        "BEGIN IMMEDIATE + COMMIT": empty(conn),
    }
    spent: dict[str, list[float]] = {name: [] for name in parts}
    n = 0
    for _ in range(args.rounds):
        for name, call in parts.items():
            started = time.process_time()
            for _ in range(args.calls):
                call(n)
                n += 1
            spent[name].append((time.process_time() - started) / args.calls * 1e6)
    for name, values in spent.items():
        print(
            f"{name:28} median {statistics.median(values):5.1f} µs "
            f"(min {min(values):.1f}, max {max(values):.1f})"
        )


if __name__ == "__main__":
    main()
