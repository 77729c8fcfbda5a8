"""The error tree as a user's own code handles it: errors cross process pools (pickle)
and are copied, whatever their class, with every field and the call path's meaning."""

from __future__ import annotations

import copy
import pickle
from datetime import UTC, datetime

import attrs
import pytest

from wolkvox_async import (
    ApiError,
    InvalidToken,
    QuotaReserved,
    SchedulerUnavailable,
    TransportError,
    TruncatedAnswer,
    WaitTooLong,
    WolkvoxClient,
    WolkvoxError,
)
from wolkvox_async._errors import Retry
from wolkvox_async.testing import FakeWolkvox

_AT = datetime(2026, 12, 6, 5, 0, tzinfo=UTC)
_MADE: list[WolkvoxError] = [
    TransportError(method="GET", url="http://x/a", reason="refused", sent=False),
    TruncatedAnswer(
        endpoint="reports_manager.campaign_3",
        url="http://x/r",
        rows=60_000,
        cap=60_000,
        window=(_AT, _AT),
        campaign_id="7",
        advice="use iter_report",
    ),
    QuotaReserved(operation="0014", used=2000, limit=3000, resets_at=_AT, reserved=1000),
    WaitTooLong(retry_at=_AT, max_wait=3.0, reason="poll"),
    SchedulerUnavailable(backend="redis://h:6379/0", reason="down"),
    ApiError(method="GET", url="http://x/b", http_status=400, body_code="400", message="m"),
]


def _same(a: WolkvoxError, b: WolkvoxError) -> None:
    assert type(b) is type(a)
    assert str(b) == str(a)
    assert attrs.asdict(b, recurse=False) == attrs.asdict(a, recurse=False)
    assert (b.retry, b.feedback, b.pause) == (a.retry, a.feedback, a.pause)


@pytest.mark.parametrize("error", _MADE, ids=lambda e: type(e).__name__)
def test_every_kind_of_error_pickles_and_copies(error: WolkvoxError) -> None:
    # Before: TypeError "__init__() takes 1 positional argument but N were given" (the
    # attrs errors take keywords only; an exception pickles as cls(*args)).
    _same(error, pickle.loads(pickle.dumps(error)))
    _same(error, copy.copy(error))
    _same(error, copy.deepcopy(error))


def test_a_refused_connection_keeps_its_meaning_across_pickle() -> None:
    error = pickle.loads(pickle.dumps(_MADE[0]))
    assert error.retry is Retry.ALWAYS  # set after init from sent=False


async def test_an_error_from_a_real_call_crosses_a_process_boundary() -> None:
    async with (
        FakeWolkvox() as fake,
        WolkvoxClient(
            server=fake.server, token="0" * 56, base_url=fake.url, backend="memory://"
        ) as wv,
    ):
        with pytest.raises(InvalidToken) as caught:
            await wv.find_record(customer_id="1")
    error = caught.value
    error.upload_report = None  # an attribute set on the instance travels too
    back = pickle.loads(pickle.dumps(error))
    _same(error, back)
    assert back.raw_body == error.raw_body
    assert "0" * 56 not in repr(back) + str(back)
