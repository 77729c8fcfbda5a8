"""Records on their way to add_record: accept a Record or a wire dict, validate, serialise.

Every check names the field and, when given, the input row, so a bad record in a
million-row upload is found before its chunk is sent (wolkvox-api.md §5 #2.1/#2.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import cattrs

from ._convert import _OPTS, _RECORD_TEXT, _TELS, CONVERTER
from ._errors import ConfigError
from .models import CampaignType, Record

__all__ = ["MAX_RECORDS_PER_UPLOAD", "check_kind", "to_record", "wire_record"]

MAX_RECORDS_PER_UPLOAD: Final = 10_000
"""Records that can be uploaded per call (§3.1)."""
# 2.1 predictive takes tel_extra/email/recall_*; 2.2 preview takes agent_id instead.
_PREVIEW_ONLY: Final = ("agent_id",)
_PREDICTIVE_ONLY: Final = ("tel_extra", "email", "recall_date", "recall_telephone")


def to_record(item: Record | Mapping[str, Any], *, row: int | None = None) -> Record:
    """A :class:`Record` from a Record or a dict with wire keys (tel1, opt1, ...).

    Raises:
        ConfigError: unknown keys or invalid values, naming the field (and the row).
    """
    if isinstance(item, Record):
        return item
    where = "" if row is None else f"row {row}: "
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}a record must be a Record or a dict, not {type(item).__name__}")
    try:
        return _from_wire(item)
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
    except cattrs.BaseValidationError as exc:
        # A Record validator's own ConfigError names the field best; cattrs wraps it.
        own = _config_error_in(exc)
        causes = str(own) if own else "; ".join(cattrs.transform_error(exc))
        raise ConfigError(f"{where}invalid record: {causes}") from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{where}invalid record: {exc}") from None


_WIRE_KEYS: Final = frozenset((*_RECORD_TEXT, *_TELS, *_OPTS, "recall_date"))


def _from_wire(item: Mapping[str, Any]) -> Record:
    """Build a Record from wire keys directly: this runs once per uploaded row, so it is
    plain dict work rather than the converter's generic machinery (same rules: unknown
    keys refused, numbers taken as text, blanks as empty, trailing blank phones dropped)."""
    unknown = item.keys() - _WIRE_KEYS
    if unknown:
        raise ConfigError(f"unknown field(s) {', '.join(sorted(unknown))} for Record")
    fields = {name: _text(item[name], name) for name in _RECORD_TEXT if name in item}
    phones = [_text(item.get(key), key) for key in _TELS]
    opts = [_text(item.get(key), key) for key in _OPTS]
    while phones and not phones[-1]:
        phones.pop()
    while opts and not opts[-1]:
        opts.pop()
    recall = item.get("recall_date")
    when = None
    if isinstance(recall, datetime):
        when = recall
    elif recall not in (None, ""):
        try:
            when = datetime.strptime(str(recall).strip(), "%Y%m%d%H%M%S")
        except ValueError:
            raise ConfigError(f"recall_date {recall!r} is not YYYYmmddHHiiss") from None
    return Record(phones=tuple(phones), opts=tuple(opts), recall_date=when, **fields)


def _text(value: Any, name: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{name} must be text, not {type(value).__name__}")


def _config_error_in(exc: BaseException) -> ConfigError | None:
    if isinstance(exc, ConfigError):
        return exc
    for inner in exc.exceptions if isinstance(exc, BaseExceptionGroup) else ():
        found = _config_error_in(inner)
        if found is not None:
            return found
    return None


def check_kind(record: Record, kind: CampaignType) -> None:
    """Refuse fields that ``kind`` campaigns do not take (without building the wire dict).

    Raises:
        ConfigError: naming the field.
    """
    unsupported = _PREVIEW_ONLY if kind is CampaignType.PREDICTIVE else _PREDICTIVE_ONLY
    for key in unsupported:
        if getattr(record, key) not in ("", None):
            raise ConfigError(f"{key} is not accepted on {kind.value} campaigns")


def wire_record(record: Record, kind: CampaignType) -> dict[str, str]:
    """The wire dict of ``record`` for a ``kind`` campaign.

    Raises:
        ConfigError: the record sets a field that ``kind`` campaigns do not take.
    """
    check_kind(record, kind)
    wire: dict[str, str] = CONVERTER.unstructure(record)
    for key in _PREVIEW_ONLY if kind is CampaignType.PREDICTIVE else _PREDICTIVE_ONLY:
        del wire[key]
    return wire
