"""The one table of date-range reports (:data:`REPORTS`), and the query each is read with.

Reports are named as Wolkvox names them; :func:`report_query` checks a report's arguments
and makes its query.

Every report read with a date range is one :class:`Report` here: the single-call methods
(``_report_methods``), the windowed downloads (``iter_report``) and the ``wolkvox export``
command's choices all read this table, so a report added here is exportable everywhere.

* campaign_1..campaign_10 (wolkvox-api.md §6.1) and campaign.php ``detail`` (§5 #6) take a
  campaign (or ``all``); the others cover the whole operation and take no campaign.
* Rows are typed where wolkvox-api.md gives the fields (campaign_1..10, detail, cdr_5,
  cdr_6); the other reports public code exports (§8: agent_1/3/7/8, cdr_1, chat_1/2/16)
  come as :class:`~wolkvox_async.models.ReportRow`, every value exactly as sent. For those,
  ``columns`` are the keys of the report's sample answer in the Postman collection
  "wolkvox APIs (ES)" (§0), in its order: the CSV header of an export, known before any
  row. Their field tables there type a name or a date "Int" and durations come as
  ``HH:MM:SS`` or "-": typing them would be guessing, so nothing is converted.
* ``timed``: the rows carry their own time (``date``), so a window at the 60,000-row cap
  continues from its last row; the others are split in halves, and aggregate reports
  come per window.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final, Generic, Literal, TypeVar

import attrs

from .._errors import ConfigError, shown
from ..calls import _routes as routes
from ..calls._routes import Route
from ..models import (
    AmdDetail,
    AmdTotal,
    CampaignType,
    CodeShare,
    DetailRow,
    MachineCodesByPhone,
    PhoneResult,
    PreviewCallRow,
    ReportRow,
    ResultCount,
    ResultShare,
    TurboDialCount,
    UnconnectedCall,
    WhatsAppStatus,
)
from . import _validate as check

__all__ = ["DETAIL", "REPORTS", "Report", "report_advice", "report_named", "report_query"]

T = TypeVar("T")

Scope = Literal["campaign", "operation"]


@attrs.frozen
class Report(Generic[T]):
    """A date-range report: its Wolkvox name (the CLI's too), route, row model, whether
    its rows carry their time, and whether it takes a campaign."""

    name: str
    route: Route
    row: type[T]
    timed: bool
    """Rows carry their own time: a window cut at 60,000 rows continues from its last
    row; the others are split in halves, and aggregates come per window."""
    scope: Scope = "campaign"
    """``campaign``: a campaign id (or "all", but for detail) is part of the query;
    ``operation``: the report covers the whole operation and takes none."""
    title: str = ""
    """What the report holds, in a few words (help texts)."""
    columns: tuple[str, ...] = ()
    """For a generic row: the documented keys, in order (see the module docstring)."""


def _campaign(name: str, route: Route, row: type[T], timed: bool, title: str) -> Report[T]:
    return Report(name, route, row, timed, "campaign", title)


def _operation(name: str, route: Route, row: type[T], timed: bool, title: str) -> Report[T]:
    return Report(name, route, row, timed, "operation", title)


def _generic(name: str, route: Route, title: str, columns: str) -> Report[ReportRow]:
    return Report(name, route, ReportRow, False, "operation", title, tuple(columns.split()))


DETAIL: Final = _campaign(
    "detail", routes.DETAIL, DetailRow, True, "managed records (campaign.php, needs --type)"
)
"""campaign.php detail: the one report that also needs the campaign type."""

REPORTS: Final[dict[str, Report[Any]]] = {
    report.name: report
    for report in (
        _campaign("campaign_1", routes.REPORT_CAMPAIGN_1, ResultShare, False, "final results"),
        _campaign("campaign_2", routes.REPORT_CAMPAIGN_2, CodeShare, False, "records per code"),
        _campaign("campaign_3", routes.REPORT_CAMPAIGN_3, PhoneResult, True, "every dial attempt"),
        _campaign(
            "campaign_4", routes.REPORT_CAMPAIGN_4, ResultShare, False, "results per attempt"
        ),
        _campaign("campaign_5", routes.REPORT_CAMPAIGN_5, PreviewCallRow, False, "preview calls"),
        _campaign("campaign_6", routes.REPORT_CAMPAIGN_6, AmdTotal, False, "AMD totals"),
        _campaign("campaign_7", routes.REPORT_CAMPAIGN_7, AmdDetail, True, "AMD detections"),
        _campaign("campaign_8", routes.REPORT_CAMPAIGN_8, MachineCodesByPhone, False, "per phone"),
        _campaign(
            "campaign_9", routes.REPORT_CAMPAIGN_9, WhatsAppStatus, True, "WhatsApp statuses"
        ),
        _campaign("campaign_10", routes.REPORT_CAMPAIGN_10, TurboDialCount, False, "turbo dial"),
        DETAIL,
        _operation(
            "cdr_5", routes.REPORT_CDR_5, UnconnectedCall, True, "calls that did not connect"
        ),
        _operation(
            "cdr_6", routes.REPORT_CDR_6, ResultCount, False, "unconnected calls per result"
        ),
        _generic(
            "cdr_1",
            routes.REPORT_CDR_1,
            "call detail",
            "agent_name date destiny telephone cost time_seg time_min cod_act "
            "description_cod_act cod_act_2 description_cod_act_2 type_interaction "
            "customer_id hang_up campaign_id conn_id skill_id skill_name agent_id comment",
        ),
        _generic(
            "agent_1",
            routes.REPORT_AGENT_1,
            "time per state, per agent",
            "agent_id agent_dni agent_name calls inbound outbound internal ready_time "
            "inbound_time outbound_time acw_time ring_time login_time aht occupancy "
            "aux_time hits rpc aht_outbund aht_inbound login logout",
        ),
        _generic(
            "agent_3",
            routes.REPORT_AGENT_3,
            "auxiliary time per agent",
            "agent_id agent_dni agent_name aux_state time",
        ),
        _generic(
            "agent_7",
            routes.REPORT_AGENT_7,
            "login and logout per agent",
            "agent_name agent_id date login logout login_time",
        ),
        _generic(
            "agent_8",
            routes.REPORT_AGENT_8,
            "agent states hour by hour",
            "agent_name agent_dni agent_id date hour calls inbound outbound internal "
            "ready_time inbound_time outbound_time acw_time ring_time login_time aht "
            "occupancy aux_time",
        ),
        _generic(
            "chat_1",
            routes.REPORT_CHAT_1,
            "chats",
            "conn_id channel date customer_name customer_email customer_phone "
            "customer_chars agent_id agent_name agent_chars time_on_agent chat_duration "
            "cod_act description_cod_act comments customer_id skill_id ASA "
            "last_participant_who_spoke extra_field comment user_id feeling agent_anwers",
        ),
        _generic(
            "chat_2",
            routes.REPORT_CHAT_2,
            "chat conversations",
            "conn_id agent_name customer_name conversation",
        ),
        _generic(
            "chat_16",
            routes.REPORT_CHAT_16,
            "chat productivity per agent",
            "agent_id agent_name total_chats time tmo percent_transfer",
        ),
    )
}
"""Every date-range report, by its Wolkvox name."""


def report_named(name: object) -> Report[Any]:
    """The report of the table named ``name``, or a ConfigError listing them."""
    if not isinstance(name, str) or name not in REPORTS:
        raise ConfigError(f"report must be one of {', '.join(REPORTS)}, got {shown(name)}")
    return REPORTS[name]


def report_query(
    report: Report[Any],
    campaign_id: str | int | None,
    start: datetime,
    end: datetime,
    campaign_type: CampaignType | str | None = None,
    include_unmanaged: bool = False,
) -> dict[str, str]:
    """The query of ``report`` over start..end, every argument checked: a campaign report
    needs its campaign (detail its type too); an operation report takes none, since a
    campaign the server would ignore would export the whole operation under its name.
    Only detail takes a campaign_type (campaign.php sends type_campaign; reports_manager
    has no such parameter): given to another report it would look like a filter."""
    if campaign_type is not None and report is not DETAIL:
        raise ConfigError(
            f"campaign_type is for the detail report only; {report.name} takes none "
            f"(got {shown(campaign_type)}): pass campaign_type=None"
        )
    if report.scope == "operation":
        if campaign_id is not None:
            raise ConfigError(
                f"{report.name} covers the whole operation and takes no campaign: pass "
                f"campaign_id=None (got {shown(campaign_id)})"
            )
        return check.date_range(start, end)
    if report is DETAIL:
        # wolkvox-api.md §5 #6: campaign.php detail takes one campaign's id; "all" is the
        # reports_manager reports' (§6.1), and detail's own detail=all means unmanaged
        # records, not every campaign.
        if campaign_id is None or campaign_id == "all":
            raise ConfigError(
                "the detail report reads one campaign: campaign.php detail takes a "
                "campaign_id (digits), not 'all' (campaign_1..campaign_10 take 'all'), "
                f"got {shown(campaign_id)}"
            )
        if campaign_type is None:
            raise ConfigError("the detail report needs campaign_type")
        return {
            **check.campaign_of_type(campaign_id, campaign_type),
            **check.date_range(start, end),
            "detail": "all" if check.flag("include_unmanaged", include_unmanaged) else "default",
        }
    if campaign_id is None:
        raise ConfigError(f"{report.name} needs a campaign_id (digits, or 'all')")
    return {
        "campaign_id": check.campaign_id(campaign_id, allow_all=True),
        **check.date_range(start, end),
    }


def report_advice(report: Report[Any], params: dict[str, str]) -> str:
    """Where a report's window at the cap is read whole."""
    campaign = repr(params["campaign_id"]) if report.scope == "campaign" else "None"
    kind = f", campaign_type={params['type_campaign']!r}" if report is DETAIL else ""
    return (
        f"Read the window whole with iter_report({report.name!r}, {campaign}, start, "
        f"end{kind}): it splits or continues a window at the cap until each is complete "
        f"(the command: wolkvox export {report.name}); or pass allow_truncated=True to take "
        "these rows, marked .truncated"
    )
