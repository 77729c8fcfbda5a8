"""The retry decision is a pure function of (attempt, route, error)."""

from __future__ import annotations

import random

import pytest

import wolkvox_async as w
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._retry import RetryPolicy, retry_delay

POLICY = RetryPolicy(max_attempts=5, base=0.5, cap=30.0)


def api(cls: type[w.ApiError], status: int = 500) -> w.ApiError:
    return cls(method="GET", url="u", http_status=status, body_code=None, message="m")


def transport(*, sent: bool) -> w.TransportError:
    return w.TransportError(method="GET", url="u", reason="r", sent=sent)


TIMEOUT = w.RequestTimeout(method="GET", url="u", reason="timeout", timeout=60)


@pytest.mark.parametrize(
    ("route", "error", "retried"),
    [
        (routes.ADD_RECORD, transport(sent=False), True),  # never left: safe anywhere
        (routes.ADD_RECORD, api(w.TooManySimultaneous, 403), True),  # refused before running
        (routes.ADD_RECORD, api(w.Maintenance, 403), True),
        (routes.ADD_RECORD, transport(sent=True), False),  # may have landed: the journal decides
        (routes.ADD_RECORD, TIMEOUT, False),
        (routes.ADD_RECORD, api(w.ServerError), False),
        (routes.CREATE_CAMPAIGN, api(w.ServerError), False),
        (routes.START, api(w.ServerError), True),
        (routes.REPORT_CAMPAIGN_3, TIMEOUT, True),
        (routes.TOKEN_INFO, transport(sent=True), True),
        (routes.START, api(w.InvalidToken, 403), False),
        (routes.START, api(w.TokenLimitExceeded, 403), False),
        (routes.START, api(w.BadRequest, 400), False),
        (routes.START, api(w.ResponseDecodeError, 200), False),
        (routes.START, api(w.CampaignFull, 404), False),
    ],
)
def test_what_is_retried(route: routes.Route, error: w.WolkvoxError, retried: bool) -> None:
    assert (retry_delay(POLICY, 1, route, error) is not None) is retried


def test_backoff_is_exponential_with_full_jitter_and_bounded() -> None:
    rand = random.Random(1)
    error = api(w.ServerError)
    ceilings = [0.5, 1.0, 2.0, 4.0]
    for attempt, ceiling in enumerate(ceilings, start=1):
        delays = [retry_delay(POLICY, attempt, routes.START, error, rand) for _ in range(200)]
        assert all(d is not None and 0 <= d <= ceiling for d in delays)
        assert max(d or 0 for d in delays) > ceiling * 0.8
    assert retry_delay(POLICY, 5, routes.START, error, rand) is None  # attempts are bounded
    capped = RetryPolicy(max_attempts=50, cap=3.0)
    assert (retry_delay(capped, 30, routes.START, error, rand) or 0) <= 3.0


def test_maintenance_backoff_doubles_up_to_the_cap() -> None:
    error = api(w.Maintenance, 403)
    policy = RetryPolicy(max_attempts=10)
    pauses = [retry_delay(policy, n, routes.START, error) for n in range(1, 7)]
    assert pauses == [15.0, 30.0, 60.0, 120.0, 240.0, 300.0]
