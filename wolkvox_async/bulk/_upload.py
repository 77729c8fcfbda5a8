"""upload_records: stream any number of records into a campaign, 10,000 per call, 2 in flight.

The source (list, iterator or async iterator; Records or wire dicts) is read lazily and cut
into chunks of at most 10,000 records (wolkvox-api.md §3.1), each validated row by row
before any of it is sent. At most ``2 × max_concurrency`` chunks exist at once, whatever
the input size. Each chunk is journaled (``_journal``) around its request; a chunk whose
answer is lost after sending is reconciled against the campaign (one campaign_15 export, or
three find_record probes when the export is capped) before anything is sent again, so the
campaign ends with every input record exactly once, across crashes and restarts.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping, Sized
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import attrs

from .._errors import (
    CampaignFull,
    ConfigError,
    Maintenance,
    QuotaExhausted,
    ResponseDecodeError,
    SchedulerUnavailable,
    ServerError,
    TokenLimitExceeded,
    TooManySimultaneous,
    TransportError,
    WaitTooLong,
    WolkvoxError,
)
from .._protocol import encode_rows
from .._records import MAX_RECORDS_PER_UPLOAD, to_wire_rows
from ..models import CampaignType, Record
from ..scheduler import Priority
from ._download import MAX_ROWS
from ._journal import NOT_SENT, ChunkState, Journal
from ._reports import (
    ChunkReport,
    InsufficientQuota,
    ReconcileError,
    RowFailure,
    StopReason,
    UploadProgress,
    UploadReport,
)

if TYPE_CHECKING:
    from ..client import WolkvoxClient

__all__ = ["PATIENCE", "RecordSource", "upload_records"]  # the report types live in _reports

log = logging.getLogger("wolkvox_async.bulk")
_ATTEMPTS = 5
"""Sends of one chunk whose answers are lost before the load gives up (resumable)."""
PATIENCE = 3600.0
"""Default seconds a chunk refused before anything was done is tried again before the load
gives up (resumable): someone else may hold the token's 2 slots for a while, and a bulk
load has nothing to lose by waiting."""
_REST_FIRST, _REST_CAP = 0.5, 30.0
"""Rests between refused tries of one chunk: doubling from 0.5 s up to 30 s (jittered)."""
_REFUSED = (TooManySimultaneous, Maintenance, WaitTooLong, SchedulerUnavailable)
"""Refusals after which nothing of a chunk is in the campaign and waiting may help (§3.3;
a refused connection, TransportError(sent=False), is one too)."""
RecordSource = Iterable[Record | Mapping[str, Any]] | AsyncIterable[Record | Mapping[str, Any]]


_BATCH = 100
"""Rows checked (and JSON-encoded) between two yields to the event loop while reading. The
reader works while both chunks are in flight, but it wakes as a sender takes a chunk: with
1,000-row batches each await of that send waited ~1.7 ms behind it; 100 rows (~0.2 ms)
keep the slot's idle time per call under a few ms (benchmarks/upload_throughput.py)."""


@attrs.define(eq=False)
class _Chunk:
    index: int
    rows: list[int]
    records: list[dict[str, str]]
    body: bytes
    """The JSON of ``records``, encoded by the reader, ahead of the chunk's turn to send."""


def _digest(body: bytes) -> str:
    """A checksum of a chunk as encoded (CRC-32: ~0.1 ms per 10,000 records; it detects
    a changed input, it does not defend against a forged one)."""
    return f"{zlib.crc32(body):08x}:{len(body)}"


class _Left(Exception):
    """A chunk left pending because another chunk stopped the load."""


class _Stop(Exception):
    def __init__(self, reason: StopReason, cause: WolkvoxError) -> None:
        self.reason = reason
        self.cause = cause


async def _batches(
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


class _Load:
    """One run of one load."""

    def __init__(
        self,
        client: WolkvoxClient,
        campaign_id: str,
        kind: CampaignType,
        campaign_status: Literal["start", "stop"],
        journal: Journal,
        progress: Callable[[UploadProgress], Any] | None,
        patience: float,
    ) -> None:
        self.client = client.with_options(priority=Priority.BULK)
        self.clock = client._clock
        self.patience = patience
        self.campaign_id = campaign_id
        self.kind = kind
        self.status = campaign_status
        self.journal = journal
        self.progress = progress
        self.chunks: list[ChunkReport] = []
        self.failures: list[RowFailure] = []
        self.read = self.sent = self.landed = self.requests = 0
        self.pending = 0
        """Records of chunks that ended not in the campaign (refused, or never sent)."""
        self.held = 0
        """Records checked by the reader and not yet cut into a chunk."""
        self.deferred = 0
        """Records of chunks the reader holds back until a resume's input is checked."""
        self.stopped: StopReason | None = None
        self.cause: WolkvoxError | None = None
        self.stop = asyncio.Event()
        self.spent: list[_Chunk] = []
        """Chunks done with, freed by the reader between its batches: freeing 10,000
        records takes ~0.7 ms, which a sender would otherwise spend between its answer and
        its next request (a slot idle for it, every call)."""

    # ---- reading ------------------------------------------------------------------------

    async def chunk_source(
        self, source: RecordSource, size: int, on_invalid: str, limit: int | None
    ) -> AsyncIterator[_Chunk]:
        """The chunks to send. Chunks a resumed load already landed are checked against
        the journal and reported here; a chunk left pending before the last one that
        landed waits until that one has been read and checked, so a changed input is
        refused before anything of it is sent."""
        last_done = self.journal.last_done
        deferred: list[_Chunk] = []
        async for chunk in self._cut(source, size, on_invalid, limit):
            if self.landed_before(chunk):
                continue
            if chunk.index < last_done:
                deferred.append(chunk)
                self.deferred += len(chunk.records)
                continue
            while deferred:
                held = deferred.pop(0)
                self.deferred -= len(held.records)
                yield held
            yield chunk
        while deferred:
            held = deferred.pop(0)
            self.deferred -= len(held.records)
            yield held

    def landed_before(self, chunk: _Chunk) -> bool:
        """True for a chunk an earlier run landed (reported here); ConfigError when the
        input there is not what that run loaded."""
        entry = self.journal.state(chunk.index)
        if entry is None or entry.state is not ChunkState.DONE:
            return False
        if entry.digest and entry.digest != _digest(chunk.body):
            raise ConfigError(
                f"the input changed since it was loaded: rows {chunk.rows[0]}–"
                f"{chunk.rows[-1]} (chunk {chunk.index}) differ from what landed; resume "
                "with the input as it was, or start a new load (a new journal)"
            )
        self._report(chunk, "already_landed", entry.landed)
        return True

    async def _cut(
        self, source: RecordSource, size: int, on_invalid: str, limit: int | None
    ) -> AsyncIterator[_Chunk]:
        rows: list[int] = []
        records: list[dict[str, str]] = []
        parts: list[bytes] = []
        index = 0
        async for batch in _batches(source, min(size, _BATCH)):
            self.spent.clear()
            checked = self.check(batch, rows, on_invalid)
            records += checked
            if checked:
                parts.append(encode_rows(checked)[1:-1])  # the array's items, no brackets
            await asyncio.sleep(0)  # let the answers of chunks in flight through
            self.held = len(records)
            while len(records) >= size:
                body = b"[" + b",".join(parts) + b"]" if len(records) == size else None
                chunk = self.chunk(index, rows[:size], records[:size], body)
                index += 1
                rows, records, parts = rows[size:], records[size:], []
                if records:
                    parts.append(encode_rows(records)[1:-1])
                self.held = len(records)
                yield chunk
                if limit is not None and index >= limit:
                    self.stopped = StopReason.QUOTA  # what allow_partial planned is sent
                    return
        if records:
            if limit is not None and index >= limit:
                self.stopped = StopReason.QUOTA
                return
            self.held = 0
            yield self.chunk(index, rows, records, b"[" + b",".join(parts) + b"]")

    def check(
        self, batch: list[Record | Mapping[str, Any]], rows: list[int], on_invalid: str
    ) -> list[dict[str, str]]:
        """The wire forms of ``batch`` (checked once, sent as is); their rows go to ``rows``."""
        first = self.read + 1
        checked, good_rows, bad = to_wire_rows(batch, self.kind, first)
        self.read += len(batch)
        for row, item, exc in bad:
            cid = item.get("customer_id") if isinstance(item, Mapping) else None
            self.failures.append(RowFailure(row=row, customer_id=cid, reason=str(exc)))
            if on_invalid == "raise":
                # Read up to the bad row: the good rows before it are held, none after it.
                self.read = row
                self.held += sum(1 for r in good_rows if r < row)
                raise exc
        rows += good_rows
        return checked

    @staticmethod
    def chunk(
        index: int, rows: list[int], records: list[dict[str, str]], body: bytes | None
    ) -> _Chunk:
        return _Chunk(index, rows, records, encode_rows(records) if body is None else body)

    # ---- one chunk ----------------------------------------------------------------------

    def _report(self, chunk: _Chunk, outcome: Any, landed: int, message: str = "") -> None:
        self.landed += landed
        self.chunks.append(
            ChunkReport(
                index=chunk.index,
                first_row=chunk.rows[0],
                last_row=chunk.rows[-1],
                records=len(chunk.records),
                outcome=outcome,
                landed=landed,
                message=message,
            )
        )
        if self.progress is not None:
            self.progress(
                UploadProgress(
                    records_read=self.read,
                    records_landed=self.landed,
                    chunks_done=len(self.chunks),
                    requests=self.requests,
                )
            )

    def reported(self, chunk: _Chunk) -> bool:
        return any(c.index == chunk.index for c in self.chunks)

    def left(self, chunk: _Chunk, missing: int, message: str) -> None:
        """Report a chunk that ends with ``missing`` of its records not in the campaign."""
        self.pending += missing
        self._report(chunk, "pending", len(chunk.records) - missing, message)

    def skip(self, chunk: _Chunk) -> None:
        """A chunk handed over after the load stopped: never sent by this run."""
        entry = self.journal.state(chunk.index)
        if entry is not None and entry.state is ChunkState.DONE:
            self._report(chunk, "already_landed", entry.landed)
        else:
            self.left(chunk, len(chunk.records), "not sent: the load had stopped")

    async def load(self, chunk: _Chunk) -> None:
        """Land one chunk, or leave it pending in the journal and raise ``_Stop``."""
        entry = self.journal.state(chunk.index)
        if entry is not None and entry.state is ChunkState.DONE:
            self._report(chunk, "already_landed", entry.landed)
            return
        pending = chunk.records
        reconciled = False
        if entry is not None and entry.state is ChunkState.SENDING:
            # A crash left its outcome unknown (its request may even be running still).
            pending = await self.missing(chunk.records, entry.sent_at)
            reconciled = True
        lost = refused = 0
        refused_since = 0.0
        while pending:
            # SENDING before anything can leave; the time once admitted, just before it
            # leaves (a wait for admission is not time the server spends on it).
            sent_at = NOT_SENT
            self.journal.mark(chunk.index, ChunkState.SENDING, sent_at=sent_at)

            def leaving(at: float, index: int = chunk.index) -> None:
                nonlocal sent_at
                sent_at = at
                self.journal.mark(index, ChunkState.SENDING, sent_at=at)

            try:
                self.requests += 1
                body = chunk.body if pending is chunk.records else encode_rows(pending)
                await self.client._send_records(
                    self.campaign_id, self.kind, self.status, body, len(pending), leaving
                )
            except (ServerError, ResponseDecodeError, TransportError) as exc:
                if isinstance(exc, TransportError) and not exc.sent:
                    refused, refused_since = refused + 1, refused_since or self.clock.time()
                    await self.rest(chunk, pending, exc, refused, refused_since)
                    continue
                # The server may have stored the records: find out before sending again.
                # Without an answer (a timeout, a dropped connection) it may still be
                # running the call; with one (a 5xx, a broken body) it is done.
                log.warning("chunk %d: %s; reconciling before any resend", chunk.index, exc)
                self.sent += len(pending)
                lost += 1
                answered = not isinstance(exc, TransportError)
                pending = await self.missing(pending, NOT_SENT if answered else sent_at)
                reconciled = True
                if pending and lost >= _ATTEMPTS:
                    self.left(chunk, len(pending), "its answer was lost; reconciled on resume")
                    raise ReconcileError(
                        f"chunk {chunk.index} (rows {chunk.rows[0]}–{chunk.rows[-1]}): its "
                        f"answer was lost {lost} times; the journal keeps it for resume"
                    ) from exc
                continue
            except _REFUSED as exc:
                # Refused before the server did anything (§3.3, §4): nothing of the chunk
                # landed; try again patiently (the core has lowered the token's cap).
                refused, refused_since = refused + 1, refused_since or self.clock.time()
                await self.rest(chunk, pending, exc, refused, refused_since)
                continue
            except (QuotaExhausted, TokenLimitExceeded) as exc:
                self.give_up(chunk, pending, reconciled, StopReason.QUOTA, exc)
            except CampaignFull as exc:
                self.give_up(chunk, pending, reconciled, StopReason.CAMPAIGN_FULL, exc)
            except WolkvoxError as exc:
                # Invalid token, unknown campaign, a bad request…: the same for every chunk.
                self.give_up(chunk, pending, reconciled, StopReason.ERROR, exc)
            self.sent += len(pending)
            break
        self.journal.mark(
            chunk.index, ChunkState.DONE, len(chunk.records), 0.0, _digest(chunk.body)
        )
        self._report(chunk, "reconciled" if reconciled else "landed", len(chunk.records))

    def give_up(
        self,
        chunk: _Chunk,
        pending: list[dict[str, str]],
        reconciled: bool,
        reason: StopReason,
        exc: WolkvoxError,
    ) -> NoReturn:
        """Leave the chunk to a resume and stop the load."""
        if reconciled and len(pending) < len(chunk.records):
            # Part of it is in the campaign: a resume must check which part, not resend all.
            self.journal.mark(chunk.index, ChunkState.SENDING, sent_at=NOT_SENT)
        else:
            self.journal.mark(chunk.index, ChunkState.PENDING)
        self.left(chunk, len(pending), str(exc))
        raise _Stop(reason, exc)

    async def rest(
        self,
        chunk: _Chunk,
        pending: list[dict[str, str]],
        exc: WolkvoxError,
        refused: int,
        since: float,
    ) -> None:
        """Wait before trying a refused chunk again; give up past ``patience`` or a stop."""
        delay = min(_REST_CAP, _REST_FIRST * 2.0 ** (refused - 1)) * random.uniform(0.5, 1.0)
        waited = self.clock.time() - since
        if waited + delay > self.patience:
            log.warning(
                "chunk %d refused for %.0f s (%s); giving up (patience %g s)",
                chunk.index,
                waited,
                exc,
                self.patience,
            )
            self.give_up(chunk, pending, False, StopReason.PATIENCE, exc)
        if refused == 1 or refused.bit_count() == 1:  # 1st, 2nd, 4th, 8th… refusal
            log.warning("chunk %d refused (%s); trying again in %.1f s", chunk.index, exc, delay)
        sleep = asyncio.ensure_future(self.clock.sleep(delay))
        stopped = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait((sleep, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            stopped.cancel()
        if self.stop.is_set():  # another chunk stopped the load: this one stays pending
            self.journal.mark(chunk.index, ChunkState.PENDING)
            self.left(chunk, len(pending), str(exc))
            raise _Left

    async def missing(self, records: list[dict[str, str]], sent_at: float) -> list[dict[str, str]]:
        """The records of ``records`` not in the campaign (outcome of a lost answer).

        Records missing while the request that left at ``sent_at`` may still be running on
        the server (it stops calls at 60 s, §3.1) are not missing yet: ask again once it
        cannot be, or a resend would double them. ``NOT_SENT``: no call of them can be
        running (none left, or its answer came).
        """
        absent = await self._absent(records)
        ends = 0.0 if sent_at == NOT_SENT else sent_at + self.client.config.call_over_after
        wait = ends - self.client._clock.time()
        if absent and wait > 0:
            log.warning(
                "%d records of a lost call are not in the campaign yet; the call may still be "
                "running on the server: checking again in %.0f s",
                len(absent),
                wait,
            )
            await self.client._clock.sleep(wait)
            absent = await self._absent(records)
        return absent

    async def _absent(self, records: list[dict[str, str]]) -> list[dict[str, str]]:
        self.requests += 1
        export = await self.client.export_campaign(self.campaign_id)
        shown = len(export.records)
        truncated = shown >= MAX_ROWS or (export.total_records or 0) > shown
        if not truncated:
            present = {r.customer_id for r in export.records}
            return [r for r in records if r["customer_id"] not in present]
        # The export stops at 60,000 rows: ask about the first, middle and last record.
        probes = {
            records[0]["customer_id"],
            records[len(records) // 2]["customer_id"],
            records[-1]["customer_id"],
        }
        found = set()
        for cid in probes:
            self.requests += 1
            if await self.client.find_record(campaign_id=self.campaign_id, customer_id=cid):
                found.add(cid)
        if not found:
            return records
        if found == probes:
            return []
        raise ReconcileError(
            f"some records of a chunk landed and some did not ({len(found)}/{len(probes)} "
            "probes found); check the campaign before resuming"
        )


async def upload_records(
    client: WolkvoxClient,
    campaign_id: str | int,
    records: RecordSource,
    *,
    campaign_type: CampaignType | str = CampaignType.PREDICTIVE,
    campaign_status: Literal["start", "stop"] = "start",
    chunk_size: int = MAX_RECORDS_PER_UPLOAD,
    journal: str | Path | None = None,
    progress: Callable[[UploadProgress], Any] | None = None,
    on_invalid: Literal["raise", "skip"] = "raise",
    allow_partial: bool = False,
    patience: float = PATIENCE,
) -> UploadReport:
    """Load ``records`` into a campaign; see :meth:`WolkvoxClient.upload_records`."""
    from .. import _validate as check

    cid = check.campaign_id(campaign_id)
    kind = check.campaign_type(campaign_type)
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int)
        or not 1 <= chunk_size <= MAX_RECORDS_PER_UPLOAD
    ):
        raise ConfigError(f"chunk_size must be 1..{MAX_RECORDS_PER_UPLOAD}, got {chunk_size!r}")
    check.campaign_status(kind, campaign_status)
    if on_invalid not in ("raise", "skip"):
        raise ConfigError(f"on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    if (
        isinstance(patience, bool)
        or not isinstance(patience, int | float)
        or not 0 <= patience < math.inf
    ):
        raise ConfigError(f"patience must be a number of seconds >= 0, got {patience!r}")
    if not isinstance(records, AsyncIterable):
        check.iterable("records", records, "records")
    book = Journal(journal, campaign_id=cid, chunk_size=chunk_size)
    if (earlier := book.finished()) is not None:
        book.close()
        log.info("this load finished on %s: nothing to send", earlier["finished_at"])
        return _finished_report(cid, earlier)
    started = time.perf_counter()
    load = _Load(client, cid, kind, campaign_status, book, progress, float(patience))

    known = len(records) if isinstance(records, Sized) else None

    def report() -> UploadReport:
        # An input of known length that stopped early: its unread rest is pending too.
        unread = known - load.read if known is not None and load.stopped else 0
        return UploadReport(
            campaign_id=cid,
            records_read=load.read + unread,
            records_sent=load.sent,
            records_landed=load.landed,
            chunks=tuple(sorted(load.chunks, key=lambda c: c.index)),
            failures=tuple(sorted(load.failures, key=lambda f: f.row)),
            requests=load.requests,
            elapsed=time.perf_counter() - started,
            stopped=load.stopped,
            records_pending=load.pending + load.held + load.deferred + unread,
        )

    try:
        limit = await _chunks_allowed(client, records, chunk_size, book, allow_partial)
        await _pump(
            load,
            load.chunk_source(records, chunk_size, on_invalid, limit),
            client.config.max_concurrency,
        )
        done = report()
        if load.cause is None and load.stopped is None:
            book.finish(_summary(done))  # kept: running this load again sends nothing
    except WolkvoxError as exc:
        if load.read:  # a bad row, a lost answer: say what this run did before it
            load.stopped = load.stopped or StopReason.ERROR
            exc.upload_report = report()
            exc.add_note(f"upload stopped: {exc.upload_report.summary()}")
        raise
    finally:
        if book.created and book.untouched:
            book.discard()  # nothing can have been sent: the corrected command just runs
        book.close()
    # Only a stop the caller allowed for returns: one that leaves records pending for any
    # other reason raises, so it can never pass for a finished load.
    if load.cause is not None and not (
        allow_partial and load.stopped in (StopReason.QUOTA, StopReason.CAMPAIGN_FULL)
    ):
        load.cause.upload_report = done
        load.cause.add_note(f"upload stopped ({load.stopped}): {done.summary()}")
        raise load.cause
    return done


def _summary(report: UploadReport) -> dict[str, Any]:
    """What a finished journal keeps of its load, to answer a run of it again."""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "campaign_id": report.campaign_id,
        "records_read": report.records_read,
        "records_landed": report.records_landed,
        "failures": [[f.row, f.customer_id, f.reason] for f in report.failures],
    }


def _finished_report(campaign_id: str, summary: dict[str, Any]) -> UploadReport:
    """The report of a load that had already finished: nothing sent this time."""
    return UploadReport(
        campaign_id=campaign_id,
        records_read=summary["records_read"],
        records_sent=0,
        records_landed=summary["records_landed"],
        chunks=(),
        failures=tuple(
            RowFailure(row=row, customer_id=cid, reason=why)
            for row, cid, why in summary["failures"]
        ),
        requests=0,
        elapsed=0.0,
        finished_at=datetime.fromisoformat(summary["finished_at"]),
    )


async def _chunks_allowed(
    client: WolkvoxClient, records: RecordSource, size: int, book: Journal, allow_partial: bool
) -> int | None:
    """Check the quota a load of known size needs before its first request."""
    if not isinstance(records, Sized):
        return None  # a stream of unknown length: the scheduler refuses at the quota instead
    total = math.ceil(len(records) / size)
    needed = sum(
        1
        for i in range(total)
        if (entry := book.state(i)) is None or entry.state is not ChunkState.DONE
    )
    stats = await client.scheduler_stats()
    if stats.quota_limit is None or needed == 0:
        return None
    available = max(0, stats.quota_limit - stats.quota_used)
    if needed <= available:
        return None
    if not allow_partial:
        raise InsufficientQuota(needed=needed, available=available)
    log.warning(
        "quota allows %d of the %d chunks of this load; loading what fits", available, needed
    )
    return available


async def _pump(load: _Load, chunks: AsyncIterator[_Chunk], workers: int) -> None:
    """Feed chunks to ``workers`` senders through a small queue (bounded memory). The first
    stop (a limit, a fatal answer) ends reading; chunks already in flight finish (at most
    ``workers`` reach the server), chunks not yet sent stay pending."""
    queue: asyncio.Queue[_Chunk | None] = asyncio.Queue(maxsize=workers)
    errors: list[Exception] = []

    async def sender() -> None:
        # A sender never dies early: after a stop it drains the queue, so the reader is
        # never left waiting on a full queue.
        while (chunk := await queue.get()) is not None:
            if load.stop.is_set():
                load.skip(chunk)
                continue
            try:
                await load.load(chunk)
                load.spent.append(chunk)
            except _Left:
                pass
            except _Stop as why:
                load.stopped, load.cause = why.reason, why.cause
                load.stop.set()
            except Exception as exc:
                if not load.reported(chunk):  # outcome unknown: the journal keeps it
                    load.left(chunk, len(chunk.records), str(exc))
                errors.append(exc)
                load.stop.set()

    tasks = [asyncio.create_task(sender()) for _ in range(workers)]
    try:
        try:
            async for chunk in chunks:
                if load.stop.is_set():
                    load.skip(chunk)
                    break
                await queue.put(chunk)
        finally:
            # Reading ended (or failed on a bad row): the chunks already handed over finish.
            for _ in tasks:
                await queue.put(None)
            await asyncio.gather(*tasks)
    except asyncio.CancelledError:
        # Interrupted: chunks in flight stay journaled as SENDING, reconciled on resume.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if errors:
        raise errors[0]
