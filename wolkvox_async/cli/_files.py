"""Reading records from CSV/JSONL and writing report rows to CSV/JSONL, streamed.

Exports are exact: CSV is RFC 4180 (the ``excel`` dialect: CRLF, quotes doubled, a cell
quoted when it holds a comma, a quote or a line break), so a CSV reader gets every value
back as Wolkvox sent it — a phone ``+573001234567`` stays that. With ``excel_safe``, a
cell a spreadsheet would run as a formula (starting with = + - @, tab or carriage return)
is prefixed with a quote (OWASP "CSV injection"), unless it is a number or a phone: those
hold no formula a spreadsheet could run, and a quote would change them.
"""

from __future__ import annotations

import bisect
import codecs
import csv
import enum
import io
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Final, Protocol

import attrs

from .._errors import ConfigError
from ..endpoints._records import BadRow
from ..models import ReportRow

__all__ = [
    "UNDOCUMENTED",
    "Lines",
    "RowWriter",
    "columns_of",
    "count_records",
    "neutralise",
    "read_records",
    "row_dict",
    "summary",
]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER_OR_PHONE = re.compile(
    r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"  # -5, +3.25, -1e5
    r"|[+-]?[\d ().,-]*\d[\d ().,-]*%?"  # +57 300 123 4567, +1 (555) 123-4567, -12,5%
)
"""Values a spreadsheet may compute but cannot run anything from: digits, and a phone's
spaces, brackets, dots and dashes, a decimal or thousands comma (Wolkvox writes
percentages ``12,5``), a closing ``%``. No letter (so no function name, no reference),
no ``|`` (DDE), no ``!``."""
# Fixed width, so every CSV row has the header's columns.
_TUPLE_PREFIX = {"phones": ("tel", 10), "opts": ("opt", 12)}


def neutralise(cell: str) -> str:
    """``cell`` made inert for spreadsheets (``--excel-safe``): a leading quote before a
    formula's first character; a number or a phone is returned as it is."""
    if not cell.startswith(_FORMULA_START) or _NUMBER_OR_PHONE.fullmatch(cell):
        return cell
    return "'" + cell


def _guess(path: Path, fmt: str) -> str:
    if fmt != "auto":
        return fmt
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


class Lines:
    """Which line of its file a data row (1-based, as upload reports count) began on. Only
    the rows where the two stop moving together are kept (a blank line, a cell spanning
    lines), so a million-row file costs a few entries."""

    def __init__(self, first: int) -> None:
        self._rows = [1]
        self._offsets = [first - 1]  # line = row + offset, from that row on

    def note(self, row: int, line: int) -> None:
        if line - row != self._offsets[-1]:
            self._rows.append(row)
            self._offsets.append(line - row)

    def of(self, row: int) -> int:
        """The line data row ``row`` starts on."""
        return row + self._offsets[bisect.bisect_right(self._rows, row) - 1]


def read_records(
    path: Path,
    fmt: str,
    mapping: Mapping[str, str],
    encoding: str = "utf-8",
    lines: Lines | None = None,
) -> Iterator[dict[str, Any] | BadRow]:
    """Rows of ``path`` as record dicts; ``mapping`` is field -> source column.

    With a mapping, only the mapped columns are read; without, columns must be named as
    record fields (customer_id, tel1, opt1, ...). UTF-8 accepts a byte-order mark. A byte
    the encoding cannot read, an empty file, or a CSV with a header and no rows is a
    ConfigError naming the line (raised while reading, before that row's chunk is sent).
    A CSV row with more or fewer cells than the header is a :class:`BadRow` (the load
    refuses it at its row, or reports and skips it with ``--skip-invalid``): a cell left
    out would otherwise load its record without, say, its phone. ``lines`` learns the file
    line each data row starts on.
    """
    kind = _guess(path, fmt)
    text = _lines(path, encoding)
    lines = lines or Lines(2 if kind == "csv" else 1)
    count = 0
    if kind == "csv":
        reader = csv.reader(text)
        header = next(reader, None) or []
        for cells in reader:
            if not cells:  # a blank line (as csv.DictReader skips them)
                continue
            count += 1
            lines.note(count, reader.line_num - _extra_lines(cells))
            if len(cells) != len(header):
                yield BadRow(_cells(len(cells), len(header)))
                continue
            yield _picked(path, dict(zip(header, cells, strict=True)), mapping)
    else:
        for number, line in enumerate(text, 1):
            if not line.strip():
                continue
            count += 1
            lines.note(count, number)
            yield _picked(path, _json_line(line, number), mapping)
    if count == 0:
        what = "has a header and no rows" if kind == "csv" and path.stat().st_size else "is empty"
        raise ConfigError(f"{path.name} {what}: nothing to load")


def count_records(path: Path, fmt: str, encoding: str = "utf-8") -> int:
    """The data rows :func:`read_records` yields from ``path`` (for counts against the
    file's total). Raises what reading it would (an undecodable byte names its line)."""
    if _guess(path, fmt) == "csv":
        return max(0, sum(1 for cells in csv.reader(_lines(path, encoding)) if cells) - 1)
    return sum(1 for line in _lines(path, encoding) if line.strip())


def _extra_lines(cells: list[str]) -> int:
    """Lines a CSV row's quoted cells span beyond its first (the reader counts its last)."""
    return sum(cell.count("\n") for cell in cells)


def _cells(found: int, header: int) -> str:
    if found < header:
        return (
            f"{found} cells where the header has {header}: a cell is missing (a value left "
            "out without its separator); nothing of the row is loaded with a column shifted"
        )
    return (
        f"{found} cells where the header has {header}: a value holds the separator "
        "(quote it) or the row has a cell too many"
    )


def _picked(path: Path, row: dict[str, Any], mapping: Mapping[str, str]) -> dict[str, Any]:
    """A read row as a record dict: the mapped columns, or the columns named as fields."""
    if mapping:
        missing = [col for col in mapping.values() if col not in row]
        if missing:
            raise ConfigError(f"{path.name}: no column {', '.join(missing)}")
        return {field: _text(row[col]) for field, col in mapping.items()}
    return {key: _text(value) for key, value in row.items() if key}


def _lines(path: Path, encoding: str) -> Iterator[str]:
    """The file's lines decoded one by one, so an undecodable byte names its line."""
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"--encoding {encoding!r} is not an encoding Python knows") from None
    if "\n".encode(codec.name) != b"\n":  # UTF-16/32: no line-by-line bytes to split
        with path.open(newline="", encoding=codec.name) as handle:
            try:
                yield from handle
            except UnicodeDecodeError as exc:
                raise ConfigError(f"{path.name}: not {encoding}: {exc.reason}") from None
        return
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            if number == 1 and codec.name in ("utf-8", "utf-8-sig"):
                raw = raw.removeprefix(codecs.BOM_UTF8)  # as spreadsheets write it
            try:
                yield raw.decode(codec.name)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    f"{path.name} line {number}: byte 0x{raw[exc.start]:02x} at column "
                    f"{exc.start + 1} is not {encoding}; give the file's encoding with "
                    "--encoding (e.g. --encoding cp1252 or latin-1)"
                ) from None


def _json_line(line: str, number: int) -> Any:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"line {number} is not JSON: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"line {number} is not a JSON object")
    return value


def _text(value: Any) -> str:
    return "" if value is None else str(value)


UNDOCUMENTED: Final = "undocumented"
"""The CSV column of a generic report row's keys the docs do not list (a JSON object), so
a key Wolkvox adds is kept, never dropped nor shifting the columns."""


def columns_of(model: type, documented: Sequence[str] = ()) -> list[str]:
    """The columns :func:`row_dict` gives a row of ``model`` (an attrs report row), in its
    order: a CSV's header, known before (and without) any row. A generic row
    (:class:`ReportRow`) has the report's ``documented`` keys and :data:`UNDOCUMENTED`."""
    if model is ReportRow:
        return [*documented, UNDOCUMENTED]
    names: list[str] = []
    for field in attrs.fields(model):
        if field.name == "unread":
            continue
        if field.name in _TUPLE_PREFIX:
            prefix, width = _TUPLE_PREFIX[field.name]
            names += [f"{prefix}{i}" for i in range(1, width + 1)]
        else:
            names.append(field.name)
    return names


def row_dict(row: Any) -> dict[str, Any]:
    """A report row (attrs model) as a flat dict: phones -> tel1.., opts -> opt1..; a
    value the library could not read (``row.unread``) is written as Wolkvox sent it. A
    generic row is its keys and values as sent."""
    if isinstance(row, ReportRow):
        return row.to_dict()
    flat: dict[str, Any] = {}
    unread = getattr(row, "unread", None)
    for field in attrs.fields(type(row)):
        if field.name == "unread":
            continue
        value = getattr(row, field.name)
        if unread is not None and field.name in unread.fields:
            keys = field.metadata.get("wire", (field.name,))
            value = next((unread.row[key] for key in keys if key in unread.row), None)
        if isinstance(value, tuple) and field.name in _TUPLE_PREFIX:
            prefix, width = _TUPLE_PREFIX[field.name]
            padded = value + (None,) * (width - len(value))
            flat.update({f"{prefix}{i}": item for i, item in enumerate(padded, start=1)})
        elif isinstance(value, datetime):
            flat[field.name] = value.isoformat()
        elif isinstance(value, enum.Enum):
            flat[field.name] = value.value
        else:
            flat[field.name] = value
    return flat


class RowWriter:
    """Writes rows one at a time as CSV (RFC 4180, with a header of ``columns``) or JSONL."""

    def __init__(
        self,
        out: IO[str],
        fmt: str,
        columns: Sequence[str],
        *,
        header: bool = True,
        excel_safe: bool = False,
    ) -> None:
        self.out = out
        self.fmt = fmt
        self._columns, self._safe = columns, excel_safe
        self.count = 0
        self.unread_rows = 0
        """Rows written with a value the library could not read (written as sent)."""
        self._cell = neutralise if excel_safe else _same
        self._csv: csv.DictWriter[str] | None = None
        # A generic row's documented keys; its own key named "undocumented" is not one of
        # them, so it goes into that column's object with the other new keys.
        self._known = frozenset(columns) - {UNDOCUMENTED} if UNDOCUMENTED in columns else None
        if fmt == "csv":
            # The header comes from the report's fields, so an empty export has it too; a
            # row with a key outside them is a bug, raised rather than written short.
            self._csv = csv.DictWriter(out, fieldnames=list(columns), restval="")
            if header:  # (False: appending to a file that has it already)
                self._csv.writeheader()

    @property
    def unread(self) -> str:
        """A note for the summary line: how many rows had values that could not be read."""
        if not self.unread_rows:
            return ""
        return (
            f" ({self.unread_rows:,} rows had values that could not be read: written as "
            "Wolkvox sent them; see the warnings)"
        )

    def write(self, row: dict[str, Any]) -> None:
        """Write one row (with ``excel_safe``, CSV formula cells neutralised)."""
        if self._csv is None:
            self.out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        else:
            cell = self._cell
            if self._known is not None:  # a generic row: keys outside the docs kept apart
                extra = {k: v for k, v in row.items() if k not in self._known}
                cells = {k: cell(_as_sent(v)) for k, v in row.items() if k in self._known}
                cells[UNDOCUMENTED] = cell(_as_sent(extra)) if extra else ""
                self._csv.writerow(cells)
            else:
                self._csv.writerow(
                    {k: "" if v is None else cell(_text_of(v)) for k, v in row.items()}
                )
        self.count += 1

    def add(self, row: Any) -> None:
        """Write one report row (an attrs model or a generic row)."""
        self.write(row_dict(row))

    def flush(self) -> None:
        """Nothing held: each row is written as it comes (the columnar writer's twin)."""

    def encode(self, rows: Sequence[Any]) -> bytes:
        """``rows`` as this writer writes them, without a header (a window kept ahead)."""
        text = io.StringIO(newline="")
        writer = RowWriter(text, self.fmt, self._columns, header=False, excel_safe=self._safe)
        for row in rows:
            writer.add(row)
        return text.getvalue().encode("utf-8")

    def put(self, data: bytes, rows: int) -> None:
        """A kept window's rows (from :meth:`encode`), in their turn."""
        self.out.write(data.decode("utf-8"))
        self.count += rows


def _same(cell: str) -> str:
    return cell


def _as_sent(value: Any) -> str:
    """A generic row's CSV cell, as Wolkvox sent it: a string as it is, any other JSON
    value (true, false, null, a number, an object, an array) as its JSON, so a boolean is
    `true`, not Python's `True`, and a null is told apart from an empty string."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _text_of(value: Any) -> str:
    """A CSV cell: text as it is; an object or an array (chat_2's conversation, the
    undocumented keys) as its JSON."""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class Counted(Protocol):
    """What :func:`summary` reads of a writer (CSV/JSONL or columnar)."""

    count: int

    @property
    def unread(self) -> str: ...


def summary(writer: Counted, requests: int, before: int) -> str:
    """What the export wrote: every row in the output, those of this run if it continued
    another, and this run's requests."""
    rows = f"{writer.count:,} rows"
    if before:
        rows += f" ({writer.count - before:,} in this run)"
    return f"{rows} in {requests:,} requests{writer.unread}"
