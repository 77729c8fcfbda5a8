"""Report rows as Arrow: one typed schema per report, tables and record batches.

For pandas, polars and DuckDB (issue 35): :func:`report_schema` derives a report's schema
from its row model, so it is the same for every window and for an empty one;
:func:`rows_to_arrow` makes a table of rows; :class:`Batcher` makes a record batch of
each window's rows as a download delivers them (``iter_report_batches``, ``wolkvox export
--format parquet``).

Types: a count is ``int64``; a percentage ``float64``; a time ``timestamp[us]`` in the
Wolkvox zone (``-05:00``: Wolkvox writes times in GMT-5, wolkvox-api.md §1); a result, a
status or a code is dictionary-encoded text (few distinct values, repeated on every row);
a phone, an id or a name is text, never a number (``+57…`` and leading zeros are kept);
phones and opts are lists of text. A value the model could not read (``row.unread``) or
an integer beyond 64 bits is null in its column and kept as sent in the ``unread`` column
(a JSON object, field → value), so nothing is lost. The reports the docs give no fields
for (cdr_1, agent_*, chat_*) are text as sent, as in CSV: their documented keys, then
``undocumented`` (a JSON object of the keys Wolkvox added).

pyarrow is an optional extra: it is imported when one of these is called, never when the
package is, and its absence is a ConfigError naming the extra.
"""

from __future__ import annotations

import contextlib
import enum
import json
import types
import typing
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from .._errors import ConfigError, shown
from .._time import WOLKVOX_TZ
from ..endpoints._report_table import REPORTS, Report, report_named
from ..models import ReportRow

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["UNDOCUMENTED", "Batcher", "batches_of", "pyarrow", "report_schema", "rows_to_arrow"]

UNDOCUMENTED: Final = "undocumented"
"""A generic report's column of the keys the docs do not list (as in CSV)."""
UNREAD: Final = "unread"
"""The column of the values a typed column could not hold, as sent (a JSON object)."""
ZONE: Final = "-05:00"
"""Wolkvox time as Arrow names a fixed offset (``_time.WOLKVOX_TZ``: no DST since 1993)."""
CATEGORIES: Final = frozenset(
    {"result_raw", "status", "type_interaction", "type_of_row", "call_result", "hang_up"}
    | {"cod_act", "cod_act_2", "last_code_act", "id_type", "machinecode", "errors"}
)
"""Text fields with few distinct values, repeated row after row: dictionary-encoded."""
_INT64: Final = range(-(2**63), 2**63)


def pyarrow() -> Any:
    """The pyarrow module, or a ConfigError saying which extra brings it."""
    try:
        import pyarrow as pa
    except ImportError:
        raise ConfigError(
            'Parquet and Arrow need pyarrow: pip install "wolkvox-async[arrow]"'
        ) from None
    return pa


def _table_of(report: str | Report[Any] | type) -> Report[Any] | None:
    if isinstance(report, Report):
        return report
    if isinstance(report, str):
        return report_named(report)
    return next((t for t in REPORTS.values() if t.row is report and report is not ReportRow), None)


def report_schema(report: str | type) -> pa.Schema:
    """The Arrow schema of ``report``'s rows: a report name (``"campaign_3"``) or a row
    model (``PhoneResult``). The same for every window, empty ones too."""
    pa = pyarrow()
    table = _table_of(report)
    model = table.row if table is not None else report
    if model is ReportRow:
        if table is None:
            raise ConfigError(
                "a generic ReportRow has no fields of its own: name its report "
                '(e.g. rows_to_arrow(rows, "cdr_1"))'
            )
        names = [*table.columns, UNDOCUMENTED]
        return pa.schema([pa.field(name, pa.string()) for name in names])
    if not (isinstance(model, type) and attrs.has(model)):
        raise ConfigError(f"report must be a report's name or row model, got {shown(report)}")
    hints = typing.get_type_hints(model)
    fields = [
        pa.field(f.name, _arrow_type(pa, f.name, hints[f.name]))
        for f in attrs.fields(model)
        if f.name != UNREAD
    ]
    return pa.schema([*fields, pa.field(UNREAD, pa.string())])


def _arrow_type(pa: Any, name: str, hint: Any) -> Any:
    kind = hint
    if typing.get_origin(hint) in (typing.Union, types.UnionType):  # X | None: X
        kind = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(kind) is tuple:
        return pa.list_(pa.string())
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return pa.dictionary(pa.int32(), pa.string())
    if kind is bool:
        return pa.bool_()
    if kind is int:
        return pa.int64()
    if kind is float:
        return pa.float64()
    if kind is datetime:
        return pa.timestamp("us", tz=ZONE)
    if name in CATEGORIES:
        return pa.dictionary(pa.int32(), pa.string())
    return pa.string()


class Batcher:
    """Makes record batches of one report's rows, each of the report's schema."""

    def __init__(self, report: str | type) -> None:
        pa = pyarrow()
        self.report = _table_of(report)
        self.schema = report_schema(report)
        self.pa = pa
        """The pyarrow module."""
        self._generic = self.report is not None and self.report.row is ReportRow
        self._known = frozenset(self.schema.names) - {UNDOCUMENTED}

    def batch(self, rows: Sequence[Any]) -> pa.RecordBatch:
        """``rows`` (of the report's model) as one record batch."""
        columns = self._generic_columns(rows) if self._generic else self._typed_columns(rows)
        arrays = [
            self._array(values, field) for values, field in zip(columns, self.schema, strict=True)
        ]
        return self.pa.RecordBatch.from_arrays(arrays, schema=self.schema)

    def _array(self, values: list[Any], field: Any) -> Any:
        """One column; a value it cannot hold (a row built by hand: attrs models do not
        check types) is a ConfigError naming the column, the row and the value."""
        pa = self.pa
        try:
            return pa.array(values, type=field.type)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            for at, value in enumerate(values):
                try:
                    pa.array([value], type=field.type)
                except (pa.ArrowTypeError, pa.ArrowInvalid):
                    raise ConfigError(
                        f"column {field.name!r} ({field.type}) cannot hold row {at}'s "
                        f"value {shown(value)}: rows_to_arrow takes rows as the client "
                        "reads them, each field of its model's type"
                    ) from None
            raise

    def to_table(self, batches: Iterable[pa.RecordBatch]) -> pa.Table:
        """Batches of this report as one table (of its schema when there are none)."""
        return self.pa.Table.from_batches(list(batches), schema=self.schema)

    def _typed_columns(self, rows: Sequence[Any]) -> list[list[Any]]:
        names = self.schema.names[:-1]  # the model's fields, then UNREAD
        columns: list[list[Any]] = [[] for _ in self.schema.names]
        kept = columns[-1]
        for row in rows:
            unread = getattr(row, UNREAD, None)
            sent: dict[str, Any] = {}
            if unread is not None:
                for name in unread.fields:
                    keys = attrs.fields_dict(type(row))[name].metadata.get("wire", (name,))
                    sent[name] = next((unread.row[k] for k in keys if k in unread.row), None)
            for name, column in zip(names, columns, strict=False):
                value = getattr(row, name)
                if isinstance(value, enum.Enum):
                    value = value.value
                elif isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
                    sent[name], value = str(value), None  # beyond int64: kept as text
                elif isinstance(value, datetime) and value.tzinfo is None:
                    value = value.replace(tzinfo=WOLKVOX_TZ)  # naive: Wolkvox time
                column.append(value)
            kept.append(json.dumps(sent, ensure_ascii=False) if sent else None)
        return columns

    def _generic_columns(self, rows: Sequence[Any]) -> list[list[Any]]:
        names = self.schema.names[:-1]
        columns: list[list[Any]] = [[] for _ in self.schema.names]
        for row in rows:
            plain = row.to_dict()
            for name, column in zip(names, columns, strict=False):
                column.append(_as_sent(plain.get(name)))
            extra = {k: v for k, v in plain.items() if k not in self._known}
            columns[-1].append(json.dumps(extra, ensure_ascii=False) if extra else None)
        return columns


def _as_sent(value: Any) -> str | None:
    """A generic row's value as text: a string as it is, any other JSON value as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def rows_to_arrow(rows: Iterable[Any], report: str | type | None = None) -> pa.Table:
    """Report rows as a ``pyarrow.Table`` of their report's schema (see the module doc).

    ``report`` names the report (``"campaign_3"``) or its row model; without it, the
    model is the rows' own, so it is needed for no rows or for generic rows (cdr_1,
    agent_*, chat_*, whose keys only the report knows).

    Raises:
        ConfigError: pyarrow is not installed; no rows and no ``report``; rows of
            another model than ``report``'s; a value its column cannot hold (a row built
            by hand with a field of another type), named with its row.
    """
    pyarrow()
    rows = list(rows)
    if report is None:
        if not rows:
            raise ConfigError('no rows: name their report, e.g. rows_to_arrow(rows, "cdr_5")')
        report = type(rows[0])
    batcher = Batcher(report)
    model = batcher.report.row if batcher.report is not None else report
    odd = next((row for row in rows if type(row) is not model), None)
    if odd is not None:
        raise ConfigError(
            f"rows_to_arrow takes rows of one report: {type(odd).__name__} among "
            f"{getattr(model, '__name__', model)} rows"
        )
    return batcher.to_table([batcher.batch(rows)])


async def batches_of(
    rows: AsyncGenerator[Any, None], batcher: Batcher, boundaries: Callable[[], int]
) -> AsyncGenerator[pa.RecordBatch, None]:
    """A record batch of each window's rows, as the download delivers them: ``rows`` is
    the download's iterator, ``boundaries()`` counts the windows (and parts of a window
    at the cap) it has reported done. A download without rows gives one empty batch, so
    its schema is known (``pyarrow.Table.from_batches``)."""
    pending: list[Any] = []
    seen = boundaries()
    sent = False
    async with contextlib.aclosing(rows):  # a consumer that stops closes the download
        async for row in rows:
            if boundaries() != seen and pending:
                yield batcher.batch(pending)
                pending, sent = [], True
            seen = boundaries()
            pending.append(row)
    if pending or not sent:
        yield batcher.batch(pending)
