"""Answers at the 60,000-row cap: never returned as complete.

Wolkvox returns at most 60,000 rows per call ("Limit of records that can be downloaded per
consumption", wolkvox-api.md §3.1) and documents neither paging nor an error for more: an
answer holding the cap may be cut, and nothing in it says whether it was (public code
stops at 59,000 rows for fear of exactly this, §8). So a single call whose answer reaches
the cap raises :class:`~wolkvox_async.TruncatedAnswer`, naming the window and the call that
reads it whole, unless its caller passed ``allow_truncated=True``: then the rows come back
in a :class:`Rows`, a tuple whose ``truncated`` says so. The windowed downloads
(``bulk``) never stop at the cap: they split or continue such a window.

Why a tuple subclass and not a result object: every list-returning method already
returned a tuple, and a tuple it stays (``len``, slicing, unpacking, ``== ()`` all work
as before), with the mark carried by the very value a caller may pass on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final, Generic, TypeVar

from .._errors import TruncatedAnswer
from .._time import QUERY_FORMAT
from ._protocol import RawRequest

__all__ = [
    "EXPORT_ADVICE",
    "FIND_ADVICE",
    "MAX_ROWS",
    "Rows",
    "export_cut",
    "payload_rows",
    "truncated",
]

T = TypeVar("T")

MAX_ROWS: Final = 60_000
"""The most rows Wolkvox returns per call (§3.1): an answer holding this many may be cut."""


class Rows(tuple[T, ...], Generic[T]):
    """The rows of one call: a tuple, marked when the answer may be cut.

    ``truncated`` is False for a complete answer. It is True only when the caller asked
    for a cut answer (``allow_truncated=True``) and got one: the call returned the 60,000
    rows Wolkvox sends at most, and more may exist.
    """

    def __new__(cls, rows: Iterable[T] = (), *, truncated: bool = False) -> Rows[T]:
        made = super().__new__(cls, rows)
        made._truncated = truncated
        return made

    _truncated: bool = False  # (the call path makes complete ones without __new__)

    @property
    def truncated(self) -> bool:
        """Whether the answer held the row cap (and may be cut)."""
        return self._truncated

    def __repr__(self) -> str:
        rows = tuple.__repr__(self)
        return f"Rows({rows}, truncated=True)" if self._truncated else f"Rows({rows})"


def payload_rows(payload: Any) -> int:
    """How many rows an answer's payload holds (a lone object is one, nothing is none)."""
    if isinstance(payload, list):
        return len(payload)
    return 0 if payload is None else 1


def export_cut(payload: Any) -> tuple[int, int | None] | None:
    """(records shown, total_records) of an export that may be cut: 60,000 records shown,
    or fewer than its ``total_records`` says exist; None for a complete one."""
    records = payload.get("records") if isinstance(payload, dict) else None
    shown_rows = payload_rows(records)
    total_text = payload.get("total_records") if isinstance(payload, dict) else None
    total = int(total_text) if isinstance(total_text, str) and total_text.isdigit() else None
    if isinstance(total_text, int) and not isinstance(total_text, bool):
        total = total_text
    if shown_rows >= MAX_ROWS or (total is not None and total > shown_rows):
        return shown_rows, total
    return None


FIND_ADVICE: Final = (
    "find_record has no paging: search by customer_id or customer_phone as well, or read "
    "the campaign by dates with iter_report('detail', ...); or pass allow_truncated=True "
    "to take these rows, marked .truncated"
)
EXPORT_ADVICE: Final = (
    "campaign_15 has no paging nor date range to read the rest with: find_record tells "
    "whether a given customer is in the campaign, and iter_report('detail', ...) reads its "
    "managed records by dates; or pass allow_truncated=True to take these records, marked "
    ".truncated"
)


def _moment(value: str | None) -> datetime | None:
    try:
        return None if value is None else datetime.strptime(value, QUERY_FORMAT)
    except ValueError:
        return None


def truncated(
    request: RawRequest,
    params: Mapping[str, str | None],
    rows: int,
    *,
    advice: str,
    total: int | None = None,
) -> TruncatedAnswer:
    """The error for an answer of ``rows`` rows at the cap, naming what was asked (the
    campaign and window read back from the request's parameters) and ``advice``."""
    lo, hi = _moment(params.get("date_ini")), _moment(params.get("date_end"))
    return TruncatedAnswer(
        endpoint=request.route.name,
        url=request.url,
        rows=rows,
        cap=MAX_ROWS,
        total=total,
        window=(lo, hi) if lo is not None and hi is not None else None,
        campaign_id=params.get("campaign_id"),
        advice=advice,
    )
