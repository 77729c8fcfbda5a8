"""upload_records: stream any number of records into a campaign, 10,000 per call, 2 in flight.

The source (list, iterator or async iterator; Records or wire dicts) is read lazily and cut
into chunks of at most 10,000 records (wolkvox-api.md §3.1), each validated row by row
before any of it is sent. At most ``2 × max_concurrency`` chunks exist at once, whatever
the input size. Each chunk is journaled (``_journal``) around its request; a chunk whose
answer is lost after sending is reconciled against the campaign (one campaign_15 export, or
three find_record probes when the export is capped) before anything is sent again, so the
campaign ends with every input record exactly once, across crashes and restarts.

A load is one owner's at a time (``_owner``): its journal is locked for the whole run, and
the input is claimed on the scheduler's ledger, before anything is sent.
"""

from __future__ import annotations

import asyncio
import math
import operator
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Mapping,
    Sized,
)
from pathlib import Path
from typing import Any, Literal

from .._errors import ConfigError, WolkvoxError, shown
from ..endpoints import _validate as check
from ..endpoints._records import MAX_RECORDS_PER_UPLOAD
from ..models import CampaignStatus, CampaignType
from ._chunks import Chunk, RecordSource, head_print
from ._journal import ChunkState, Journal, check_path, identity, server_of
from ._load import PATIENCE, Load, log
from ._needs import Parts, bulk_quota, within
from ._outcomes import InsufficientQuota, JournalError, Left, Stop
from ._owner import Claim, JournalLock
from ._reading import chunks_of
from ._results import (
    StopReason,
    UploadProgress,
    UploadReport,
    finished_report,
    journal_summary,
)

__all__ = ["PATIENCE", "RecordSource", "upload_records"]  # the report types live in _results

_INDEX, _ROW = operator.attrgetter("index"), operator.attrgetter("row")


def _seconds(patience: object) -> float:
    try:
        seconds = float(patience) if not isinstance(patience, bool) else math.nan  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # not a number, or past a float's range
        seconds = math.nan
    if not isinstance(patience, int | float) or not 0 <= seconds < math.inf:
        raise ConfigError(f"patience must be a number of seconds >= 0, got {shown(patience)}")
    return seconds


def _checked_options(
    chunk_size: object,
    on_invalid: object,
    wait: object,
    reload: object,
    fingerprint: object,
    total: object,
) -> None:
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int)
        or not 1 <= chunk_size <= MAX_RECORDS_PER_UPLOAD
    ):
        raise ConfigError(
            f"chunk_size must be 1..{MAX_RECORDS_PER_UPLOAD}, got {shown(chunk_size)}"
        )
    if on_invalid not in ("raise", "skip"):
        raise ConfigError(f"on_invalid must be 'raise' or 'skip', got {shown(on_invalid)}")
    for name, flag in (("wait", wait), ("reload", reload)):
        if not isinstance(flag, bool):
            raise ConfigError(f"{name} must be True or False, got {shown(flag)}")
    if fingerprint is not None and (
        not isinstance(fingerprint, str) or not 0 < len(fingerprint) <= 200
    ):
        raise ConfigError(f"fingerprint must be a non-empty str, got {shown(fingerprint)}")
    if total is not None and (isinstance(total, bool) or not isinstance(total, int) or total < 0):
        raise ConfigError(f"total must be a number of records >= 0, got {shown(total)}")


async def upload_records(
    parts: Parts,
    campaign_id: str | int,
    records: RecordSource,
    *,
    campaign_type: CampaignType | str = CampaignType.PREDICTIVE,
    campaign_status: CampaignStatus | str | None = None,
    chunk_size: int = MAX_RECORDS_PER_UPLOAD,
    journal: str | Path | JournalLock | None = None,
    progress: Callable[[UploadProgress], Any] | None = None,
    on_invalid: Literal["raise", "skip"] = "raise",
    allow_partial: bool = False,
    patience: float = PATIENCE,
    wait: bool = False,
    fingerprint: str | None = None,
    reload: bool = False,
    total: int | None = None,
    notes: Mapping[str, Any] | None = None,
) -> UploadReport:
    """Load ``records`` into a campaign; see :meth:`WolkvoxClient.upload_records`."""
    cid = check.campaign_id(campaign_id)
    kind = check.campaign_type(campaign_type)
    _checked_options(chunk_size, on_invalid, wait, reload, fingerprint, total)
    status = check.campaign_status(campaign_status)  # None: read before the first chunk
    seconds = _seconds(patience)
    if not isinstance(records, AsyncIterable):
        check.iterable("records", records, "records")
    if notes is not None and not isinstance(notes, Mapping):
        raise ConfigError(f"notes must be a mapping of JSON values, got {shown(notes)}")
    held: JournalLock | None = None
    path: Path | None = None
    if isinstance(journal, JournalLock):
        if not journal.held:
            raise ConfigError(
                f"journal= is the JournalLock of {journal.journal}, not held: acquire it "
                "first, or pass the path"
            )
        held, path = journal, journal.journal
    elif journal is not None:
        path = Path(journal)
    own: JournalLock | None = None
    if path is not None:
        check_path(path)  # before anything is made, locked or sent
        if held is None:
            own = JournalLock(path)
            await own.acquire(wait=wait)
    caller = parts.calls.caller
    config = caller.config
    try:
        spec = identity(
            server=server_of(config.base_url),
            operation=config.operation,
            campaign_id=cid,
            campaign_type=kind.value,
            chunk_size=chunk_size,
        )
        book = Journal(path, spec=spec)
        if (earlier := book.finished()) is not None:
            book.close()
            log.info("this load finished on %s: nothing to send", earlier["finished_at"])
            return finished_report(cid, earlier)
        sized = len(records) if isinstance(records, Sized) else None
        load = Load(parts, cid, kind, status, book, progress, seconds)
        claim = Claim(
            caller.backend,
            server=spec["server"],
            operation=config.operation,
            campaign_id=cid,
            journal=path,
            on_lost=load.lose,
        )
        return await _run(
            load,
            claim,
            records,
            sized,
            total,
            chunk_size=chunk_size,
            on_invalid=on_invalid,
            allow_partial=allow_partial,
            fingerprint=fingerprint,
            wait=wait,
            reload=reload,
            notes=notes,
        )
    finally:
        if own is not None:
            own.release()


async def _run(
    load: Load,
    claim: Claim,
    records: RecordSource,
    sized: int | None,
    total: int | None,
    *,
    chunk_size: int,
    on_invalid: str,
    allow_partial: bool,
    fingerprint: str | None,
    wait: bool,
    reload: bool,
    notes: Mapping[str, Any] | None,
) -> UploadReport:
    """One run of a load whose journal is held: claim the input, send, report. ``sized``:
    the length of an input that has one (its quota is checked before the first request);
    ``total``: a stream's length as the caller knows it (reports count against it)."""
    book, cid = load.journal, load.campaign_id
    known = sized if sized is not None else total
    started = time.perf_counter()
    job = load.job
    finished = False

    def report() -> UploadReport:
        # An input of known length that stopped early: its unread rest is pending too.
        unread = max(0, known - load.read) if known is not None and load.stopped else 0
        return UploadReport(
            campaign_id=cid,
            records_read=load.read + unread,
            records_sent=load.sent,
            records_landed=load.landed,
            chunks=tuple(sorted(load.chunks, key=_INDEX)),
            failures=tuple(sorted(load.failures, key=_ROW)),
            requests=load.requests,
            elapsed=time.perf_counter() - started,
            stopped=load.stopped,
            records_pending=load.pending + load.held + load.deferred + unread,
            resumes_at=getattr(load.cause, "resets_at", None) or load.resumes_at,
            records_total=None if known is None else load.read + unread,
            records_unread=unread,
        )

    if job is not None:
        job.start()  # (a load refused for another one running is a failed job too)
    try:
        for key, value in (notes or {}).items():
            book.put(key, value)
        if fingerprint is None:
            records, fingerprint = await head_print(records, load.kind)
        if fingerprint is not None:
            await claim.take(fingerprint, wait=wait, trusted=not book.created, reload=reload)
        with within(job):  # its calls, the quota's read included, are the job's children
            limit = await _chunks_allowed(load, sized, chunk_size, book, allow_partial)
            await _send_all(
                load,
                chunks_of(load, records, chunk_size, on_invalid, limit),
                load.caller.config.max_concurrency,
            )
        done = report()
        if load.cause is None and load.stopped is None:
            try:
                book.finish(journal_summary(done))  # kept: running this load again sends nothing
                finished = True
            except JournalError as exc:  # everything landed: say so, and why a re-run reads
                log.warning("the load finished, but %s", exc)
    except BaseException as exc:
        if job is not None:
            job.end(exc, **_totals(load))
        if not isinstance(exc, WolkvoxError):
            raise
        if load.read:  # a bad row, a lost answer: say what this run did before it
            load.stopped = load.stopped or StopReason.ERROR
            exc.upload_report = report()
            exc.add_note(f"upload stopped: {exc.upload_report.summary()}")
        raise
    finally:
        # A journal some of whose records landed (or may have) is kept, and its input's
        # claim leaves a marker; one of which nothing landed tells nothing: neither.
        kept = book.path is not None and not book.untouched
        if book.created and book.untouched:
            book.discard()  # nothing of it landed: the corrected command just runs
        book.close()
        await claim.end(kept=kept, finished=finished, landed=load.landed)
    if job is not None:
        job.end(load.cause, **_totals(load))
    # Only a stop the caller allowed for returns: one that leaves records pending for any
    # other reason raises, so it can never pass for a finished load.
    if load.cause is not None and not (
        allow_partial
        and load.stopped in (StopReason.QUOTA, StopReason.QUOTA_RESERVE, StopReason.CAMPAIGN_FULL)
    ):
        load.cause.upload_report = done
        load.cause.add_note(f"upload stopped ({load.stopped}): {done.summary()}")
        raise load.cause
    return done


def _totals(load: Load) -> dict[str, int]:
    """What a load's span ends with."""
    return {
        "wolkvox.records_read": load.read,
        "wolkvox.records_landed": load.landed,
        "wolkvox.requests": load.requests,
    }


async def _chunks_allowed(
    load: Load, length: int | None, size: int, book: Journal, allow_partial: bool
) -> int | None:
    """Check the quota a load of known size needs before its first request: what is left
    to bulk work, the interactive reserve excluded. (A stream of unknown length is held
    back by the scheduler instead; with a reserve, the limit is learnt first all the same.)"""
    if length is None:
        if load.caller.config.quota_reserve:
            await bulk_quota(load.calls)
        return None
    total = math.ceil(length / size)
    needed = sum(
        1
        for i in range(total)
        if (entry := book.state(i)) is None or entry.state is not ChunkState.DONE
    )
    reads = 1 if needed and load.status is None else 0  # the campaign's state (Load.status_for)
    needed += reads
    stats = await bulk_quota(load.calls)
    if stats.quota_available_to_bulk is None or needed == 0:
        return None
    available = stats.quota_available_to_bulk  # the interactive reserve is not ours
    if needed <= available:
        return None
    if not allow_partial:
        raise InsufficientQuota(needed=needed, available=available, reserved=stats.quota_reserved)
    fits = max(available - reads, 0)  # no read of the state for no chunk
    log.warning(
        "quota allows %d of the %d chunks of this load; loading what fits", fits, needed - reads
    )
    if stats.quota_reserved:
        load.planned = StopReason.QUOTA_RESERVE
    load.resumes_at = stats.resets_at
    return fits


async def _send_all(load: Load, chunks: AsyncIterator[Chunk], workers: int) -> None:
    """Feed chunks to ``workers`` senders through a small queue (bounded memory). The first
    stop (a limit, a fatal answer) ends reading; chunks already in flight finish (at most
    ``workers`` reach the server), chunks not yet sent stay pending."""
    queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=workers)
    errors: list[Exception] = []

    async def sender() -> None:
        # A sender never dies early: after a stop it drains the queue, so the reader is
        # never left waiting on a full queue. It lets the reader run only while it waits
        # for a chunk (or its request is out): see _pace.
        pace = load.gate.pace()
        try:
            while True:
                pace.ease()
                if (chunk := await queue.get()) is None:
                    break
                pace.rush()
                if load.stop.is_set():
                    load.skip(chunk)
                    continue
                try:
                    await load.load(chunk, pace)
                    load.spent.append(chunk)
                except Left:
                    pass
                except Stop as why:
                    load.stopped, load.cause = why.reason, why.cause
                    load.stop.set()
                except Exception as exc:
                    if not load.reported(chunk):  # outcome unknown: the journal keeps it
                        load.left(chunk, chunk.size, str(exc))
                    errors.append(exc)
                    load.stop.set()
        finally:
            pace.ease()  # the loop's gate is shared: a cancelled sender must not hold it

    tasks = [asyncio.create_task(sender()) for _ in range(workers)]
    try:
        failed: Exception | None = None
        try:
            async for chunk in chunks:
                if load.stop.is_set():
                    load.skip(chunk)
                    break
                await queue.put(chunk)
        except Exception as exc:  # reading failed (a bad row): what was handed over finishes
            failed = exc
        for _ in tasks:
            await queue.put(None)
        await asyncio.gather(*tasks)
        if failed is not None:
            raise failed
    except BaseException:
        # Cancelled (a loop shutting down cancels the senders too: never wait on them or
        # on their queue) or failed: chunks in flight stay journaled as SENDING, and are
        # reconciled on resume.
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    if errors:
        raise errors[0]
