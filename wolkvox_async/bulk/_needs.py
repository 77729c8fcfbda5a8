"""What the bulk helpers need of a client: its public endpoint methods (:class:`Endpoints`,
which any WolkvoxClient is), beside the client's :class:`~wolkvox_async._call.Caller` that
sends the records and keeps the time."""

from __future__ import annotations

from typing import Protocol

from .._config import ClientConfig
from ..models import Export, FoundRecord
from ..scheduler import SchedulerStats

__all__ = ["Endpoints"]


class Endpoints(Protocol):
    """The public methods a load or a download calls (a BULK view of the client)."""

    @property
    def config(self) -> ClientConfig: ...

    async def scheduler_stats(self) -> SchedulerStats: ...

    async def sync_quota(self) -> SchedulerStats: ...

    async def export_campaign(self, campaign_id: str | int) -> Export: ...

    async def find_record(
        self,
        *,
        campaign_id: str | int | None = None,
        customer_id: str | None = None,
        customer_phone: str | None = None,
    ) -> tuple[FoundRecord, ...]: ...
