"""What bulk work is given by the client (:class:`Parts`), and its quota and job span.

The parts: the client's calls at BULK priority, what it knows of its campaigns, the record
sender, and the reads a reconciliation makes. Beside them, today's quota as bulk work
plans with it, and the span of a bulk job when the client has telemetry."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ..models import Export, FoundRecord

if TYPE_CHECKING:
    from ..calls._call import Caller
    from ..endpoints._campaign_state import CampaignFacts
    from ..endpoints._core import Calls
    from ..endpoints._records import SendRecords
    from ..otel import Job
    from ..scheduler import SchedulerStats

__all__ = ["Endpoints", "Parts", "bulk_quota", "job_of", "within"]


class Endpoints(Protocol):
    """The reads a reconciliation makes (the client's campaign.php group, at BULK
    priority): what a lost answer stored."""

    async def export_campaign(
        self, campaign_id: str | int, *, allow_truncated: bool = False
    ) -> Export: ...

    async def find_record(
        self,
        *,
        campaign_id: str | int | None = None,
        customer_id: str | None = None,
        customer_phone: str | None = None,
    ) -> tuple[FoundRecord, ...]: ...


@attrs.frozen
class Parts:
    """What the client hands its bulk methods, explicitly."""

    calls: Calls
    """The client's caller at BULK priority (bulk work queues behind interactive calls and
    leaves them their reserve), with its converter."""
    facts: CampaignFacts
    """What the client knows of its campaigns (a load's campaign_status)."""
    send: SendRecords
    """The request that sends records (``_chunks.send_records``)."""
    reads: Endpoints
    """export_campaign and find_record at BULK priority, for reconciliation."""


async def bulk_quota(calls: Calls) -> SchedulerStats:
    """Today's numbers for planning bulk work. A ``quota_reserve`` needs the limit to hold
    anything back; when neither the settings (licenses, daily_quota) nor the ledger know
    it, it is read from the server once (token_info: 1 call), and the ledger keeps it for
    every later admission of the day."""
    stats = await calls.stats()
    if stats.quota_limit is None and calls.caller.config.quota_reserve:
        await calls.caller.sync_quota()
        stats = await calls.stats()
    return stats


def job_of(caller: Caller, name: str, attributes: Mapping[str, Any]) -> Job | None:
    """A bulk job's span (not started), when the client has telemetry."""
    telemetry = caller.telemetry
    return None if telemetry is None else telemetry.job(name, attributes)


def within(job: Job | None) -> AbstractContextManager[None]:
    """Calls made inside nest under ``job``'s span."""
    return nullcontext() if job is None else job.current()
