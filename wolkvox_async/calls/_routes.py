"""Every Wolkvox endpoint the library calls, as ``Final`` constants.

A :class:`Route` says where a request goes (``/api/v2/<file>.php?api=<name>``), with
which method, and what the scheduler and retry policy need to know about it: whether it
is safe to send twice (``idempotent``), whether the "consume every 5 minutes" polling rule
applies (``poll_limited``), and how its answer is shaped (``shape``).
Sources: wolkvox-api.md §5 (campaign.php 1–17), §6 (reports and information), §2 and
§5 #1, #7 (configuration.php, agentbox.php, real_time.php recall).
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

__all__ = ["ALL_ROUTES", "Route", "Shape"]


class Shape(enum.Enum):
    """How a route's success body is laid out (wolkvox-api.md §1 "Response envelope")."""

    ENVELOPE = "envelope"
    """``{"code", "error", "msg", "data": [...]}``; data may be absent on actions."""
    EXPORT = "export"
    """campaign_15: ``{"code", "total_records", "campaign_id", "records": [...]}``."""
    BARE_LIST = "bare_list"
    """real_time campaigns: a bare JSON array (public code also accepts an envelope)."""


@attrs.frozen(kw_only=True)
class Route:
    """One endpoint: file, ``api`` selector, method and scheduling traits."""

    file: str
    """The PHP file under ``/api/v2/``."""
    api: str
    """Value of the ``api`` query parameter."""
    method: str
    """HTTP method."""
    idempotent: bool
    """True when sending the request twice has the effect of sending it once."""
    poll_limited: bool = False
    """Report and information reads: "you can consume the information every 5 minutes"."""
    shape: Shape = Shape.ENVELOPE
    """How the body of a success is laid out."""
    empty_on_404: bool = False
    """Reports answer an empty window with HTTP 404 instead of ``[]`` (public code)."""
    may_be_full: bool = False
    """A 404 mentioning licenses / 50000 means the campaign (or the operation) is full:
    seen on add_record by public code (§3.3); elsewhere such a 404 keeps its route's
    meaning (a report's "no data" stays empty)."""

    path: str = attrs.field(
        init=False, default=attrs.Factory(lambda self: f"/api/v2/{self.file}.php", takes_self=True)
    )
    """The URL path, e.g. ``/api/v2/campaign.php`` (made once: every call reads it)."""

    @property
    def name(self) -> str:
        """Short name for logs and errors, e.g. ``campaign.add_record``."""
        return f"{self.file}.{self.api}"


def _campaign(
    api: str,
    method: str,
    *,
    idempotent: bool,
    poll_limited: bool = False,
    shape: Shape = Shape.ENVELOPE,
    may_be_full: bool = False,
) -> Route:
    return Route(
        file="campaign",
        api=api,
        method=method,
        idempotent=idempotent,
        poll_limited=poll_limited,
        shape=shape,
        may_be_full=may_be_full,
    )


def _read(file: str, api: str) -> Route:
    """A report-like read: "every 5 minutes" applies, and no data may come as HTTP 404."""
    return Route(
        file=file, api=api, method="GET", idempotent=True, poll_limited=True, empty_on_404=True
    )


def _report(api: str) -> Route:
    return _read("reports_manager", api)


# campaign.php, numbered as on the Wolkvox site and in the Postman collection (§5).
ADD_DNC: Final = _campaign("add_dnc", "POST", idempotent=False)  # 1
# Loading into a full campaign answers HTTP 404 mentioning licenses/50000 (public code,
# §3.3); creating one past the operation's campaigns per licence may say the same.
ADD_RECORD: Final = _campaign("add_record", "POST", idempotent=False, may_be_full=True)  # 2.1, 2.2
CLEAR_CAMPAIGN: Final = _campaign("clear_campaign", "DELETE", idempotent=True)  # 3
CREATE_CAMPAIGN: Final = _campaign(
    "create_campaign", "POST", idempotent=False, may_be_full=True
)  # 4
CODIFY: Final = _campaign("codify", "PUT", idempotent=True)  # 5
DETAIL: Final = _read("campaign", "detail")  # 6: a report of managed records
RECALL: Final = _campaign("recall", "PUT", idempotent=True)  # 7
REMOVE_RECORD: Final = _campaign("remove_record", "DELETE", idempotent=True)  # 8
SPEED: Final = _campaign("speed", "PUT", idempotent=True)  # 9
START: Final = _campaign("start", "PUT", idempotent=True)  # 10
STOP: Final = _campaign("stop", "PUT", idempotent=True)  # 11
# find_record is an interactive lookup (a CRM webhook awaits it); the docs paste "every
# 5 minutes" on it too, but a CRM cannot wait 5 minutes per customer, so it is not
# poll-limited here (wolkvox-api.md §3.2, §9.10). "No hits" may come as HTTP 404 like an
# empty report (§4.2), and the contract is an empty tuple.
FIND_RECORD: Final = Route(
    file="campaign", api="find_record", method="GET", idempotent=True, empty_on_404=True
)  # 12
DELETE_CAMPAIGN: Final = _campaign("delete_campaign", "DELETE", idempotent=True)  # 13
CAMPAIGN_FILTER: Final = _campaign("campaign_filter", "PUT", idempotent=True)  # 14
# The "every 5 minutes" note on the export is Postman boilerplate pasted on write endpoints
# too (wolkvox-api.md §3.2), and an upload's reconciliation needs a fresh export.
EXPORT: Final = _campaign("campaign_15", "GET", idempotent=True, shape=Shape.EXPORT)  # 15
RECALL_RECORDS: Final = _campaign("recall_records", "PUT", idempotent=True)  # 16
EDIT_CAMPAIGN: Final = _campaign("edit_campaign", "PUT", idempotent=True)  # 17

# reports_manager.php campaign reports (§6.1).
REPORT_CAMPAIGN_1: Final = _report("campaign_1")
REPORT_CAMPAIGN_2: Final = _report("campaign_2")
REPORT_CAMPAIGN_3: Final = _report("campaign_3")
REPORT_CAMPAIGN_4: Final = _report("campaign_4")
REPORT_CAMPAIGN_5: Final = _report("campaign_5")
REPORT_CAMPAIGN_6: Final = _report("campaign_6")
REPORT_CAMPAIGN_7: Final = _report("campaign_7")
REPORT_CAMPAIGN_8: Final = _report("campaign_8")
REPORT_CAMPAIGN_9: Final = _report("campaign_9")
REPORT_CAMPAIGN_10: Final = _report("campaign_10")

# reports_manager.php reports of the whole operation (no campaign_id): the families public
# analysts export (§6.1 "related CDR reports", §8 the public-code table).
REPORT_AGENT_1: Final = _report("agent_1")
REPORT_AGENT_3: Final = _report("agent_3")
REPORT_AGENT_7: Final = _report("agent_7")
REPORT_AGENT_8: Final = _report("agent_8")
REPORT_CDR_1: Final = _report("cdr_1")
REPORT_CDR_5: Final = _report("cdr_5")
REPORT_CDR_6: Final = _report("cdr_6")
REPORT_CHAT_1: Final = _report("chat_1")
REPORT_CHAT_2: Final = _report("chat_2")
REPORT_CHAT_16: Final = _report("chat_16")

# information.php and real_time.php (§6.2, §6.3, §2 token_info).
INFO_CAMPAIGNS: Final = Route(
    file="information", api="campaigns", method="GET", idempotent=True, poll_limited=True
)
# The same read, made by the client to learn a campaign's type or current state before a
# write that must name it (_campaign_state): part of that write, not the tracking the
# "every 5 minutes" rule is about, so not held to it; its result is kept 5 minutes.
CAMPAIGN_STATE: Final = Route(file="information", api="campaigns", method="GET", idempotent=True)
# get_dnc lists the operation's blocked numbers (§5 #1, the configuration series' sibling;
# "every 5 minutes" is on its page, §3.2). An empty list may come as HTTP 404 (§4.2).
GET_DNC: Final = _read("information", "get_dnc")
# token_info is how the client learns the quota; the scheduler exempts it from the
# polling interval (it must be readable right after a 403 TOKEN LIMIT EXCEEDED).
TOKEN_INFO: Final = Route(file="information", api="token_info", method="GET", idempotent=True)
REALTIME_CAMPAIGNS: Final = Route(
    file="real_time",
    api="campaigns",
    method="GET",
    idempotent=True,
    poll_limited=True,
    shape=Shape.BARE_LIST,
)
# The scheduled recalls (§5 #7 "related"): a live read like real_time campaigns; none
# scheduled may come as HTTP 404 like any empty list (§4.2).
REALTIME_RECALLS: Final = _read("real_time", "recall")
# The operation's agents and activity codes (§8: public code reads both).
INFO_AGENTS: Final = _read("information", "agents")
INFO_ACTIVITY_CODES: Final = _read("information", "activity_codes")

# configuration.php (§2 IP firewall, §5 #1 the configuration DNC). Adding an IP twice is
# answered "already registered" (body code 404, public code), which the client reads as
# the state wanted: sending it again has the effect of sending it once.
ADD_IP: Final = Route(file="configuration", api="add_ip", method="POST", idempotent=True)
REMOVE_IP: Final = Route(file="configuration", api="remove_ip", method="DELETE", idempotent=True)
CONFIG_ADD_DNC: Final = Route(file="configuration", api="add_dnc", method="POST", idempotent=False)
CONFIG_REMOVE_DNC: Final = Route(
    file="configuration", api="remove_dnc", method="DELETE", idempotent=True
)

# agentbox.php, the agent-side recall (§5 #7 "related, different API"; the Postman
# collection's "Agentes V2"): scheduling one is a POST, and is not sent twice.
AGENT_RECALL: Final = Route(file="agentbox", api="recall", method="POST", idempotent=False)
AGENT_EDIT_RECALL: Final = Route(file="agentbox", api="edit_recall", method="PUT", idempotent=True)
AGENT_DELETE_RECALL: Final = Route(
    file="agentbox", api="delete_recall", method="DELETE", idempotent=True
)

ALL_ROUTES: Final[tuple[Route, ...]] = tuple(
    value for value in list(globals().values()) if isinstance(value, Route)
)
