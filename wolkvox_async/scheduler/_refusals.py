"""Refusals: the error each one raises, and the counts per token that stats report.

A spent quota is :class:`QuotaExhausted` (or :class:`QuotaReserved` for a BULK call that
would eat into the reserve), a wait known to outlast ``max_wait`` (or a read inside its
polling interval with ``poll_policy="raise"``) is :class:`WaitTooLong`, and a backend
step that failed is :class:`SchedulerUnavailable`: nothing was sent in any of them.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from .._errors import (
    QuotaExhausted,
    QuotaReserved,
    SchedulerUnavailable,
    WaitTooLong,
    WolkvoxError,
)
from ._rules import Admission, Blocked, Decision, Exhausted, Why

__all__ = ["Refusals", "pause_reason"]

log = logging.getLogger("wolkvox_async.scheduler")


class Refusals:
    """Makes the error of each refusal and counts refusals and retries per token."""

    def __init__(self, where: str) -> None:
        self.where = where
        """The backend's URL, for SchedulerUnavailable."""
        self.refused: dict[str, Counter[str]] = {}
        self.retried: dict[str, Counter[str]] = {}
        self.paused: dict[str, Counter[str]] = {}
        """What the server said that held a token back: ``maintenance`` (a pause),
        ``simultaneous`` (the cap lowered to 1), per token (the heartbeat's last hour)."""
        self._fences: dict[str, int] = {}
        """The last lost-ledger pause told of, per operation."""

    def check(
        self,
        admission: Admission,
        decision: Decision,
        deadline: float | None,
        max_wait: float | None,
        raise_on_poll: bool,
    ) -> None:
        """Raise now what a caller refused at once gets (a spent quota, a wait known to
        outlast its max_wait); return when it should wait in the queue instead."""
        if isinstance(decision, Exhausted):
            raise self.exhausted(admission, decision)
        if isinstance(decision, Blocked) and decision.reason is Why.RECOVERING:
            self.fenced(admission, decision.retry_at)
        if isinstance(decision, Blocked) and decision.retry_at is not None:
            if decision.reason is Why.POLL_INTERVAL and raise_on_poll:
                raise self.too_long(admission, decision.retry_at, 0.0, "the polling interval")
            known = decision.reason is not Why.CONCURRENCY
            if known and deadline is not None and decision.retry_at > deadline:
                raise self.too_long(admission, decision.retry_at, max_wait or 0.0, decision.reason)

    def unavailable(self, token: str, exc: Exception, callers: int) -> Exception:
        """The error for callers of a backend step that failed (nothing was sent)."""
        if isinstance(exc, WolkvoxError) and not isinstance(exc, SchedulerUnavailable):
            return exc  # a refusal the backend meant (e.g. ConfigError)
        self.count(self.refused, token, "scheduler_unavailable", callers)
        if isinstance(exc, SchedulerUnavailable):
            return exc
        return SchedulerUnavailable(backend=self.where, reason=f"{type(exc).__name__}: {exc}")

    def exhausted(
        self, admission: Admission, decision: Exhausted, callers: int = 1
    ) -> QuotaExhausted:
        resets_at = datetime.fromtimestamp(decision.resets_at, UTC)
        if decision.reserved:
            self.count(self.refused, admission.limits.token, "quota_reserved", callers)
            log.debug(
                "refuse %s: the rest is reserved (%d)", admission.limits.token, decision.reserved
            )
            return QuotaReserved(
                operation=admission.limits.operation,
                used=decision.used,
                limit=decision.limit,
                resets_at=resets_at,
                reserved=decision.reserved,
            )
        self.count(self.refused, admission.limits.token, "quota_exhausted", callers)
        log.debug(
            "refuse %s: quota %d/%d spent", admission.limits.token, decision.used, decision.limit
        )
        return QuotaExhausted(
            operation=admission.limits.operation,
            used=decision.used,
            limit=decision.limit,
            resets_at=resets_at,
        )

    def too_long(
        self, admission: Admission, retry_at: float, max_wait: float, why: str
    ) -> WaitTooLong:
        self.count(self.refused, admission.limits.token, "wait_too_long")
        log.debug("refuse %s: %s lasts past max_wait", admission.limits.token, why)
        if why == Why.RECOVERING:
            why = pause_reason(admission)
        return WaitTooLong(
            retry_at=datetime.fromtimestamp(retry_at, UTC), max_wait=max_wait, reason=why
        )

    def fenced(self, admission: Admission, until: float | None) -> None:
        """A call met a lost-ledger pause: say so once per pause (a caller without
        ``max_wait`` waits through it, and should not wait in silence)."""
        if until is None or self._fences.get(admission.limits.operation) == round(until):
            return
        self._fences[admission.limits.operation] = round(until)
        log.warning(
            "calls of operation %s wait until %s: %s",
            admission.limits.operation,
            datetime.fromtimestamp(until, UTC).isoformat(timespec="seconds"),
            pause_reason(admission),
        )

    def retry(self, token: str, kind: str) -> None:
        """Record a retry (for stats)."""
        self.count(self.retried, token, kind)

    def count(self, table: dict[str, Counter[str]], token: str, kind: str, n: int = 1) -> None:
        table.setdefault(token, Counter())[kind] += n


def pause_reason(admission: Admission) -> str:
    """The lost-ledger pause, in words, with its length (a lease lifetime)."""
    return (
        f"the {admission.limits.lease_ttl:g} s pause after a lost ledger: calls admitted before "
        "it was lost may still be running at Wolkvox"
    )
