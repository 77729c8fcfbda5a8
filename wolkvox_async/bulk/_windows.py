"""The windows of a download: a span cut into queries of at most 31 dates, the answer
of one window's request, and the windows kept after a failure.

Windows are inclusive, second-aligned and in Wolkvox time (wolkvox-api.md §3.1; the 1st
00:00:00 to the 31st 23:59:59, see ``_validate.MAX_DATES``), so consecutive windows
neither overlap nor leave a gap.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Final, Generic, TypeVar

import attrs

from .._errors import ConfigError, WolkvoxError
from .._time import to_wolkvox_time
from .._validate import MAX_DATES

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
    "last_of",
    "made",
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


def second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


@attrs.frozen
class Deferred(Generic[T]):
    """A window's answer whose rows are made in their turn: its row count and its last row
    (made alone) are enough to ask for the window's continuation before the rest is made."""

    count: int
    last: Callable[[], T]
    make: Callable[[], Sequence[T]]


Answer = Sequence[T] | Deferred[T] | None
"""What a window's request gives: its rows, or a Deferred making them, or None for a
refusal to exceed the cap."""
Early = Callable[[int, Callable[[], T]], bool]
"""How a fetch tells, before its answer is parsed, how many rows it holds at most and how
to make its last row alone (``fetch(lo, hi, early)``; a fetch may never call it). True
when a request was started on that word: the fetch should let it leave (one turn of the
loop) before parsing its answer."""
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
        assert self.task is not None
        return await self.task

    async def drop(self, todo: deque[Window[T]]) -> None:
        """Take it out of ``todo`` and let its request end unread: asked for from a last
        row that the rows, made, did not confirm (not cancelled, see finished)."""
        todo.remove(self)
        if self.task is not None:
            await asyncio.gather(self.task, return_exceptions=True)

    def cancel(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()


async def finished(
    todo: deque[Window[T]], whole: set[tuple[datetime, datetime]], cap: int
) -> tuple[WindowRows[T], ...]:
    """The windows after a failed one that were already asked for, once answered (not
    cancelled: an abandoned call holds its slot for a minute, and its answer, delivered by
    no one, would cost the 5-minute wait to read again). Whole windows answered under the
    cap are returned, for the caller to keep."""
    started = [window for window in todo if window.task is not None]
    await asyncio.gather(*(w.task for w in started if w.task), return_exceptions=True)
    kept = []
    for window in started:
        try:
            rows = made(await window.answer())
        except (WolkvoxError, asyncio.CancelledError):
            continue
        if (window.lo, window.hi) in whole and rows is not None and len(rows) < cap:
            kept.append(WindowRows(start=window.lo, end=window.hi, rows=tuple(rows)))
    todo.clear()
    return tuple(kept)


@attrs.frozen
class WindowRows(Generic[T]):
    """A window's rows read ahead of one that failed (``error.windows_ahead``). Keep them:
    a continuation that names the window as ``held`` does not read it again (which
    Wolkvox allows only 5 minutes after the first read), and reports it through its
    progress callback in its turn, where the rows are written."""

    start: datetime
    end: datetime
    rows: tuple[T, ...]
