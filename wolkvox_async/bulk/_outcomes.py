"""What an upload reports: per chunk, per failed row, in progress and at the end; why a
load stopped early; and the errors particular to uploads."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

import attrs

from .._errors import SchedulerRefusal, WolkvoxError

__all__ = [
    "AlreadyLoaded",
    "ChunkReport",
    "InsufficientQuota",
    "JournalError",
    "LoadRunning",
    "ReconcileError",
    "RowFailure",
    "StopReason",
    "UploadProgress",
    "UploadReport",
]


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class InsufficientQuota(SchedulerRefusal):
    """The load needs more calls than today's quota has left; nothing was sent."""

    needed: int
    available: int

    reserved: int = 0
    """Of what is left, the part kept for interactive calls (not counted in available)."""

    def __str__(self) -> str:
        kept = f" to bulk work ({self.reserved} more are reserved for interactive calls)"
        return (
            f"this load needs {self.needed} calls but only {self.available} are left today"
            f"{kept if self.reserved else ''}; pass allow_partial=True to load what fits"
        )


class ReconcileError(WolkvoxError):
    """A chunk's outcome could not be told apart (some of its records landed, some not)."""


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class LoadRunning(WolkvoxError):
    """Another load of this journal, or of this input into this campaign, is running (in
    this process, another process or on another host of a shared ledger): nothing was sent.
    Pass ``wait=True`` to wait for it to end instead."""

    what: str
    """What is taken: ``journal /path/x.journal``, or ``campaign 7001 from this input``."""
    pid: int | None
    """The running load's process id (None when it could not be told)."""
    host: str
    """The host it runs on."""
    since: datetime | None
    """When it started (UTC)."""

    def __str__(self) -> str:
        who = "another load" if self.pid is None else f"pid {self.pid} on host {self.host}"
        return (
            f"a load of {self.what} is running ({who}, since {_when(self.since)}); nothing was sent"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class AlreadyLoaded(WolkvoxError):
    """The shared ledger says this input was loaded into this campaign by a load whose
    journal is not this one (another host's, or this path's before it was removed): loading
    it again would put its records in the campaign twice, so nothing was sent. Continue
    that load with its own journal, or pass ``reload=True`` (after clearing the campaign,
    say) to load it all again."""

    campaign_id: str
    state: str
    """``finished``, ``stopped`` (it ended with records pending) or ``died`` (its process
    ended without a word: killed, or its host lost)."""
    records_landed: int | None
    """What that load had landed (None: it died, so it is not known)."""
    journal: str
    """That load's journal, as ``host:/path``."""
    pid: int | None
    host: str
    at: datetime | None
    """When it finished or stopped (for ``died``: when it started)."""

    def __str__(self) -> str:
        landed = (
            "an unknown number of records"
            if self.records_landed is None
            else f"{self.records_landed:,} records"
        )
        verb = {
            "finished": "finished",
            "stopped": "stopped with records pending",
            "died": "ended without finishing",
        }.get(self.state, self.state)
        return (
            f"this input was loaded into campaign {self.campaign_id} by pid {self.pid} on host "
            f"{self.host} (journal {self.journal}), which {verb} on {_when(self.at)} with "
            f"{landed} landed; nothing was sent"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class JournalError(WolkvoxError):
    """The journal file cannot be used (a folder, not a journal, unwritable, the disk
    full): raised before anything is sent when found at the start; mid-load, the load
    stops with what it landed journaled."""

    path: str
    reason: str
    """What is wrong, in words (the system's message kept)."""
    fix: str
    """What to do about it."""

    def __str__(self) -> str:
        return f"journal {self.path}: {self.reason}; {self.fix}"


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
