"""One typed method per campaign report and information read (wolkvox-api.md §6), and
the one table of date-range reports (:data:`REPORTS`) the windowed downloads and the CLI's
``export`` read too.

Reports take a campaign id (or ``"all"``) and a start..end of at most 31 days; an empty
window (HTTP 404, §4.2) is an empty tuple. Longer spans belong to the windowed iterators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

import attrs

from . import _routes as routes
from . import _validate as check
from ._core import ClientCore
from ._errors import ConfigError, shown
from ._routes import Route
from .models import (
    AmdDetail,
    AmdTotal,
    CampaignInfo,
    CampaignType,
    CodeShare,
    DetailRow,
    DncListing,
    MachineCodesByPhone,
    PhoneResult,
    PreviewCallRow,
    RealTimeCampaign,
    ResultShare,
    TokenInfo,
    TurboDialCount,
    WhatsAppStatus,
)

__all__ = ["REPORTS", "Report", "ReportMethods"]

T = TypeVar("T")


@attrs.frozen
class Report(Generic[T]):
    """A date-range report: its name (the CLI's too), route and row model."""

    name: str
    route: Route
    row: type[T]
    timed: bool
    """Rows carry their own time: a window cut at 60,000 rows continues from its last
    row; the others are split in halves, and aggregates come per window."""


FINAL_RESULTS: Final = Report("campaign_1", routes.REPORT_CAMPAIGN_1, ResultShare, False)
CODE_RESULTS: Final = Report("campaign_2", routes.REPORT_CAMPAIGN_2, CodeShare, False)
PHONE_RESULTS: Final = Report("campaign_3", routes.REPORT_CAMPAIGN_3, PhoneResult, True)
ATTEMPT_RESULTS: Final = Report("campaign_4", routes.REPORT_CAMPAIGN_4, ResultShare, False)
PREVIEW_CALLS: Final = Report("campaign_5", routes.REPORT_CAMPAIGN_5, PreviewCallRow, False)
AMD_TOTALS: Final = Report("campaign_6", routes.REPORT_CAMPAIGN_6, AmdTotal, False)
AMD_DETAILS: Final = Report("campaign_7", routes.REPORT_CAMPAIGN_7, AmdDetail, True)
MACHINE_CODES: Final = Report("campaign_8", routes.REPORT_CAMPAIGN_8, MachineCodesByPhone, False)
WHATSAPP: Final = Report("campaign_9", routes.REPORT_CAMPAIGN_9, WhatsAppStatus, True)
TURBO_DIAL: Final = Report("campaign_10", routes.REPORT_CAMPAIGN_10, TurboDialCount, False)
DETAIL: Final = Report("detail", routes.DETAIL, DetailRow, True)
"""campaign.php detail: the one report that also needs the campaign type."""

REPORTS: Final[dict[str, Report[Any]]] = {
    report.name: report
    for report in (
        FINAL_RESULTS,
        CODE_RESULTS,
        PHONE_RESULTS,
        ATTEMPT_RESULTS,
        PREVIEW_CALLS,
        AMD_TOTALS,
        AMD_DETAILS,
        MACHINE_CODES,
        WHATSAPP,
        TURBO_DIAL,
        DETAIL,
    )
}


class ReportMethods(ClientCore):
    """reports_manager.php campaign_1..10, information.php and real_time.php reads."""

    async def _report(
        self, report: Report[T], campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[T, ...]:
        params = self._report_params(campaign_id, start, end)
        return await self._rows(report.route, report.row, params)

    @staticmethod
    def _report_params(campaign_id: str | int, start: datetime, end: datetime) -> dict[str, str]:
        return {
            "campaign_id": check.campaign_id(campaign_id, allow_all=True),
            **check.date_range(start, end),
        }

    async def campaign_detail(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        campaign_type: CampaignType | str,
        include_unmanaged: bool = False,
    ) -> tuple[DetailRow, ...]:
        """``detail`` (#6): managed records in start..end (``include_unmanaged``: detail=all)."""
        params = self._detail_params(campaign_id, start, end, campaign_type, include_unmanaged)
        return await self._rows(DETAIL.route, DETAIL.row, params)

    @staticmethod
    def _detail_params(
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        campaign_type: CampaignType | str,
        include_unmanaged: bool = False,
    ) -> dict[str, str]:
        return {
            **check.campaign_of_type(campaign_id, campaign_type),
            **check.date_range(start, end),
            "detail": "all" if include_unmanaged else "default",
        }

    async def final_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[ResultShare, ...]:
        """campaign_1: final result of each record, as shares."""
        return await self._report(FINAL_RESULTS, campaign_id, start, end)

    async def code_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[CodeShare, ...]:
        """campaign_2: records per activity code."""
        return await self._report(CODE_RESULTS, campaign_id, start, end)

    async def phone_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[PhoneResult, ...]:
        """campaign_3: every dial attempt in start..end (≤ 31 days, ≤ 60,000 rows)."""
        return await self._report(PHONE_RESULTS, campaign_id, start, end)

    async def attempt_results(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[ResultShare, ...]:
        """campaign_4: machine result attempt by attempt, as shares."""
        return await self._report(ATTEMPT_RESULTS, campaign_id, start, end)

    async def preview_calls(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[PreviewCallRow, ...]:
        """campaign_5: preview campaign, call by call."""
        return await self._report(PREVIEW_CALLS, campaign_id, start, end)

    async def amd_totals(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[AmdTotal, ...]:
        """campaign_6: answering-machine detections per campaign."""
        return await self._report(AMD_TOTALS, campaign_id, start, end)

    async def amd_details(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[AmdDetail, ...]:
        """campaign_7: each answering-machine detection."""
        return await self._report(AMD_DETAILS, campaign_id, start, end)

    async def machine_codes_by_phone(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[MachineCodesByPhone, ...]:
        """campaign_8: machine results per telephone."""
        return await self._report(MACHINE_CODES, campaign_id, start, end)

    async def whatsapp_statuses(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[WhatsAppStatus, ...]:
        """campaign_9: WhatsApp campaign record statuses."""
        return await self._report(WHATSAPP, campaign_id, start, end)

    async def turbo_dial_counts(
        self, campaign_id: str | int, start: datetime, end: datetime
    ) -> tuple[TurboDialCount, ...]:
        """campaign_10: turbo-dial calls per machine code."""
        return await self._report(TURBO_DIAL, campaign_id, start, end)

    async def campaigns(self, campaign_id: str | int | None = None) -> tuple[CampaignInfo, ...]:
        """information.php campaigns: every campaign, or one."""
        cid = None if campaign_id is None else check.campaign_id(campaign_id)
        rows = await self._rows(routes.INFO_CAMPAIGNS, CampaignInfo, {"campaign": cid})
        for row in rows:  # a campaign's type, which start/stop/speed send, never goes stale
            if row.campaign_id is not None and row.type_campaign is not None:
                self._facts.learn(row.campaign_id, type=row.type_campaign)
        return rows

    async def token_info(self) -> TokenInfo:
        """information.php token_info: today's consumption (this call costs 1 too)."""
        return await self._first(routes.TOKEN_INFO, TokenInfo, {})

    async def dnc_list(
        self, direction: Literal["inbound", "outbound", "all"] = "all"
    ) -> tuple[DncListing, ...]:
        """information.php get_dnc: the numbers blocked for ``direction`` calls, with when
        each block ends (add_dnc blocks outbound dialing)."""
        if direction not in ("inbound", "outbound", "all"):
            raise ConfigError(
                f"direction must be 'inbound', 'outbound' or 'all', got {shown(direction)}"
            )
        return await self._rows(routes.GET_DNC, DncListing, {"type": direction})

    async def realtime_campaigns(self) -> tuple[RealTimeCampaign, ...]:
        """real_time.php campaigns: live counters per campaign."""
        return await self._rows(routes.REALTIME_CAMPAIGNS, RealTimeCampaign, {})
