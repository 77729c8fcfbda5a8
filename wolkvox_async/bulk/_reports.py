"""What an upload reports: per chunk, per failed row, in progress and at the end; and
the two errors particular to uploads."""

from __future__ import annotations

from typing import Literal

import attrs

from .._errors import SchedulerRefusal, WolkvoxError

__all__ = [
    "ChunkReport",
    "InsufficientQuota",
    "ReconcileError",
    "RowFailure",
    "UploadProgress",
    "UploadReport",
]


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class InsufficientQuota(SchedulerRefusal):
    """The load needs more calls than today's quota has left; nothing was sent."""

    needed: int
    available: int

    def __str__(self) -> str:
        return (
            f"this load needs {self.needed} calls but only {self.available} are left today; "
            "pass allow_partial=True to load what fits"
        )


class ReconcileError(WolkvoxError):
    """A chunk's outcome could not be told apart (some of its records landed, some not)."""


@attrs.frozen(kw_only=True)
class RowFailure:
    """An input row that did not land, and why."""

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
    outcome: Literal["landed", "already_landed", "reconciled", "failed", "not_sent"]
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
    records_sent: int
    """Records in requests that left us (resends after reconciliation included)."""
    records_landed: int
    """Input records now in the campaign (earlier runs of a resumed load included)."""
    chunks: tuple[ChunkReport, ...]
    failures: tuple[RowFailure, ...]
    requests: int
    """Calls this load made (uploads, exports and probes for reconciliation)."""
    elapsed: float
    stopped: str | None = None
    """Why the load stopped early: "campaign_full" or "quota"; None when it ran through."""

    @property
    def complete(self) -> bool:
        """Every input record landed."""
        return self.stopped is None and not self.failures
