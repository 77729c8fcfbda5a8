"""The pieces a load is cut into, and the one request that sends records.

A chunk (rows and JSON body) and its checksum, the source read in batches, the input's
default fingerprint (its first records), and :func:`send_records` (every chunk, and
``add_record``, which the client hands it)."""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from itertools import islice
from typing import TYPE_CHECKING, Any

import attrs

from ..calls._routes import ADD_RECORD
from ..endpoints._records import Checked, WireRecord, check_rows, encode_records
from ..models import AddRecordResult, CampaignType, Record

if TYPE_CHECKING:
    from ..calls._call import Caller

__all__ = [
    "HEAD",
    "Chunk",
    "RecordSource",
    "batches",
    "body_of",
    "encoded",
    "head_print",
    "send_records",
]

HEAD = 100
"""Records whose wire form make an input's default fingerprint (see :func:`head_print`)."""

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
    """A checksum of the body as encoded (CRC-32 and length: it detects a changed input, it
    does not defend against a forged one), taken by the reader as the chunk is made, not
    by a sender between an answer and its next request."""
    size: int = attrs.field(init=False)
    """Its records."""

    def __attrs_post_init__(self) -> None:
        body = self.body
        self.checksum = f"{zlib.crc32(body):08x}:{len(body)}"
        self.size = len(self.rows)

    def records(self) -> list[dict[str, str]]:
        """The wire records, decoded again (only a reconciliation needs them)."""
        records: list[dict[str, str]] = json.loads(self.body)
        return records


def encoded(checked: Checked, start: int, stop: int) -> memoryview:
    """The JSON of ``checked.records[start:stop]`` without its brackets, a part of a
    chunk's body: a view of the batch's bytes, not a copy, when that is the whole batch
    (always but where a batch ends one chunk and begins the next)."""
    if start == 0 and stop >= len(checked.records):
        return memoryview(checked.body)[1:-1]
    return memoryview(encode_records(checked.records[start:stop]))[1:-1]


def body_of(parts: list[memoryview]) -> bytes:
    """The JSON array of the records of ``parts`` (each non-empty, from :func:`encoded`),
    made in one copy: brackets and commas joined with the parts, not added after."""
    if not parts:
        return b"[]"
    pieces: list[bytes | memoryview] = [b","] * (2 * len(parts) + 1)
    pieces[0], pieces[-1] = b"[", b"]"
    pieces[1::2] = parts
    return b"".join(pieces)


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


async def head_print(source: RecordSource, kind: CampaignType) -> tuple[RecordSource, str | None]:
    """The input's default fingerprint, and the source to read from now on.

    The fingerprint is a SHA-256 of the wire form of the input's first ``HEAD`` valid
    records, as they would be sent. It is deterministic for the same input (the same
    records make the same bytes), known before anything is sent (a stream's whole content
    is not: it is read while the load runs), cheap (a bounded read, put back in front of
    the source), and does not depend on the chunk size or the journal, so the same input
    loaded with other options is still the same input. Two inputs that share their first
    100 records are one to it: loading both into one campaign would put at least those
    records there twice, so refusing the second while the first runs (or after it loaded,
    from another journal) is what the caller needs. To key on the whole input instead (a
    file's SHA-256, as the ``wolkvox`` command does), pass ``fingerprint=``. None when the
    head holds no valid record (then nothing can be sent, nor needs claiming, before a
    bad row stops the load).
    """
    head: list[Record | Mapping[str, Any]]
    rest: RecordSource
    if isinstance(source, Sequence):
        head, rest = list(source[:HEAD]), source
    elif isinstance(source, AsyncIterable):
        items = aiter(source)
        head = []
        async for item in items:
            head.append(item)
            if len(head) == HEAD:
                break
        rest = _chained(head, items)
    else:
        iterator = iter(source)
        head = list(itertools.islice(iterator, HEAD))
        rest = itertools.chain(head, iterator)
    checked = check_rows(head, kind, 1)
    if not checked.records:
        return rest, None
    return rest, "head:" + hashlib.sha256(checked.body).hexdigest()


async def _chained(
    head: Iterable[Record | Mapping[str, Any]], rest: AsyncIterator[Record | Mapping[str, Any]]
) -> AsyncIterator[Record | Mapping[str, Any]]:
    for item in head:
        yield item
    async for item in rest:
        yield item


async def send_records(
    caller: Caller,
    cid: str,
    kind: CampaignType,
    campaign_status: str,
    body: list[WireRecord] | bytes,
    count: int,
    on_send: Callable[[float], None] | None = None,
    on_written: Callable[[], None] | None = None,
) -> AddRecordResult:
    """Send checked records (or their JSON, encoded ahead by a bulk load)."""
    # The URL of the docs' examples, both types: the predictive seed's and the preview
    # site page's carry campaign_status (Postman's preview request omits it, §5 #2.2: a
    # superset of both).
    params = {"type_campaign": kind.value, "campaign_id": cid, "campaign_status": campaign_status}
    _, envelope = await caller.call(
        ADD_RECORD, params, body, on_send=on_send, on_written=on_written
    )
    rows = envelope.payload if isinstance(envelope.payload, list) else [envelope.payload]
    first: Any = rows[0] if rows and isinstance(rows[0], dict) else {}
    # total_registers: typed int in the add_record table, a string (often " ") in the
    # samples (§5 #2.1); either is read, anything else is None.
    total = first.get("total_registers")
    if isinstance(total, str):
        total = int(total.strip()) if total.strip().isdigit() and total.isascii() else None
    elif isinstance(total, bool) or not isinstance(total, int) or total < 0:
        total = None
    return AddRecordResult(sent=count, total_registers=total, message=envelope.message)
