"""Report rows as Arrow (issue 35, item 3): every report's rows round-trip through Parquet
and Arrow IPC with their values and types, odd values the models allow included; an
empty report keeps its schema; ``iter_report_batches`` gives a batch per window as the
download goes; and pyarrow stays optional: not imported with the package, and its
absence said (naming the extra) before any request."""

from __future__ import annotations

import enum
import json
import subprocess
import sys
import types
import typing
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import wolkvox_async as w
from wolkvox_async import ConfigError, WolkvoxClient, report_schema, rows_to_arrow
from wolkvox_async._time import WOLKVOX_TZ
from wolkvox_async.calls._convert import CONVERTER
from wolkvox_async.endpoints._report_table import REPORTS
from wolkvox_async.models import CallResult, DetailRow, PhoneResult, ReportRow
from wolkvox_async.testing import FakeWolkvox

TYPED = sorted(name for name, table in REPORTS.items() if table.row is not ReportRow)
GENERIC = sorted(name for name, table in REPORTS.items() if table.row is ReportRow)
START = datetime(2026, 8, 1)
BIG = 2**64 + 1  # the converter reads any int Wolkvox sends; int64 cannot hold it


def _value(hint: Any, i: int) -> Any:
    """A value of type ``hint`` for row ``i``: awkward ones (phones with +, leading
    zeros, formulas, int64's bounds, a value past them, an enum)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    if typing.get_origin(hint) is tuple:
        return ("+573001234567", None, "0012") if i % 2 else ()
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return list(hint)[i % len(hint)]
    if hint is int:
        return [2**63 - 1, -(2**63), BIG, 0, 7][i % 5]
    if hint is float:
        return [12.5, -0.0, 1e300][i % 3]
    if hint is datetime:
        return datetime(2026, 8, 1, 23, 59, 59, tzinfo=WOLKVOX_TZ) + timedelta(days=i)
    return ["+573001234567", "007", "=SUM(A1)", 'ñandú, "x"\r\nline', ""][i % 5]


def _rows(model: type, count: int = 10) -> list[Any]:
    hints = typing.get_type_hints(model)
    fields = [f for f in attrs.fields(model) if f.name != "unread"]
    rows = [model(**{f.name: _value(hints[f.name], i) for f in fields}) for i in range(count)]
    return [*rows, model()]  # and a row of Nones


def _expected(row: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The row's values as the table should hold them, and what ``unread`` keeps."""
    values, kept = {}, {}
    for field in attrs.fields(type(row)):
        if field.name == "unread":
            continue
        value = getattr(row, field.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif value == BIG and type(value) is int:
            kept[field.name], value = str(value), None
        values[field.name] = value
    return values, kept


def _through(table: pa.Table, fmt: str, path: Path) -> pa.Table:
    if fmt == "parquet":
        pq.write_table(table, path)
        return pq.read_table(path)
    with pa.ipc.new_file(path, table.schema) as out:
        out.write_table(table)
    return pa.ipc.open_file(path).read_all()


@pytest.mark.parametrize("fmt", ["parquet", "arrow"])
@pytest.mark.parametrize("report", TYPED)
def test_every_typed_report_round_trips_its_values_and_types(
    report: str, fmt: str, tmp_path: Path
) -> None:
    rows = _rows(REPORTS[report].row)
    back = _through(rows_to_arrow(rows, report), fmt, tmp_path / "out")
    assert back.schema == report_schema(report)
    assert back.num_rows == len(rows)
    for row, got in zip(rows, back.to_pylist(), strict=True):
        values, kept = _expected(row)
        assert {k: got[k] for k in values} == values
        assert (json.loads(got["unread"]) if got["unread"] else {}) == kept
    types = {f.name: f.type for f in back.schema}
    for name, kind in types.items():  # what a DataFrame needs to see
        if name in ("date", "last_update", "date_delete") and kind != pa.string():
            assert kind == pa.timestamp("us", tz="-05:00"), name
        if name in ("telephone", "conn_id", "customer_id", "campaign_id"):
            assert kind == pa.string(), name  # never a number: +57…, 007
        if name == "result":
            assert pa.types.is_dictionary(kind)


@pytest.mark.parametrize("report", GENERIC)
def test_generic_reports_keep_every_key_as_sent(report: str, tmp_path: Path) -> None:
    columns = REPORTS[report].columns
    sent = {name: f"+57{i:03d}" for i, name in enumerate(columns)}
    extra = {"new_key": "x", "thread": [{"from": "agent", "text": "hola"}], "n": 5}
    rows = [ReportRow({**sent, **extra}), ReportRow({columns[0]: None})]
    back = _through(rows_to_arrow(rows, report), "parquet", tmp_path / "out")
    assert back.schema == report_schema(report)
    first, second = back.to_pylist()
    assert {k: first[k] for k in columns} == sent
    assert json.loads(first["undocumented"]) == extra
    assert second == dict.fromkeys(back.schema.names)


@pytest.mark.parametrize("report", sorted(REPORTS))
def test_an_empty_report_has_its_schema_and_no_rows(report: str, tmp_path: Path) -> None:
    back = _through(rows_to_arrow([], report), "parquet", tmp_path / "out")
    assert back.num_rows == 0 and back.schema == report_schema(report)


def test_a_value_the_model_could_not_read_is_kept_as_sent() -> None:
    raw = {"conn_id": "1", "telephone": "+573001234567", "date": "31/08/2026 9am"}
    row = CONVERTER.structure(raw, PhoneResult)
    assert row.unread is not None
    got = rows_to_arrow([row]).to_pylist()[0]
    assert got["date"] is None and json.loads(got["unread"]) == {"date": "31/08/2026 9am"}
    assert got["telephone"] == "+573001234567"


def test_rows_of_another_model_or_no_report_are_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="name their report"):
        rows_to_arrow([])
    with pytest.raises(ConfigError, match="PhoneResult among DetailRow"):
        rows_to_arrow([DetailRow(), PhoneResult()])
    with pytest.raises(ConfigError, match="report must be one of"):
        rows_to_arrow([], "campaign_99")
    with pytest.raises(ConfigError, match="name its report"):
        rows_to_arrow([ReportRow({"a": "1"})])


def test_importing_the_package_does_not_import_pyarrow() -> None:
    code = "import sys, wolkvox_async, wolkvox_async.cli._app;print('pyarrow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_without_pyarrow_the_extra_is_named_before_any_request(
    fake: FakeWolkvox, client: WolkvoxClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    camp = fake.create_campaign()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow -> ImportError
    before = fake.stats.requests
    extra = r'pip install "wolkvox-async\[arrow\]"'
    with pytest.raises(ConfigError, match=extra):
        client.iter_report_batches(
            "campaign_3", camp.id, datetime(2026, 8, 1), datetime(2026, 8, 2)
        )
    with pytest.raises(ConfigError, match=extra):
        w.rows_to_arrow([PhoneResult()])
    assert fake.stats.requests == before


async def test_batches_come_window_by_window_as_the_download_goes(
    fake: FakeWolkvox, client: WolkvoxClient
) -> None:
    camp = fake.create_campaign()
    start, end = datetime(2026, 3, 1), datetime(2026, 7, 31, 23, 59, 59)
    attempts = fake.add_call_results(camp.id, start, end, 3_000, seed=4)
    batches, asked = [], []
    async for batch in client.iter_report_batches("campaign_3", camp.id, start, end):
        batches.append(batch)
        asked.append(fake.stats.requests)
    assert len(batches) == 5  # March to July: the 31-day windows
    # The first came before the last window was asked for (while it is delivered, the
    # two windows after it are out at most).
    assert asked[0] <= 3 and asked[-1] == 5
    table = pa.Table.from_batches(batches)
    assert table.schema == report_schema("campaign_3")
    assert sorted(table.column("conn_id").to_pylist()) == sorted(a.conn_id for a in attempts)
    dates = table.column("date").to_pylist()
    assert dates == sorted(dates) and dates[0] >= start.replace(tzinfo=WOLKVOX_TZ)
    assert dates[0].utcoffset() == timedelta(hours=-5)
    counts = table.column("result").value_counts().to_pylist()
    assert {c["values"] for c in counts} <= {r.value for r in CallResult}


async def test_an_empty_download_gives_one_empty_batch_with_the_schema(
    fake: FakeWolkvox, client: WolkvoxClient
) -> None:
    camp = fake.create_campaign()
    got = [
        b
        async for b in client.iter_report_batches(
            "campaign_3", camp.id, datetime(2026, 5, 1), datetime(2026, 7, 31)
        )
    ]
    assert [b.num_rows for b in got] == [0] and got[0].schema == report_schema("campaign_3")
