"""One typed method per date-range report, and the information/real_time reads.

The reports are those of the report table (``_report_table``); the information.php /
real_time.php reads of campaigns are wolkvox-api.md §6's.

Reports take a start..end of at most 31 calendar days and, for the campaign reports, a
campaign id (or ``"all"``, but for detail, which reads one campaign); an empty window
(HTTP 404, §4.2) is an empty tuple. An answer at the 60,000-row cap raises
:class:`~wolkvox_async.TruncatedAnswer` (``allow_truncated=True``: the rows, marked
``.truncated``); longer spans and windows at the cap belong to the
windowed iterator ``iter_report``, which reads the same table.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .._errors import ConfigError, shown
from ..calls import _routes as routes
from ..calls._answers import Rows
from ..models import (
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
    ReportRow,
    ResultCount,
    ResultShare,
    TokenInfo,
    TurboDialCount,
    UnconnectedCall,
    WhatsAppStatus,
)
from . import _validate as check
from ._report_table import DETAIL, REPORTS, Report, report_advice, report_named, report_query

if TYPE_CHECKING:
    from ._campaign_state import CampaignFacts
    from ._core import Calls

__all__ = ["DETAIL", "REPORTS", "Report", "ReportMethods", "report_named", "report_query"]

T = TypeVar("T")


class ReportMethods:
    """reports_manager.php reports, campaign.php detail, information and real_time reads,
    over the client's calls (and what it knows of its campaigns, which campaigns() feeds)."""

    def __init__(self, calls: Calls, facts: CampaignFacts) -> None:
        self._calls = calls
        self._facts = facts

    async def report(
        self,
        name: str,
        start: datetime,
        end: datetime,
        *,
        campaign_id: str | int | None = None,
        campaign_type: CampaignType | str | None = None,
        allow_truncated: bool = False,
    ) -> Rows[Any]:
        """Any report of the table by its Wolkvox name (``"campaign_3"``, ``"cdr_5"``,
        ``"agent_1"``...), start..end (≤ 31 calendar days): its typed rows, or
        :class:`~wolkvox_async.models.ReportRow` where the docs give no fields.

        Raises:
            ConfigError: an unknown report, a campaign missing (campaign reports) or given
                (operation reports), a campaign_type given to a report other than detail,
                a range over 31 days.
            TruncatedAnswer: the answer holds the 60,000-row cap (``allow_truncated``:
                returned marked instead).
        """
        table = report_named(name)
        params = report_query(table, campaign_id, start, end, campaign_type)
        return await self._report(table, params, allow_truncated)

    async def _report(
        self, report: Report[T], params: dict[str, str], allow_truncated: bool
    ) -> Rows[T]:
        return await self._calls.rows(
            report.route,
            report.row,
            params,
            allow_truncated=allow_truncated,
            advice=report_advice(report, params),
        )

    async def _campaign_report(
        self,
        name: str,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        allow_truncated: bool,
    ) -> Rows[Any]:
        report = REPORTS[name]
        return await self._report(
            report, report_query(report, campaign_id, start, end), allow_truncated
        )

    async def _operation_report(
        self, name: str, start: datetime, end: datetime, allow_truncated: bool
    ) -> Rows[Any]:
        report = REPORTS[name]
        return await self._report(report, report_query(report, None, start, end), allow_truncated)

    async def campaign_detail(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        campaign_type: CampaignType | str,
        include_unmanaged: bool = False,
        allow_truncated: bool = False,
    ) -> Rows[DetailRow]:
        """``detail`` (#6): managed records in start..end (``include_unmanaged``: detail=all)."""
        params = report_query(DETAIL, campaign_id, start, end, campaign_type, include_unmanaged)
        return await self._report(DETAIL, params, allow_truncated)

    async def final_results(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[ResultShare]:
        """campaign_1: final result of each record, as shares."""
        return await self._campaign_report("campaign_1", campaign_id, start, end, allow_truncated)

    async def code_results(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[CodeShare]:
        """campaign_2: records per activity code."""
        return await self._campaign_report("campaign_2", campaign_id, start, end, allow_truncated)

    async def phone_results(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[PhoneResult]:
        """campaign_3: every dial attempt in start..end (≤ 31 days, < 60,000 rows: at the
        cap, TruncatedAnswer; ``iter_phone_results`` reads any span whole)."""
        return await self._campaign_report("campaign_3", campaign_id, start, end, allow_truncated)

    async def attempt_results(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[ResultShare]:
        """campaign_4: machine result attempt by attempt, as shares."""
        return await self._campaign_report("campaign_4", campaign_id, start, end, allow_truncated)

    async def preview_calls(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[PreviewCallRow]:
        """campaign_5: preview campaign, call by call."""
        return await self._campaign_report("campaign_5", campaign_id, start, end, allow_truncated)

    async def amd_totals(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[AmdTotal]:
        """campaign_6: answering-machine detections per campaign."""
        return await self._campaign_report("campaign_6", campaign_id, start, end, allow_truncated)

    async def amd_details(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[AmdDetail]:
        """campaign_7: each answering-machine detection."""
        return await self._campaign_report("campaign_7", campaign_id, start, end, allow_truncated)

    async def machine_codes_by_phone(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[MachineCodesByPhone]:
        """campaign_8: machine results per telephone."""
        return await self._campaign_report("campaign_8", campaign_id, start, end, allow_truncated)

    async def whatsapp_statuses(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[WhatsAppStatus]:
        """campaign_9: WhatsApp campaign record statuses."""
        return await self._campaign_report("campaign_9", campaign_id, start, end, allow_truncated)

    async def turbo_dial_counts(
        self,
        campaign_id: str | int,
        start: datetime,
        end: datetime,
        *,
        allow_truncated: bool = False,
    ) -> Rows[TurboDialCount]:
        """campaign_10: turbo-dial calls per machine code."""
        return await self._campaign_report("campaign_10", campaign_id, start, end, allow_truncated)

    async def unconnected_calls(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[UnconnectedCall]:
        """cdr_5: every call of the operation that did not connect, with its result."""
        return await self._operation_report("cdr_5", start, end, allow_truncated)

    async def unconnected_results(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ResultCount]:
        """cdr_6: the operation's unconnected calls, counted per result."""
        return await self._operation_report("cdr_6", start, end, allow_truncated)

    async def call_details(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """cdr_1: every call of the operation (rows as sent: ``row["conn_id"]``)."""
        return await self._operation_report("cdr_1", start, end, allow_truncated)

    async def agent_state_times(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """agent_1: time in each state, calls and AHT per agent (rows as sent)."""
        return await self._operation_report("agent_1", start, end, allow_truncated)

    async def agent_aux_times(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """agent_3: time in each auxiliary state per agent (rows as sent)."""
        return await self._operation_report("agent_3", start, end, allow_truncated)

    async def agent_sessions(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """agent_7: each agent's login and logout per day (rows as sent)."""
        return await self._operation_report("agent_7", start, end, allow_truncated)

    async def agent_hourly_states(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """agent_8: agent states hour by hour (rows as sent)."""
        return await self._operation_report("agent_8", start, end, allow_truncated)

    async def chats(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """chat_1: every chat, with its channel, agent, code and times (rows as sent)."""
        return await self._operation_report("chat_1", start, end, allow_truncated)

    async def chat_conversations(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """chat_2: each chat's messages (``row["conversation"]``, a tuple of rows)."""
        return await self._operation_report("chat_2", start, end, allow_truncated)

    async def chat_agent_productivity(
        self, start: datetime, end: datetime, *, allow_truncated: bool = False
    ) -> Rows[ReportRow]:
        """chat_16: chats, time and transfers per agent (rows as sent)."""
        return await self._operation_report("chat_16", start, end, allow_truncated)

    async def campaigns(
        self, campaign_id: str | int | None = None, *, allow_truncated: bool = False
    ) -> Rows[CampaignInfo]:
        """information.php campaigns: every campaign, or one."""
        cid = None if campaign_id is None else check.campaign_id(campaign_id)
        rows = await self._calls.rows(
            routes.INFO_CAMPAIGNS,
            CampaignInfo,
            {"campaign": cid},
            allow_truncated=allow_truncated,
            advice=_NO_WINDOW,
        )
        for row in rows:  # a campaign's type, which start/stop/speed send, never goes stale
            if row.campaign_id is not None and row.type_campaign is not None:
                self._facts.learn(row.campaign_id, type=row.type_campaign)
        return rows

    async def token_info(self) -> TokenInfo:
        """information.php token_info: today's consumption (this call costs 1 too)."""
        return await self._calls.first(routes.TOKEN_INFO, TokenInfo, {})

    async def dnc_list(
        self,
        direction: Literal["inbound", "outbound", "all"] = "all",
        *,
        allow_truncated: bool = False,
    ) -> Rows[DncListing]:
        """information.php get_dnc: the numbers blocked for ``direction`` calls, with when
        each block ends (add_dnc blocks outbound dialing)."""
        if direction not in ("inbound", "outbound", "all"):
            raise ConfigError(
                f"direction must be 'inbound', 'outbound' or 'all', got {shown(direction)}"
            )
        advice = (
            "get_dnc has no date range nor paging: list inbound and outbound apart, or "
            "pass allow_truncated=True to take these rows, marked .truncated"
        )
        return await self._calls.rows(
            routes.GET_DNC,
            DncListing,
            {"type": direction},
            allow_truncated=allow_truncated,
            advice=advice,
        )

    async def realtime_campaigns(self, *, allow_truncated: bool = False) -> Rows[RealTimeCampaign]:
        """real_time.php campaigns: live counters per campaign."""
        return await self._calls.rows(
            routes.REALTIME_CAMPAIGNS,
            RealTimeCampaign,
            {},
            allow_truncated=allow_truncated,
            advice=_NO_WINDOW,
        )


_NO_WINDOW = (
    "It has no date range nor paging to read the rest with; pass allow_truncated=True to "
    "take these rows, marked .truncated"
)
