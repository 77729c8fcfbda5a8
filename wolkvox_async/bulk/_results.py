"""What bulk work hands back: an upload's report, and a download's rows read ahead.

An upload reports per chunk, per failed row, in progress and at the end, and why it
stopped early.

Plain values that import nothing of the library, so that the error tree can name them
(``WolkvoxError.upload_report``, ``.windows_ahead``) without an import cycle."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

import attrs

__all__ = [
    "ChunkReport",
    "RowFailure",
    "StopReason",
    "UploadProgress",
    "UploadReport",
    "WindowRows",
    "finished_report",
    "journal_summary",
]

T = TypeVar("T")


class StopReason(enum.StrEnum):
    """Why a load ended with records pending (not in the campaign, kept by the journal)."""

    QUOTA = "quota"
    """The daily quota is spent (our ledger or the server said so), or the part of it that
    ``allow_partial`` planned for is used up."""
    QUOTA_RESERVE = "quota_reserve"
    """What is left of today's quota is reserved for interactive calls (``quota_reserve``);
    the load resumes after the reset."""
    CAMPAIGN_FULL = "campaign_full"
    """The campaign holds no more records (404 mentioning licenses / 50,000)."""
    PATIENCE = "patience"
    """A chunk was refused before anything was done (another client busy on the token,
    maintenance, connection refused, the scheduler unreachable) for longer than
    ``patience``."""
    ERROR = "error"
    """A fatal answer (invalid token, unknown campaign, a bad request…) or a bad row."""


@attrs.frozen(kw_only=True)
class RowFailure:
    """An input row rejected on its own (by our checks), and why; never a refused chunk."""

    row: int
    customer_id: str | None
    reason: str


@attrs.frozen(kw_only=True)
class ChunkReport:
    """What happened to one chunk."""

    index: int
    first_row: int
    last_row: int
    records: int
    outcome: Literal["landed", "already_landed", "reconciled", "pending"]
    """``pending``: not (or not wholly) in the campaign; the journal keeps it for resume."""
    landed: int
    message: str = ""


@attrs.frozen(kw_only=True)
class UploadProgress:
    """Passed to the progress callback as each chunk lands."""

    records_read: int
    records_landed: int
    chunks_done: int
    requests: int


@attrs.frozen(kw_only=True)
class UploadReport:
    """The outcome of :func:`upload_records`."""

    campaign_id: str
    records_read: int
    """Input records accounted for: those read, and, when an input of known length (a
    list) stopped early, the rest of it (pending)."""
    records_sent: int
    """Records in requests that left us (resends after reconciliation included)."""
    records_landed: int
    """Input records now in the campaign (earlier runs of a resumed load included)."""
    chunks: tuple[ChunkReport, ...]
    failures: tuple[RowFailure, ...]
    requests: int
    """Calls this load made (uploads, exports and probes for reconciliation)."""
    elapsed: float
    stopped: StopReason | None = None
    """Why the load stopped early; None when it ran through."""
    finished_at: datetime | None = None
    """Set when the journal showed this load had already finished (at that time): this
    run sent nothing, and the figures are that run's (``chunks`` is empty)."""
    records_pending: int = 0
    """Records not in the campaign: of refused chunks, of chunks never sent, and (for an
    input of known length) never read. Always
    ``records_read == records_landed + len(failures) + records_pending``."""
    records_total: int | None = None
    """The input's length, when known (a list's, or ``total=``)."""
    records_unread: int = 0
    """Of ``records_pending``, the records of an input of known length that the load
    stopped before reading (so not checked either)."""
    resumes_at: datetime | None = None
    """For a stop at the quota or its interactive reserve: when the quota resets and the
    load can resume (the journal keeps what is pending)."""

    @property
    def complete(self) -> bool:
        """Every input record landed."""
        return self.stopped is None and not self.failures and not self.records_pending

    def summary(self) -> str:
        """One line: what landed of the input, what was rejected, what is pending and
        (for an input of known length) what was not read yet."""
        of = self.records_read if self.records_total is None else self.records_total
        text = f"{self.records_landed:,} of {of:,} records landed"
        if self.finished_at is not None:
            text += f" on {self.finished_at:%Y-%m-%d %H:%M} UTC (already finished: nothing sent)"
        if self.failures:
            text += f", {len(self.failures):,} rejected"
        if self.records_pending:
            text += f", {self.records_pending:,} pending (not in the campaign"
            if self.records_unread:
                text += f"; {self.records_unread:,} of them not yet read"
            text += ")"
        if self.resumes_at is not None:
            text += f"; resumable after {self.resumes_at.isoformat(timespec='seconds')}"
        return text


def journal_summary(report: UploadReport) -> dict[str, Any]:
    """What a finished journal keeps of its load, to answer a run of it again."""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "campaign_id": report.campaign_id,
        "records_read": report.records_read,
        "records_landed": report.records_landed,
        "failures": [[f.row, f.customer_id, f.reason] for f in report.failures],
    }


def finished_report(campaign_id: str, summary: dict[str, Any]) -> UploadReport:
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


@attrs.frozen
class WindowRows(Generic[T]):
    """A window's rows read ahead of one that failed or was interrupted
    (``error.windows_ahead``, ``download.windows_ahead``). Keep them:
    a continuation that names the window as ``held`` does not read it again (which
    Wolkvox allows only 5 minutes after the first read), and reports it through its
    progress callback in its turn, where the rows are written."""

    start: datetime
    end: datetime
    rows: tuple[T, ...]
