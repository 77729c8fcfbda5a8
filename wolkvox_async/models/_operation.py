"""Answers of the operation-wide endpoints, and the generic report row.

information.php agents and activity_codes, real_time.php recall, configuration.php's IP
firewall (wolkvox-api.md §2, §5 #1, #7; the Postman collection "wolkvox APIs (ES)" that
§0 names gives their field tables), and :class:`ReportRow`: a row of a report whose
fields the docs do not give, kept exactly as Wolkvox sent it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from ._responses import Unread, unread, wire

__all__ = ["ActivityCode", "AgentInfo", "IpResult", "ReportRow", "ScheduledRecall"]


def _frozen(value: Any) -> Any:
    """A JSON value made read-only: objects as ReportRow, arrays as tuples."""
    if isinstance(value, Mapping):
        return ReportRow(value)
    if isinstance(value, list | tuple):
        return tuple(_frozen(item) for item in value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, ReportRow):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    return value


class ReportRow(Mapping[str, Any]):
    """A row of a report whose fields wolkvox-api.md does not give (agent_1, cdr_1,
    chat_1, ...): a read-only mapping of every key to its value exactly as Wolkvox sent it
    (strings, as the docs say every value is; a nested object is a ReportRow, an array a
    tuple, as chat_2's ``conversation``). ``row["agent_id"]``, ``row.get("date")``,
    ``dict(row)``; nothing is converted, so nothing can be misread."""

    __slots__ = ("_data",)

    unread: None = None
    """Always None: a generic row reads no value, so none can fail to be read."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = {str(key): _frozen(value) for key, value in data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"ReportRow({self._data!r})"

    def to_dict(self) -> dict[str, Any]:
        """The row as plain JSON values (dicts and lists), e.g. to write it as JSON."""
        return {key: _plain(value) for key, value in self._data.items()}


@attrs.frozen(kw_only=True)
class AgentInfo:
    """information.php agents: one agent of the operation."""

    agent_id: str | None = None
    """The agent's extension number."""
    agent_name: str | None = None
    agent_dni: str | None = None
    """The agent's identity document."""
    agent_status: str | None = None
    last_use: str | None = None
    """The last connection, as Wolkvox writes it."""
    agent_sso: str | None = None
    """The network user for single sign-on."""
    enabled: str | None = None
    """In the documented sample, not in its field table; kept as sent."""
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class ActivityCode:
    """information.php activity_codes: one activity (disposition) code."""

    cod_act: str | None = wire("cod_act", "code_act")
    """The code; the field table spells it ``code_act``, the sample ``cod_act``."""
    description_cod_act: str | None = None
    hit: bool | None = None
    """Counts as a hit (a sale, a success)."""
    rpc: bool | None = None
    """Counts the call as a right-party contact."""
    chat: bool | None = None
    studio: bool | None = None
    voice: bool | None = None
    interactions: bool | None = None
    type_code: str | None = None
    """``cod_act1`` or ``cod_act2``: the code's level."""
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class ScheduledRecall:
    """real_time.php recall: a recall scheduled in a campaign."""

    type_recall: str | None = None
    """How it was made (auto, manual)."""
    date_recall: datetime | None = None
    """When it will be dialed (Wolkvox time)."""
    phone_number: str | None = None
    campaign_id: str | None = wire("id_campaing", "id_campaign")
    """The sample spells it ``id_campaing``, the field table ``id_campaign``: both read."""
    agent_id: str | None = wire("id_agent")
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class IpResult:
    """configuration.php add_ip / remove_ip: what happened to the IP."""

    ip: str
    changed: bool
    """True when this call added (removed) it; False when it was already registered (was
    not registered): Wolkvox answers those with body code 404 (public code), read here as
    the state wanted, so allow-listing can run on every start. (A call retried after its
    first answer was lost may say False for its own change: the state is what was asked
    either way.)"""
    message: str
    """Wolkvox's ``msg``."""
