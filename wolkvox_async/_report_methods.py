"""One typed method per campaign report and information read (wolkvox-api.md §6).

Reports take a campaign id (or ``"all"``) and a start..end of at most 31 days; an empty
window (HTTP 404, §4.2) is an empty tuple. Longer spans belong to the windowed iterators.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from . import _routes as routes
from . import _validate as check
from ._core import ClientCore
from ._routes import Route
from .models import (
    AmdDetail,
    AmdTotal,
    CampaignInfo,
    CodeShare,
    MachineCodesByPhone,
    PhoneResult,
    PreviewCallRow,
    RealTimeCampaign,
    ResultShare,
    TokenInfo,
    TurboDialCount,
    WhatsAppStatus,
)

__all__ = ["ReportMethods"]

T = TypeVar("T")


class ReportMethods(ClientCore):
    """reports_manager.php campaign_1..10, information.php and real_time.php reads."""

    async def _report(
        self, route: Route, cls: type[T], campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[T, ...]:
        return await self._rows(route, cls, self._report_params(campaign_id, start, end))

    @staticmethod
    def _report_params(campaign_id: str | int, start: datetime, end: datetime) -> dict[str, str]:
        return {
            "campaign_id": check.campaign_id(campaign_id, allow_all=True),
            **check.date_range(start, end),
        }

    async def final_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[ResultShare, ...]:
        """campaign_1: final result of each record, as shares."""
        return await self._report(routes.REPORT_CAMPAIGN_1, ResultShare, campaign_id, start, end)

    async def code_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[CodeShare, ...]:
        """campaign_2: records per activity code."""
        return await self._report(routes.REPORT_CAMPAIGN_2, CodeShare, campaign_id, start, end)

    async def phone_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[PhoneResult, ...]:
        """campaign_3: every dial attempt in start..end (≤ 31 days, ≤ 60,000 rows)."""
        return await self._report(routes.REPORT_CAMPAIGN_3, PhoneResult, campaign_id, start, end)

    async def attempt_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[ResultShare, ...]:
        """campaign_4: machine result attempt by attempt, as shares."""
        return await self._report(routes.REPORT_CAMPAIGN_4, ResultShare, campaign_id, start, end)

    async def preview_calls(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[PreviewCallRow, ...]:
        """campaign_5: preview campaign, call by call."""
        return await self._report(routes.REPORT_CAMPAIGN_5, PreviewCallRow, campaign_id, start, end)

    async def amd_totals(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[AmdTotal, ...]:
        """campaign_6: answering-machine detections per campaign."""
        return await self._report(routes.REPORT_CAMPAIGN_6, AmdTotal, campaign_id, start, end)

    async def amd_details(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[AmdDetail, ...]:
        """campaign_7: each answering-machine detection."""
        return await self._report(routes.REPORT_CAMPAIGN_7, AmdDetail, campaign_id, start, end)

    async def machine_codes_by_phone(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[MachineCodesByPhone, ...]:
        """campaign_8: machine results per telephone."""
        return await self._report(
            routes.REPORT_CAMPAIGN_8, MachineCodesByPhone, campaign_id, start, end
        )

    async def whatsapp_statuses(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[WhatsAppStatus, ...]:
        """campaign_9: WhatsApp campaign record statuses."""
        return await self._report(routes.REPORT_CAMPAIGN_9, WhatsAppStatus, campaign_id, start, end)

    async def turbo_dial_counts(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[TurboDialCount, ...]:
        """campaign_10: turbo-dial calls per machine code."""
        return await self._report(
            routes.REPORT_CAMPAIGN_10, TurboDialCount, campaign_id, start, end
        )

    async def campaigns(self, campaign_id: str | int | None = None) -> tuple[CampaignInfo, ...]:
        """information.php campaigns: every campaign, or one."""
        cid = None if campaign_id is None else check.campaign_id(campaign_id)
        return await self._rows(routes.INFO_CAMPAIGNS, CampaignInfo, {"campaign": cid})

    async def token_info(self) -> TokenInfo:
        """information.php token_info: today's consumption (this call costs 1 too)."""
        return await self._first(routes.TOKEN_INFO, TokenInfo, {})

    async def realtime_campaigns(self) -> tuple[RealTimeCampaign, ...]:
        """real_time.php campaigns: live counters per campaign."""
        return await self._rows(routes.REALTIME_CAMPAIGNS, RealTimeCampaign, {})
