"""Windowed downloads: any date span of a report, through the 31-day and 60,000-row limits.

The span is cut into windows of at most 31 calendar dates in Wolkvox time (``_windows``),
inclusive at both ends to the second. A window that comes back with the cap (60,000 rows,
or the server's refusal to exceed it) may be cut short, so it is never trusted as
complete: when its rows come sorted by time, the rows before its last second are kept and
the window continues from that second; otherwise it is split in two. A one-second window
still at the cap cannot be split further and raises :class:`DownloadError` rather than
returning partial data. HTTP 404 is an empty window.

Rows are yielded in order as each window arrives, and both of the token's slots work
whenever two windows are known: the first two are asked for at once, and as soon as an
answer under the cap is being delivered (its rows made and handed over) the window after
the next is asked for. At most two requests are out, each asked for while at most one
answer is held ahead: a reader holds at most three answers, the one it delivers and two
that came back during that delivery (a reader slower than the server), and asks for
nothing more until it catches up. After an answer at the cap the slot is kept for its
continuation, asked for from its last row as soon as its answer arrives, before its rows
are made: the server reads the next part while the client decodes this one. A
continuation (or a split) behind windows already out waits for a slot in the scheduler.

Stopping and continuing. Progress is reported after each window and, inside a window at
the cap, once the rows before its last second are delivered (``DownloadProgress.through``):
a checkpoint taken there continues from the next second, exactly. When a window fails, or
the download is cancelled (Ctrl-C), the windows already answered whole past the rows
delivered are kept (``windows_ahead``), and the requests still out are let end; a
continuation passes the kept windows back as ``held`` and does not read them again
(Wolkvox asks 5 minutes before the same read again). A read whose answer was never
delivered (cancelled, failed, cut at the cap) keeps no poll stamp, so it is read again at
once (``Outcome``).
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Final, Generic, TypeVar

import attrs

from .._errors import BadRequest, WolkvoxError
from .._time import to_wolkvox_time
from ..calls._answers import MAX_ROWS
from ._results import WindowRows
from ._windows import (
    SECOND,
    Answer,
    Fetch,
    Window,
    count_of,
    finished,
    forget,
    kept,
    last_of,
    made,
    planned,
    second,
)

if TYPE_CHECKING:
    from ..otel import Job

__all__ = ["MAX_ROWS", "DownloadError", "DownloadProgress", "WindowedDownload"]

T = TypeVar("T")
# A refusal to return more than the cap (undocumented; the simulator says "THE QUERY
# EXCEEDS 60000 RECORDS"): any message naming 60,000 or "exceeds N records".
_CAP_REFUSAL: Final = re.compile(r"60[.,]?000|exceeds?\s+\d[\d.,]*\s+records", re.IGNORECASE)


_IN_FLIGHT: Final = 2
"""Answers in flight or held ahead at once, besides the one being delivered (an answer at
the cap counts itself: its slot is kept for its continuation). Wolkvox's 5-minute rule is
about reading the same data again (identical reads, §3.1); two windows of one download are
different reads, and each still takes one of the token's two slots through the scheduler."""


class DownloadError(WolkvoxError):
    """A window cannot be downloaded completely (e.g. one second holds the whole cap)."""


@attrs.frozen(kw_only=True)
class DownloadProgress:
    """Passed to the progress callback after each window."""

    windows_done: int
    rows: int
    requests: int
    window_start: datetime
    window_end: datetime
    unread_rows: int = 0
    """Rows so far with a value that could not be read (delivered, that value None)."""
    held: bool = False
    """This window was one the caller holds (``held``): its rows go in now, in order."""
    through: datetime | None = None
    """Every row up to this second (Wolkvox time, inclusive) has been delivered: the
    window's end, or, for a window at the cap continued from its last second, the second
    before that one, reported as soon as the rows before it are delivered
    (``windows_done`` unchanged). A checkpoint taken here continues exactly: from the
    next second."""


class WindowedDownload(Generic[T]):
    """An async iterator over every row of a report in start..end, window by window.

    Attributes ``requests``, ``rows``, ``windows_done`` and ``unread_rows`` (rows with
    a value that could not be read, delivered with ``row.unread`` set) count as it goes.
    """

    def __init__(
        self,
        fetch: Fetch[T],
        start: datetime,
        end: datetime,
        *,
        stamp: Callable[[T], datetime | None] | None = None,
        cap: int = MAX_ROWS,
        progress: Callable[[DownloadProgress], object] | None = None,
        plan: Callable[[int], Awaitable[object]] | None = None,
        held: Collection[tuple[datetime, datetime]] = (),
        job: Job | None = None,
    ) -> None:
        self._fetch = fetch
        self._job = job
        """The download's span (the client's telemetry), with an event per window."""
        self._plan = plan
        """Checks the windows' need against the quota before the first request."""
        kept_by_caller = [(second(to_wolkvox_time(a)), second(to_wolkvox_time(b))) for a, b in held]
        self._windows, self._held = planned(start, end, kept_by_caller)
        """Windows whose rows the caller already holds (``windows_ahead`` of a stopped
        run): the span is cut around them, they are not read again, and ``progress``
        reports each in its turn (``held``)."""
        self._stamp = stamp
        self._cap = cap
        self._progress = progress
        self.requests = 0
        self.rows = 0
        self.windows_done = 0
        self.unread_rows = 0
        self._guess_ahead = True
        """Whether the next answer is guessed under the cap (the window after it asked for
        beside it): at first, then whether the last answer was under the cap."""
        self._todo: deque[Window[T]] = deque()
        self._awaited: Window[T] | None = None
        self.windows_ahead: tuple[WindowRows[T], ...] = ()
        """Set when the download stopped early, by an error or a cancellation (Ctrl-C):
        the windows past the rows delivered whose answers arrived whole, to keep and pass
        back as ``held`` (an error carries them too, as ``error.windows_ahead``)."""

    @property
    def windows_total(self) -> int:
        """The windows of at most 31 dates the span is cut into (before any split)."""
        return len(self._windows)

    def __aiter__(self) -> AsyncGenerator[T, None]:
        return self._rows() if self._job is None else self._traced(self._job)

    async def _get(self, window: Window[T]) -> Answer[T]:
        """The window's answer (its rows, or what makes them), or None when the server
        refused to exceed its cap."""
        self.requests += 1
        try:
            return await self._fetch(
                window.lo, window.hi, lambda most, last: self._early(window, most, last)
            )
        except BadRequest as exc:
            if _CAP_REFUSAL.search(exc.message):
                return None
            raise

    def _stamps(self, rows: Sequence[T]) -> list[datetime] | None:
        """Each row's time, when every row has one and they come sorted; else None.
        Rows of one zone (as read) are compared as they are, not each converted to
        Wolkvox time (benchmarks/download.py)."""
        if self._stamp is None:
            return None
        stamps = [self._stamp(row) for row in rows]
        zones = {moment.tzinfo if moment is not None else None for moment in stamps}
        if None in zones:
            return None
        if len(zones) > 1:
            stamps = [to_wolkvox_time(moment) for moment in stamps]  # type: ignore[arg-type]
        moments: list[datetime] = stamps  # type: ignore[assignment]
        return moments if all(a <= b for a, b in pairwise(moments)) else None

    async def _traced(self, job: Job) -> AsyncGenerator[T, None]:
        """:meth:`_rows` inside the download's span (a client with telemetry)."""
        job.start()
        rows = self._rows()
        try:
            async for row in rows:
                yield row
        except GeneratorExit:  # the caller stopped reading: not a failure
            job.end(None, **self._totals(), **{"wolkvox.stopped_early": True})
            raise
        except BaseException as exc:
            job.end(exc, **self._totals())
            raise
        finally:
            await rows.aclose()
        job.end(None, **self._totals())

    def _totals(self) -> dict[str, int]:
        return {"wolkvox.rows": self.rows, "wolkvox.requests": self.requests}

    async def _rows(self) -> AsyncGenerator[T, None]:
        if self._plan is not None:
            await self._plan(len(self._windows))
        todo = self._todo = deque(
            Window(lo, hi, held=(lo, hi) in self._held) for lo, hi in self._windows
        )
        head: Window[T] | None = None
        """The window whose answer is awaited or in hand, its rows not yet delivered."""
        delivering: Window[T] | None = None
        """The window whose rows are being delivered (until its progress is reported)."""
        unused: list[Window[T] | None] = []
        try:
            while todo:
                self._ask(todo, delivering=0)
                head = todo.popleft()
                if head.held:
                    self._done(head.lo, head.hi, 0, held=True)
                    head = None
                    continue
                # A continuation or a split goes before windows asked for while the last
                # rows were delivered: it waits in the scheduler for the first free slot.
                head.start(self._get)
                self._awaited = head
                try:
                    answer = await head.answer()
                except BaseException as exc:
                    if head.next is not None:  # asked for on an early word: let it end too
                        todo.appendleft(head.next)
                    if isinstance(exc, WolkvoxError):
                        head = None
                        exc.windows_ahead = await finished(todo, self._cap)
                        self.windows_ahead = exc.windows_ahead
                    raise
                finally:
                    self._awaited = None
                lo, hi = head.lo, head.hi
                count = count_of(answer)
                # The next answer is guessed to be like this one: under the cap, the window
                # after the next may be asked for too; at the cap, the next request is this
                # window's continuation, asked for from its last row before its rows are
                # made (or before it was parsed: _early), so the server works while we read.
                at_cap = count is None or count >= self._cap
                self._guess_ahead = not at_cap
                ahead = head.next
                if at_cap and ahead is None and answer:
                    ahead = self._after(head, functools.partial(last_of, answer))
                if ahead is not None:
                    todo.appendleft(ahead)
                if self._ask(todo, delivering=1 if at_cap else 0):
                    # One turn of the loop: the request just started runs to its first
                    # wait, which is its answer, its bytes on the socket (a free slot on
                    # the memory backend; a shared backend may still be deciding).
                    await asyncio.sleep(0)
                # From here to the window's progress report nothing waits: its rows are
                # delivered whole, or (interrupted before) not at all.
                head, delivering = None, head
                rows = made(answer)
                if rows is not None and len(rows) < self._cap:
                    for row in self._counted(rows):
                        yield row
                    self._done(lo, hi, len(rows))
                    delivering = None
                    if ahead is not None:  # told at the cap, yet it is not
                        await ahead.drop(todo)
                    continue
                # At the cap: the window may be cut short. Continue or split; never trust it.
                stamps = self._stamps(rows) if rows else None
                last = second(to_wolkvox_time(stamps[-1])) if rows and stamps else None
                if ahead is not None and (last is None or ahead.lo != last):
                    await ahead.drop(todo)  # the rows are not sorted after all: split
                    ahead = None
                if rows and stamps and last is not None and last > lo:
                    cut = second(stamps[-1])  # the last second, in the rows' own zone
                    kept_rows = [row for row, at in zip(rows, stamps, strict=True) if at < cut]
                    for row in self._counted(kept_rows):
                        yield row
                    self.rows += len(kept_rows)
                    self._report(lo, hi, through=last - SECOND)
                    if ahead is None:
                        todo.appendleft(Window(last, hi))  # the last second's rows again
                    continue
                if lo >= hi:
                    raise DownloadError(
                        f"the second {lo.isoformat()} alone holds {self._cap} or more rows: "
                        "the report cannot be downloaded completely"
                    )
                mid = lo + timedelta(seconds=int((hi - lo).total_seconds()) // 2)
                todo.appendleft(Window(mid + SECOND, hi))
                todo.appendleft(Window(lo, mid))
        except asyncio.CancelledError:
            # Interrupted: the answers that arrived whole and were not delivered are kept
            # (their reads were made: Wolkvox asks 5 minutes before the same read again);
            # the others are cancelled, and then read again at once (nothing delivered).
            self.windows_ahead = kept([head, *todo] if head is not None else todo, self._cap)
            raise
        except BaseException as exc:
            # The caller stopped reading (GeneratorExit), or failed with what it read (a
            # full disk): the answers in hand were not delivered, so their reads are no
            # polls of delivered data, the window being delivered included (below).
            unused = [] if isinstance(exc, WolkvoxError) else [delivering, head, *todo]
            raise
        finally:
            # The caller stopped reading, or an error or a cancellation: nothing more is
            # wanted. The requests still out are let end (their leases released, an
            # abandoned read's poll stamp cleared) before the download does.
            out = [w.task for w in (head, *todo) if w is not None and w.task is not None]
            for window in (head, *todo):
                if window is not None:
                    window.cancel()
            if out:
                await asyncio.gather(*out, return_exceptions=True)
            await forget(unused)

    def _ask(self, todo: deque[Window[T]], *, delivering: int) -> bool:
        """Start the next windows in order, so that at most two answers are in flight or
        held ahead, plus ``delivering`` (1 for an answer at the cap, whose continuation
        the slot is kept for): every window of ``todo`` already asked for counts, wherever
        it stands (a continuation goes before the neighbour asked
        for beside its window). Past a window not yet answered, the next is asked for
        only when that answer is guessed under the cap (then windows are likely whole in
        one request; at the cap, the slot is kept for the continuation)."""
        room = _IN_FLIGHT - delivering - sum(1 for w in todo if w.task is not None)
        started = False
        for window in todo:
            if room <= 0:
                break
            if window.held:
                continue
            if window.start(self._get):
                started, room = True, room - 1
            if not self._guess_ahead and not window.answered:
                break
        return started

    def _early(self, window: Window[T], most: Callable[[], int], last: Callable[[], T]) -> bool:
        """A fetch's early word on its answer (``Early``): when the window awaited is at
        the cap, ask for its continuation now, if that keeps two answers at most. The rows
        are counted (a pass over the raw answer) only when a continuation could start."""
        out = sum(1 for other in self._todo if other.task is not None)
        if window is not self._awaited or window.next is not None or out + 1 >= _IN_FLIGHT:
            return False
        window.next = self._after(window, last) if most() >= self._cap else None
        return window.next is not None and window.next.start(self._get)

    def _after(self, window: Window[T], last: Callable[[], T]) -> Window[T] | None:
        """The window from the last second of an answer at the cap, as its last row says,
        or None when that row has no time or cannot be made (the rows then decide)."""
        if self._stamp is None:
            return None
        try:
            moment = self._stamp(last())
        except Exception:  # made again with the rows, which raise it in full
            return None
        if moment is None or moment.tzinfo is None:
            return None  # as _stamps: only rows with a zone are trusted with a time
        at = second(to_wolkvox_time(moment))
        return Window(at, window.hi) if at > window.lo else None

    def _counted(self, rows: Sequence[T]) -> Sequence[T]:
        """``rows``, counted into ``unread_rows`` where a value could not be read."""
        self.unread_rows += sum(1 for row in rows if getattr(row, "unread", None) is not None)
        return rows

    def _done(self, lo: datetime, hi: datetime, count: int, *, held: bool = False) -> None:
        self.rows += count
        self.windows_done += 1
        if self._job is not None:
            self._job.window(lo, hi, count, held)
        self._report(lo, hi, through=hi, held=held)

    def _report(self, lo: datetime, hi: datetime, *, through: datetime, held: bool = False) -> None:
        if self._progress is not None:
            self._progress(
                DownloadProgress(
                    held=held,
                    windows_done=self.windows_done,
                    rows=self.rows,
                    requests=self.requests,
                    window_start=lo,
                    window_end=hi,
                    through=through,
                    unread_rows=self.unread_rows,
                )
            )
