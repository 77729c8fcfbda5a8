"""Typed rows of the campaign reports and of the information / real-time reads (§6).

Report rows come as flat objects of strings; the converter turns counts into ints,
percentages into floats, ``YYYY-mm-dd HH:ii:ss`` into aware datetimes (GMT-5), and
result words into :class:`CallResult` while keeping the raw spelling.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._enums import CallResult, CampaignStatus, CampaignType
from ._responses import Unread, unread, wire

__all__ = [
    "AmdDetail",
    "AmdTotal",
    "CampaignInfo",
    "CodeShare",
    "MachineCodesByPhone",
    "PhoneResult",
    "PreviewCallRow",
    "RealTimeCampaign",
    "ResultCount",
    "ResultShare",
    "TokenInfo",
    "TurboDialCount",
    "UnconnectedCall",
    "WhatsAppStatus",
]


@attrs.frozen(kw_only=True)
class ResultShare:
    """campaign_1 (final result per record) and campaign_4 (per attempt)."""

    result: CallResult | None = None
    result_raw: str | None = None
    records: int | None = None
    percent: float | None = wire("percent", "porcent")
    """The Java client reads ``porcent``; both spellings are accepted (§9.3)."""
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class CodeShare:
    """campaign_2: records per activity code (``cod_act`` may be ``TIMEOUTACW``)."""

    cod_act: str | None = None
    records: int | None = None
    percent: float | None = wire("percent", "porcent")
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class PhoneResult:
    """campaign_3: one dial attempt of a predictive campaign (time is GMT-5)."""

    conn_id: str | None = None
    """Wolkvox's id of the call; unique per attempt."""
    telephone: str | None = None
    date: datetime | None = None
    """When the attempt was made (Wolkvox time)."""
    result: CallResult | None = None
    result_raw: str | None = None
    campaign_id: str | None = None
    customer_id: str | None = None
    customer_name: str | None = None
    customer_last_name: str | None = None
    id_type: str | None = None
    opts: tuple[str | None, ...] = ()
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class PreviewCallRow:
    """campaign_5: preview campaign, call by call."""

    type_of_row: str | None = None
    """"preview" or "call"."""
    campaign_id: str | None = None
    customer_name: str | None = None
    customer_last_name: str | None = None
    result: CallResult | None = None
    result_raw: str | None = None
    last_code_act: str | None = None
    comments_customer_reg: str | None = None
    customer_id: str | None = None
    agent_id: str | None = None
    conn_id: str | None = None
    telephone: str | None = None
    hang_up: str | None = None
    type_interaction: str | None = None
    call_result: str | None = None
    date: str | None = None
    """The report splits date and time in two strings; both are kept as sent."""
    time: str | None = None
    cod_act: str | None = None
    comments: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class AmdTotal:
    """campaign_6: answering-machine detections per campaign."""

    campaign_id: str | None = None
    total_amd: int | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class AmdDetail:
    """campaign_7: one answering-machine detection."""

    customer_id: str | None = None
    campaign_id: str | None = None
    file_name: str | None = None
    telephone: str | None = None
    result: CallResult | None = None
    """MACHINE or HUMAN."""
    result_raw: str | None = None
    date: datetime | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class MachineCodesByPhone:
    """campaign_8: machine results per telephone."""

    telephone: str | None = None
    total_machine_recognitions: int | None = None
    no_answer: int | None = None
    answer_machine: int | None = None
    busy: int | None = None
    congestion: int | None = None
    failed: int | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class WhatsAppStatus:
    """campaign_9: a WhatsApp campaign record (the wire key is ``campaing_id``, sic)."""

    campaign_id: str | None = wire("campaing_id", "campaign_id")
    telephone: str | None = None
    status: str | None = None
    """accepted, delivered, submitted or failed."""
    errors: str | None = None
    date: datetime | None = None
    last_update: datetime | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class TurboDialCount:
    """campaign_10: turbo-dial calls per machine code (``cantidad`` = count)."""

    machinecode: str | None = None
    count: int | None = wire("cantidad")
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class UnconnectedCall:
    """cdr_5: a call that did not connect, over the whole operation (wolkvox-api.md §6.1)."""

    conn_id: str | None = None
    """Wolkvox's id of the call."""
    date: datetime | None = None
    """When the call was made (Wolkvox time)."""
    telephone: str | None = None
    destiny: str | None = None
    """The call's destination, as Wolkvox names it."""
    ring_time: int | None = None
    """Seconds it rang."""
    result: CallResult | None = None
    """Cancel, Chanunavail, Congestion, Busy, No answer, Tcpa or Do not call (§7)."""
    result_raw: str | None = None
    type_interaction: str | None = None
    """out_pre, outbound_ma, inbound, transfer, conference, internal call..."""
    customer_id: str | None = None
    campaign_id: str | None = None
    agent_id: str | None = None
    agent_name: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class ResultCount:
    """cdr_6: calls that did not connect, counted per result."""

    result: CallResult | None = None
    result_raw: str | None = None
    count: int | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class CampaignInfo:
    """information.php campaigns: a campaign's configuration and state."""

    campaign_id: str | None = None
    campaign_name: str | None = None
    campaign_description: str | None = None
    type_campaign: CampaignType | None = None
    status: CampaignStatus | None = None
    records: int | None = None
    speed: int | None = None
    dial_mode: str | None = None
    last_use: str | None = None
    recycled: str | None = None
    turbo_dial: str | None = None
    skill_id: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class DncListing:
    """information.php get_dnc: one blocked number."""

    phone_number: str | None = None
    type: str | None = None
    """inbound, outbound or all."""
    date_delete: datetime | None = None
    """When the block ends (Wolkvox time)."""
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class RealTimeCampaign:
    """real_time.php campaigns: live counters of one campaign."""

    campaign: str | None = None
    speed: int | None = None
    status: CampaignStatus | None = None
    skill_id: str | None = None
    records: int | None = None
    clean: int | None = None
    dial: int | None = None
    answer: int | None = None
    no_answer: int | None = None
    busy_congestion_failed: int | None = wire("busy/congestion/failed")
    answer_machine: int | None = None
    penetration_day: str | None = None
    penetration_now: str | None = None
    hits: int | None = None
    calls_x_min: str | None = None
    recycled: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class TokenInfo:
    """information.php token_info: the token's description and today's consumption."""

    description: str | None = None
    token_limit: int | None = None
    """The daily limit (licenses × 1000)."""
    token_use_today: int | None = None
    """Calls made today with this token."""
    all_token_today: int | None = None
    """Calls made today with every token of the operation (the quota is shared)."""
    available_consumption_options: str | None = None
