"""Argument checks shared by the client methods, run before any request is built.

Each raises :class:`~wolkvox_async.ConfigError` naming the argument, so bad input never
costs a quota unit (every call costs one, wolkvox-api.md §2). Text follows the one rule of
:func:`~wolkvox_async.models._requests.text_problem` (a type, a length, nothing unsendable);
datetimes must land, in Wolkvox time, in years 1900–9998, where every date query, window
and margin can be computed and written as ``YYYYmmddHHiiss``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final, TypeVar

from .._errors import ConfigError, shown
from .._time import format_query_datetime, to_wolkvox_time
from ..models import CallResult, CampaignStatus, CampaignType
from ..models._fields import FIELD_MAX_LENGTHS, PHONE_MAX_LENGTH, TEXT_MAX_LENGTH
from ..models._requests import text_problem

__all__ = [
    "CUSTOMER_ID_MAX_LENGTH",
    "FREE_TEXT_MAX_LENGTH",
    "MAX_DATES",
    "PHONE_MAX_LENGTH",
    "campaign_id",
    "campaign_of_type",
    "campaign_type",
    "customer_ids",
    "date_range",
    "dates_spanned",
    "find_record",
    "iterable",
    "moment",
    "non_blank",
    "result_filter",
    "text",
    "windows",
]

MAX_DATES: Final = 31
"""Calendar dates per date query, in Wolkvox time, both ends counted (§3.1 "31 days"):
day 1 00:00:00 to day 31 23:59:59 is the longest range. 31 × 24 h from midnight touches
32 dates, which a server counting days inclusively refuses; public code asks for whole
months (``…01000000``–``…31235959``), so dates are what we count."""
_ID: Final = re.compile(r"[0-9]{1,20}", re.ASCII)
_FIRST_YEAR, _LAST_YEAR = 1900, 9998
FREE_TEXT_MAX_LENGTH: Final = 1000
"""Descriptions and comments: the docs give no length; longer is not a comment."""
CUSTOMER_ID_MAX_LENGTH: Final = FIELD_MAX_LENGTHS["customer_id"]

T = TypeVar("T")


def text(name: str, value: object, *, limit: int = TEXT_MAX_LENGTH) -> str:
    """A text argument (blank allowed): a str of at most ``limit`` characters, without
    NUL, other control characters (tab and newlines excepted) or lone surrogates."""
    if problem := text_problem(value, limit):
        raise ConfigError(f"{name} {problem}")
    return value  # type: ignore[return-value]  # text_problem checked it is a str


def campaign_id(value: str | int, *, allow_all: bool = False) -> str:
    """A campaign id: ASCII digits (reports also take ``"all"``)."""
    text = value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
        text = str(value)  # (str() of a 4,301-digit int is itself an error)
    if isinstance(text, str) and (_ID.fullmatch(text) or (allow_all and text == "all")):
        return text
    expected = "digits or 'all'" if allow_all else "digits"
    raise ConfigError(f"campaign_id must be {expected} (up to 20), got {shown(value)}")


def campaign_of_type(campaign_id_: str | int, type_: CampaignType | str) -> dict[str, str]:
    """The ``type_campaign`` and ``campaign_id`` query parameters most campaign.php
    endpoints take, both checked."""
    return {"type_campaign": campaign_type(type_).value, "campaign_id": campaign_id(campaign_id_)}


def campaign_type(value: CampaignType | str) -> CampaignType:
    """A :class:`CampaignType` from the enum or its value."""
    try:
        return CampaignType(value)
    except ValueError:
        raise ConfigError(
            f"campaign_type must be 'predictive' or 'preview', got {shown(value)}"
        ) from None


_STATUSES: Final = frozenset(["start", "stop", "started", "stopped", "1", "0"])
"""add_record's ``campaign_status`` values: Postman's start/stop (§5 #2.1), and what
public code sends (stopped, 1; §8, §9.5), with their counterparts; any case."""
_SENT_FOR: Final = {CampaignStatus.STARTED: "start", CampaignStatus.STOPPED: "stop"}


def campaign_status(value: object) -> str | None:
    """add_record's ``campaign_status`` as it will be sent, or None (read the campaign's).

    A :class:`CampaignStatus` is sent as Postman spells the state, ``start``/``stop``; a
    string (or 1/0) is sent as given, once it is one of the values the docs or public code
    use (start, stop, started, stopped, 1, 0; any case): the docs call it "the current
    status of the campaign" and do not say which spelling the server reads.
    """
    if value is None or isinstance(value, CampaignStatus):
        return None if value is None else _SENT_FOR[value]
    text = None
    if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
        text = str(value)
    elif isinstance(value, str) and value.strip().lower() in _STATUSES:
        text = value.strip()
    if text is None:
        raise ConfigError(
            "campaign_status must be CampaignStatus.STARTED/STOPPED, or one of 'start', "
            f"'stop', 'started', 'stopped', '1', '0' (sent as given), got {shown(value)}"
        )
    return text


def iterable(name: str, value: T, what: str) -> T:
    """A collection argument: a list, tuple, generator... of ``what``; not None, not one
    string or dict (whose iteration would yield characters or keys)."""
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise ConfigError(
            f"{name} must be a list (or another iterable) of {what}, got {shown(value)}"
        )
    return value


def windows(name: str, value: Iterable[object]) -> list[tuple[datetime, datetime]]:
    """(start, end) pairs of datetimes, as a failed download's ``windows_ahead`` gives."""
    pairs = []
    for item in iterable(name, value, "(start, end) pairs"):
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ConfigError(f"{name} must hold (start, end) pairs, got {shown(item)}")
        pairs.append((moment(name, item[0]), moment(name, item[1])))
    return pairs


def moment(name: str, value: object) -> datetime:
    """A datetime argument (naive means Wolkvox time), in years 1900–9998 there."""
    if not isinstance(value, datetime):
        raise ConfigError(f"{name} must be a datetime, got {type(value).__name__}")
    try:
        local = to_wolkvox_time(value)
    except (OverflowError, ValueError):  # datetime.min at +05:00 has no GMT-5 time
        local = None
    if local is None or not _FIRST_YEAR <= local.year <= _LAST_YEAR:
        raise ConfigError(
            f"{name} ({value.isoformat()}) is out of range: in Wolkvox time (GMT-5) it must "
            f"fall in the years {_FIRST_YEAR}-{_LAST_YEAR}"
        )
    return value


def non_blank(name: str, value: object, *, limit: int = TEXT_MAX_LENGTH) -> str:
    """A non-empty text argument (see :func:`text`)."""
    checked = text(name, value, limit=limit)
    if not checked.strip():
        raise ConfigError(f"{name} must not be blank")
    return checked


def find_record(
    campaign_id_: object, customer_id: object, customer_phone: object
) -> dict[str, str | None]:
    """find_record's query, each given value checked (at least one is needed): the
    common value passes in one look, without a call; any other one gets the check and
    the message of :func:`campaign_id` or :func:`non_blank`."""
    if campaign_id_ is None and customer_id is None and customer_phone is None:
        raise ConfigError("find_record needs campaign_id, customer_id or customer_phone")
    cid = campaign_id_
    if cid is not None and not (type(cid) is str and _ID.fullmatch(cid)):
        cid = campaign_id(cid)  # type: ignore[arg-type]  # it says what is wrong
    phone = customer_phone
    if phone is not None and not (
        type(phone) is str
        and len(phone) <= PHONE_MAX_LENGTH
        and phone.isprintable()
        and phone
        and not phone.isspace()
    ):
        phone = non_blank("customer_phone", phone, limit=PHONE_MAX_LENGTH)
    customer = customer_id
    if customer is not None and not (
        type(customer) is str
        and len(customer) <= CUSTOMER_ID_MAX_LENGTH
        and customer.isprintable()
        and customer
        and not customer.isspace()
    ):
        customer = non_blank("customer_id", customer, limit=CUSTOMER_ID_MAX_LENGTH)
    return {"campaign_id": cid, "customer_phone": phone, "customer_id": customer}


def flag(name: str, value: object) -> bool:
    """A True/False argument. Truthiness would read Wolkvox's own words wrong: "no" is a
    non-empty string, so add_ip(permanent="no") would register a permanent IP."""
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be True or False, got {shown(value)}")
    return value


def dates_spanned(start: datetime, end: datetime) -> int:
    """The calendar dates start..end touches in Wolkvox time, both ends included."""
    return (to_wolkvox_time(end).date() - to_wolkvox_time(start).date()).days + 1


def date_range(start: datetime, end: datetime) -> dict[str, str]:
    """``date_ini``/``date_end`` query values; start ≤ end, within 31 calendar dates."""
    moment("start", start)
    moment("end", end)
    if to_wolkvox_time(start) > to_wolkvox_time(end):
        raise ConfigError(f"start ({start.isoformat()}) is after end ({end.isoformat()})")
    if (dates := dates_spanned(start, end)) > MAX_DATES:
        raise ConfigError(
            f"start..end touches {dates} calendar dates (Wolkvox time); Wolkvox answers at "
            f"most {MAX_DATES} days per query, e.g. the 1st 00:00:00 to the 31st 23:59:59 "
            "(use the windowed iterators for longer spans)"
        )
    return {"date_ini": format_query_datetime(start), "date_end": format_query_datetime(end)}


def result_filter(value: CallResult | str | None) -> str | None:
    """A ``result`` filter value in the lower-case hyphenated vocabulary of §5 #3."""
    if value is None:
        return None
    if not isinstance(value, str):  # (a CallResult is a str; str() of a huge int fails)
        raise ConfigError(f"result must be a CallResult or its text, got {shown(value)}")
    parsed = value if isinstance(value, CallResult) else CallResult.parse(value)
    if parsed is CallResult.OTHER:
        raise ConfigError(f"result {shown(value)} is not a Wolkvox call result")
    return parsed.value


def customer_ids(values: Iterable[str] | str) -> str:
    """Comma-joined customer ids for remove_record (ids must not hold commas)."""
    ids = [values] if isinstance(values, str) else list(iterable("customer_ids", values, "ids"))
    if not ids:
        raise ConfigError("customer_ids must name at least one customer")
    for cid in ids:
        non_blank("customer_id", cid, limit=CUSTOMER_ID_MAX_LENGTH)
        if "," in cid:
            raise ConfigError(
                f"customer_id {shown(cid)} holds a comma, which remove_record splits on"
            )
    return ",".join(ids)
