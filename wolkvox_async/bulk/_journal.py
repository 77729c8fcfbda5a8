"""The upload journal: which chunk of which load is where, so a crash loses and doubles nothing.

A chunk is journaled as SENDING before its request leaves, DONE after Wolkvox accepted it,
and PENDING when Wolkvox refused it before doing anything (sent again on resume). A chunk
found SENDING on restart, or whose answer was lost (a timeout or a reset
after sending), has an unknown outcome: its records may or may not be in the campaign, and
it is reconciled against the campaign before anything of it is sent again. Without a path
the journal lives in memory and covers one run; with a path (SQLite) it covers restarts.
A finished load is marked so (with its summary) and kept: running it again sends nothing.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from pathlib import Path
from typing import Any

import attrs

from .._errors import ConfigError

__all__ = ["NOT_SENT", "ChunkState", "Journal", "read_meta", "remove"]

NOT_SENT = -1.0
"""``sent_at`` of a chunk marked SENDING whose request waits for admission."""


class ChunkState(enum.StrEnum):
    """Where a chunk is."""

    SENDING = "sending"
    """Its request may have left: outcome unknown until reconciled."""
    DONE = "done"
    """Wolkvox accepted it."""
    PENDING = "pending"
    """Refused before anything was done (a limit, maintenance, a fatal answer): none of its
    records are in the campaign; a resume sends it."""


@attrs.frozen
class _Entry:
    state: ChunkState
    landed: int
    sent_at: float = 0.0
    """Wall time the chunk's request last left (NOT_SENT: it had not yet): the server may
    run it until then + 60 s. Journals from before this column read 0: long over."""
    digest: str = ""
    """A checksum of the chunk's records as loaded (DONE): a resume whose input differs
    there is refused. Empty in journals from before this column."""


class Journal:
    """Chunk states of one load (campaign, chunk size), in memory or in a SQLite file."""

    def __init__(self, path: str | Path | None, *, campaign_id: str, chunk_size: int) -> None:
        self.path = None if path is None else Path(path)
        self.created = self.path is not None and not self.path.exists()
        """This run made the file (so it may remove it when it sent nothing)."""
        self._entries: dict[int, _Entry] = {}
        self._meta: dict[str, Any] = {}
        self._conn: sqlite3.Connection | None = None
        self.job = json.dumps({"campaign": campaign_id, "chunk_size": chunk_size})
        if path is None:
            return
        conn = sqlite3.connect(Path(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # a DONE must survive a power cut
        conn.executescript(
            "CREATE TABLE IF NOT EXISTS job (spec TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS chunks (idx INTEGER PRIMARY KEY, state TEXT NOT NULL,"
            " landed INTEGER NOT NULL DEFAULT 0, sent_at REAL NOT NULL DEFAULT 0,"
            " digest TEXT NOT NULL DEFAULT '');"
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
        if "sent_at" not in columns:  # a journal written before sent_at was kept
            conn.execute("ALTER TABLE chunks ADD COLUMN sent_at REAL NOT NULL DEFAULT 0")
        if "digest" not in columns:
            conn.execute("ALTER TABLE chunks ADD COLUMN digest TEXT NOT NULL DEFAULT ''")
        row = conn.execute("SELECT spec FROM job").fetchone()
        if row is None:
            conn.execute("INSERT INTO job VALUES (?)", (self.job,))
        elif row[0] != self.job:
            conn.close()
            raise ConfigError(
                f"journal {path} belongs to another load ({row[0]}); this one is {self.job}: "
                "use a new journal path, or the same campaign and chunk_size to resume"
            )
        for idx, state, landed, sent_at, digest in conn.execute(
            "SELECT idx, state, landed, sent_at, digest FROM chunks"
        ):
            # "failed" is what journals before PENDING called a refused chunk.
            state = ChunkState.PENDING if state == "failed" else ChunkState(state)
            self._entries[idx] = _Entry(state, landed, sent_at, digest)
        self._meta = {k: json.loads(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        self._conn = conn

    def state(self, index: int) -> _Entry | None:
        """What is known of chunk ``index``."""
        return self._entries.get(index)

    def mark(
        self,
        index: int,
        state: ChunkState,
        landed: int = 0,
        sent_at: float = 0.0,
        digest: str = "",
    ) -> None:
        """Record a chunk's state durably (before the next step happens)."""
        self._entries[index] = _Entry(state, landed, sent_at, digest)
        if self._conn is not None:
            self._conn.execute(
                "INSERT OR REPLACE INTO chunks (idx, state, landed, sent_at, digest)"
                " VALUES (?, ?, ?, ?, ?)",
                (index, state.value, landed, sent_at, digest),
            )

    @property
    def last_done(self) -> int:
        """The highest index of a chunk that landed (-1: none)."""
        return max((i for i, e in self._entries.items() if e.state is ChunkState.DONE), default=-1)

    @property
    def untouched(self) -> bool:
        """Nothing of this load was ever marked: no request can have left."""
        return not self._entries

    def close(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def discard(self) -> None:
        """Close and remove the file (a load that sent nothing leaves no journal)."""
        self.close()
        if self.path is not None:
            remove(self.path)

    # ---- what the load was, and whether it finished -------------------------------------

    def finished(self) -> dict[str, Any] | None:
        """The summary stored when the load finished (None: it has not)."""
        return self._meta.get("finished")

    def finish(self, summary: dict[str, Any]) -> None:
        """Mark the load finished: a later run with this journal sends nothing."""
        self.put("finished", summary)

    def put(self, key: str, value: Any) -> None:
        """Keep ``value`` (JSON) under ``key``: the options that shape the load, say."""
        self._meta[key] = value
        if self._conn is not None:
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, json.dumps(value))
            )

    def get(self, key: str) -> Any:
        """What :meth:`put` kept under ``key``, or None."""
        return self._meta.get(key)


def remove(path: str | Path) -> None:
    """Delete a journal file and SQLite's side files (WAL, shared memory)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """What a journal file keeps beside its chunks (options, fingerprint, finished), without
    opening it as a load; None when there is no such file."""
    if not Path(path).exists():
        return None
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        rows = conn.execute("SELECT key, value FROM meta") if "meta" in tables else []
        meta = {key: json.loads(value) for key, value in rows}
        if "chunks" in tables:
            meta["chunks"] = conn.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return meta
    finally:
        conn.close()
