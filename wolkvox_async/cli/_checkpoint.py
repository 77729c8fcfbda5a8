"""The files of an export into ``-o OUTPUT`` while it runs: the rows so far, the
checkpoint that says how far they reach, and the windows read ahead of them.

* ``OUTPUT.partial``: the rows, renamed over OUTPUT only when the export completed.
* ``OUTPUT.partial.json``: the checkpoint, written atomically when the partial file is
  made, after each window and inside a window at the cap (each 60,000 rows): the Wolkvox
  second the rows reach (``through``), their count and the partial file's byte length
  then. A continuation truncates the partial file to that length (rows written past it,
  by a run stopped mid-window, go) and reads from the next second.
* ``OUTPUT.partial.ahead``: windows a stopped run had read whole past its rows (Ctrl-C,
  SIGTERM, or a failed window beside them), as they will be written, named in the
  checkpoint with their place in this file. A continuation puts them in their turn
  instead of reading them again, which Wolkvox allows only 5 minutes after the first read.

* ``OUTPUT.partial.assembling``: a Parquet or Arrow file being made from the partial
  file's segments once every window is in (``_columnar``), renamed over OUTPUT.

* ``OUTPUT.partial.lock``: held (an OS lock, which dies with its process) for the whole
  export, so a second export into OUTPUT, plain or ``--resume``, is refused while one runs
  instead of writing the same rows beside it. (No lock where the OS has no ``fcntl``.)

Files holding customer rows that we create (the checkpoint, the ahead file) are 0600
(DESIGN.md §9); the partial file is the user's output and follows the umask.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..bulk import DownloadProgress, WindowRows

if sys.platform != "win32":
    import fcntl

__all__ = ["Busy", "Checkpoint", "Encode"]

Encode = Callable[[Sequence[Any]], bytes]
"""A window's rows as the export's writer writes them (``RowWriter.encode``)."""


class Busy(Exception):
    """Another export into the same output is running; the message says whose."""


class Checkpoint:
    """The partial file's companions, and the state they hold."""

    def __init__(self, target: Path, job: dict[str, Any]) -> None:
        self.partial = target.with_name(target.name + ".partial")
        self.path = target.with_name(target.name + ".partial.json")
        self.ahead_file = target.with_name(target.name + ".partial.ahead")
        self.lock_file = target.with_name(target.name + ".partial.lock")
        self.assembling = target.with_name(target.name + ".partial.assembling")
        self._lock: int | None = None
        self.state: dict[str, Any] = {
            "job": job,
            "through": None,
            "rows": 0,
            "bytes": 0,
            "ahead": [],
        }

    def lock(self) -> None:
        """Hold the export's lock until :meth:`unlock` or the process ends.

        Raises:
            Busy: another process holds it (its pid, host and since when in the message).
        """
        if sys.platform == "win32":
            return
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 300).decode("utf-8", "replace").strip()
                os.close(fd)
                raise Busy(holder or "another process") from None
            try:
                same = os.stat(self.lock_file).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # its holder removed it as we opened it: lock the new one
        since = datetime.now().astimezone().isoformat(timespec="seconds")
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}".encode())
        self._lock = fd

    def unlock(self) -> None:
        """Remove the lock file and let go (removed first: whoever opens it next locks a
        file that is gone, sees so and opens the new one)."""
        fd, self._lock = self._lock, None
        if fd is not None:
            self.lock_file.unlink(missing_ok=True)
            os.close(fd)

    @property
    def through(self) -> datetime | None:
        """The second (Wolkvox time) the rows written reach, if any."""
        through = self.state["through"]
        return None if through is None else datetime.fromisoformat(through)

    def exists(self) -> bool:
        return self.path.exists()

    def load(self) -> dict[str, Any]:
        """Read the saved state; the job it was for (for the caller to compare)."""
        self.state = json.loads(self.path.read_text())
        self.state.setdefault("ahead", [])
        job: dict[str, Any] = self.state["job"]
        return job

    def save(self) -> None:
        """Write the checkpoint atomically (a crash leaves the old one or the new one)."""
        scratch = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(json.dumps(self.state))
        os.replace(scratch, self.path)

    def reached(self, done: DownloadProgress, rows: int, size: int) -> None:
        """The rows are written through ``done``: save it."""
        through = done.through if done.through is not None else done.window_end
        self.state.update(through=through.isoformat(), rows=rows, bytes=size)
        self.save()

    def held(self) -> list[tuple[datetime, datetime]]:
        """The windows kept in the ahead file, as ``held`` for the download."""
        return [
            (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
            for w in self.state["ahead"]
        ]

    def keep(self, windows: Iterable[WindowRows[Any]], encode: Encode) -> None:
        """Append windows read past the rows written to the ahead file, as they will be
        written (``encode``: the export's writer's; no CSV header, they go into the
        middle of the output), and name them in the checkpoint (saved by the caller) with
        their place in that file."""
        windows = list(windows)
        if not windows:
            return
        fd = os.open(self.ahead_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as spill:
            for window in windows:
                data = encode(window.rows)
                at = spill.seek(0, os.SEEK_END)
                spill.write(data)
                spill.flush()
                self.state["ahead"].append(
                    {
                        "start": window.start.isoformat(),
                        "end": window.end.isoformat(),
                        "rows": len(window.rows),
                        "at": at,
                        "bytes": len(data),
                    }
                )

    def take(self, done: DownloadProgress) -> tuple[bytes, int]:
        """The rows of the kept window ``done`` reports (as written, and their count),
        taken out of the checkpoint's list."""
        window: dict[str, Any]
        for window in self.state["ahead"]:
            if datetime.fromisoformat(window["start"]) == done.window_start:
                self.state["ahead"].remove(window)
                with self.ahead_file.open("rb") as spill:  # offsets are bytes (tell())
                    spill.seek(window["at"])
                    data = spill.read(window["bytes"])
                return data, int(window["rows"])
        raise AssertionError(f"no kept window starts at {done.window_start}")

    def drop(self, *, partial: bool = False) -> None:
        """Remove the checkpoint, the ahead file and a columnar file being assembled (and
        the partial file)."""
        files = (self.path, self.ahead_file, self.assembling)
        for path in (*files, *([self.partial] if partial else [])):
            path.unlink(missing_ok=True)
