"""Records on their way to add_record: accept a Record or a wire dict, validate, serialise.

Every record becomes one :class:`WireRecord` — the exact JSON object add_record sends,
already checked — once, however many layers it passes (upload_records validates each row
with its row number before its chunk leaves; add_record then sends it as is). Dicts with
wire keys (tel1, opt1, ...) are checked and converted directly, without building a
Record: this runs once per uploaded row. The rules are those of :class:`Record` and
wolkvox-api.md §5 #2.1/#2.2: known fields only, text values, a customer_id, opt1–opt6 at
most 100 characters and opt7–opt12 at most 200 (the other fields: the lengths of
``FIELD_MAX_LENGTHS``), nothing unsendable (NUL, controls, lone surrogates), and the
fields of the campaign type.

The wire form holds only the fields a record sets. The doc samples list every key, but no
field besides the record's own data is required (§5 #2.1), public scripts post three-key
objects, and a blank field reads back as absent either way; sending 37 keys per lead would
make JSON, not the two-request limit, the bound of a bulk load (benchmarks/).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

import msgspec
import orjson

from .._errors import ConfigError, shown
from .._time import format_query_datetime
from ..calls._convert import CONVERTER
from ..calls._json import encode_rows
from ..models import AddRecordResult, CampaignType, Record
from ..models._fields import FIELD_MAX_LENGTHS, NOT_FOR, OPT_KEYS, TEL_KEYS, TEXT_FIELDS
from ..models._requests import UNSENDABLE, text_problem
from . import _validate as check

if TYPE_CHECKING:
    from ..calls._call import Caller

__all__ = [
    "MAX_RECORDS_PER_UPLOAD",
    "BadRow",
    "Checked",
    "SendRecords",
    "WireRecord",
    "check_rows",
    "encode_records",
    "to_wire",
    "to_wire_rows",
]

MAX_RECORDS_PER_UPLOAD: Final = 10_000
"""Records that can be uploaded per call (§3.1)."""
_WIRE_KEYS: Final = frozenset(FIELD_MAX_LENGTHS)
# The common row — a dict of non-blank printable text in fields of its campaign type — is
# checked by one lookup per field: its longest allowed value (recall_date takes the
# general path).
_FAST_LIMITS: Final = {
    kind: {key: FIELD_MAX_LENGTHS[key] for key in _WIRE_KEYS - {*unsupported, "recall_date"}}
    for kind, unsupported in NOT_FOR.items()
}
_RecordWire = msgspec.defstruct(
    "_RecordWire",
    [(key, str, "") for key in (*TEXT_FIELDS, *TEL_KEYS, *OPT_KEYS, "recall_date")],
    omit_defaults=True,
    gc=False,
    namespace={"items": lambda self: msgspec.to_builtins(self).items()},
)
"""A Record's wire form for a batch (:func:`_records_json`): its fields in the order of
``_convert``'s Record hook, each omitted when blank (``omit_defaults``) as that hook
omits it: the same JSON, made by one C call per record instead of a dict built field by
field. No reference cycle can go through text, so the collector does not track them."""
_PhonesWire = msgspec.defstruct(
    "_PhonesWire",
    [(key, str, "") for key in (*TEXT_FIELDS, *TEL_KEYS)],
    omit_defaults=True,
    gc=False,
    namespace={"items": lambda self: msgspec.to_builtins(self).items()},
)
"""The wire form of a Record without opts or recall_date, the common one: fewer fields to
fill than :data:`_RecordWire` (the same JSON, it omits them blank)."""
_WIRES: Final = (_RecordWire, _PhonesWire)
_TEXTS: Final = attrgetter(*TEXT_FIELDS)
_PADS: Final = tuple(("",) * (len(TEL_KEYS) - n) for n in range(len(TEL_KEYS) + 1))
"""The blank phones after a record's last one, so its opts land on opt1.. (by count)."""
_REFUSED: Final = {
    kind: tuple(attrgetter(key) for key in keys if key != "recall_date")
    for kind, keys in NOT_FOR.items()
}
"""The text fields each kind refuses, read from the wire forms (a Record's recall_date
is a datetime: it takes :func:`to_wire`, which refuses it for the kinds without it)."""
_ENCODER: Final = msgspec.json.Encoder()


class BadRow:
    """An input row its reader could not make a record of (a CSV row with more or fewer
    cells than its header): the checks refuse it as any bad row, saying ``reason``, so it
    stops the load at its row or, skipping bad rows, is reported with its row number."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


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
    if type(item) is dict and _plain(item, _FAST_LIMITS[kind]):
        record = WireRecord(item)
        record.kind = kind
        return record
    try:
        if isinstance(item, Record):
            if item.recall_date is not None:
                check.moment("recall_date", item.recall_date)
            wire = CONVERTER.unstructure(item)
        elif isinstance(item, Mapping):
            wire = _from_mapping(item)
        elif isinstance(item, BadRow):
            raise ConfigError(item.reason)
        else:
            raise ConfigError(f"a record must be a Record or a dict, not {type(item).__name__}")
        for key in NOT_FOR[kind]:
            if key in wire:
                raise ConfigError(f"{key} is not accepted on {kind.value} campaigns")
    except ConfigError as exc:
        raise ConfigError(str(exc) if row is None else f"row {row}: {exc}") from None
    record = WireRecord(wire)
    record.kind = kind
    return record


class Checked(NamedTuple):
    """A batch of rows checked for a load: what to send, and what was refused."""

    records: list[Any]
    """The wire forms: dicts, or :data:`_RecordWire` for a batch of Records (their JSON
    by :func:`encode_records`)."""
    rows: list[int]
    """The row number of each record."""
    bad: list[tuple[int, Any, ConfigError]]
    """(row, item, error) for each bad row."""
    body: bytes
    """The JSON array of ``records``, as it is sent (:func:`encode_rows`)."""


def check_rows(items: list[Any], kind: CampaignType, first_row: int) -> Checked:
    """:func:`to_wire` over a batch of rows numbered from ``first_row``, and their JSON.

    A million-row load pays this per row (benchmarks/upload_throughput.py --reader), and
    at 50 ms per call a chunk's checks must fit in its sibling's flight. So the common
    batch — WireRecords of this kind, plain dicts of sendable text (:func:`_plain_json`),
    or Records of a kind's fields (:func:`_records_json`) — is checked whole in one loop
    and encoded once; any other goes row by row, where each row is judged alone
    and a bad one named. Same bytes, same checksums: journals and fingerprints of loads
    made before still match. Either way the verdicts and the bytes are those of :func:`to_wire` and
    :func:`encode_rows` row by row. A plain dict is sent as it is, not copied:
    it is encoded here, before anything else runs, so a dict the caller reuses cannot
    change between its check and its bytes.
    """
    rows = list(range(first_row, first_row + len(items)))
    if _all_checked(items, kind):
        return Checked(items, rows, [], encode_rows(items))
    body = _plain_json(items, kind)
    if body is not None:
        return Checked(items, rows, [], body)
    made = _records_json(items, kind)
    if made is not None:
        return Checked(made[0], rows, [], made[1])
    records, rows, bad = _row_by_row(items, kind, first_row)
    return Checked(records, rows, bad, encode_rows(records))


def to_wire_rows(
    items: list[Any], kind: CampaignType, first_row: int
) -> tuple[list[dict[str, str]], list[int], list[tuple[int, Any, ConfigError]]]:
    """:func:`check_rows` without the JSON: the wire forms, their row numbers, and (row,
    item, error) for each bad row."""
    checked = check_rows(items, kind, first_row)
    records = checked.records
    if records and type(records[0]) in _WIRES:
        records = msgspec.to_builtins(records)
    return records, checked.rows, checked.bad


def encode_records(records: list[Any]) -> bytes:
    """The JSON of ``Checked.records`` (or a slice of them): wire dicts, or the wire forms
    of a batch of Records (:func:`_records_json`)."""
    if records and type(records[0]) in _WIRES:
        return _ENCODER.encode(records)
    return encode_rows(records)


def _row_by_row(
    items: list[Any], kind: CampaignType, first_row: int
) -> tuple[list[dict[str, str]], list[int], list[tuple[int, Any, ConfigError]]]:
    limits = _FAST_LIMITS[kind]
    records: list[dict[str, str]] = []
    rows: list[int] = []
    bad: list[tuple[int, Any, ConfigError]] = []
    for row, item in enumerate(items, first_row):
        if type(item) is dict and _plain(item, limits):
            records.append(item)
        else:
            try:
                records.append(to_wire(item, kind, row=row))
            except ConfigError as exc:
                bad.append((row, item, exc))
                continue
        rows.append(row)
    return records, rows, bad


def _all_checked(items: list[Any], kind: CampaignType) -> bool:
    """Whether every item is a :class:`WireRecord` already checked for ``kind`` (a plain
    loop: half the time of map/count passes, which fetch the slot by a generic lookup)."""
    try:
        for item in items:
            if type(item) is not WireRecord or item.kind is not kind:
                return False
    except AttributeError:  # a WireRecord made by hand, without its kind
        return False
    return True


def _plain_json(items: list[Any], kind: CampaignType) -> bytes | None:
    """The JSON of ``items`` if each is a plain dict :func:`to_wire` sends as it is, else
    None (and the batch goes row by row).

    The rules of :func:`_plain` in one loop over the batch, inlined (a call per row cost
    as much as its checks): each value exactly a str (``to_wire`` refuses a subclass, a
    StrEnum, as not text), non-empty and within the limit of its key, which must be a
    field of the kind other than recall_date; customer_id there and not blank. Instead
    of ``isprintable`` per value, what :func:`text_problem` refuses is read from the
    bytes: orjson refuses a lone surrogate, and JSON escapes every C0 control, so a body
    with no backslash and no DEL holds none; only a body with either (a quote, a tab) has
    its text scanned. Column-wise passes in C (map, count) were measured too: fewer
    instructions, no less time.
    """
    get = _FAST_LIMITS[kind].get
    for item in items:
        if type(item) is not dict:
            return None
        for key, value in item.items():
            if type(value) is not str or not 0 < len(value) <= get(key, 0):
                return None
        cid = item.get("customer_id")
        if cid is None or cid.isspace():
            return None
    try:
        body = orjson.dumps(items)
    except TypeError:  # orjson.JSONEncodeError: a lone surrogate, a key not a str
        return None
    if (b"\\" in body or b"\x7f" in body) and not _sendable(items):
        return None
    return body


def _records_json(items: list[Any], kind: CampaignType) -> tuple[list[Any], bytes] | None:
    """The wire forms and JSON of a batch of Records, or None (it goes row by row).

    A Record checked its values when it was made, so what :func:`to_wire` adds for it is
    the fields its campaign type refuses and its recall_date's range: a batch with a
    Record of another class, a refused field or a recall_date that does not pass goes
    row by row, where the bad one is named. The wire form is a :data:`_RecordWire` made
    from the Record's text fields and phones in one call; the bytes are those of
    ``_convert``'s Record hook and :func:`~._protocol.encode_rows` (tests/test_wire_batches.py).
    """
    texts, pads = _TEXTS, _PADS
    out: list[Any] = []
    append = out.append
    try:
        for item in items:
            if type(item) is not Record:
                return None
            phones, opts = item.phones, item.opts
            if item.recall_date is not None:
                append(_RecordWire(**to_wire(item, kind)))
            elif opts:
                append(_RecordWire(*(texts(item) + phones + pads[len(phones)] + opts)))
            else:
                append(_PhonesWire(*(texts(item) + phones)))
    except (ConfigError, TypeError, IndexError):  # a bad recall_date; more than 10 phones
        return None
    for refused in _REFUSED[kind]:
        if any(map(refused, out)):
            return None
    return out, _ENCODER.encode(out)


def _sendable(items: list[dict[str, str]]) -> bool:
    """Whether no value holds what :func:`text_problem` refuses: one scan of the joined
    text (a character class matches in the whole as in its parts)."""
    text = "".join(chain.from_iterable(map(dict.values, items)))
    return text.isprintable() or UNSENDABLE.search(text) is None


def _plain(item: dict[Any, Any], limits: dict[str, int]) -> bool:
    """Whether ``item`` holds only non-blank printable text within the limits, and a
    customer_id (anything else takes :func:`_from_mapping`, which names the problem)."""
    for key, value in item.items():
        if type(value) is not str or not 0 < len(value) <= limits.get(key, -1):
            return False
        if not value.isprintable():
            return False
    cid = item.get("customer_id")
    return cid is not None and not cid.isspace()


def _from_mapping(item: Mapping[str, Any]) -> dict[str, str]:
    if not item.keys() <= _WIRE_KEYS:
        unknown = ", ".join(sorted(repr(key)[:40] for key in item.keys() - _WIRE_KEYS))
        raise ConfigError(f"unknown field(s) {unknown} for Record")
    wire: dict[str, str] = {}
    for key, value in item.items():
        text = value if type(value) is str else _text(value, key)
        if key == "recall_date" and type(text) is str:
            text = text.strip()
        if problem := text_problem(text, FIELD_MAX_LENGTHS[key]):
            raise ConfigError(f"{key} {problem}")
        if text:
            wire[key] = text
    if not wire.get("customer_id", "").strip():
        # remove_record, find_record and resumable uploads all key on customer_id.
        raise ConfigError("customer_id must not be blank")
    recall = wire.get("recall_date")
    if recall is not None:
        try:
            datetime.strptime(recall, "%Y%m%d%H%M%S")
        except ValueError:
            raise ConfigError(f"recall_date {shown(recall)} is not YYYYmmddHHiiss") from None
    return wire


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, str):  # a StrEnum's value, a str subclass: text, sent as plain str
        return str.__str__(value)
    if isinstance(value, datetime) and name == "recall_date":
        return format_query_datetime(check.moment(name, value))
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 10**30:
        return str(value)  # (an id read as a number from a spreadsheet)
    if isinstance(value, float) and math.isfinite(value):
        # A column with an empty cell comes from pandas as floats: 3001234567.0 is the
        # number 3001234567, not a phone ending in ".0".
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else str(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ConfigError(f"{name} must be text; a number this large or non-finite is not")
    raise ConfigError(f"{name} must be text, not {type(value).__name__}")


class SendRecords(Protocol):
    """Bulk's ``send_records`` (:mod:`wolkvox_async.bulk._chunks`), as the client hands it
    to ``add_record`` and to a load."""

    async def __call__(
        self,
        caller: Caller,
        cid: str,
        kind: CampaignType,
        campaign_status: str,
        body: list[WireRecord] | bytes,
        count: int,
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> AddRecordResult: ...
