"""An export's partial file, opened for its format: written rows, and their writer.

CSV and JSONL rows are written to ``OUTPUT.partial`` as they come (``_files.RowWriter``);
Parquet and Arrow rows are spooled there window by window (``_columnar``) and assembled
at the end. Either way the checkpoint (``_checkpoint``) names the file's byte length
after each window, and a continuation cuts the file back to it before appending.
"""

from __future__ import annotations

from typing import IO, Any

from ._checkpoint import Checkpoint
from ._columnar import COLUMNAR, ColumnarWriter
from ._files import RowWriter

__all__ = ["Output", "Writer", "open_partial"]

Writer = RowWriter | ColumnarWriter


class Output:
    """The open partial file and the writer of its rows."""

    def __init__(self, file: IO[Any], writer: Writer) -> None:
        self.file, self.writer = file, writer


def open_partial(
    saved: Checkpoint, columns: list[str], *, excel_safe: bool, resume: bool
) -> Output:
    """The partial file, fresh (its header written and a first checkpoint saved, so a stop
    at any moment leaves an export to continue) or continued (cut back to its checkpoint:
    rows past it, of a window a stop cut short, are read again, never written twice)."""
    job = saved.state["job"]
    fmt = job["format"]
    if fmt in COLUMNAR:
        spool = saved.partial.open("ab" if resume else "wb")
        if resume:
            spool.truncate(saved.state["bytes"])
            spool.seek(saved.state["bytes"])
        writer: Writer = ColumnarWriter(spool, job["report"], count=saved.state["rows"])
        file: IO[Any] = spool
    elif not resume:
        file = saved.partial.open("w", newline="", encoding="utf-8")
        writer = RowWriter(file, fmt, columns, excel_safe=excel_safe)
    else:
        file = saved.partial.open("a", newline="", encoding="utf-8")
        file.truncate(saved.state["bytes"])
        file.seek(saved.state["bytes"])
        header = not saved.state["bytes"]
        writer = RowWriter(file, fmt, columns, header=header, excel_safe=excel_safe)
        writer.count = saved.state["rows"]
    if not resume:
        file.flush()
        saved.state["bytes"] = file.tell()
        saved.save()
    return Output(file, writer)
