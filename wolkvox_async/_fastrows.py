"""Report rows read fast: one plain function per row model, made once, for the common row.

A 90-day export is a million rows, so reading one row is the client's main cost. The
general path (cattrs with detailed validation, ``strptime``) costs ~22 µs a row; the
function made here reads a row of plain strings in a few µs: a loop over precomputed
(field, wire keys, parser) triples, dates in Wolkvox's one report shape
(``YYYY-mm-dd HH:ii:ss``) by ``datetime.fromisoformat``, then the model's ``__init__``.

It gives exactly what the general path gives, or raises :class:`Slow`, and the caller takes
the general path, which knows every other shape (``.000`` fractions, ``1,234``, other date
formats) and delivers a row it cannot read with ``row.unread`` (see ``_convert``). The
tests compare the two paths on the documented samples and on generated rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final, get_args

import attrs

from .models import CallResult
from .models._requests import MAX_OPTS, MAX_PHONES

__all__ = ["Slow", "row_reader"]

Parser = Callable[[Any], Any]
Hook = Callable[[Any, Any], Any]
"""A cattrs structure hook: (value, type) -> value."""


class Slow(Exception):
    """This row needs the general path."""


def _blank(value: str) -> bool:
    # The general path's rule for every optional field: blank, or MySQL's zero date.
    return not value or value.isspace() or value.startswith("0000-00-00")


# A text that starts with none of these is neither blank nor a zero date: one look.
_MAYBE_BLANK: Final = frozenset(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u3000" + "0")


def _text(value: Any) -> str | None:
    if type(value) is str:
        if value and value[0] not in _MAYBE_BLANK:
            return value
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


def _date(tz: Any) -> Callable[[str], datetime]:
    def convert(value: str) -> datetime:
        if len(value) != 19 or value[10] != " " or value[13] != ":" or value[16] != ":":
            raise Slow  # not the report shape: the general path knows the others
        return datetime.fromisoformat(value).replace(tzinfo=tz)

    return convert


def _parser(tp: Any, tz: Any, hooks: Mapping[Any, Hook]) -> Parser | None:
    """The parser of an ``X | None`` field, or None if this module does not know X. Text,
    report dates and call results are read here; the other types by the converter's own
    hooks (``hooks``), so a value means one thing on both paths."""
    inner = next((arg for arg in get_args(tp) if arg is not type(None)), None)
    if type(None) not in get_args(tp):
        return None
    if inner is str:
        return _text
    if inner is datetime:
        return _from_text(_date(tz))
    if inner is CallResult:
        return _from_text(_result)
    hook = hooks.get(inner)
    return None if hook is None else _from_text(lambda text: hook(text, None))


_ABSENT: Final = object()
_SERIES: Final = {"phones": ("tel", MAX_PHONES), "opts": ("opt", MAX_OPTS)}


def _series(prefix: str, count: int) -> Callable[[Mapping[str, Any]], tuple[str | None, ...]]:
    keys = tuple(f"{prefix}{i}" for i in range(1, count + 1))

    def read(data: Mapping[str, Any]) -> tuple[str | None, ...]:
        values = [data.get(key) for key in keys]
        while values and values[-1] in ("", None):
            values.pop()
        return tuple([_text(value) for value in values]) if values else ()

    return read


def row_reader(
    cls: type[Any], tz: Any, hooks: Mapping[Any, Hook]
) -> Callable[[Mapping[str, Any]], Any] | None:
    """The fast reader of row model ``cls``, or None if a field's type is not one it
    knows (the general path then reads every row); ``hooks`` read the other types."""
    plan: list[tuple[str, tuple[str, ...], Parser]] = []
    series = []
    fields = attrs.fields(attrs.resolve_types(cls))
    for field in fields:
        if field.name == "unread":
            continue
        if field.name in _SERIES:
            series.append((field.name, _series(*_SERIES[field.name])))
            continue
        parse = _parser(field.type, tz, hooks)
        if parse is None:
            return None
        plan.append((field.name, field.metadata.get("wire", (field.name,)), parse))
    # result_raw keeps the result's own spelling when the row has no result_raw of its own.
    result_keys = next((keys for name, keys, _ in plan if name == "result"), ())
    raw_keys = next((keys for name, keys, _ in plan if name == "result_raw"), None)

    def read(data: Mapping[str, Any]) -> Any:
        out: dict[str, Any] = {}
        for name, keys, parse in plan:
            for key in keys:
                if key in data:
                    out[name] = parse(data[key])
                    break
        if raw_keys is not None and "result_raw" not in out:
            raw = next((data[key] for key in result_keys if key in data), _ABSENT)
            if raw is not _ABSENT:
                out["result_raw"] = _text(raw)
        for name, gather in series:
            if name in data:
                raise Slow  # (a row that names the tuple itself: the general path)
            out[name] = gather(data)
        return cls(**out)

    return read
