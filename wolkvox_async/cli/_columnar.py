"""``wolkvox export --format parquet|arrow``: rows spooled window by window, assembled once.

A Parquet file (and an Arrow IPC file) is whole only once its footer is written, at its
close: written straight into, a stop mid-file would lose every window already done, and
nothing could be appended to it on ``--resume``. So the export's partial file
(``OUTPUT.partial``, ``_checkpoint``) is a spool: each window's rows, once delivered, are
one *segment* appended to it — an 8-byte length, then an Arrow IPC stream holding the
report's schema and one record batch — and the checkpoint saved after it names its byte
length, exactly as for CSV. A continuation cuts the spool back to the checkpoint (a
segment half written by a killed run goes) and appends; windows read ahead of a stop are
kept as segments in ``OUTPUT.partial.ahead`` and copied in their turn. When every window
is in, the spool is read segment by segment into ``OUTPUT.partial.assembling`` (a row
group per segment for Parquet; a record batch for Arrow, whose file format wants one
dictionary per column, so the dictionaries are unified in a first pass), renamed over
OUTPUT. Memory holds one window's rows (at most the 60,000 Wolkvox sends per call) at a
time, however many rows the export has.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

from ..bulk._arrow import Batcher, pyarrow

__all__ = ["COLUMNAR", "ColumnarWriter", "assemble", "segments"]

COLUMNAR: Final = ("parquet", "arrow")
_LENGTH: Final = struct.Struct("<Q")


class ColumnarWriter:
    """The rows of an export into its spool: held until their window is done
    (:meth:`flush`, before the checkpoint), then written as one segment."""

    def __init__(self, out: IO[bytes], report: str, *, count: int = 0) -> None:
        self.out = out
        self.batcher = Batcher(report)
        self.count = count
        self.unread_rows = 0
        self._pending: list[Any] = []

    @property
    def unread(self) -> str:
        """A note for the summary line: rows with values the models could not read."""
        if not self.unread_rows:
            return ""
        return (
            f" ({self.unread_rows:,} rows had values that could not be read: null in "
            "their column, kept as sent in the unread column; see the warnings)"
        )

    def add(self, row: Any) -> None:
        self._pending.append(row)
        self.count += 1

    def flush(self) -> None:
        """Write the rows held as a segment (a window done: its checkpoint comes next)."""
        if self._pending:
            self.out.write(self.encode(self._pending))
            self._pending = []

    def encode(self, rows: Sequence[Any]) -> bytes:
        """``rows`` as a segment: its length, then an IPC stream of one batch."""
        pa = self.batcher.pa
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, self.batcher.schema) as stream:
            stream.write_batch(self.batcher.batch(rows))
        data: bytes = sink.getvalue().to_pybytes()
        return _LENGTH.pack(len(data)) + data

    def put(self, data: bytes, rows: int) -> None:
        """A kept window's segment (from ``OUTPUT.partial.ahead``), in its turn."""
        self.flush()
        self.out.write(data)
        self.count += rows


def segments(spool: Path) -> Iterator[Any]:
    """The record batches of a spool, one segment at a time.

    Raises:
        ValueError: the spool ends inside a segment (it was not cut to its checkpoint).
    """
    pa = pyarrow()
    with spool.open("rb") as handle:
        while head := handle.read(_LENGTH.size):
            size = _LENGTH.unpack(head)[0] if len(head) == _LENGTH.size else -1
            data = handle.read(size) if size >= 0 else b""
            if size < 0 or len(data) != size:
                raise ValueError(f"{spool} ends inside a segment")
            yield from pa.ipc.open_stream(data)


def assemble(spool: Path, target: Path, fmt: str, report: str) -> None:
    """Write the spool's rows as a ``fmt`` file at ``target`` (synced to disk)."""
    batcher = Batcher(report)
    pa, schema = batcher.pa, batcher.schema
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetWriter(target, schema) as parquet:
            for batch in segments(spool):
                parquet.write_batch(batch)  # one row group per window
    else:
        unified = _dictionaries(spool, schema)
        with pa.OSFile(str(target), "wb") as sink, pa.ipc.new_file(sink, schema) as arrow:
            for batch in segments(spool):
                arrow.write_batch(_recoded(pa, batch, unified))
    with target.open("rb") as done:
        os.fsync(done.fileno())


def _dictionaries(spool: Path, schema: Any) -> dict[str, Any]:
    """Every value of each dictionary column over the spool, in order of appearance."""
    pa = pyarrow()
    seen: dict[str, dict[str, None]] = {
        f.name: {} for f in schema if pa.types.is_dictionary(f.type)
    }
    for batch in segments(spool):
        for name, values in seen.items():
            values.update(dict.fromkeys(batch.column(name).dictionary.to_pylist()))
    return {name: pa.array(list(values), pa.string()) for name, values in seen.items()}


def _recoded(pa: Any, batch: Any, unified: dict[str, Any]) -> Any:
    """``batch`` with its dictionary columns indexed into the unified dictionaries."""
    import pyarrow.compute as pc

    columns = list(batch.columns)
    for name, dictionary in unified.items():
        at = batch.schema.get_field_index(name)
        plain = columns[at].dictionary_decode()
        indices = pc.index_in(plain, value_set=dictionary).cast(pa.int32())
        columns[at] = pa.DictionaryArray.from_arrays(indices, dictionary)
    return pa.RecordBatch.from_arrays(columns, schema=batch.schema)
