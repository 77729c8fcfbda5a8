"""Retry decisions as a pure function of (attempt, route, error).

What is safe to send again (wolkvox-api.md §3.3, §4): a request that never reached the
server (connection refused), and one the server refused before doing anything (403
SIMULTANEOUS, 403 maintenance). What is safe only for idempotent routes: server errors
(5xx) and answers lost after sending (timeouts, resets), since the call may have run —
add_record and create_campaign are never sent blindly again; the bulk journal reconciles
them instead. A 5xx is a server error whatever its body (a proxy's HTML 502 page too).
Never retried: bad requests, invalid tokens, a spent quota, and an answer that is not
Wolkvox's at all (``NotWolkvox``: a wrong base URL answers the same page every time).
"""

from __future__ import annotations

import random

import attrs

from .._errors import WolkvoxError
from .._meaning import Refusal, Retry
from ._routes import Route

__all__ = ["RetryPolicy", "retry_delay"]


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Bounds of the retries; delays are exponential with full jitter."""

    max_attempts: int = 5
    """Attempts in all, the first included."""
    base: float = 0.5
    """Delay scale of the first retry, seconds."""
    cap: float = 30.0
    """Largest delay, seconds."""
    maintenance_base: float = 15.0
    """Pause after a maintenance refusal; doubles per attempt, up to ``maintenance_cap``."""
    maintenance_cap: float = 300.0


def retry_delay(
    policy: RetryPolicy,
    attempt: int,
    route: Route,
    error: WolkvoxError,
    rand: random.Random | None = None,
) -> float | None:
    """Seconds to wait before attempt ``attempt + 1``, or None to raise ``error``.

    ``attempt`` counts from 1 (the attempt that just failed).
    """
    if attempt >= policy.max_attempts:
        return None
    draw: float = (rand or random).random()
    retry = error.retry  # the error class's meaning (_meaning), read here, not decided
    if retry is Retry.NEVER or (retry is Retry.IF_IDEMPOTENT and not route.idempotent):
        return None
    if error.feedback is Refusal.MAINTENANCE:  # the token rests as long (_call)
        return maintenance_pause(policy, attempt)
    return draw * min(policy.cap, policy.base * 2.0 ** (attempt - 1))


def maintenance_pause(policy: RetryPolicy, attempt: int) -> float:
    """How long a token rests after its ``attempt``-th maintenance refusal in a row."""
    return min(policy.maintenance_cap, policy.maintenance_base * 2.0 ** (attempt - 1))
