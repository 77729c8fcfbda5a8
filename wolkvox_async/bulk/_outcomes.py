"""The errors particular to uploads, and the signals a load's senders raise inside it.

The signals are :class:`Left` and :class:`Stop`; what an upload reports lives in
``_results``."""

from __future__ import annotations

from datetime import datetime

import attrs

from .._errors import SchedulerRefusal, WolkvoxError
from ._results import StopReason

__all__ = [
    "AlreadyLoaded",
    "InsufficientQuota",
    "JournalError",
    "Left",
    "LoadRunning",
    "ReconcileError",
    "Stop",
]


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class InsufficientQuota(SchedulerRefusal):
    """The load needs more calls than today's quota has left; nothing was sent."""

    needed: int
    available: int

    reserved: int = 0
    """Of what is left, the part kept for interactive calls (not counted in available)."""

    def __str__(self) -> str:
        kept = f" to bulk work ({self.reserved} more are reserved for interactive calls)"
        return (
            f"this load needs {self.needed} calls but only {self.available} are left today"
            f"{kept if self.reserved else ''}; pass allow_partial=True to load what fits"
        )


class ReconcileError(WolkvoxError):
    """A chunk's outcome could not be told apart (some of its records landed, some not)."""


def _when(moment: datetime | None) -> str:
    return "an unknown time" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class LoadRunning(WolkvoxError):
    """Another load of this journal, or of this input into this campaign, is running (in
    this process, another process or on another host of a shared ledger): nothing was sent.
    Pass ``wait=True`` to wait for it to end instead."""

    what: str
    """What is taken: ``journal /path/x.journal``, or ``campaign 7001 from this input``."""
    pid: int | None
    """The running load's process id (None when it could not be told)."""
    host: str
    """The host it runs on."""
    since: datetime | None
    """When it started (UTC)."""

    def __str__(self) -> str:
        who = "another load" if self.pid is None else f"pid {self.pid} on host {self.host}"
        return (
            f"a load of {self.what} is running ({who}, since {_when(self.since)}); nothing was sent"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class AlreadyLoaded(WolkvoxError):
    """The shared ledger says this input was loaded into this campaign by a load whose
    journal is not this one (another host's, or this path's before it was removed): loading
    it again would put its records in the campaign twice, so nothing was sent. Continue
    that load with its own journal, or pass ``reload=True`` (after clearing the campaign,
    say) to load it all again."""

    campaign_id: str
    state: str
    """``finished``, ``stopped`` (it ended with records pending) or ``died`` (its process
    ended without a word: killed, or its host lost)."""
    records_landed: int | None
    """What that load had landed (None: it died, so it is not known)."""
    journal: str
    """That load's journal, as ``host:/path``."""
    pid: int | None
    host: str
    at: datetime | None
    """When it finished or stopped (for ``died``: when it started)."""

    def __str__(self) -> str:
        landed = (
            "an unknown number of records"
            if self.records_landed is None
            else f"{self.records_landed:,} records"
        )
        verb = {
            "finished": "finished",
            "stopped": "stopped with records pending",
            "died": "ended without finishing",
        }.get(self.state, self.state)
        return (
            f"this input was loaded into campaign {self.campaign_id} by pid {self.pid} on host "
            f"{self.host} (journal {self.journal}), which {verb} on {_when(self.at)} with "
            f"{landed} landed; nothing was sent"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class JournalError(WolkvoxError):
    """The journal file cannot be used (a folder, not a journal, unwritable, the disk
    full): raised before anything is sent when found at the start; mid-load, the load
    stops with what it landed journaled."""

    path: str
    reason: str
    """What is wrong, in words (the system's message kept)."""
    fix: str
    """What to do about it."""

    def __str__(self) -> str:
        return f"journal {self.path}: {self.reason}; {self.fix}"


class Left(Exception):
    """A chunk left pending because another chunk stopped the load (inside a load)."""


class Stop(Exception):
    """A chunk stopped the load, for ``reason`` (inside a load)."""

    def __init__(self, reason: StopReason, cause: WolkvoxError) -> None:
        self.reason = reason
        self.cause = cause
