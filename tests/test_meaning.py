"""What an error means is said once, by its class (issue 33 item 3).

Each class carries ``retry`` (does the call path send it again), ``feedback`` (what a
server's refusal tells the token's scheduler) and ``pause`` (does a bulk job wait and try
again); the retries, the call path's feedback, bulk's except-tuples and the telemetry read
those attributes instead of deciding by class names of their own.
"""

from __future__ import annotations

import ast
import random
from pathlib import Path

import pytest

import wolkvox_async as w
from wolkvox_async import _errors as e
from wolkvox_async._meaning import Pause, Refusal, Retry
from wolkvox_async.bulk import _load
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._retry import RetryPolicy, retry_delay

PACKAGE = Path(w.__file__).parent
POLICY = RetryPolicy()


def api_error(cls: type[e.ApiError]) -> e.ApiError:
    return cls(method="GET", url="u", http_status=403, body_code=None, message="m")


def transport_error(sent: bool) -> e.TransportError:
    return e.TransportError(method="GET", url="u", reason="r", sent=sent)


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (api_error(e.TooManySimultaneous), (Retry.ALWAYS, Refusal.BUSY, Pause.REFUSED)),
        (api_error(e.Maintenance), (Retry.ALWAYS, Refusal.MAINTENANCE, Pause.REFUSED)),
        (api_error(e.TokenLimitExceeded), (Retry.NEVER, Refusal.SPENT, None)),
        (api_error(e.ServerError), (Retry.IF_IDEMPOTENT, None, Pause.UNANSWERED)),
        (api_error(e.ResponseDecodeError), (Retry.NEVER, None, Pause.UNANSWERED)),
        (api_error(e.NotWolkvox), (Retry.NEVER, None, None)),
        (api_error(e.Forbidden), (Retry.NEVER, None, None)),
        (api_error(e.InvalidToken), (Retry.NEVER, None, None)),
        (api_error(e.CampaignFull), (Retry.NEVER, None, None)),
        (transport_error(sent=False), (Retry.ALWAYS, None, Pause.REFUSED)),
        (transport_error(sent=True), (Retry.IF_IDEMPOTENT, None, Pause.UNANSWERED)),
        (e.ConfigError("x"), (Retry.NEVER, None, None)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_each_error_says_what_it_means(error: e.WolkvoxError, meaning: tuple[object, ...]) -> None:
    assert (error.retry, error.feedback, error.pause) == meaning


def test_the_retries_read_the_class_not_a_list_of_names() -> None:
    # A class of its own, with its meaning: retried on a write only because it says so.
    class Refused(e.ApiError):
        retry = Retry.ALWAYS

    class NeverAgain(e.ServerError):
        retry = Retry.NEVER

    rand = random.Random(1)
    assert retry_delay(POLICY, 1, routes.ADD_RECORD, api_error(Refused), rand) is not None
    assert retry_delay(POLICY, 1, routes.FIND_RECORD, api_error(NeverAgain), rand) is None
    assert retry_delay(POLICY, 1, routes.ADD_RECORD, api_error(e.ServerError), rand) is None
    assert retry_delay(POLICY, 1, routes.FIND_RECORD, api_error(e.ServerError), rand) is not None


def test_bulk_waits_on_the_classes_that_say_so() -> None:
    refused = {e.TooManySimultaneous, e.Maintenance, e.WaitTooLong, e.SchedulerUnavailable}
    unanswered = refused | {e.TransportError, e.RequestTimeout, e.ServerError}
    assert set(_load._REFUSED) == refused
    assert set(_load._UNANSWERED) == unanswered | {e.ResponseDecodeError}


@pytest.mark.parametrize("module", ["calls/_retry.py", "calls/_call.py", "otel.py"])
def test_no_list_of_error_names_decides_a_meaning(module: str) -> None:
    """The call path, the retries and the telemetry name no error class whose meaning
    they would decide (TransportError and ApiError, caught as families, aside)."""
    tree = ast.parse((PACKAGE / module).read_text())
    named = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    deciding = {
        "TooManySimultaneous",
        "Maintenance",
        "TokenLimitExceeded",
        "ServerError",
        "Forbidden",
        "NotWolkvox",
    }
    assert not named & deciding
