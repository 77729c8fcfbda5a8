"""A load's batches checked whole (``_records.check_rows``) give the verdicts and the bytes
of the rows checked one by one: the batch path is only a faster way to the same answer.

Batches are made valid and then spoiled by at most one change a user's data can carry (a
key too many, a value one character too long, a tab, a lone surrogate, a str subclass...),
so both the batch path and its fallback are exercised near every boundary."""

from __future__ import annotations

import enum
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from wolkvox_async import Record
from wolkvox_async.calls._protocol import encode_rows
from wolkvox_async.endpoints._records import (
    _FAST_LIMITS,
    BadRow,
    _plain_json,
    _row_by_row,
    check_rows,
    to_wire,
)
from wolkvox_async.models import CampaignType
from wolkvox_async.models._fields import FIELD_MAX_LENGTHS, NOT_FOR


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
    elif change == 10:
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
