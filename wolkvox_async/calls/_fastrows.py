"""Report rows read fast: one plain function per row model, generated once, for the common row.

A 90-day export is a million rows, so reading one row is the client's main cost. The
general path (cattrs with detailed validation, ``strptime``) costs several times what
the function generated here does (benchmarks/row_decoding.py): every field fetched and
checked in one straight line of code, dates in Wolkvox's one report shape
(``YYYY-mm-dd HH:ii:ss``) by ``datetime.fromisoformat``, and the row's slots set directly.
A list's reader reads each distinct date and opts/phones series once per answer (they
repeat from row to row) and shares the immutable value: less work, and fewer objects
for the garbage collector to track, which is a large part of what a row costs.

It gives exactly what the general path gives, or raises :class:`Slow`, and the caller takes
the general path, which knows every other shape (``.000`` fractions, ``1,234``, other date
formats) and delivers a row it cannot read with ``row.unread`` (see ``_convert``). The
tests compare the two paths on the documented samples and on generated rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, get_args

import attrs

from ..models import CallResult
from ..models._fields import MAX_OPTS, MAX_PHONES

__all__ = ["Slow", "row_reader", "row_readers"]

Parser = Callable[[Any], Any]
Hook = Callable[[Any, Any], Any]
ReadRows = Callable[[list[Any]], tuple[list[Any], bool]]
"""A list's reader: the rows, and whether any took the general path."""
"""A cattrs structure hook: (value, type) -> value."""


class Slow(Exception):
    """This row needs the general path."""


_ZERO_DATE: Final = "0000-00-00"


def _blank(value: str) -> bool:
    # The general path's rule for every optional field: blank, or MySQL's zero date.
    return not value or value.isspace() or value.startswith(_ZERO_DATE)


# A text that starts with none of these is neither blank nor a zero date: one look.
_MAYBE_BLANK: Final = frozenset(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u3000" + "0")


def _text_or_none(value: Any) -> str | None:
    if type(value) is str:
        if value and value[0] not in _MAYBE_BLANK:
            return value
        if value[:1] == "0":  # a zero-padded id or number, unless a zero date
            return None if value.startswith(_ZERO_DATE) else value
        return None if _blank(value) else value
    if value is None:
        return None
    raise Slow


_RESULTS: Final[dict[str, CallResult]] = {}
"""Result spellings already read (a handful per report)."""


def _result(text: str) -> CallResult:
    found = _RESULTS.get(text)
    if found is None:
        found = CallResult.parse(text)
        if len(_RESULTS) < 1000:
            _RESULTS[text] = found
    return found


def _from_text(convert: Callable[[str], Any]) -> Parser:
    """The parser of a field read from non-blank text by ``convert`` (which raises
    ValueError, or Slow, for a text it does not take)."""

    def parse(value: Any) -> Any:
        if type(value) is not str:
            raise Slow
        if _blank(value):
            return None
        try:
            return convert(value)
        except ValueError:
            raise Slow from None

    return parse


_RESULT: Final = _from_text(_result)


def _parser(tp: Any, hooks: Mapping[Any, Hook]) -> Parser | None:
    """The parser of an ``X | None`` field, or None if this module does not know X. Text,
    report dates and call results are read here; the other types by the converter's own
    hooks (``hooks``), so a value means one thing on both paths."""
    inner = next((arg for arg in get_args(tp) if arg is not type(None)), None)
    if type(None) not in get_args(tp):
        return None
    if inner is str:
        return _text_or_none
    if inner is datetime:
        return _DATE  # written out by the generated reader
    if inner is CallResult:
        return _RESULT
    hook = hooks.get(inner)
    return None if hook is None else _from_text(lambda text: hook(text, None))


_ABSENT: Final = object()


def _DATE(value: Any) -> Any:
    """A marker, not a parser: dates are read in the generated code."""
    return value


_KEEP: Final = 1024
"""Distinct dates (series) an answer's reader keeps at once (see _keep_lines)."""

_SERIES: Final = {"phones": ("tel", MAX_PHONES), "opts": ("opt", MAX_OPTS)}
_INDENT: Final = "    "


def _text_lines(var: str) -> list[str]:
    """``_text_or_none`` on ``var``, the common cases written out instead of a call per
    field: text that starts with neither a blank nor a zero, zero-padded ids (conn_id
    "000123…"), which are not zero dates, and an absent or empty value."""
    absent = f"{var} is None or {var} == ''"
    return [f"if not ({_plain(var)}): {var} = None if {absent} else text({var})"]


def _plain(var: str) -> str:
    """Whether ``var`` is text that is neither blank nor a zero date, in one look."""
    return (
        f"{var}.__class__ is str and {var} and ({var}[0] not in MAYBE_BLANK or "
        f"{var}[0] == '0' and not {var}.startswith(ZERO_DATE))"
    )


def _fetch_lines(var: str, keys: tuple[str, ...], absent: str) -> list[str]:
    """``var`` = the first of ``keys`` the row has, else ``absent`` (an expression)."""
    if len(keys) == 1 and absent == "None":
        return [f"{var} = get({keys[0]!r})"]
    lines = [f"{var} = get({keys[0]!r}, ABSENT)"]
    for key in keys[1:]:
        lines.append(f"if {var} is ABSENT: {var} = get({key!r}, ABSENT)")
    lines.append(f"if {var} is ABSENT: {var} = {absent}")
    return lines


def _date_lines(var: str) -> list[str]:
    """A date in Wolkvox's report shape, or Slow (the general path knows the others)."""
    return [
        f"if {var}.__class__ is not str: raise Slow",
        f"if not {var} or {var}[0] in MAYBE_BLANK and blank({var}): {var} = None",
        # A report's dates repeat (attempts in the same second, a whole batch stamped at
        # once): one read per distinct text in an answer, the datetime shared (immutable).
        f"elif dates is not OFF and (seen := dates.get({var})) is not None: {var} = seen",
        f"elif len({var}) != 19 or {var}[10] != ' ' or {var}[13] != ':' or {var}[16] != ':':",
        "    raise Slow",
        "else:",
        f"    try: seen = fromiso({var})",
        "    except ValueError: raise Slow from None",
        # The zone by the constructor: cheaper than datetime.replace(tzinfo=).
        "    seen = dt(seen.year, seen.month, seen.day, seen.hour, seen.minute, seen.second, "
        "0, TZ)",
        *[_INDENT + line for line in _keep_lines("dates", var, "seen")],
        f"    {var} = seen",
    ]


def _keep_lines(cache: str, key: str, value: str) -> list[str]:
    """Keep ``value`` read from ``key`` in the answer's ``cache``, which holds at most KEEP
    values: when full, it starts over, unless under half the rows so far found their
    value there (an answer whose values do not repeat): then it is OFF for the answer,
    and a row pays no lookup or insertion for it."""
    return [
        f"if len({cache}) == KEEP: {cache} = OFF if len(out) < 2 * KEEP else {{}}",
        f"if {cache} is not OFF: {cache}[{key}] = {value}",
    ]


def _series_lines(var: str, name: str, prefix: str, count: int) -> list[str]:
    """tel1..telN (opt1..optN) as a tuple without its trailing blanks. The series of an
    answer repeat from row to row (a campaign's labels, a batch's fields), so each distinct
    one is read once and its tuple shared (immutable): one lookup per row, and one object
    fewer for the garbage collector to track. A new one is read unrolled (a loop popping
    ten absent opts was a third of a row), each value as a text field is, in place (a call
    per value only for the rare blank or odd one); only one read in full is kept (a value
    the fast path cannot read raises Slow before), so a hit is always a value read here."""
    key, gets = f"key_{var}", ", ".join(f"get({prefix + str(i)!r})" for i in range(1, count + 1))
    lines = [
        f"if {name!r} in data: raise Slow",  # a row that names the tuple itself
        f"{key} = ({gets})",
        f"try: {var} = None if series is OFF else series.get({key})",
        "except TypeError: raise Slow from None",  # a list or object among the values
        f"if {var} is None:",
        f"    {var} = list({key})",
        f"    if {var}[{count - 1}] not in TRAILING: pass",
    ]
    for last in range(count - 2, -1, -1):
        lines.append(f"    elif {var}[{last}] not in TRAILING: del {var}[{last + 1}:]")
    lines.append(f"    else: {var} = []")
    lines.append(f"    for i, x in enumerate({var}):")
    lines.append(f"        if not ({_plain('x')}): {var}[i] = text(x)")
    lines.append(f"    {var} = tuple({var})")
    lines += [_INDENT + line for line in _keep_lines("series", key, var)]
    return lines


def row_reader(
    cls: type[Any], tz: Any, hooks: Mapping[Any, Hook]
) -> Callable[[Mapping[str, Any]], Any] | None:
    """The fast reader of one row of model ``cls``, or None if a field's type is not one
    it knows (the general path then reads every row); ``hooks`` read the other types."""
    made = _reader(cls, tz, hooks, None)
    return None if made is None else made[0]


def row_readers(
    cls: type[Any], tz: Any, hooks: Mapping[Any, Hook], slow: Callable[[Any], Any]
) -> tuple[Callable[[Mapping[str, Any]], Any], ReadRows] | None:
    """The fast readers of model ``cls`` (see :func:`row_reader`): of one row, and of a
    whole list of rows, which sends a row it cannot read to ``slow`` (the general path)
    and returns the rows with whether any went there (only those can carry ``unread``)."""
    made: tuple[Any, Any] | None = _reader(cls, tz, hooks, slow)
    return made


def _reader(cls: type[Any], tz: Any, hooks: Mapping[Any, Hook], slow: Any) -> Any:
    """(one row's reader, a list's reader), or None.

    Each is one generated function per model: each field fetched, checked and read in a
    straight line, and the row made by setting its slots (the models have neither
    validators nor converters, so their ``__init__`` would only set them, slower). The
    list's reader runs the same lines in its loop: one call per answer, not per row."""
    fields = attrs.fields(attrs.resolve_types(cls))
    env: dict[str, Any] = {
        "ABSENT": _ABSENT,
        "MAYBE_BLANK": _MAYBE_BLANK,
        "ZERO_DATE": _ZERO_DATE,
        "RESULTS": _RESULTS,
        "KEEP": _KEEP,
        "OFF": MappingProxyType({}),
        "TRAILING": ("", None),  # what ends a series: the general path's rule
        "Slow": Slow,
        "blank": _blank,
        "text": _text_or_none,
        "new": object.__new__,
        "cls": cls,
        "fromiso": datetime.fromisoformat,
        "dt": datetime,
        "TZ": tz,
        "slow": slow,
    }
    body = ["get = data.get"]
    made = []
    raw_of = {"result_raw": "result"}  # result_raw keeps result's own spelling if absent
    wire = {f.name: f.metadata.get("wire", (f.name,)) for f in fields}
    for n, field in enumerate(fields):
        var, name = f"v{n}", field.name
        if field.validator is not None or field.converter is not None:
            return None
        made.append((name, var))
        if name == "unread":
            body.append(f"{var} = None")
            continue
        if name in _SERIES:
            body += _series_lines(var, name, *_SERIES[name])
            continue
        if field.default is not None:
            return None
        source = raw_of.get(name)
        absent = f"raw_{source}" if source in wire else "None"
        body += _fetch_lines(var, wire[name], absent)
        if name in raw_of.values():
            body.append(f"raw_{name} = {var}")
        parse = _parser(field.type, hooks)
        if parse is None:
            return None
        if parse is _text_or_none:
            body += _text_lines(var)
            continue
        if parse is _DATE:
            body.append(f"if {var} is not None:")
            body += [_INDENT + line for line in _date_lines(var)]
            continue
        env[f"parse_{var}"] = parse
        body.append(f"if {var} == '': {var} = None")  # blank: no call (the general rule)
        if int in get_args(field.type):  # a count: plain ASCII digits read here
            fast = f"{var}.__class__ is str and {var}.isascii() and {var}.isdigit()"
            body.append(
                f"if {var} is not None: {var} = int({var}) if {fast} else parse_{var}({var})"
            )
            continue
        if parse is _RESULT:  # a spelling already read: one lookup (a handful per report)
            hit = f"({var}.__class__ is str and RESULTS.get({var}))"
            body.append(f"if {var} is not None: {var} = {hit} or parse_{var}({var})")
            continue
        body.append(f"if {var} is not None: {var} = parse_{var}({var})")
    order = {name: i for i, name in enumerate(wire)}
    if any(order[source] > order[name] for name, source in raw_of.items() if name in order):
        return None  # (result_raw is read after result in every model)
    for name, _ in made:
        env[f"set_{name}"] = cls.__dict__[name].__set__  # the slot, under the frozen guard
    body.append("row = new(cls)")
    body += [f"set_{name}(row, {var})" for name, var in made]
    one = "".join(f"{_INDENT}{line}\n" for line in [*body, "return row"])
    each = "".join(f"{_INDENT * 4}{line}\n" for line in [*body, "append(row)"])
    source_code = (
        f"def read(data):\n    dates = {{}}\n    series = {{}}\n    out = ()\n{one}"
        "def read_all(rows):\n"
        "    dates = {}\n"
        "    series = {}\n"
        "    out = []\n"
        "    append = out.append\n"
        "    slowed = False\n"
        "    for data in rows:\n"
        "        if data.__class__ is dict:\n"
        "            try:\n"
        f"{each}"
        "                continue\n"
        "            except Slow:\n"
        "                pass\n"
        "        append(slow(data))\n"
        "        slowed = True\n"
        "    return out, slowed\n"
    )
    exec(compile(source_code, f"<row reader of {cls.__name__}>", "exec"), env)
    return env["read"], env["read_all"]
