"""The operation's endpoints beside campaign.php and the reports.

They are configuration.php (the IP firewall and the DNC lists), agentbox.php's agent-side
recalls, real_time.php's scheduled recalls, and information.php's agents and activity
codes.

Sources: wolkvox-api.md §2 (IP firewall: add_ip/remove_ip and their body codes seen in
public code), §5 #1 (configuration add_dnc/remove_dnc), §5 #7 (agentbox recall,
edit_recall, delete_recall and real_time recall), §8 (information agents and
activity_codes, which answers ``"code": "0"`` for success, §9.4), and for each request's
exact parameters the Postman collection "wolkvox APIs (ES)" that §0 names.

The agent APIs are documented as not consuming the daily quota; the scheduler counts every
call alike, so they are counted here too: the ledger may over-count (``sync_quota()``
reads the server's figure), never under-count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from .._errors import ConfigError, NotFound, shown
from .._time import format_query_datetime
from ..calls import _routes as routes
from ..calls._answers import Rows
from ..models import ActionResult, ActivityCode, AgentInfo, IpResult, ScheduledRecall
from . import _validate as check
from ._records import MAX_RECORDS_PER_UPLOAD

if TYPE_CHECKING:
    from ._core import Calls

__all__ = ["OperationMethods"]

Direction = Literal["inbound", "outbound", "all"]
_DIRECTIONS: Final = ("inbound", "outbound", "all")
_STYLES: Final = ("auto", "manual")
_NO_PAGING: Final = (
    "It has no date range nor paging to read the rest with; pass allow_truncated=True to "
    "take these rows, marked .truncated"
)


def _ip(value: object) -> str:
    """An IPv4 address ("Dirección IPv4", the add_ip/remove_ip field tables)."""
    try:
        if not isinstance(value, str):  # (an int would be taken as a packed address)
            raise TypeError
        return str(ipaddress.IPv4Address(value.strip()))
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise ConfigError(
            f"ip must be an IPv4 address such as '203.0.113.7' (the firewall takes IPv4), "
            f"got {shown(value)}"
        ) from None


def _direction(value: object) -> str:
    if value not in _DIRECTIONS:
        raise ConfigError(f"direction must be 'inbound', 'outbound' or 'all', got {shown(value)}")
    return str(value)


def _phones(telephones: Iterable[str]) -> list[str]:
    phones = [
        check.non_blank("telephones", phone, limit=check.PHONE_MAX_LENGTH)
        for phone in check.iterable("telephones", telephones, "telephones")
    ]
    if not phones:
        raise ConfigError("telephones must name at least one telephone")
    if len(phones) > MAX_RECORDS_PER_UPLOAD:  # "records that can be uploaded per call"
        raise ConfigError(
            f"telephones holds {len(phones):,} numbers; Wolkvox takes at most "
            f"{MAX_RECORDS_PER_UPLOAD:,} per call"
        )
    return phones


def _agent(value: object) -> str:
    """An agent's extension number: ASCII digits ("Int" in the agentbox field tables)."""
    small = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20
    text = str(value) if small else value
    if isinstance(text, str) and 0 < len(text) <= 20 and text.isascii() and text.isdigit():
        return text
    raise ConfigError(f"agent_id must be the agent's extension, digits, got {shown(value)}")


def _style(value: object) -> str:
    if value not in _STYLES:
        raise ConfigError(f"style must be 'auto' or 'manual', got {shown(value)}")
    return str(value)


def _agent_recall(
    agent_id: str | int, campaign_id: str | int, customer_id: str, telephone: str
) -> dict[str, str]:
    return {
        "agent_id": _agent(agent_id),
        "id_camp": check.campaign_id(campaign_id),
        "id_customer": check.non_blank(
            "customer_id", customer_id, limit=check.CUSTOMER_ID_MAX_LENGTH
        ),
        "telephone": check.non_blank("telephone", telephone, limit=check.PHONE_MAX_LENGTH),
    }


class OperationMethods:
    """configuration.php, agentbox.php recalls, real_time.php recall, information agents
    and activity codes, over the client's calls."""

    def __init__(self, calls: Calls) -> None:
        self._calls = calls

    async def add_ip(self, ip: str, *, permanent: bool = False, description: str = "") -> IpResult:
        """configuration.php ``add_ip``: allow ``ip`` through the operation's API firewall
        (a new integration's first call). At most 5 permanent IPs per operation (the docs);
        a temporary one is the default, as on the site.

        Returns:
            ``changed`` False when the IP was already registered (body code 404, which
            public code reads so): the IP is allowed either way.
        """
        body = {
            "ip": _ip(ip),
            "permanent": "yes" if check.flag("permanent", permanent) else "no",
            "description": check.text("description", description, limit=check.FREE_TEXT_MAX_LENGTH),
        }
        return await self._ip_change(routes.ADD_IP, body)

    async def remove_ip(self, ip: str) -> IpResult:
        """configuration.php ``remove_ip``: take ``ip`` off the firewall.

        Returns:
            ``changed`` False when it was not registered (body code 404, public code).
        """
        return await self._ip_change(routes.REMOVE_IP, {"ip": _ip(ip)})

    async def _ip_change(self, route: routes.Route, body: dict[str, str]) -> IpResult:
        try:
            done = await self._calls.action(route, {}, body)
        except NotFound as exc:  # "already registered" / "not registered" (public code)
            return IpResult(ip=body["ip"], changed=False, message=exc.message)
        return IpResult(ip=body["ip"], changed=True, message=done.message)

    async def block_numbers(
        self, telephones: Iterable[str], *, direction: Direction = "all"
    ) -> ActionResult:
        """configuration.php ``add_dnc``: block ``telephones`` for inbound, outbound or all
        calls, with no end date (campaign.php's :meth:`add_dnc` blocks outbound dialing
        for some days). ``all`` is sent as "all", which the docs give beside
        "inbound/outbound" for both."""
        body = {"type_call": _direction(direction), "telephones": _phones(telephones)}
        return await self._calls.action(routes.CONFIG_ADD_DNC, {}, body)

    async def unblock_numbers(
        self, telephones: Iterable[str] | Literal["all"], *, direction: Direction = "all"
    ) -> ActionResult:
        """configuration.php ``remove_dnc``: unblock ``telephones`` (or every number of
        ``direction``, with ``"all"``) — the docs' bodies ``{"telephones": [...], "type"}``
        and ``{"telephones": "all", "type"}``."""
        numbers: list[str] | str = (
            "all" if isinstance(telephones, str) and telephones == "all" else _phones(telephones)
        )
        body = {"telephones": numbers, "type": _direction(direction)}
        return await self._calls.action(routes.CONFIG_REMOVE_DNC, {}, body)

    async def agent_recall(
        self,
        agent_id: str | int,
        campaign_id: str | int,
        *,
        customer_id: str,
        telephone: str,
        at: datetime,
        style: Literal["auto", "manual"] = "auto",
        name: str | None = None,
    ) -> ActionResult:
        """agentbox.php ``recall``: schedule a recall of a predictive campaign's customer for
        agent ``agent_id`` (the agent must be logged in): ``auto`` dials it at ``at``,
        ``manual`` leaves it to the agent. ``name`` is added where the record has none."""
        query = _agent_recall(agent_id, campaign_id, customer_id, telephone)
        params = {
            "agent_id": query["agent_id"],
            "id_camp": query["id_camp"],
            "id_customer": query["id_customer"],
            "telefono": query["telephone"],  # this API's Spanish names (the docs' URL)
            "rellamada": format_query_datetime(check.moment("at", at)),
            "recall_style": _style(style),
            "name_recall": None if name is None else check.non_blank("name", name),
        }
        return await self._calls.action(routes.AGENT_RECALL, params)

    async def edit_agent_recall(
        self,
        agent_id: str | int,
        campaign_id: str | int,
        *,
        customer_id: str,
        telephone: str,
        at: datetime,
        style: Literal["auto", "manual"] = "auto",
        name: str | None = None,
    ) -> ActionResult:
        """agentbox.php ``edit_recall``: move a scheduled recall to ``at``, to agent
        ``agent_id``, or to another ``style``."""
        params: dict[str, str | None] = dict(
            _agent_recall(agent_id, campaign_id, customer_id, telephone)
        )
        params["recall"] = format_query_datetime(check.moment("at", at))
        params["recall_style"] = _style(style)
        params["name_recall"] = None if name is None else check.non_blank("name", name)
        return await self._calls.action(routes.AGENT_EDIT_RECALL, params)

    async def delete_agent_recall(
        self,
        agent_id: str | int,
        campaign_id: str | int,
        *,
        customer_id: str,
        telephone: str,
        style: Literal["auto", "manual"] = "auto",
        name: str | None = None,
    ) -> ActionResult:
        """agentbox.php ``delete_recall``: cancel a scheduled recall (``auto``: the record
        stays, its recall date is cleared; ``manual``: it leaves the agent's list)."""
        params: dict[str, str | None] = dict(
            _agent_recall(agent_id, campaign_id, customer_id, telephone)
        )
        params["recall_style"] = _style(style)
        params["name_recall"] = None if name is None else check.non_blank("name", name)
        return await self._calls.action(routes.AGENT_DELETE_RECALL, params)

    async def scheduled_recalls(
        self, kind: Literal["all", "manual", "auto"] = "all", *, allow_truncated: bool = False
    ) -> Rows[ScheduledRecall]:
        """real_time.php ``recall``: the recalls scheduled in the operation's campaigns."""
        if kind not in ("all", "manual", "auto"):
            raise ConfigError(f"kind must be 'all', 'manual' or 'auto', got {shown(kind)}")
        return await self._calls.rows(
            routes.REALTIME_RECALLS,
            ScheduledRecall,
            {"type": kind},
            allow_truncated=allow_truncated,
            advice=_NO_PAGING,
        )

    async def agents(
        self, agent_id: str | int | None = None, *, allow_truncated: bool = False
    ) -> Rows[AgentInfo]:
        """information.php ``agents``: every agent of the operation, or one."""
        wanted = None if agent_id is None else _agent(agent_id)
        return await self._calls.rows(
            routes.INFO_AGENTS,
            AgentInfo,
            {"agent": wanted},
            allow_truncated=allow_truncated,
            advice=_NO_PAGING,
        )

    async def activity_codes(
        self, cod_act: str | None = None, *, allow_truncated: bool = False
    ) -> Rows[ActivityCode]:
        """information.php ``activity_codes``: the operation's activity codes, or one."""
        wanted = None if cod_act is None else check.non_blank("cod_act", cod_act)
        return await self._calls.rows(
            routes.INFO_ACTIVITY_CODES,
            ActivityCode,
            {"cod_act": wanted},
            allow_truncated=allow_truncated,
            advice=_NO_PAGING,
        )
