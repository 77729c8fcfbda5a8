"""The upload journal: which chunk of which load is where, so a crash loses and doubles nothing.

A chunk is journaled as SENDING before its request leaves, DONE after Wolkvox accepted it,
and PENDING when Wolkvox refused it before doing anything (sent again on resume). A chunk
found SENDING on restart, or whose answer was lost (a timeout or a reset
after sending), has an unknown outcome: its records may or may not be in the campaign, and
it is reconciled against the campaign before anything of it is sent again. Without a path
the journal lives in memory and covers one run; with a path (SQLite) it covers restarts.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from pathlib import Path

import attrs

from .._errors import ConfigError

__all__ = ["NOT_SENT", "ChunkState", "Journal"]

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


class Journal:
    """Chunk states of one load (campaign, chunk size), in memory or in a SQLite file."""

    def __init__(self, path: str | Path | None, *, campaign_id: str, chunk_size: int) -> None:
        self._entries: dict[int, _Entry] = {}
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
            " landed INTEGER NOT NULL DEFAULT 0, sent_at REAL NOT NULL DEFAULT 0);"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
        if "sent_at" not in columns:  # a journal written before sent_at was kept
            conn.execute("ALTER TABLE chunks ADD COLUMN sent_at REAL NOT NULL DEFAULT 0")
        row = conn.execute("SELECT spec FROM job").fetchone()
        if row is None:
            conn.execute("INSERT INTO job VALUES (?)", (self.job,))
        elif row[0] != self.job:
            conn.close()
            raise ConfigError(
                f"journal {path} belongs to another load ({row[0]}); this one is {self.job}: "
                "use a new journal path, or the same campaign and chunk_size to resume"
            )
        for idx, state, landed, sent_at in conn.execute(
            "SELECT idx, state, landed, sent_at FROM chunks"
        ):
            # "failed" is what journals before PENDING called a refused chunk.
            state = ChunkState.PENDING if state == "failed" else ChunkState(state)
            self._entries[idx] = _Entry(state, landed, sent_at)
        self._conn = conn

    def state(self, index: int) -> _Entry | None:
        """What is known of chunk ``index``."""
        return self._entries.get(index)

    def mark(self, index: int, state: ChunkState, landed: int = 0, sent_at: float = 0.0) -> None:
        """Record a chunk's state durably (before the next step happens)."""
        self._entries[index] = _Entry(state, landed, sent_at)
        if self._conn is not None:
            self._conn.execute(
                "INSERT OR REPLACE INTO chunks (idx, state, landed, sent_at) VALUES (?, ?, ?, ?)",
                (index, state.value, landed, sent_at),
            )

    def close(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
