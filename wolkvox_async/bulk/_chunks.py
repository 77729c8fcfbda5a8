"""The pieces a load is cut into: a chunk (rows and JSON body), its checksum, and the
source read in batches."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from itertools import islice
from typing import Any

import attrs

from ..models import Record

__all__ = ["Chunk", "RecordSource", "batches", "digest"]

RecordSource = Iterable[Record | Mapping[str, Any]] | AsyncIterable[Record | Mapping[str, Any]]


@attrs.define(eq=False)
class Chunk:
    index: int
    rows: list[int]
    """The input rows (1-based) of its records, in order."""
    body: bytes
    """The JSON array of its wire records, encoded by the reader ahead of the chunk's turn
    to send. Only the bytes are kept: 10,000 dicts per chunk in flight outlived the
    collector's young generation and made its full passes (tens of ms) land mid-load."""

    checksum: str = attrs.field(init=False)
    """:func:`digest` of the body, taken by the reader as the chunk is made, not by a
    sender between an answer and its next request."""

    def __attrs_post_init__(self) -> None:
        self.checksum = digest(self.body)

    @property
    def size(self) -> int:
        return len(self.rows)

    def records(self) -> list[dict[str, str]]:
        """The wire records, decoded again (only a reconciliation needs them)."""
        records: list[dict[str, str]] = json.loads(self.body)
        return records


def digest(body: bytes) -> str:
    """A checksum of a chunk as encoded (CRC-32: it detects a changed input, it does not
    defend against a forged one)."""
    return f"{zlib.crc32(body):08x}:{len(body)}"


async def batches(
    source: RecordSource, size: int, turn: Callable[[], Awaitable[None]]
) -> AsyncIterator[list[Record | Mapping[str, Any]]]:
    """The source in lists of ``size`` items, each read after ``await turn()`` (the reader's
    turn on the loop); a plain iterable is read without an await per item (a million-row
    load pays for the async machinery once per batch)."""
    await turn()
    if isinstance(source, AsyncIterable):
        batch: list[Record | Mapping[str, Any]] = []
        async for item in source:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
                await turn()
        if batch:
            yield batch
        return
    items = iter(source)
    while batch := list(islice(items, size)):
        yield batch
        await turn()
