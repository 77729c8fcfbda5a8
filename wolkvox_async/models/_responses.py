"""Typed answers of campaign.php (wolkvox-api.md §5).

Every field defaults to None because Wolkvox omits keys freely; blank strings arrive as
None, numbers as ints, dates as aware datetimes in Wolkvox time (GMT-5). Wire names that
differ from the attribute (typos, Spanish keys) are declared with :func:`wire` next to
the field; the converter in ``_convert.py`` is the only code that reads them.

A row with a value that cannot be read (a date in a shape we have not seen, a count that
is not a number) is still delivered: the unreadable fields are None and ``row.unread``
says which and keeps the row as received (one bad value must not lose 60,000 rows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._enums import CallResult

__all__ = [
    "ActionResult",
    "AddRecordResult",
    "CampaignCreated",
    "CampaignSettings",
    "DeleteCampaignsResult",
    "DetailRow",
    "DncResult",
    "Export",
    "ExportRecord",
    "FilterResult",
    "FoundRecord",
    "RecallRecordsResult",
    "Unread",
    "unread",
    "wire",
]


@attrs.frozen(kw_only=True)
class Unread:
    """What could not be read in a row (see ``row.unread``)."""

    fields: tuple[str, ...]
    """The fields left None because their value could not be read."""
    row: dict[str, Any] = attrs.field(repr=False)
    """The row exactly as Wolkvox sent it."""


def unread() -> Any:
    """The ``unread`` field of a row model: None, or an :class:`Unread` when some value of
    the row could not be read (never read from the wire, not part of equality)."""
    return attrs.field(default=None, eq=False, repr=False, metadata={"wire": ()})


def wire(*names: str, default: Any = None) -> Any:
    """An attrs field whose wire key(s) differ from its name; the first present wins."""
    return attrs.field(default=default, metadata={"wire": names})


@attrs.frozen(kw_only=True)
class ActionResult:
    """The answer of an action without data (start, stop, speed, recall, codify, ...)."""

    message: str
    """Wolkvox's ``msg``, e.g. "The 123 campaign_id has been started successfully"."""


@attrs.frozen(kw_only=True)
class CampaignCreated:
    """``create_campaign`` data[0]; the field table spells it id_campaing (§9.3)."""

    id: str = wire("id_campaign", "id_campaing", default="")
    """The new campaign's id."""
    name: str | None = wire("name_campaign", "name_campaing")


@attrs.frozen(kw_only=True)
class AddRecordResult:
    """``add_record``: how many records Wolkvox took (``total_registers``)."""

    sent: int
    """Records in the request."""
    total_registers: int | None = None
    """Count reported by Wolkvox (often blank in practice)."""
    message: str = ""


@attrs.frozen(kw_only=True)
class DncResult:
    """``add_dnc`` data[0]."""

    total_added: int | None = None
    total_rejected: int | None = None
    total_sent: int | None = None


@attrs.frozen(kw_only=True)
class DeleteCampaignsResult:
    """``delete_campaign``: "X campaigns deleted successfully. N operations failed."."""

    deleted: int
    failed: int
    message: str


@attrs.frozen(kw_only=True)
class FilterResult:
    """``campaign_filter``: ``data`` is an object, not a list (§5 #14)."""

    total_records: int | None = None
    pending_records: int | None = None
    applied_filter: str | None = None


@attrs.frozen(kw_only=True)
class RecallRecordsResult:
    """``recall_records`` data[0]: records moved back to CLEAN."""

    campaign_id: str | None = None
    field: str | None = None
    value: str | None = None
    normalized_value: str | None = None
    affected_records: int | None = None


@attrs.frozen(kw_only=True)
class CampaignSettings:
    """``edit_campaign`` data[0]: the campaign as Wolkvox now has it."""

    campaign_id: str | None = None
    campaign_name: str | None = None
    campaign_description: str | None = None
    type_camp: str | None = None
    enable_edition: bool | None = None
    start_time: str | None = None
    end_time: str | None = None
    skill_id: str | None = None
    amd_conf: str | None = None
    turbo_dial: bool | None = None
    routing_recall: bool | None = None
    camp_dial_order: str | None = None
    optional_labels: dict[str, str] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class FoundRecord:
    """A ``find_record`` hit."""

    customer_id: str | None = None
    customer_name: str | None = None
    customer_last_name: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zone: str | None = None
    address: str | None = None
    phones: tuple[str | None, ...] = ()
    """tel1..tel10 (trailing blanks dropped; a blank in between is None)."""
    opts: tuple[str | None, ...] = ()
    """opt1..opt12 (same rule as phones)."""
    date: datetime | None = None
    calls: int | None = None
    conn_id: str | None = None
    result: CallResult | None = None
    """Normalised result; the exact wire spelling is in ``result_raw``."""
    result_raw: str | None = None
    campaign_id: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class DetailRow:
    """A ``detail`` row: one managed record of a campaign (§5 #6)."""

    customer_id: str | None = None
    customer_name: str | None = None
    customer_last_name: str | None = None
    id_type: str | None = None
    gender: str | None = None
    country: str | None = None
    state: str | None = None
    city: str | None = None
    zone: str | None = None
    address: str | None = None
    phones: tuple[str | None, ...] = ()
    opts: tuple[str | None, ...] = ()
    tel_extra: str | None = None
    agent_id: str | None = None
    date: datetime | None = None
    calls: int | None = None
    conn_id: str | None = None
    recall: str | None = None
    result: CallResult | None = None
    result_raw: str | None = None
    cod_act: str | None = None
    cod_act_2: str | None = None
    recall_count: int | None = None
    comments: str | None = None
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class ExportRecord:
    """A ``campaign_15`` export record; Wolkvox sends Spanish keys (§5 #15)."""

    customer_name: str | None = wire("nombre_cliente")
    customer_last_name: str | None = wire("apellido_cliente")
    id_type: str | None = wire("tipo_doc")
    customer_id: str | None = wire("id_cliente")
    age: str | None = wire("edad")
    gender: str | None = wire("sexo")
    country: str | None = wire("pais")
    state: str | None = wire("departamento")
    city: str | None = wire("ciudad")
    zone: str | None = wire("zona")
    address: str | None = wire("direccion")
    phones: tuple[str | None, ...] = ()
    opts: tuple[str | None, ...] = ()
    tel_extra: str | None = None
    agent_id: str | None = wire("id_agent")
    result: CallResult | None = wire("resultado")
    result_raw: str | None = None
    date: datetime | None = wire("fecha")
    calls: int | None = wire("llamadas")
    conn_id: str | None = wire("id_call")
    code_1: str | None = wire("cod_rslt1")
    code_1_description: str | None = wire("description_cod1")
    code_2: str | None = wire("cod_rslt2")
    code_2_description: str | None = wire("description_cod2")
    comments: str | None = wire("comentarios")
    recall: str | None = wire("rellamada")
    recall_count: int | None = wire("rellamada_count")
    email: str | None = None
    recall_telephone: str | None = wire("rellamada_tel")
    last_dialed_telephone: str | None = wire("last_dial_tele")
    dial_history: str | None = wire("history_dial_tel")
    recall_info: str | None = wire("rellamada_info")
    unread: Unread | None = unread()
    """Set when a value of this row could not be read (that field is None)."""


@attrs.frozen(kw_only=True)
class Export:
    """The whole ``campaign_15`` answer."""

    code: str | None = None
    """The body code ("200")."""
    campaign_id: str | None = None
    total_records: int | None = None
    records: tuple[ExportRecord, ...] = ()
    truncated: bool = attrs.field(default=False, metadata={"wire": ()})
    """True when the answer may be cut (60,000 records, or fewer than ``total_records``)
    and the caller asked for it anyway (``export_campaign(..., allow_truncated=True)``)."""
