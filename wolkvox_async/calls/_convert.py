"""The one cattrs converter: wire JSON (strings everywhere) <-> frozen attrs models.

Wolkvox sends every value as a string (wolkvox-api.md §1 "Body"), blanks as ``""``,
dates as ``YYYY-mm-dd HH:ii:ss`` in GMT-5 (§1 "Dates"), flags as ``"yes"``/``"no"``,
phones and free fields as ``tel1..tel10`` / ``opt1..opt12``, and campaign_15 with
Spanish keys. :func:`make_converter` registers every hook, simple types first; nobody
else registers hooks. ``strict=True`` (the client's ``strict`` option; our tests against
the simulator and the documented samples) refuses keys a model does not know and values it
cannot read. Production is lenient, since Wolkvox adds fields and public code shows values
in shapes the docs do not (``.000`` fractions, ``1,234``): a row with a value that still
cannot be read keeps its other fields, the bad one None, and says so in ``row.unread``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from types import UnionType
from typing import Any, Final, TypeVar, Union, get_args, get_origin
from urllib.parse import parse_qs, urlsplit

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn

from .. import _errors as e
from .._config import redact
from .._time import WOLKVOX_TZ, format_query_datetime
from ..models import (
    CallResult,
    CampaignStatus,
    CampaignType,
    DncEntry,
    FilterRule,
    Record,
    TokenInfo,
)
from ..models._fields import MAX_OPTS, MAX_PHONES, OPT_KEYS, TEL_KEYS, TEXT_FIELDS
from ..models._operation import ReportRow
from ..models._responses import Unread
from ._fastrows import Slow, row_readers
from ._protocol import Envelope, RawRequest

__all__ = [
    "CONVERTER",
    "STRICT_CONVERTER",
    "decode_error",
    "make_converter",
    "structure",
    "structure_rows",
    "warn_unread",
]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async")

_RESPONSE_FORMATS: Final = (
    "%Y-%m-%d %H:%M:%S",  # reports (§1 "Dates")
    "%Y-%m-%d %H:%M:%S.%f",  # "2023-11-22 10:15:20.000", as public code reads it
    "%Y%m%d%H%M%S",  # request format, echoed by some answers
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d-%H",  # find_record documents "year-month-day-hour"
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%Y%m%d",  # "some reports use YYYYmmdd"
)
_FLAGS: Final = {
    "yes": True,
    "si": True,
    "true": True,
    "1": True,
    "no": False,
    "false": False,
    "0": False,
}


def _parse_datetime(value: Any, _: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=WOLKVOX_TZ)
    text = _as_str(value, None).strip()
    for fmt in _RESPONSE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=WOLKVOX_TZ)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date Wolkvox sends")


def _as_str(value: Any, _: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"expected a string, got {type(value).__name__}")


_THOUSANDS: Final = re.compile(r"[0-9]{1,3}(?:([,.])[0-9]{3})(?:\1[0-9]{3})*")


def _integer(value: Any, _: Any) -> int:
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a bool")
    if isinstance(value, int):
        return value
    text = _as_str(value, None).strip()
    if _THOUSANDS.fullmatch(text):  # "1,234" or "1.234": a count with its separators
        text = text.replace(",", "").replace(".", "")
    return int(text)


def _number(value: Any, _: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, int | float):
        return float(value)
    return float(_as_str(value, None).strip().rstrip("%").replace(",", "."))


def _status(value: Any, _: Any) -> CampaignStatus:
    return CampaignStatus(_as_str(value, None).strip().lower())


def _campaign_type(value: Any, _: Any) -> CampaignType:
    return CampaignType(_as_str(value, None).strip().lower())


def _report_row(value: Any, _: Any) -> ReportRow:
    # A report without documented fields: every key kept as sent, nothing converted.
    if not isinstance(value, Mapping):
        raise TypeError(f"expected a JSON object for a report row, got {value!r:.60}")
    return ReportRow(value)


def _flag(value: Any, _: Any) -> bool:
    if isinstance(value, bool):
        return value
    key = _as_str(value, None).strip().lower()
    if key in _FLAGS:
        return _FLAGS[key]
    raise ValueError(f"{value!r} is not a yes/no flag")


_TEXT_HOOKS: Final = {
    int: _integer,
    float: _number,
    bool: _flag,
    CampaignStatus: _status,
    CampaignType: _campaign_type,
}
"""The hooks the fast row reader shares (see _fastrows)."""


def _is_optional(tp: Any) -> bool:
    return get_origin(tp) in (Union, UnionType) and type(None) in get_args(tp)


def _wire_names(field: attrs.Attribute[Any]) -> tuple[str, ...]:
    names: tuple[str, ...] = field.metadata.get("wire", (field.name,))
    return names


def _gather(data: Mapping[str, Any], prefix: str, count: int) -> list[Any]:
    values = [data.get(f"{prefix}{i}", "") for i in range(1, count + 1)]
    while values and values[-1] in ("", None):
        values.pop()
    return [("" if value is None else value) for value in values]


def _model_hook_factory(conv: cattrs.Converter, strict: bool) -> Callable[[Any], Any]:
    def factory(cls: type[Any]) -> Callable[[Any, Any], Any]:
        fields = attrs.fields(attrs.resolve_types(cls))
        names = {f.name for f in fields}
        inner = make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=False)
        # Requests are always strict: an unknown key in a record is a caller's typo.
        refuse_extra = strict or cls is Record
        tolerant = not strict and "unread" in names  # a row model

        def salvage(out: dict[str, Any], data: Mapping[str, Any]) -> Any:
            """The row without the values that cannot be read (the slow path of a bad
            row only: each field is tried alone)."""
            bad = []
            for field in fields:
                if field.name in out:
                    try:
                        conv.structure(out[field.name], field.type)
                    except Exception:
                        bad.append(field.name)
                        del out[field.name]
            row = inner(out, cls)
            return attrs.evolve(row, unread=Unread(fields=tuple(bad), row=dict(data)))

        def general(data: Any) -> Any:
            """Any row the fast readers do not take (see _fastrows)."""
            if not isinstance(data, Mapping):
                raise TypeError(f"expected a JSON object for {cls.__name__}, got {data!r:.60}")
            out: dict[str, Any] = {}
            used: set[str] = set()
            for field in fields:
                for key in _wire_names(field):
                    if key in data:
                        out[field.name] = data[key]
                        used.add(key)
                        break
            if "phones" in names and "phones" not in data:
                out["phones"] = _gather(data, "tel", MAX_PHONES)
                used.update(f"tel{i}" for i in range(1, MAX_PHONES + 1))
            if "opts" in names and "opts" not in data:
                out["opts"] = _gather(data, "opt", MAX_OPTS)
                used.update(f"opt{i}" for i in range(1, MAX_OPTS + 1))
            if "result_raw" in names and "result_raw" not in out and "result" in out:
                out["result_raw"] = out["result"]
            extra = sorted(set(data) - used)
            if refuse_extra and extra:
                raise ValueError(f"unknown field(s) {', '.join(extra)} for {cls.__name__}")
            if not tolerant:
                return inner(out, cls)
            try:
                return inner(out, cls)
            except (cattrs.BaseValidationError, ValueError, TypeError):
                return salvage(out, data)

        readers = row_readers(cls, WOLKVOX_TZ, _TEXT_HOOKS, general) if tolerant else None
        fast = None if readers is None else readers[0]

        def hook(data: Any, _: Any) -> Any:
            if fast is not None and type(data) is dict:
                try:
                    return fast(data)  # the common row, in a few µs (see _fastrows)
                except Slow:
                    pass
            return general(data)

        # A list of rows is read in one call (structure_rows).
        hook.rows = None if readers is None else readers[1]  # type: ignore[attr-defined]
        return hook

    return factory


def _record_to_wire(record: Record) -> dict[str, str]:
    # Runs once per uploaded record: plain loops over precomputed names, no per-call
    # introspection. Only the fields the record sets are sent (see _records).
    wire = {name: value for name in TEXT_FIELDS if (value := getattr(record, name))}
    wire.update((key, value) for key, value in zip(TEL_KEYS, record.phones, strict=False) if value)
    wire.update((key, value) for key, value in zip(OPT_KEYS, record.opts, strict=False) if value)
    if record.recall_date is not None:
        wire["recall_date"] = format_query_datetime(record.recall_date)
    return wire


def make_converter(*, strict: bool = False) -> cattrs.Converter:
    """Build the converter. ``strict`` refuses keys that a model does not declare."""
    conv = cattrs.Converter(detailed_validation=True)
    # Simple types first (cattrs: hooks for composites look these up when generated).
    conv.register_structure_hook(str, _as_str)
    conv.register_structure_hook(int, _integer)
    conv.register_structure_hook(float, _number)
    conv.register_structure_hook(bool, _flag)
    conv.register_structure_hook(datetime, _parse_datetime)
    conv.register_structure_hook(CallResult, lambda v, _: CallResult.parse(_as_str(v, None)))
    conv.register_structure_hook(CampaignStatus, _status)
    conv.register_structure_hook(CampaignType, _campaign_type)
    conv.register_structure_hook(ReportRow, _report_row)

    # Blank means absent: "" (and null) become None for every optional field.
    def blank_is_none(tp: Any) -> Callable[[Any, Any], Any]:
        inner_type = next(arg for arg in get_args(tp) if arg is not type(None))
        inner = conv.get_structure_hook(inner_type)

        def hook(value: Any, _: Any) -> Any:
            if value is None or (isinstance(value, str) and not value.strip()):
                return None
            if isinstance(value, str) and value.startswith("0000-00-00"):
                return None  # MySQL's zero date: "no date"
            return inner(value, inner_type)

        return hook

    conv.register_structure_hook_factory(_is_optional, blank_is_none)
    conv.register_structure_hook_factory(attrs.has, _model_hook_factory(conv, strict))

    # Outbound: the API wants strings everywhere, dates as YYYYmmddHHiiss.
    conv.register_unstructure_hook(Record, _record_to_wire)
    conv.register_unstructure_hook(
        DncEntry, lambda e: {"telephone": e.telephone, "days_block": str(e.days_block)}
    )
    conv.register_unstructure_hook(
        FilterRule, lambda r: {"field": r.field, "operator": r.operator, "value": r.value}
    )
    return conv


CONVERTER: Final = make_converter()
"""The production converter (lenient about extra keys)."""
STRICT_CONVERTER: Final = make_converter(strict=True)
"""Refuses unknown keys; the tests structure the documented samples with it."""


def decode_error(request: RawRequest, envelope: Envelope, why: str) -> e.ResponseDecodeError:
    """A ResponseDecodeError for an answer that parsed but does not say what the docs say."""
    return e.ResponseDecodeError(
        method=request.method,
        url=request.url,
        http_status=envelope.http_status,
        body_code=envelope.code,
        message=why,
        raw_body=redact(json.dumps(envelope.payload, default=str), request.token).encode(),
    )


def structure(
    request: RawRequest,
    envelope: Envelope,
    value: Any,
    cls: type[T],
    converter: cattrs.Converter = CONVERTER,
) -> T:
    """Structure one JSON value into ``cls``; shape errors become ResponseDecodeError."""
    try:
        return converter.structure(value, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            why = "; ".join(cattrs.transform_error(exc))
        else:
            why = str(exc)
        raise decode_error(request, envelope, f"unexpected {cls.__name__}: {why}") from None


def structure_rows(
    request: RawRequest, envelope: Envelope, cls: type[T], converter: cattrs.Converter = CONVERTER
) -> tuple[T, ...]:
    """Structure ``data`` as rows; null is no rows and a lone object is one row (§1)."""
    data = envelope.payload
    if data is None:
        return ()
    if isinstance(data, dict):
        data = [data]  # "some endpoints return a single object in data"
    if not isinstance(data, list):
        raise decode_error(request, envelope, f"data is a {type(data).__name__}, not a list")
    hook = converter.get_structure_hook(cls)  # once: a report is up to 60,000 rows
    many = getattr(hook, "rows", None)  # the fast reader of a whole list (_fastrows)
    try:
        if many is not None:
            rows, slowed = many(data)  # slowed: a row took the general path
        else:
            rows, slowed = [hook(row, cls) for row in data], True
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError):
        # The row that failed, and why, as structure() tells it.
        rows, slowed = [structure(request, envelope, row, cls, converter) for row in data], True
    if slowed:  # only a row of the general path can carry ``unread``
        warn_unread(request, rows)
    return tuple(rows)


def warn_unread(request: RawRequest, rows: Sequence[Any]) -> int:
    """Log a warning naming the report, its window and the fields of the rows delivered
    with values that could not be read (``row.unread``); return how many there were."""
    bad = [(i, row.unread) for i, row in enumerate(rows, 1) if getattr(row, "unread", None)]
    if bad:
        query = parse_qs(urlsplit(request.url).query)
        window = "..".join(query.get("date_ini", []) + query.get("date_end", []))
        fields = sorted({name for _, unread in bad for name in unread.fields})
        first, unread = bad[0]
        log.warning(
            "%s%s: %d of %d rows had values that could not be read (%s), delivered with "
            "those fields None; first, row %d: %s",
            request.route.api,
            f" {window}" if window else "",
            len(bad),
            len(rows),
            ", ".join(fields),
            first,
            redact(json.dumps(unread.row, default=str)[:300], request.token),
        )
    return len(bad)


# Counts of calls as a ledger keeps them: SQLite and Redis hold 64-bit signed integers.
_MOST_CALLS: Final = 2**63


def quota_counts(request: RawRequest, envelope: Envelope) -> tuple[int, int | None]:
    """token_info's calls used today by the operation (else by the token) and its limit.

    A count below zero or past what a ledger holds is no count of calls: taken, it raised
    OverflowError from SQLite or marked the day spent; it is a ResponseDecodeError."""
    rows = structure_rows(request, envelope, TokenInfo)
    info = rows[0] if rows else TokenInfo()
    used = info.all_token_today if info.all_token_today is not None else info.token_use_today
    for name, value in (("calls used", used), ("token_limit", info.token_limit)):
        if value is not None and not 0 <= value < _MOST_CALLS:
            raise decode_error(request, envelope, f"token_info's {name} is {e.shown(value)}")
    return used or 0, info.token_limit
