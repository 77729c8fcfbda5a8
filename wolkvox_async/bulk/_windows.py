"""The windows of a download: queries of at most 31 dates, their answers, those kept.

A span is cut into queries of at most 31 dates (around the windows a stopped run kept);
beside them, the answer of one window's request, and the windows kept after a failure or
an interruption.

Windows are inclusive, second-aligned and in Wolkvox time (wolkvox-api.md §3.1; the 1st
00:00:00 to the 31st 23:59:59, see ``_validate.MAX_DATES``), so consecutive windows
neither overlap nor leave a gap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Final, Generic, TypeVar

import attrs

from .._errors import ConfigError
from .._time import to_wolkvox_time
from ..endpoints._validate import MAX_DATES
from ._results import WindowRows

__all__ = [
    "SECOND",
    "Answer",
    "Deferred",
    "Early",
    "Fetch",
    "Window",
    "WindowRows",
    "count_of",
    "finished",
    "forget",
    "kept",
    "last_of",
    "made",
    "planned",
    "second",
    "windows",
]

T = TypeVar("T")
SECOND: Final = timedelta(seconds=1)
_LAST_SECOND: Final = time(23, 59, 59)


def windows(
    start: datetime, end: datetime, dates: int = MAX_DATES
) -> list[tuple[datetime, datetime]]:
    """Inclusive, second-aligned windows (naive, Wolkvox time) covering start..end, each
    within ``dates`` calendar dates: from its start to 23:59:59 of its 31st date."""
    lo, hi = second(to_wolkvox_time(start)), second(to_wolkvox_time(end))
    if lo > hi:
        raise ConfigError(f"start ({start.isoformat()}) is after end ({end.isoformat()})")
    cuts = []
    while lo <= hi:
        last_date = lo.date() + timedelta(days=dates - 1)
        top = min(hi, datetime.combine(last_date, _LAST_SECOND))
        cuts.append((lo, top))
        lo = top + SECOND
    return cuts


def planned(
    start: datetime, end: datetime, held: Collection[tuple[datetime, datetime]] = ()
) -> tuple[list[tuple[datetime, datetime]], set[tuple[datetime, datetime]]]:
    """The windows covering start..end with each ``held`` window one of them exactly, and
    the held windows that fit (inside the span, none overlapping, at most 31 dates).

    A held window is one a stopped run read whole and kept (``WindowRows``): whatever its
    shape (a 31-date window, a continuation from a last second, a split half), the span
    around it is cut as usual, so it is not read again. One that does not fit is read as
    any other part of the span.
    """
    lo, hi = second(to_wolkvox_time(start)), second(to_wolkvox_time(end))
    if lo > hi:
        return windows(start, end), set()  # (which raises, naming both)
    cuts: list[tuple[datetime, datetime]] = []
    fits: set[tuple[datetime, datetime]] = set()
    for top, bottom in sorted(held):
        if top < lo or bottom > hi or top > bottom or _dates(top, bottom) > MAX_DATES:
            continue
        if top > lo:
            cuts += windows(lo, top - SECOND)
        cuts.append((top, bottom))
        fits.add((top, bottom))
        lo = bottom + SECOND
    if lo <= hi:
        cuts += windows(lo, hi)
    return cuts, fits


def _dates(lo: datetime, hi: datetime) -> int:
    return (hi.date() - lo.date()).days + 1


def second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


@attrs.frozen
class Deferred(Generic[T]):
    """A window's answer whose rows are made in their turn: its row count and its last row
    (made alone) are enough to ask for the window's continuation before the rest is made."""

    count: int
    last: Callable[[], T]
    make: Callable[[], Sequence[T]]
    forget: Callable[[], Awaitable[None]] | None = None
    """Clears the poll stamp of the read that gave this answer, when the download stops
    before delivering its rows (the same read may then be made again at once)."""


Answer = Sequence[T] | Deferred[T] | None
"""What a window's request gives: its rows, or a Deferred making them, or None for a
refusal to exceed the cap."""
Early = Callable[[Callable[[], int], Callable[[], T]], bool]
"""How a fetch tells, before its answer is parsed, how to count the rows it holds at most
and how to make its last row alone (``fetch(lo, hi, early)``; a fetch may never call it).
Both are asked only when the word can start a request: counting is a pass over the whole
raw answer. True when a request was started on that word: the fetch should let it leave
(one turn of the loop) before parsing its answer."""
Fetch = Callable[[datetime, datetime, Early[T]], Awaitable[Answer[T]]]


def count_of(answer: Answer[T]) -> int | None:
    if answer is None:
        return None
    return answer.count if isinstance(answer, Deferred) else len(answer)


def made(answer: Answer[T]) -> Sequence[T] | None:
    return answer.make() if isinstance(answer, Deferred) else answer


def last_of(answer: Sequence[T] | Deferred[T]) -> T:
    return answer.last() if isinstance(answer, Deferred) else answer[-1]


class Window(Generic[T]):
    """One window of the download, its request once started, and the window continuing
    it (``next``) when its answer told early that it is at the cap."""

    def __init__(self, lo: datetime, hi: datetime, *, held: bool = False) -> None:
        self.lo, self.hi = lo, hi
        self.held = held
        self.task: asyncio.Task[Answer[T]] | None = None
        self.next: Window[T] | None = None

    def start(self, get: Callable[[Window[T]], Awaitable[Answer[T]]]) -> bool:
        """Ask for the window's rows, unless asked already; say whether it was now."""
        if self.task is not None or self.held:
            return False
        self.task = asyncio.ensure_future(get(self))
        return True

    @property
    def answered(self) -> bool:
        return self.task is not None and self.task.done()

    async def answer(self) -> Answer[T]:
        """The answer, awaited shielded: a cancellation of the reader does not reach the
        request. asyncio.run's SIGINT handler cancels the reader between any two
        bytecodes, even while this request's task is ending after its answer kept its
        poll stamp: the task would end cancelled, its answer lost and the stamp kept.
        The reader cancels the requests still out itself (``_rows``), answers kept."""
        assert self.task is not None
        return await asyncio.shield(self.task)

    async def drop(self, todo: deque[Window[T]]) -> None:
        """Take it out of ``todo`` and let its request end unread: asked for from a last
        row that the rows, made, did not confirm (not cancelled, see finished)."""
        todo.remove(self)
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def finished(todo: deque[Window[T]], cap: int) -> tuple[WindowRows[T], ...]:
    """The windows after a failed one that were already asked for, once answered (not
    cancelled: an abandoned call holds its slot for a minute). Those answered whole are
    returned, for the caller to keep (see :func:`kept`)."""
    started = [window for window in todo if window.task is not None]
    await asyncio.gather(*(w.task for w in started if w.task), return_exceptions=True)
    todo.clear()
    return kept(started, cap)


def kept(windows: Iterable[Window[T]], cap: int) -> tuple[WindowRows[T], ...]:
    """The windows among ``windows`` whose answer arrived whole (under the cap), as rows
    to keep. Their reads were delivered to us, so Wolkvox asks 5 minutes before the same
    read again: a continuation passes them back as ``held`` instead. Any shape of window
    is kept, as a continuation cuts its span around held windows (:func:`planned`)."""
    rows_kept = []
    for window in windows:
        task = window.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            continue
        try:
            rows = made(task.result())
        except Exception:  # the rows cannot be made: read the window again
            continue
        if rows is not None and len(rows) < cap:
            rows_kept.append(WindowRows(start=window.lo, end=window.hi, rows=tuple(rows)))
    return tuple(rows_kept)


async def forget(windows: Sequence[Window[T] | None]) -> None:
    """Clear the poll stamps of the answers in hand among ``windows`` (``Deferred.forget``)."""
    for window in windows:
        task = None if window is None else window.task
        if task is None or not task.done() or task.cancelled() or task.exception() is not None:
            continue
        answer = task.result()
        if isinstance(answer, Deferred) and answer.forget is not None:
            await answer.forget()
