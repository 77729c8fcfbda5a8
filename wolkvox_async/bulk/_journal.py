"""The upload journal: which chunk of which load is where, so a crash loses and doubles nothing.

A chunk is journaled as SENDING before its request leaves, DONE after Wolkvox accepted it,
and PENDING when Wolkvox refused it before doing anything (sent again on resume). A chunk
found SENDING on restart, or whose answer was lost (a timeout or a reset
after sending), has an unknown outcome: its records may or may not be in the campaign, and
it is reconciled against the campaign before anything of it is sent again. Without a path
the journal lives in memory and covers one run; with a path (SQLite) it covers restarts.
A finished load is marked so (with its summary) and kept: running it again sends nothing.

A journal names its load (:func:`identity`): the server's host, the operation, the
campaign, the campaign type and the chunk size. A journal of another load is refused,
naming what differs, so a journal of one server is never taken for a load on another.
A file that cannot be a journal (a folder, another program's database, not a database, an
unwritable place, a full disk) is a :class:`JournalError` naming the file and what to do.
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from .._errors import ConfigError
from ._outcomes import JournalError

__all__ = [
    "NOT_SENT",
    "ChunkState",
    "Journal",
    "identity",
    "mismatch",
    "read_meta",
    "remove",
    "server_of",
]

_TABLES = frozenset({"job", "chunks", "meta"})

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
    run it until then + the timeout (it got it later than it left). Journals from before
    this column read 0: long over."""
    digest: str = ""
    """A checksum of the chunk's records as loaded (DONE): a resume whose input differs
    there is refused. Empty in journals from before this column."""


def server_of(base_url: str) -> str:
    """The server a client talks to, as a journal names it: the base URL's host[:port]."""
    return urlsplit(base_url).netloc.lower()


def identity(
    *, server: str, operation: str, campaign_id: str, campaign_type: str, chunk_size: int
) -> dict[str, Any]:
    """What makes two loads one: the same journal may continue only the same load."""
    return {
        "campaign": campaign_id,
        "chunk_size": chunk_size,
        "server": server,
        "operation": operation,
        "type": campaign_type,
    }


_NAMES = {
    "server": "server",
    "operation": "operation",
    "campaign": "campaign",
    "type": "campaign type",
    "chunk_size": "chunk size",
}


def mismatch(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> str | None:
    """What differs between a journal's load and this one, in words (None: the same).
    A journal written before a field was part of the identity lacks it: not a difference."""
    differ = [
        f"{_NAMES.get(key, key)} {stored[key]!r} (this load: {value!r})"
        for key, value in wanted.items()
        if key in stored and stored[key] != value
    ]
    return "; ".join(differ) or None


@contextmanager
def _unusable(path: Path, doing: str) -> Iterator[None]:
    """SQLite's and the system's errors on the journal, as a JournalError saying what to do."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        text = str(exc)
        low = text.lower()
        if "full" in low or "no space" in low or "disk i/o" in low:
            reason, fix = "the disk is full or failing", "free some space, then run it again"
        elif "readonly" in low or "read-only" in low or isinstance(exc, PermissionError):
            reason, fix = "it cannot be written", "give a journal path this user can write"
        elif "not a database" in low or "malformed" in low:
            reason = "it is not an upload journal (not a SQLite database)"
            fix = "give another journal path; this file is not ours to change"
        elif "locked" in low or "busy" in low:
            reason = "another process holds its database lock"
            fix = "wait for it, then run it again"
        else:
            reason, fix = "it cannot be used", "give another journal path"
        raise JournalError(
            path=str(path), reason=f"{reason} while {doing} ({type(exc).__name__}: {text})", fix=fix
        ) from None


def check_path(path: Path, *, make_folder: bool = True) -> None:
    """Refuse, before anything is made or sent, a journal path that cannot be a journal: a
    folder, a file under something that is not a folder, another program's database; with
    ``make_folder``, make its folder."""
    if path.is_dir():
        raise JournalError(
            path=str(path), reason="it is a folder", fix="give a journal path that names a file"
        )
    if make_folder:
        with _unusable(path, "making its folder"):
            path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    with _unusable(path, "reading it"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {
                r[0]
                for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("sqlite_")
            }
        finally:
            conn.close()
    if tables and not tables <= _TABLES:
        raise JournalError(
            path=str(path),
            reason=f"it is another program's database (tables {', '.join(sorted(tables))})",
            fix="give another journal path; this file is not ours to change",
        )


class Journal:
    """Chunk states of one load, in memory or in a SQLite file.

    Raises:
        JournalError: the file cannot be a journal (see :func:`check_path`) or be written.
        ConfigError: the journal belongs to another load (its identity differs).
    """

    def __init__(self, path: str | Path | None, *, spec: Mapping[str, Any]) -> None:
        self.path = None if path is None else Path(path)
        self.created = False
        """This run made the file (so it may remove it when nothing of it landed)."""
        self._entries: dict[int, _Entry] = {}
        self._meta: dict[str, Any] = {}
        self._conn: sqlite3.Connection | None = None
        self.spec = dict(spec)
        self.job = json.dumps(self.spec)
        if self.path is None:
            return
        check_path(self.path)
        self.created = not self.path.exists()
        try:
            self._open(self.path)
        except BaseException:
            if self.created:
                remove(self.path)
            raise

    def _open(self, path: Path) -> None:
        with _unusable(path, "opening it"):
            conn = sqlite3.connect(path, isolation_level=None)
        try:
            with _unusable(path, "opening it"):
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")  # a DONE must survive a power cut
                conn.executescript(
                    "CREATE TABLE IF NOT EXISTS job (spec TEXT NOT NULL);"
                    "CREATE TABLE IF NOT EXISTS chunks (idx INTEGER PRIMARY KEY,"
                    " state TEXT NOT NULL, landed INTEGER NOT NULL DEFAULT 0,"
                    " sent_at REAL NOT NULL DEFAULT 0, digest TEXT NOT NULL DEFAULT '');"
                    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                )
                columns = {row[1] for row in conn.execute("PRAGMA table_info(chunks)")}
                if "sent_at" not in columns:  # a journal written before sent_at was kept
                    conn.execute("ALTER TABLE chunks ADD COLUMN sent_at REAL NOT NULL DEFAULT 0")
                if "digest" not in columns:
                    conn.execute("ALTER TABLE chunks ADD COLUMN digest TEXT NOT NULL DEFAULT ''")
                row = conn.execute("SELECT spec FROM job").fetchone()
            stored = _spec(row[0]) if row is not None else None
            with _unusable(path, "opening it"):
                for idx, state, landed, sent_at, digest in conn.execute(
                    "SELECT idx, state, landed, sent_at, digest FROM chunks"
                ):
                    # "failed" is what journals before PENDING called a refused chunk.
                    state = ChunkState.PENDING if state == "failed" else ChunkState(state)
                    self._entries[idx] = _Entry(state, landed, sent_at, digest)
                meta = conn.execute("SELECT key, value FROM meta").fetchall()
                self._meta = {k: json.loads(v) for k, v in meta}
            if stored is not None and (differ := mismatch(stored, self.spec)) is not None:
                if not self.untouched or self.finished() is not None:
                    raise ConfigError(
                        f"journal {path} belongs to another load: its {differ}. Use another "
                        "journal path for this load, or the same server, campaign and "
                        "options to continue that one"
                    )
                # Nothing of that load landed, nor may have: it knows nothing this one
                # could use or double. This load starts it afresh.
                with _unusable(path, "starting it afresh"):
                    conn.executescript("DELETE FROM chunks; DELETE FROM meta;")
                self._entries, self._meta = {}, {}
            with _unusable(path, "opening it"):
                if row is None:
                    conn.execute("INSERT INTO job VALUES (?)", (self.job,))
                elif stored != self.spec:  # another load's (afresh), or an older journal's
                    conn.execute("UPDATE job SET spec = ?", (self.job,))
        except BaseException:
            conn.close()
            raise
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
        if self._conn is not None and self.path is not None:
            # Written first: a state the file does not hold is not known to have happened.
            with _unusable(self.path, f"recording chunk {index}"):
                self._conn.execute(
                    "INSERT OR REPLACE INTO chunks (idx, state, landed, sent_at, digest)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (index, state.value, landed, sent_at, digest),
                )
        self._entries[index] = _Entry(state, landed, sent_at, digest)

    @property
    def last_done(self) -> int:
        """The highest index of a chunk that landed (-1: none)."""
        return max((i for i, e in self._entries.items() if e.state is ChunkState.DONE), default=-1)

    @property
    def untouched(self) -> bool:
        """Nothing of this load is, or may be, in the campaign: every chunk ever marked
        was refused before anything was done (or none was). Such a journal knows nothing a
        fresh run would not find out again."""
        return all(e.state is ChunkState.PENDING for e in self._entries.values())

    def close(self) -> None:
        """Close the file."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def discard(self) -> None:
        """Close and remove the file (a load of which nothing landed leaves no journal)."""
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
        if self._conn is not None and self.path is not None:
            with _unusable(self.path, f"recording its {key}"):
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    (key, json.dumps(value)),
                )
        self._meta[key] = value

    def get(self, key: str) -> Any:
        """What :meth:`put` kept under ``key``, or None."""
        return self._meta.get(key)


def _spec(text: str) -> dict[str, Any]:
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def remove(path: str | Path) -> None:
    """Delete a journal file and SQLite's side files (WAL, shared memory)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """What a journal file keeps beside its chunks (options, fingerprint, finished), its
    load's identity (``job``) and its chunks' count and records landed, without opening it
    as a load; None when there is no such file.

    Raises:
        JournalError: the file is not a journal, or cannot be read.
    """
    path = Path(path)
    check_path(path, make_folder=False)
    if not path.exists():
        return None
    with _unusable(path, "reading it"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            rows = conn.execute("SELECT key, value FROM meta") if "meta" in tables else []
            meta = {key: json.loads(value) for key, value in rows}
            if "job" in tables and (job := conn.execute("SELECT spec FROM job").fetchone()):
                meta["job"] = _spec(job[0])
            if "chunks" in tables:
                count, landed, known = conn.execute(
                    "SELECT count(*), coalesce(sum(CASE WHEN state = 'done' THEN landed END), 0),"
                    " count(CASE WHEN state != 'pending' AND state != 'failed' THEN 1 END)"
                    " FROM chunks"
                ).fetchone()
                meta.update(chunks=count, landed=landed, touched=known)
            return meta
        finally:
            conn.close()
