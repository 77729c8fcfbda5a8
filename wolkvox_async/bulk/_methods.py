"""The bulk methods of WolkvoxClient: upload_records and the windowed downloads.

They work over the parts the client gives them (``Parts``): an upload's chunks go through
the record sender; a download's windows are read through the BULK caller, and their rows
made only when their turn comes (the next window's request leaves first)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from .._errors import ConfigError, shown
from ..calls._convert import structure_rows
from ..calls._protocol import Envelope, last_object, rows_at_most
from ..endpoints import _validate as check
from ..endpoints._report_table import report_named, report_query
from ..models import CampaignStatus, CampaignType, PhoneResult
from ..scheduler import Lease
from ._arrow import Batcher, batches_of
from ._download import MAX_ROWS, DownloadProgress, WindowedDownload
from ._needs import Parts, bulk_quota, job_of, within
from ._outcomes import InsufficientQuota
from ._owner import JournalLock
from ._results import UploadProgress, UploadReport
from ._upload import PATIENCE, RecordSource, upload_records
from ._windows import Deferred, Early

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BulkMethods"]


class BulkMethods:
    """Loads and exports of any size, at the speed the limits allow."""

    def __init__(self, parts: Parts) -> None:
        self._parts = parts

    async def upload_records(
        self,
        campaign_id: str | int,
        records: RecordSource,
        *,
        campaign_type: CampaignType | str = CampaignType.PREDICTIVE,
        campaign_status: CampaignStatus | str | None = None,
        chunk_size: int = 10_000,
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
        """Load any number of records: chunks of ≤ 10,000, 2 in flight, nothing lost or doubled.

        A load is one owner's at a time: its journal is locked (an OS lock on
        ``<journal>.lock``, gone with its process) and its input is claimed on the
        scheduler's ledger (Redis for many hosts, the SQLite ledger of one host, memory in
        one process) from before its first request to its end. A second load of the same
        journal, or of the same input into the same campaign (another coroutine, process or
        host), raises :class:`LoadRunning` at once, or with ``wait=True`` waits for it to
        end and then does what is left (nothing, if it finished).

        Args:
            campaign_id: The campaign.
            records: A list, iterator or async iterator of Record or wire dicts, any length;
                read lazily (only a few chunks are held at once).
            campaign_type: predictive or preview.
            campaign_status: "The current status of the campaign", sent with every
                chunk (see :meth:`add_record`). Left out, the campaign's state is read once
                before the first chunk (1 call, counted in ``requests``; none if this
                client learnt it in the last 5 minutes) and every chunk of the run sends
                it: a fixed "start" could start a stopped campaign. A resumed load reads it
                again. Given (``CampaignStatus`` or start/stop/stopped/1…), it is sent as
                :meth:`add_record` sends it and nothing is read.
            chunk_size: Records per call, 1..10,000.
            journal: A SQLite file: a load killed at any point and started again with the
                same input and journal resumes without losing or doubling a record. It names
                its load (server, operation, campaign, type, chunk size): a journal of
                another load is refused (ConfigError naming what differs). A load of which
                nothing landed leaves no file. Or the journal's :class:`JournalLock`,
                already held by the caller: it read the journal under it, and nobody can
                start the load in between (the lock stays the caller's to release).
            progress: Called with an :class:`UploadProgress` as each chunk lands.
            on_invalid: "raise" (nothing of the bad row's chunk is sent) or "skip" (the row is
                reported in ``failures``).
            allow_partial: Load what fits: when today's quota (or the campaign's room) runs
                out, return the report (``stopped`` "quota" or "campaign_full",
                ``records_pending`` > 0) instead of raising.
            patience: Seconds a chunk refused before anything was done (another client on
                the token, maintenance, connection refused, the scheduler unreachable) is
                tried again, with growing rests, before the load gives up (default 1 hour);
                the same patience covers an outage met while checking whether a chunk whose
                answer was lost landed, and a lost answer that stored nothing.
            wait: Wait for a running load of the same journal or input to end, instead of
                raising :class:`LoadRunning`.
            fingerprint: What identifies the input on the ledger (with the operation and
                the campaign), e.g. a file's SHA-256. Default: a SHA-256 of the first 100
                valid records as sent (see ``bulk._chunks.head_print`` for why).
            reload: Load even though the ledger says another journal loaded this input into
                this campaign (after clearing the campaign, say): :class:`AlreadyLoaded`
                otherwise. A running load is never overridden.
            total: The length of an input that is a stream, when known (a file's rows):
                a report then counts against it (``records_total``, ``records_unread``).
                It does not check the quota up front (a list's length does).
            notes: JSON values to keep in the journal beside the chunks, by name (the
                ``wolkvox`` command keeps its options and the file's fingerprint there).

        Returns:
            An :class:`UploadReport`: records read, sent, landed and pending, per chunk its
            rows and outcome, rows rejected by our checks, requests used, elapsed. It
            returns only when every record landed or was rejected on its own, or (with
            ``allow_partial``) when the quota or the campaign's room ran out.

        Raises:
            WolkvoxError: the error that stopped the load, whenever records are left
                pending: InvalidToken, Unauthorized, NotFound, BadRequest (fatal, raised after
                the calls in flight), QuotaExhausted / TokenLimitExceeded, CampaignFull,
                TooManySimultaneous / Maintenance / TransportError past ``patience``. Its
                ``upload_report`` tells what landed and what is pending; the journal keeps
                the pending chunks, so a run with the same input and journal loads exactly
                them.
            ConfigError: a bad argument, or a bad row with ``on_invalid="raise"``.
            InsufficientQuota: the known input needs more calls than are left today.
            LoadRunning: another load of this journal or input is running (pid, host,
                since); nothing was sent.
            AlreadyLoaded: another journal loaded this input into this campaign; nothing
                was sent.
            JournalError: the journal cannot be used (a folder, not a journal, unwritable,
                the disk full), named with what to do.
            ReconcileError: a lost answer left a chunk's outcome unknown.
        """
        return await upload_records(
            self._parts,
            campaign_id,
            records,
            campaign_type=campaign_type,
            campaign_status=campaign_status,
            chunk_size=chunk_size,
            journal=journal,
            progress=progress,
            on_invalid=on_invalid,
            allow_partial=allow_partial,
            patience=patience,
            wait=wait,
            fingerprint=fingerprint,
            reload=reload,
            total=total,
            notes=notes,
        )

    def iter_phone_results(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        cap: int = MAX_ROWS,
        progress: Callable[[DownloadProgress], object] | None = None,
    ) -> WindowedDownload[PhoneResult]:
        """Every campaign_3 dial attempt in start..end, any span, as an async iterator."""
        download: WindowedDownload[PhoneResult] = self.iter_report(
            "campaign_3", campaign_id, start, end, cap=cap, progress=progress
        )
        return download

    def iter_report(
        self,
        report: str,
        campaign_id: str | int | None,
        start: datetime,
        end: datetime,
        *,
        campaign_type: CampaignType | str | None = None,
        cap: int = MAX_ROWS,
        progress: Callable[[DownloadProgress], object] | None = None,
        held: Collection[tuple[datetime, datetime]] = (),
    ) -> WindowedDownload[Any]:
        """Any date-range report of the table, by its Wolkvox name, over any span: the
        campaign reports ``"campaign_1"``..``"campaign_10"`` of ``campaign_id`` (or
        "all"), ``"detail"`` of one campaign (its ``campaign_type`` too), and the
        operation's ``"cdr_1"``, ``"cdr_5"``, ``"cdr_6"``, ``"agent_1"``, ``"agent_3"``,
        ``"agent_7"``, ``"agent_8"``, ``"chat_1"``, ``"chat_2"``, ``"chat_16"`` with
        ``campaign_id=None``.

        Aggregate reports (campaign_1, 2, 4, 6, 8, 10, cdr_6, the agent reports, chat_16)
        come as their rows per window. A window at the 60,000-row cap is never delivered
        cut: it is continued from its last row (rows carrying their time) or split.
        Two windows are read at a time, rows delivered in order. ``held`` names windows
        whose rows the caller kept from a stopped run (``windows_ahead`` of its error, or
        of the download after a cancellation): they are not read again, and ``progress``
        reports each in its turn (``held=True``). ``progress`` also reports the second
        through which rows are delivered inside a window at the cap
        (``DownloadProgress.through``): a run stopped there continues from the next.

        Raises:
            ConfigError: an unknown report; a cap outside 1..60,000; a campaign missing
                (campaign reports) or given (operation reports); detail of "all" or
                without campaign_type; a campaign_type given to another report.
        """
        table = report_named(report)
        if not isinstance(cap, int) or isinstance(cap, bool) or not 1 <= cap <= MAX_ROWS:
            # Above Wolkvox's 60,000 a window the server cut would pass as whole (its rows
            # under this cap); below 1 every window would be split down to a second.
            raise ConfigError(
                f"cap must be 1..{MAX_ROWS:,} (the most rows Wolkvox returns per call), "
                f"got {shown(cap)}"
            )
        start, end = check.moment("start", start), check.moment("end", end)
        held = check.windows("held", held)
        calls = self._parts.calls  # at BULK priority: behind interactive calls, not their reserve
        caller, converter = calls.caller, calls.converter

        def params(lo: datetime, hi: datetime) -> dict[str, str]:
            return report_query(table, campaign_id, lo, hi, campaign_type)

        params(start, start)  # a bad campaign id or type is refused before any request
        job = job_of(
            caller,
            f"download {report}",
            {"wolkvox.report": report, "wolkvox.campaign_id": str(campaign_id or "")},
        )

        async def fetch(lo: datetime, hi: datetime, early: Early[Any]) -> Deferred[Any]:
            # The answer now, its rows when the window's turn comes: their CPU would
            # otherwise hold back the next request (benchmarks/download.py). Before it is
            # parsed, its last row tells where a window at the cap continues.
            def row(value: Any) -> Any:
                # The last row alone, made as the rows are: told early and after the parse,
                # the same value gives the same time.
                return converter.structure(value, table.row)

            async def told(body: bytes) -> None:
                tail = last_object(body)
                if tail is not None and early(lambda: rows_at_most(body), lambda: row(tail)):
                    await asyncio.sleep(0)  # its request leaves before this one is parsed

            leases: list[Lease] = []
            with within(job):
                request, envelope = await caller.call(
                    table.route, params(lo, hi), on_answer=told, cut=at_cap, stamped=leases.append
                )
            rows = _payload_rows(envelope)

            async def forget() -> None:
                for lease in leases:
                    await caller.scheduler.forget(lease)

            return Deferred(
                count=len(rows),
                last=lambda: row(rows[-1]),
                make=lambda: structure_rows(request, envelope, table.row, converter),
                forget=forget if leases else None,
            )

        def at_cap(envelope: Envelope) -> bool:
            # Cut at the cap: this read delivers only part of its window, so it is no poll
            # of data already delivered (the scheduler keeps no stamp for it).
            return len(_payload_rows(envelope)) >= cap

        async def plan(windows: int) -> None:
            """Refuse, before the first request, a download that needs more calls than
            today leaves to bulk work (one per window at least)."""
            stats = await bulk_quota(calls)
            available = stats.quota_available_to_bulk
            if available is not None and windows > available:
                raise InsufficientQuota(
                    needed=windows, available=available, reserved=stats.quota_reserved
                )

        stamp: Callable[[Any], datetime | None] | None = None
        if table.timed:
            stamp = lambda row: row.date  # noqa: E731
        return WindowedDownload(
            fetch,
            start,
            end,
            stamp=stamp,
            cap=cap,
            progress=progress,
            plan=plan,
            held=held,
            job=job,
        )

    def iter_report_batches(
        self,
        report: str,
        campaign_id: str | int | None,
        start: datetime,
        end: datetime,
        *,
        campaign_type: CampaignType | str | None = None,
        cap: int = MAX_ROWS,
        progress: Callable[[DownloadProgress], object] | None = None,
    ) -> AsyncIterator[pa.RecordBatch]:
        """:meth:`iter_report` as ``pyarrow.RecordBatch`` objects, one per window as it
        arrives (for pandas, polars, DuckDB), each of the report's one schema
        (``wolkvox_async.report_schema``): typed columns, times in the Wolkvox zone. A
        download without rows gives one empty batch::

            batches = [b async for b in wv.iter_report_batches("cdr_5", None, start, end)]
            table = pyarrow.Table.from_batches(batches)

        Raises:
            ConfigError: pyarrow is not installed (``pip install "wolkvox-async[arrow]"``),
                or what :meth:`iter_report` refuses, before any request is sent.
        """
        batcher = Batcher(report_named(report).name)  # no pyarrow: said before any request
        ends: list[DownloadProgress] = []

        def done(step: DownloadProgress) -> None:
            ends.append(step)
            if progress is not None:
                progress(step)

        download = self.iter_report(
            report, campaign_id, start, end, campaign_type=campaign_type, cap=cap, progress=done
        )
        return batches_of(aiter(download), batcher, ends.__len__)


def _payload_rows(envelope: Envelope) -> list[Any]:
    """The rows of a report's answer (a lone object is one row; no data is none)."""
    data = envelope.payload
    return data if isinstance(data, list) else [] if data is None else [data]
