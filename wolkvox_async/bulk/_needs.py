"""What the bulk helpers need of a client: its public endpoint methods (:class:`Endpoints`,
which any WolkvoxClient is), beside the client's :class:`~wolkvox_async._call.Caller` that
sends the records and keeps the time, and the client's telemetry, when it has one."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, Protocol

from .._config import ClientConfig
from ..models import Export, FoundRecord
from ..scheduler import SchedulerStats

if TYPE_CHECKING:
    from .._call import Caller
    from ..otel import Job

__all__ = ["Endpoints", "job_of", "within"]


class Endpoints(Protocol):
    """The public methods a load or a download calls (a BULK view of the client), and
    the client's reading of a campaign's state for add_record."""

    @property
    def config(self) -> ClientConfig: ...

    async def scheduler_stats(self) -> SchedulerStats: ...

    async def sync_quota(self) -> SchedulerStats: ...

    async def export_campaign(
        self, campaign_id: str | int, *, allow_truncated: bool = False
    ) -> Export: ...

    async def _status_to_send(self, cid: str) -> tuple[str, bool]: ...

    async def find_record(
        self,
        *,
        campaign_id: str | int | None = None,
        customer_id: str | None = None,
        customer_phone: str | None = None,
    ) -> tuple[FoundRecord, ...]: ...


def job_of(caller: Caller, name: str, attributes: Mapping[str, Any]) -> Job | None:
    """A bulk job's span (not started), when the client has telemetry."""
    telemetry = caller.telemetry
    return None if telemetry is None else telemetry.job(name, attributes)


def within(job: Job | None) -> AbstractContextManager[None]:
    """Calls made inside nest under ``job``'s span."""
    return nullcontext() if job is None else job.current()
