"""The pieces a load is cut into: a chunk (rows, wire records, JSON body), its checksum,
and the source read in batches."""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
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
    records: list[dict[str, str]]
    body: bytes
    """The JSON of ``records``, encoded by the reader, ahead of the chunk's turn to send."""


def digest(body: bytes) -> str:
    """A checksum of a chunk as encoded (CRC-32: ~0.1 ms per 10,000 records; it detects
    a changed input, it does not defend against a forged one)."""
    return f"{zlib.crc32(body):08x}:{len(body)}"


async def batches(
    source: RecordSource, size: int
) -> AsyncIterator[list[Record | Mapping[str, Any]]]:
    """The source in lists of ``size`` items; a plain iterable is read without an await per
    item (a million-row load pays for the async machinery once per batch)."""
    if isinstance(source, AsyncIterable):
        batch: list[Record | Mapping[str, Any]] = []
        async for item in source:
            batch.append(item)
            if len(batch) == size:
                yield batch
                batch = []
        if batch:
            yield batch
        return
    items = iter(source)
    while batch := list(islice(items, size)):
        yield batch
