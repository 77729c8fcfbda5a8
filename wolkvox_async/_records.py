"""Records on their way to add_record: accept a Record or a wire dict, validate, serialise.

Every record becomes one :class:`WireRecord` — the exact JSON object add_record sends,
already checked — once, however many layers it passes (upload_records validates each row
with its row number before its chunk leaves; add_record then sends it as is). Dicts with
wire keys (tel1, opt1, ...) are checked and converted directly, without building a
Record: this runs once per uploaded row. The rules are those of :class:`Record` and
wolkvox-api.md §5 #2.1/#2.2: known fields only, text values, a customer_id, opt1–opt6 at
most 100 characters and opt7–opt12 at most 200, and the fields of the campaign type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from ._convert import CONVERTER, OPT_KEYS, RECORD_TEXT_FIELDS, TEL_KEYS, format_query_datetime
from ._errors import ConfigError
from .models import CampaignType, Record
from .models._requests import OPT_MAX_LENGTHS

__all__ = ["MAX_RECORDS_PER_UPLOAD", "WireRecord", "to_wire"]

MAX_RECORDS_PER_UPLOAD: Final = 10_000
"""Records that can be uploaded per call (§3.1)."""
# 2.1 predictive takes tel_extra/email/recall_*; 2.2 preview takes agent_id instead.
_NOT_FOR: Final = {
    CampaignType.PREDICTIVE: ("agent_id",),
    CampaignType.PREVIEW: ("tel_extra", "email", "recall_date", "recall_telephone"),
}
_WIRE_KEYS: Final = frozenset((*RECORD_TEXT_FIELDS, *TEL_KEYS, *OPT_KEYS, "recall_date"))
_BLANK: Final = dict.fromkeys(_WIRE_KEYS, "")
_OPT_LIMITS: Final = tuple(zip(OPT_KEYS, OPT_MAX_LENGTHS, strict=True))


class WireRecord(dict[str, str]):
    """A record checked and in wire form for one campaign type (made by :func:`to_wire`)."""

    __slots__ = ("kind",)
    kind: CampaignType


def to_wire(item: Any, kind: CampaignType, *, row: int | None = None) -> WireRecord:
    """The checked wire form of a Record or a dict with wire keys, for ``kind`` campaigns.

    Raises:
        ConfigError: unknown keys or invalid values, naming the field (and the row).
    """
    if type(item) is WireRecord and item.kind is kind:
        return item
    try:
        if isinstance(item, Record):
            wire = CONVERTER.unstructure(item)
        elif isinstance(item, Mapping):
            wire = _from_mapping(item)
        else:
            raise ConfigError(f"a record must be a Record or a dict, not {type(item).__name__}")
        unsupported = _NOT_FOR[kind]
        for key in unsupported:
            if wire.pop(key):
                raise ConfigError(f"{key} is not accepted on {kind.value} campaigns")
    except ConfigError as exc:
        raise ConfigError(str(exc) if row is None else f"row {row}: {exc}") from None
    record = WireRecord(wire)
    record.kind = kind
    return record


def _from_mapping(item: Mapping[str, Any]) -> dict[str, str]:
    unknown = item.keys() - _WIRE_KEYS
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))} for Record")
    wire = dict(_BLANK)
    for key, value in item.items():
        wire[key] = value if type(value) is str else _text(value, key)
    if not wire["customer_id"].strip():
        # remove_record, find_record and resumable uploads all key on customer_id.
        raise ConfigError("customer_id must not be blank")
    for key, limit in _OPT_LIMITS:
        if len(wire[key]) > limit:
            raise ConfigError(f"{key} is {len(wire[key])} characters long; Wolkvox allows {limit}")
    recall = item.get("recall_date")
    if isinstance(recall, datetime):
        wire["recall_date"] = format_query_datetime(recall)
    elif wire["recall_date"]:
        text = wire["recall_date"].strip()
        try:
            datetime.strptime(text, "%Y%m%d%H%M%S")
        except ValueError:
            raise ConfigError(f"recall_date {text!r} is not YYYYmmddHHiiss") from None
        wire["recall_date"] = text
    return wire


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime) and name == "recall_date":
        return format_query_datetime(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{name} must be text, not {type(value).__name__}")
