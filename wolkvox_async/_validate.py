"""Argument checks shared by the client methods, run before any request is built.

Each raises :class:`~wolkvox_async.ConfigError` naming the argument, so bad input never
costs a quota unit (every call costs one, wolkvox-api.md §2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Final, TypeVar

from ._convert import format_query_datetime, to_wolkvox_time
from ._errors import ConfigError
from .models import CallResult, CampaignType

__all__ = [
    "MAX_SPAN",
    "campaign_id",
    "campaign_type",
    "customer_ids",
    "date_range",
    "iterable",
    "moment",
    "non_blank",
    "result_filter",
]

MAX_SPAN: Final = timedelta(days=31)
"""Date range per query (§3.1)."""
_ID: Final = re.compile(r"[0-9]+", re.ASCII)
T = TypeVar("T")


def campaign_id(value: str | int, *, allow_all: bool = False) -> str:
    """A campaign id: ASCII digits (reports also take ``"all"``)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if isinstance(text, str) and (_ID.fullmatch(text) or (allow_all and text == "all")):
        return text
    expected = "digits or 'all'" if allow_all else "digits"
    raise ConfigError(f"campaign_id must be {expected}, got {value!r}")


def campaign_type(value: CampaignType | str) -> CampaignType:
    """A :class:`CampaignType` from the enum or its value."""
    try:
        return CampaignType(value)
    except ValueError:
        raise ConfigError(
            f"campaign_type must be 'predictive' or 'preview', got {value!r}"
        ) from None


def campaign_status(kind: CampaignType, value: object) -> str:
    """add_record's ``campaign_status``: "start" or "stop" on predictive campaigns (§9.5);
    preview campaigns do not send it."""
    if kind is CampaignType.PREDICTIVE and value not in ("start", "stop"):
        raise ConfigError(f"campaign_status must be 'start' or 'stop', got {value!r}")
    return str(value)


def iterable(name: str, value: T, what: str) -> T:
    """A collection argument: a list, tuple, generator... of ``what``; not None, not one
    string or dict (whose iteration would yield characters or keys)."""
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise ConfigError(f"{name} must be a list (or another iterable) of {what}, got {value!r}")
    return value


def moment(name: str, value: object) -> datetime:
    """A datetime argument (naive means Wolkvox time)."""
    if not isinstance(value, datetime):
        raise ConfigError(f"{name} must be a datetime, got {type(value).__name__}")
    return value


def non_blank(name: str, value: object) -> str:
    """A non-empty string argument."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    return value


def date_range(start: datetime, end: datetime, *, max_span: timedelta = MAX_SPAN) -> dict[str, str]:
    """``date_ini``/``date_end`` query values; start ≤ end and at most 31 days apart."""
    moment("start", start)
    moment("end", end)
    if to_wolkvox_time(start) > to_wolkvox_time(end):
        raise ConfigError(f"start ({start.isoformat()}) is after end ({end.isoformat()})")
    if to_wolkvox_time(end) - to_wolkvox_time(start) > max_span:
        raise ConfigError(
            f"start..end spans {to_wolkvox_time(end) - to_wolkvox_time(start)}; Wolkvox answers "
            f"at most {max_span.days} days per query (use the windowed iterators for longer spans)"
        )
    return {"date_ini": format_query_datetime(start), "date_end": format_query_datetime(end)}


def result_filter(value: CallResult | str | None) -> str | None:
    """A ``result`` filter value in the lower-case hyphenated vocabulary of §5 #3."""
    if value is None:
        return None
    parsed = value if isinstance(value, CallResult) else CallResult.parse(str(value))
    if parsed is CallResult.OTHER:
        raise ConfigError(f"result {value!r} is not a Wolkvox call result")
    return parsed.value


def customer_ids(values: Iterable[str] | str) -> str:
    """Comma-joined customer ids for remove_record (ids must not hold commas)."""
    ids = [values] if isinstance(values, str) else list(iterable("customer_ids", values, "ids"))
    if not ids:
        raise ConfigError("customer_ids must name at least one customer")
    for cid in ids:
        non_blank("customer_id", cid)
        if "," in cid:
            raise ConfigError(f"customer_id {cid!r} holds a comma, which remove_record splits on")
    return ",".join(ids)
