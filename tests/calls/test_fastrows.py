"""The fast row reader gives exactly what the general path gives, or steps aside.

Every row model is read from generated rows twice: as a dict (the fast path, falling back
to the general one when it says Slow) and as a read-only mapping (the general path only).
Values mix the shapes Wolkvox sends with blanks, zero dates, numbers as JSON numbers,
dates in other formats and impossible ones.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wolkvox_async import models
from wolkvox_async.calls._convert import CONVERTER

ROW_MODELS = [
    cls
    for cls in vars(models).values()
    if isinstance(cls, type) and attrs.has(cls) and "unread" in attrs.fields_dict(cls)
]
VALUES = st.sampled_from(
    [
        "",
        " ",
        "\t",
        None,
        0,
        5,
        2.5,
        "0",
        "007",
        "12",
        "1,234",
        "12.5%",
        "x",
        "Juan Pérez",
        "0000-00-00 00:00:00",
        "2026-11-20 10:15:20",
        "2026-11-20 10:15:20.000",
        "2026-02-30 10:00:00",
        "2026-11-20T10:15:20",
        "20261120",
        "NO-ANSWER",
        "answer machine",
        "Started",
        "stopped",
        "Predictive",
        "yes",
    ]
)


def wire_keys(cls: type[Any]) -> list[str]:
    keys = ["tel1", "tel2", "tel5", "opt1", "opt12", "extra", "phones"]
    for field in attrs.fields(cls):
        keys += list(field.metadata.get("wire", (field.name,)))
    return keys


def read(data: Any, cls: type[Any]) -> tuple[Any, Any]:
    try:
        row = CONVERTER.structure(data, cls)
    except Exception as exc:
        return ("error", type(exc).__name__)
    unread = None if row.unread is None else (row.unread.fields, row.unread.row)
    return (row, unread)


@settings(max_examples=500, deadline=None)
@given(data=st.data(), cls=st.sampled_from(ROW_MODELS))
def test_the_fast_reader_agrees_with_the_general_path(data: st.DataObject, cls: type[Any]) -> None:
    row = data.draw(st.dictionaries(st.sampled_from(wire_keys(cls)), VALUES, max_size=12))
    assert read(row, cls) == read(MappingProxyType(row), cls), row


@pytest.mark.parametrize("path", sorted(Path(__file__).parent.parent.glob("fixtures/*.json")))
def test_the_documented_samples_read_the_same_both_ways(path: Path) -> None:
    body = json.loads(path.read_text())
    rows = body.get("data") or body.get("records") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return
    for cls in ROW_MODELS:
        for row in rows:
            if isinstance(row, dict):
                assert read(row, cls) == read(MappingProxyType(row), cls)


def test_the_row_models_are_all_read_fast() -> None:
    from wolkvox_async._time import WOLKVOX_TZ
    from wolkvox_async.calls._convert import _TEXT_HOOKS
    from wolkvox_async.calls._fastrows import row_reader

    assert len(ROW_MODELS) >= 14
    assert all(row_reader(cls, WOLKVOX_TZ, _TEXT_HOOKS) is not None for cls in ROW_MODELS)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), cls=st.sampled_from(ROW_MODELS))
def test_a_list_reads_as_its_rows_do_one_by_one(data: st.DataObject, cls: type[Any]) -> None:
    """The generated list reader (one call per answer) gives each row as the row reader
    or the general path gives it alone, rows it cannot read included."""
    from wolkvox_async._errors import ResponseDecodeError
    from wolkvox_async.calls import _routes as routes
    from wolkvox_async.calls._convert import structure_rows
    from wolkvox_async.calls._protocol import Envelope, build_request

    rows = data.draw(
        st.lists(st.dictionaries(st.sampled_from(wire_keys(cls)), VALUES, max_size=12), max_size=4)
    )
    alone = [read(MappingProxyType(row), cls) for row in rows]
    request = build_request("https://x", "t", routes.FIND_RECORD, {})
    envelope = Envelope(http_status=200, code="200", message="", payload=rows)
    if any(row[0] == "error" for row in alone):
        with pytest.raises(ResponseDecodeError):
            structure_rows(request, envelope, cls)
        return
    listed = structure_rows(request, envelope, cls)
    unread = [None if row.unread is None else (row.unread.fields, row.unread.row) for row in listed]
    assert list(zip(listed, unread, strict=True)) == alone


DATES = ["2026-11-20 10:15:20", "2026-11-20 10:15:21", "2026-02-30 10:00:00", "", "x", None]
OPTS = ["a", "b", "", None, " ", "0", 5]


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "conn_id": st.sampled_from(["001", "2"]),
                "date": st.sampled_from(DATES),
                "opt1": st.sampled_from(OPTS),
                "opt2": st.sampled_from(OPTS),
                "opt12": st.sampled_from(OPTS),
            }
        ),
        max_size=40,
    ),
    keep=st.sampled_from([1, 2, 3, 1024]),
)
def test_values_read_once_per_answer_are_the_values_each_row_reads(
    rows: list[dict[str, Any]], keep: int
) -> None:
    """The list reader reads each distinct date and opts series once per answer (its
    caches: full, they start over or go off); every row still gets exactly what the
    general path gives it alone. A small ``keep`` makes the caches fill, start over and
    switch off within a few rows."""
    from wolkvox_async._time import WOLKVOX_TZ
    from wolkvox_async.calls import _fastrows
    from wolkvox_async.calls._convert import _TEXT_HOOKS

    cls = models.PhoneResult

    def general(data: Any) -> Any:
        return CONVERTER.structure(MappingProxyType(data), cls)

    kept, _fastrows._KEEP = _fastrows._KEEP, keep  # type: ignore[misc]
    try:
        made = _fastrows.row_readers(cls, WOLKVOX_TZ, _TEXT_HOOKS, general)
    finally:
        _fastrows._KEEP = kept  # type: ignore[misc]
    assert made is not None
    listed, _ = made[1](rows)
    alone = [general(row) for row in rows]
    assert listed == alone
    assert [repr(row) for row in listed] == [repr(row) for row in alone]
    assert [row.unread for row in listed] == [row.unread for row in alone]


def test_an_answer_reads_a_repeated_date_or_series_once() -> None:
    """Rows sharing a date text share one datetime, rows sharing opts one tuple: the
    answer made one of each (fewer objects to make and for the collector to track)."""
    from wolkvox_async.calls import _routes as routes
    from wolkvox_async.calls._convert import structure_rows
    from wolkvox_async.calls._protocol import Envelope, build_request

    row = {"conn_id": "1", "date": "2026-11-20 10:15:20", "opt1": "a", "opt2": "b"}
    rows = [dict(row) for _ in range(3)] + [{**row, "date": "2026-11-20 10:15:21"}]
    request = build_request("https://x", "t", routes.REPORT_CAMPAIGN_3, {})
    envelope = Envelope(http_status=200, code="200", message="", payload=rows)
    read = structure_rows(request, envelope, models.PhoneResult)
    assert read[0].date is read[1].date is read[2].date
    assert read[3].date is not read[0].date and read[3].date == read[0].date.replace(second=21)
    assert read[0].opts == ("a", "b") and all(r.opts is read[0].opts for r in read)
