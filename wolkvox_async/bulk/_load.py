"""One run of one load: landing each chunk (``_reading`` cuts the source into chunks).

Each chunk is journaled (``_journal``) around its request. A chunk refused before the
server did anything (403 SIMULTANEOUS, maintenance, a refused connection, the scheduler
unreachable) stays pending and is tried again patiently; a quota, a full campaign or a
fatal answer stops the load with the chunk pending; a chunk whose answer is lost is
reconciled (``_reconcile``) before anything of it is sent again. An outage is waited
through wherever it meets the load, up to ``patience``: while sending, while asking the
campaign what a lost answer stored, and when a lost answer turns out to have stored
nothing (the server did nothing with it: a 503, a proxy's page).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from datetime import datetime
from typing import Any, NoReturn

from .._errors import (
    CampaignFull,
    NotWolkvox,
    QuotaExhausted,
    QuotaReserved,
    ResponseDecodeError,
    ServerError,
    TokenLimitExceeded,
    TransportError,
    WolkvoxError,
)
from .._meaning import Pause, pausing
from ..calls._json import encode_rows
from ..models import CampaignType
from ._chunks import Chunk
from ._journal import NOT_SENT, ChunkState, Journal
from ._needs import Parts, job_of
from ._outcomes import Left, ReconcileError, Stop
from ._pace import Pace, gate
from ._reconcile import Reconciler
from ._results import ChunkReport, RowFailure, StopReason, UploadProgress

__all__ = ["PATIENCE", "Load"]

log = logging.getLogger("wolkvox_async.bulk")
_ATTEMPTS = 5
"""Sends of one chunk whose answers are lost before the load gives up (resumable)."""
PATIENCE = 3600.0
"""Default seconds a chunk refused before anything was done is tried again before the load
gives up (resumable): someone else may hold the token's 2 slots for a while, and a bulk
load has nothing to lose by waiting."""
_REST_FIRST, _REST_CAP = 0.5, 30.0
"""Rests between refused tries of one chunk: doubling from 0.5 s up to 30 s (jittered)."""
_REFUSED = pausing(WolkvoxError, Pause.REFUSED)
"""Refusals after which nothing of a chunk is in the campaign and waiting may help (§3.3;
a refused connection, TransportError(sent=False), is one too)."""
_UNANSWERED = pausing(WolkvoxError, Pause.REFUSED, Pause.UNANSWERED)
"""What an outage looks like to the reconciliation's read (an export, a find): after the
client's own retries, waiting may help, and nothing was changed by asking."""


class Load:
    """One run of one load."""

    def __init__(
        self,
        parts: Parts,
        campaign_id: str,
        kind: CampaignType,
        campaign_status: str | None,
        journal: Journal,
        progress: Callable[[UploadProgress], Any] | None,
        patience: float,
    ) -> None:
        self.calls = parts.calls
        self.caller = caller = parts.calls.caller
        self.facts = parts.facts
        self.send = parts.send
        self.clock = caller.clock
        self.patience = patience
        self.campaign_id = campaign_id
        self.kind = kind
        self.status = campaign_status
        """add_record's campaign_status; None until read (:meth:`learn_status`)."""
        self.state_reads = 0
        """Reads of the campaign's state this load made (at most one)."""
        self._status_lock = asyncio.Lock()
        self.journal = journal
        self.progress = progress
        self.job = job_of(
            caller,
            "upload_records",
            {"wolkvox.campaign_id": campaign_id, "wolkvox.campaign_type": kind.value},
        )
        self.chunks: list[ChunkReport] = []
        self.failures: list[RowFailure] = []
        self.read = self.sent = self.landed = 0
        self.uploads = 0
        """add_record calls made (the reconciler counts its own)."""
        self.reconciler = Reconciler(
            parts.reads, self.clock, campaign_id, caller.config.held_after_send
        )
        self.pending = 0
        """Records of chunks that ended not in the campaign (refused, or never sent)."""
        self.held = 0
        """Records checked by the reader and not yet cut into a chunk."""
        self.deferred = 0
        """Records of chunks the reader holds back until a resume's input is checked."""
        self.stopped: StopReason | None = None
        self.resumes_at: datetime | None = None
        """When the quota resets, for a load planned short (allow_partial)."""
        self.planned = StopReason.QUOTA
        """Why a load of known size was planned short (allow_partial): the quota left,
        or the part of it reserved for interactive calls."""
        self.cause: WolkvoxError | None = None
        self.stop = asyncio.Event()
        self.gate = gate(caller.backend)
        """Holds the reader back while a sender is between its answer and its next send."""
        self.spent: list[Chunk] = []
        """Chunks done with: the reader frees them, so no sender does between an answer
        and its next request."""

    def lose(self, cause: WolkvoxError) -> None:
        """Stop the load: it no longer owns its input (its claim on the ledger was taken).
        Chunks in flight finish; nothing more is sent."""
        if self.cause is None:
            self.stopped, self.cause = StopReason.ERROR, cause
        self.stop.set()

    # ---- one chunk ----------------------------------------------------------------------

    def report_chunk(self, chunk: Chunk, outcome: Any, landed: int, message: str = "") -> None:
        self.landed += landed
        self.chunks.append(
            ChunkReport(
                index=chunk.index,
                first_row=chunk.rows[0],
                last_row=chunk.rows[-1],
                records=chunk.size,
                outcome=outcome,
                landed=landed,
                message=message,
            )
        )
        if self.job is not None:
            self.job.chunk(chunk.index, chunk.size, outcome, landed)
        if self.progress is not None:
            self.progress(
                UploadProgress(
                    records_read=self.read,
                    records_landed=self.landed,
                    chunks_done=len(self.chunks),
                    requests=self.requests,
                )
            )

    @property
    def requests(self) -> int:
        """Calls this load made: uploads, the read of the campaign's state, and exports and
        probes to reconcile."""
        return self.uploads + self.state_reads + self.reconciler.requests

    async def status_for(self, chunk: Chunk, missing: int) -> str:
        """add_record's ``campaign_status`` for this run: the caller's, or the campaign's
        state read once, as the first chunk is about to leave (1 call; §5 #2.1 "the current
        status of the campaign"; a fixed "start" could start a stopped campaign). Every
        chunk of the run sends it. The read meets what a chunk's request meets, and is
        treated as one: a refusal or an outage is waited through up to ``patience``, the
        quota or a fatal answer stops the load with the chunk pending."""
        async with self._status_lock:  # one read, whichever sender comes first
            tries, since = 0, 0.0
            if self.status is None and self.stop.is_set():  # the first read stopped the load
                self.keep(chunk, missing, "not sent: the load had stopped")
                raise Left
            while self.status is None:
                try:
                    self.status, read = await self.facts.status_to_send(
                        self.caller, self.calls.converter, self.campaign_id
                    )
                    self.state_reads += read
                except NotWolkvox as exc:  # the same address gives the same page
                    self.give_up(chunk, missing, StopReason.ERROR, exc)
                except _UNANSWERED as exc:
                    tries, since = tries + 1, since or self.clock.time()
                    await self.rest(chunk, missing, exc, tries, since)
                except QuotaReserved as exc:
                    self.give_up(chunk, missing, StopReason.QUOTA_RESERVE, exc)
                except (QuotaExhausted, TokenLimitExceeded) as exc:
                    self.give_up(chunk, missing, StopReason.QUOTA, exc)
                except WolkvoxError as exc:  # an unknown campaign, an invalid token…
                    self.give_up(chunk, missing, StopReason.ERROR, exc)
            return self.status

    def reported(self, chunk: Chunk) -> bool:
        return any(c.index == chunk.index for c in self.chunks)

    def left(self, chunk: Chunk, missing: int, message: str) -> None:
        """Report a chunk that ends with ``missing`` of its records not in the campaign."""
        self.pending += missing
        self.report_chunk(chunk, "pending", chunk.size - missing, message)

    def skip(self, chunk: Chunk) -> None:
        """A chunk handed over after the load stopped: never sent by this run."""
        entry = self.journal.state(chunk.index)
        if entry is not None and entry.state is ChunkState.DONE:
            self.report_chunk(chunk, "already_landed", entry.landed)
        else:
            self.left(chunk, chunk.size, "not sent: the load had stopped")

    async def load(self, chunk: Chunk, pace: Pace | None = None) -> None:
        """Land one chunk, or leave it pending in the journal and raise ``Stop``. ``pace``
        is the sender's claim on the loop, eased while its request is out or it rests."""
        pace = pace or self.gate.pace()
        entry = self.journal.state(chunk.index)
        if entry is not None and entry.state is ChunkState.DONE:
            self.report_chunk(chunk, "already_landed", entry.landed)
            return
        pending: list[dict[str, str]] | None = None  # None: the whole chunk, as encoded
        reconciled = False
        if entry is not None and entry.state is ChunkState.SENDING:
            # A crash left its outcome unknown (its request may even be running still).
            pace.ease()
            pending = await self.reconcile(chunk, chunk.records(), entry.sent_at)
            reconciled = True
        lost = refused = 0
        refused_since = 0.0
        while pending is None or pending:
            missing = chunk.size if pending is None else len(pending)
            status = self.status
            if status is None:
                pace.ease()  # the readers of the loop go on while it is read
                status = await self.status_for(chunk, missing)
                pace.rush()  # read: this chunk leaves before more reading
            # SENDING, with the time, once admitted and just before it leaves (the caller
            # tells each attempt's departure): nothing can leave before, and a wait for
            # admission is not time the server spends on it. A crash before then leaves
            # the chunk as it was (not sent: sent again), after it SENDING (reconciled).
            sent_at = NOT_SENT

            def leaving(at: float, index: int = chunk.index) -> None:
                nonlocal sent_at
                pace.rush()  # the slot is granted: nothing of the readers' until it leaves
                sent_at = at
                self.journal.mark(index, ChunkState.SENDING, sent_at=at)

            try:
                self.uploads += 1
                # A wait for admission (another process holds the token, a pause) may be
                # long: the readers of the loop go on meanwhile.
                pace.ease()
                body = chunk.body if pending is None else encode_rows(pending)
                await self.send(
                    self.caller,
                    self.campaign_id,
                    self.kind,
                    status,
                    body,
                    missing,
                    leaving,
                    pace.ease,
                )
                pace.rush()  # answered: the next request goes out before more reading
            except (ServerError, ResponseDecodeError, TransportError) as exc:
                pace.ease()
                if isinstance(exc, TransportError) and not exc.sent:
                    refused, refused_since = refused + 1, refused_since or self.clock.time()
                    await self.rest(chunk, missing, exc, refused, refused_since)
                    continue
                # The server may have stored the records: find out before sending again.
                # Without an answer (a timeout, a dropped connection) it may still be
                # running the call; with one (a 5xx, a broken body) it is done.
                log.warning("chunk %d: %s; reconciling before any resend", chunk.index, exc)
                self.sent += missing
                answered = not isinstance(exc, TransportError) or exc.answered
                asked = chunk.records() if pending is None else pending
                pending = await self.reconcile(chunk, asked, NOT_SENT if answered else sent_at)
                reconciled = True
                if len(pending) == len(asked):
                    # None of it landed: the server did nothing with it (a 503, a proxy's
                    # page, a reset before it ran): an outage as much as a refusal. Sent
                    # again at once the first time, then after rests, up to patience.
                    refused, refused_since = refused + 1, refused_since or self.clock.time()
                    if refused > 1:
                        await self.rest(chunk, missing, exc, refused - 1, refused_since)
                    continue
                lost += 1
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
                pace.ease()
                refused, refused_since = refused + 1, refused_since or self.clock.time()
                await self.rest(chunk, missing, exc, refused, refused_since)
                continue
            except QuotaReserved as exc:  # the rest of today is for interactive calls
                self.give_up(chunk, missing, StopReason.QUOTA_RESERVE, exc)
            except (QuotaExhausted, TokenLimitExceeded) as exc:
                self.give_up(chunk, missing, StopReason.QUOTA, exc)
            except CampaignFull as exc:
                self.give_up(chunk, missing, StopReason.CAMPAIGN_FULL, exc)
            except WolkvoxError as exc:
                # Invalid token, unknown campaign, a bad request…: the same for every chunk.
                self.give_up(chunk, missing, StopReason.ERROR, exc)
            self.sent += missing
            break
        self.journal.mark(chunk.index, ChunkState.DONE, chunk.size, 0.0, chunk.checksum)
        self.report_chunk(chunk, "reconciled" if reconciled else "landed", chunk.size)

    def give_up(
        self, chunk: Chunk, missing: int, reason: StopReason, exc: WolkvoxError
    ) -> NoReturn:
        """Leave the chunk to a resume and stop the load."""
        self.keep(chunk, missing, str(exc))
        raise Stop(reason, exc)

    def keep(self, chunk: Chunk, missing: int, message: str, sent_at: float | None = None) -> None:
        """Journal the chunk for a resume and report ``missing`` of its records pending.
        ``sent_at``: whether they landed is not known (a resume asks the campaign, once a
        call that left then must be over)."""
        if sent_at is not None:
            self.journal.mark(chunk.index, ChunkState.SENDING, sent_at=sent_at)
        elif missing < chunk.size:
            # Part of it is in the campaign (reconciled): a resume checks which part first.
            self.journal.mark(chunk.index, ChunkState.SENDING, sent_at=NOT_SENT)
        else:
            self.journal.mark(chunk.index, ChunkState.PENDING)
        self.left(chunk, missing, message)

    async def reconcile(
        self, chunk: Chunk, records: list[dict[str, str]], sent_at: float
    ) -> list[dict[str, str]]:
        """The records of ``records`` not in the campaign (see ``Reconciler.missing``).

        An outage while asking is waited through as a refused chunk is, up to
        ``patience``; past it (or at a quota stop) the chunk stays in the journal with its
        outcome unknown, and the load stops: a resume asks again.
        """
        tries, since = 0, 0.0
        while True:
            try:
                return await self.reconciler.missing(records, sent_at)
            except NotWolkvox:  # the same address gives the same page: waiting won't help
                raise
            except _UNANSWERED as exc:
                tries, since = tries + 1, since or self.clock.time()
                await self.rest(chunk, len(records), exc, tries, since, unknown=sent_at)
            except QuotaReserved as exc:
                self.keep(chunk, len(records), str(exc), sent_at)
                raise Stop(StopReason.QUOTA_RESERVE, exc) from None
            except (QuotaExhausted, TokenLimitExceeded) as exc:
                self.keep(chunk, len(records), str(exc), sent_at)
                raise Stop(StopReason.QUOTA, exc) from None

    async def rest(
        self,
        chunk: Chunk,
        missing: int,
        exc: WolkvoxError,
        refused: int,
        since: float,
        *,
        unknown: float | None = None,
    ) -> None:
        """Wait before trying a refused chunk again; give up past ``patience`` or a stop.
        ``unknown``: the chunk's outcome is not known (its ``sent_at``, for the journal)."""
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
            self.keep(chunk, missing, str(exc), unknown)
            raise Stop(StopReason.PATIENCE, exc)
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
            self.keep(chunk, missing, str(exc), unknown)
            raise Left
