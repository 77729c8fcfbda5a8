"""Reading a load's source into checked chunks.

Rows are checked and encoded in batches (yielding to the loop's senders between batches,
``_pace``) and cut at the chunk size; chunks a resumed load already landed are checked
against its journal and reported, not sent."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from .._errors import ConfigError
from ..endpoints._records import Checked, check_rows
from ..models import Record
from ._chunks import Chunk, RecordSource, batches, body_of, encoded
from ._journal import ChunkState
from ._results import RowFailure

if TYPE_CHECKING:
    from ._load import Load

__all__ = ["chunks_of"]

_BATCH = 100
"""Rows checked and encoded between two yields to the event loop: bounds how long a
sender's answer can wait behind the reader (``_pace``; benchmarks/upload_throughput.py)."""


async def chunks_of(
    load: Load, source: RecordSource, size: int, on_invalid: str, limit: int | None
) -> AsyncIterator[Chunk]:
    """The chunks to send. Chunks a resumed load already landed are checked against
    the journal and reported here; a chunk left pending before the last one that
    landed waits until that one has been read and checked, so a changed input is
    refused before anything of it is sent."""
    last_done = load.journal.last_done
    resumed = last_done >= 0  # else no chunk landed before: none to check or skip
    deferred: list[Chunk] = []
    async for chunk in _cut(load, source, size, on_invalid, limit):
        if resumed and _landed_before(load, chunk):
            continue
        if chunk.index < last_done:
            deferred.append(chunk)
            load.deferred += chunk.size
            continue
        while deferred:
            held = deferred.pop(0)
            load.deferred -= held.size
            yield held
        yield chunk
    while deferred:
        held = deferred.pop(0)
        load.deferred -= held.size
        yield held


def _landed_before(load: Load, chunk: Chunk) -> bool:
    """True for a chunk an earlier run landed (reported here); ConfigError when the
    input there is not what that run loaded."""
    entry = load.journal.state(chunk.index)
    if entry is None or entry.state is not ChunkState.DONE:
        return False
    if entry.digest and entry.digest != chunk.checksum:
        raise ConfigError(
            f"the input changed since it was loaded: rows {chunk.rows[0]}–"
            f"{chunk.rows[-1]} (chunk {chunk.index}) differ from what landed; resume "
            "with the input as it was, or start a new load (a new journal)"
        )
    load.report_chunk(chunk, "already_landed", entry.landed)
    return True


async def _cut(
    load: Load, source: RecordSource, size: int, on_invalid: str, limit: int | None
) -> AsyncIterator[Chunk]:
    rows: list[int] = []  # of the chunk being cut
    parts: list[memoryview] = []  # its records' JSON, batch by batch, without brackets
    index = 0
    # A sender about to send, or just answered, goes first (_pace).
    async for batch in batches(source, min(size, _BATCH), load.gate.pass_):
        load.spent.clear()
        before = len(rows)
        checked = _check(load, batch, rows, on_invalid)
        load.held = len(rows)
        # A batch is at most a chunk, so it ends at most one chunk; its records are
        # encoded here and dropped, only the bytes are kept.
        room, count = size - before, len(checked.records)
        if count:
            parts.append(encoded(checked, 0, room))
        if len(rows) < size:
            continue
        chunk = Chunk(index, rows[:size], body_of(parts))
        index += 1
        rows, parts = rows[size:], []
        if count > room:
            parts.append(encoded(checked, room, count))
        load.held = len(rows)
        yield chunk
        if limit is not None and index >= limit:
            load.stopped = load.planned  # what allow_partial planned is sent
            return
    if rows:
        if limit is not None and index >= limit:
            load.stopped = load.planned
            return
        load.held = 0
        yield Chunk(index, rows, body_of(parts))


def _check(
    load: Load, batch: list[Record | Mapping[str, Any]], rows: list[int], on_invalid: str
) -> Checked:
    """The wire forms of ``batch`` (checked once, sent as is); their rows go to ``rows``."""
    first = load.read + 1
    checked = check_rows(batch, load.kind, first)
    good_rows = checked.rows
    load.read += len(batch)
    for row, item, exc in checked.bad:
        cid = item.get("customer_id") if isinstance(item, Mapping) else None
        why = str(exc).removeprefix(f"row {row}: ")  # the row is in the failure already
        load.failures.append(RowFailure(row=row, customer_id=cid, reason=why))
        if on_invalid == "raise":
            # Read up to the bad row: the good rows before it are held, none after it.
            load.read = row
            load.held += sum(1 for r in good_rows if r < row)
            raise exc
    rows += good_rows
    return checked
