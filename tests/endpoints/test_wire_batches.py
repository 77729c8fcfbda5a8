"""A load's batches checked whole (``_records.check_rows``) give the verdicts and the bytes
of the rows checked one by one: the batch path is only a faster way to the same answer.

Batches are made valid and then spoiled by at most one change a user's data can carry (a
key too many, a value one character too long, a tab, a lone surrogate, a str subclass...),
so both the batch path and its fallback are exercised near every boundary."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from wolkvox_async import Record
from wolkvox_async.calls._protocol import encode_rows
from wolkvox_async.endpoints._records import (
    _FAST_LIMITS,
    BadRow,
    _plain_json,
    _records_json,
    _row_by_row,
    check_rows,
    encode_records,
    to_wire,
    to_wire_rows,
)
from wolkvox_async.models import CampaignType
from wolkvox_async.models._fields import FIELD_MAX_LENGTHS, NOT_FOR, TEXT_FIELDS


class Text(str):
    """A str subclass: to_wire refuses it as not text."""


class Colour(enum.StrEnum):
    RED = "red"


class Row(dict[str, Any]):
    """A dict subclass: checked row by row (a Mapping)."""


# Letters a clean value is made of: accents, an emoji (one code point, two UTF-16 units),
# a no-break space and a line separator (printable or not, both sendable).
CLEAN = st.text(st.sampled_from("ab7 éÑ😀\xa0\u2028-"), min_size=1, max_size=12)
SPOILERS = [
    "\t",
    "\n",
    "\r",
    '"',
    "\\",
    "\\u0000",
    "\x00",
    "\x01",
    "\x0b",
    "\x1f",
    "\x7f",
    "\x85",
    "\ud800",
    "\udfff",
    "\ufeff",
]


@st.composite
def batches(draw: st.DrawFn) -> tuple[CampaignType, list[Any]]:
    kind = draw(st.sampled_from(list(CampaignType)))
    keys = sorted(_FAST_LIMITS[kind])
    # The rows of a reader share their keys (in any order); now and then one does not.
    layout = draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
    items: list[Any] = []
    for i in range(draw(st.integers(0, 12))):
        row = {"customer_id": f"c{i}"}
        mine = draw(st.permutations(layout)) if draw(st.booleans()) else layout
        if not draw(st.integers(0, 9)):
            mine = draw(st.lists(st.sampled_from(keys), max_size=4, unique=True))
        for key in mine:
            row[key] = draw(CLEAN)
        items.append(row)
    if items and draw(st.booleans()):
        at = draw(st.integers(0, len(items) - 1))
        items[at] = draw(spoiled(kind, items[at]))
    return kind, items


@st.composite
def spoiled(draw: st.DrawFn, kind: CampaignType, row: dict[str, str]) -> Any:
    key = draw(st.sampled_from(sorted(row)))
    limit = FIELD_MAX_LENGTHS[key]
    change = draw(st.integers(0, 15))
    row = dict(row)
    if change == 0:
        row[key] = "7" * limit  # the longest allowed
    elif change == 1:
        row[key] = "😀" * (limit + draw(st.integers(0, 1)))  # at and past it, in characters
    elif change == 2:
        row[key] = draw(st.sampled_from(["", " ", "\t \n", "\u3000"]))
    elif change == 3:
        row[key] = row[key] + draw(st.sampled_from(SPOILERS)) + row[key]
    elif change == 4:
        row[key] = draw(st.sampled_from([Text("x"), Colour.RED, 7, 7.5, None, True, ["x"], {}]))
    elif change == 5:
        row[draw(st.sampled_from(["zz", "Customer_ID", "tel11", "opt13"]))] = "1"
    elif change == 6 and NOT_FOR[kind]:
        row[draw(st.sampled_from(NOT_FOR[kind]))] = "20261201101500"
    elif change == 7 and kind is CampaignType.PREDICTIVE:
        row["recall_date"] = draw(st.sampled_from(["20261201101500", "20261301000000", " 2"]))
    elif change == 8:
        del row["customer_id"]
    elif change == 9:
        return Row(row)
    elif change == 10 and row["customer_id"].strip():  # (a layout may blank it)
        return to_wire(row, kind)  # a WireRecord among dicts
    elif change == 11:
        return Record(customer_id=row["customer_id"])
    elif change == 12:
        return BadRow("3 cells, 4 in the header")
    elif change == 13:
        return draw(st.sampled_from([None, "x", ["customer_id"], 5]))
    elif change == 14:
        row[Text(key)] = row.pop(key)  # a str subclass as a key
    else:
        row[key] = row[key] + "\\" + draw(st.sampled_from('"bfnrtu/'))  # escapes, all fine
    return row


def _reference(items: list[Any], kind: CampaignType) -> tuple[Any, ...]:
    records, rows, bad = _row_by_row(items, kind, 1)
    return (
        [list(record.items()) for record in records],
        rows,
        [(row, str(exc)) for row, _, exc in bad],
        encode_rows(records),
    )


@settings(max_examples=1500, deadline=None)
@given(batches())
def test_a_batch_checked_whole_is_the_rows_checked_one_by_one(
    batch: tuple[CampaignType, list[Any]],
) -> None:
    kind, items = batch
    checked = check_rows(items, kind, 1)
    found = (
        [list(record.items()) for record in checked.records],
        checked.rows,
        [(row, str(exc)) for row, _, exc in checked.bad],
        checked.body,
    )
    assert found == _reference(items, kind)


def test_clean_batches_take_the_batch_path() -> None:
    """Not a verdict but the point: a batch of clean dicts, including text JSON escapes
    (quotes, a backslash, a tab), is checked whole; WireRecords of the kind pass as they
    are."""
    kind = CampaignType.PREDICTIVE
    rows = [
        {"customer_id": "c1", "address": 'Ana "la flaca"', "opt7": "300"},
        {"opt7": "é" * 200, "customer_id": "c2", "address": "Calle 5\tSur \\ 3"},
    ]
    assert _plain_json(rows, kind) == encode_rows(rows)
    wires = [to_wire(row, kind) for row in rows]
    checked = check_rows(wires, kind, 1)
    assert checked.records is wires and checked.body == encode_rows(rows)


# Records: every value a Record accepts (so quotes, backslashes, tabs, newlines, U+2028,
# NEL, a BOM) in any of its fields, blank phones and opts between set ones, a recall_date
# in range or not, and the fields a campaign type refuses.
RECORD_TEXT = st.one_of(
    st.just(""),
    st.text(st.sampled_from('ab7 éÑ😀\xa0\u2028\x85\ufeff"\\\t\n\r/'), min_size=1, max_size=8),
)
MOMENTS = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.sampled_from([datetime(1, 1, 1), datetime(9999, 12, 31, 23, 0)]),  # out of range
    st.datetimes(timezones=st.just(UTC)),
)


class MyRecord(Record):
    """A Record subclass: checked row by row."""


@st.composite
def records(draw: st.DrawFn, i: int) -> Record:
    fields = {
        name: draw(RECORD_TEXT)
        for name in draw(st.lists(st.sampled_from(TEXT_FIELDS), max_size=5, unique=True))
        if name != "customer_id"
    }
    rare = not draw(st.integers(0, 7))
    return (MyRecord if rare and draw(st.booleans()) else Record)(
        customer_id=f"c{i}" + draw(RECORD_TEXT),
        phones=tuple(draw(st.lists(RECORD_TEXT, max_size=10))),
        opts=tuple(draw(st.lists(RECORD_TEXT, max_size=12))) if draw(st.booleans()) else (),
        recall_date=draw(MOMENTS) if rare else None,
        **fields,
    )


@st.composite
def record_batches(draw: st.DrawFn) -> tuple[CampaignType, list[Any]]:
    kind = draw(st.sampled_from(list(CampaignType)))
    items: list[Any] = [draw(records(i)) for i in range(draw(st.integers(0, 12)))]
    if items and not draw(st.integers(0, 9)):  # a dict among Records
        items[draw(st.integers(0, len(items) - 1))] = {"customer_id": "d", "tel1": "1"}
    return kind, items


def _as_found(checked: Any) -> tuple[Any, ...]:
    records, rows, bad = checked.records, checked.rows, checked.bad
    return (
        [list(record.items()) for record in to_wire_rows_of(records)],
        rows,
        [(row, str(exc)) for row, _, exc in bad],
        checked.body,
    )


def to_wire_rows_of(records: list[Any]) -> list[dict[str, str]]:
    return [r if isinstance(r, dict) else msgspec.to_builtins(r) for r in records]


@settings(max_examples=1500, deadline=None)
@given(record_batches())
def test_a_batch_of_records_checked_whole_is_the_records_checked_one_by_one(
    batch: tuple[CampaignType, list[Any]],
) -> None:
    """Records take their own batch path (one wire struct per record, msgspec's JSON):
    the same verdicts and the same bytes as _convert's hook, to_wire and orjson, record
    by record, so a journal or a fingerprint made before still matches."""
    kind, items = batch
    checked = check_rows(items, kind, 1)
    assert _as_found(checked) == _reference(items, kind)
    # And a slice of it (a batch that ends one chunk and begins the next) is the slice's.
    half = len(checked.records) // 2
    assert encode_records(checked.records[half:]) == encode_rows(
        to_wire_rows_of(checked.records[half:])
    )
    records, _, _ = to_wire_rows(items, kind, 1)
    assert [list(r.items()) for r in records] == _reference(items, kind)[0]


def test_clean_records_take_the_batch_path() -> None:
    """The point of it: a batch of Records (opts, blanks and a recall_date among them) is
    checked whole, not record by record through the converter."""
    kind = CampaignType.PREDICTIVE
    items = [
        Record(customer_id="c1", customer_name='Ana "la flaca"', phones=("", "300")),
        Record(customer_id="c2", phones=("1",), opts=("", "x\ty")),
        Record(customer_id="c3", recall_date=datetime(2026, 12, 1, 10, 15)),
    ]
    made = _records_json(items, kind)
    assert made is not None
    assert made[1] == encode_rows([to_wire(item, kind) for item in items])
    assert _records_json([*items, Record(customer_id="c4", agent_id="7")], kind) is None
