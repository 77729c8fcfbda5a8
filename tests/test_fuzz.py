"""Fuzzing: hostile answers on the wire, and arbitrary arguments into every public method.

1. A raw TCP server answers each request with a generated status line, headers and body
   (content types, lengths that lie, chunked and compressed encodings, redirects, bytes
   that are not HTTP at all). Whatever comes, the client returns a result or raises a
   WolkvoxError subclass naming no token: never an aiohttp, JSON or Unicode error.
2. Every public method of WolkvoxClient gets generated arguments (wrong types, blanks,
   huge numbers, control characters, naive and aware datetimes). Each call either goes
   through — and then the simulator, which checks requests as the docs describe, never
   answers 400 to it — or raises ConfigError (a ValueError) before any request is sent.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox, reset_shared_state

TOKEN = "f" * 56

# ---- 1. answers on the wire -------------------------------------------------------------

HEADER_NAMES = st.sampled_from(
    [
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "Content-Encoding",
        "Connection",
        "Location",
        "Set-Cookie",
        "X-Anything",
    ]
)
HEADER_VALUES = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "text/html; charset=latin-1",
            "application/json; charset=utf-99",
            "chunked",
            "gzip",
            "br",
            "deflate",
            "close",
            "-1",
            "0",
            "18446744073709551616",
            "https://evil.example/steal",
        ]
    ),
    st.integers(-5, 10**12).map(str),
    st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40),
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
BODIES = st.one_of(
    st.binary(max_size=200),
    st.fixed_dictionaries(
        {}, optional={"code": JSON_VALUES, "msg": JSON_VALUES, "data": JSON_VALUES}
    ).map(lambda d: json.dumps(d).encode()),
)


@st.composite
def answers(draw: st.DrawFn) -> bytes:
    """One HTTP answer, well-formed or not."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=300))  # not HTTP at all
    status = draw(st.integers(0, 999))
    reason = draw(st.sampled_from([b"OK", b"", b"\xff\xfe", b"Whatever Reason"]))
    lines = [b"HTTP/1.1 %d %s" % (status, reason)]
    for name, value in draw(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=5)):
        lines.append(name.encode() + b": " + value.encode("latin-1"))
    return b"\r\n".join(lines) + b"\r\n\r\n" + draw(BODIES)


async def _exchange(answer: bytes, call: str) -> None:
    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = WolkvoxClient(
        server="0014",
        token=TOKEN,
        base_url=f"http://127.0.0.1:{port}",
        max_attempts=1,
        timeout=5,
        poll_interval=0,
    )
    try:
        if call == "token_info":
            await client.token_info()
        elif call == "find_record":
            await client.find_record(customer_id="c1")
        else:
            start = datetime(2026, 11, 1, tzinfo=UTC)
            await client.phone_results("1", start, start + timedelta(days=1))
    except w.WolkvoxError as exc:
        assert TOKEN not in str(exc) and TOKEN not in repr(exc)
    finally:
        await client.close()
        server.close()
        await server.wait_closed()


@settings(max_examples=250, deadline=None)
@given(answer=answers(), call=st.sampled_from(["token_info", "find_record", "phone_results"]))
def test_any_answer_on_the_wire_gives_a_result_or_a_wolkvox_error(answer: bytes, call: str) -> None:
    reset_shared_state()
    asyncio.run(_exchange(answer, call))


# ---- 2. arguments into every public method ----------------------------------------------

ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["", " ", "\t\n", "1\x00", "١٢٣", "0014#", "../", "a&b=c", "=cmd|' /C calc'!A0"]
    ),
    st.binary(max_size=8),
    st.lists(st.text(max_size=6), max_size=3),
    st.dictionaries(st.text(max_size=6), st.text(max_size=6), max_size=3),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
    st.dates(),
    st.times(),
    # Issue 15: what escaped ConfigError before (a raw ValueError, TypeError,
    # OverflowError or UnicodeEncodeError), or was sent and answered 400.
    st.sampled_from([10**4300, -(10**4300), 10**25]),
    st.sampled_from(["a\x00b", "\ud800", "x\udfff", "\x1b[31m", "3" * 100_000]),
    st.sampled_from([datetime.min, datetime.max]).flatmap(
        lambda at: st.sampled_from([None, UTC, timezone(timedelta(hours=5))]).map(
            lambda tz: at.replace(tzinfo=tz)
        )
    ),
    st.dictionaries(st.integers(), st.text(max_size=3), min_size=1, max_size=2),
)
WHEN = st.datetimes(
    min_value=datetime(2026, 1, 1),
    max_value=datetime(2027, 1, 1),
    timezones=st.sampled_from([None, UTC, timezone(timedelta(hours=-5))]),
)
RECORD = st.fixed_dictionaries(
    {"customer_id": st.text(max_size=12), "tel1": st.text("0123456789+ ", max_size=12)},
    optional={
        "customer_name": st.text(max_size=12),
        "recall_date": ANYTHING,
        "age": ANYTHING,
        "opt7": st.text(max_size=210),
    },
)


def plausible(name: str, campaign_id: str) -> st.SearchStrategy[Any]:
    """Values a user would pass for parameter ``name`` (right or nearly right)."""
    by_name: dict[str, st.SearchStrategy[Any]] = {
        "campaign_id": st.sampled_from([campaign_id, int(campaign_id), "999999", "all"]),
        "campaign_ids": st.lists(st.sampled_from([campaign_id, "999999"]), max_size=3),
        "campaign_type": st.sampled_from(["predictive", "preview", "PREDICTIVE", "other"]),
        "start": WHEN,
        "end": WHEN,
        "at": WHEN,
        "records": st.lists(RECORD, max_size=4),
        "entries": st.lists(st.text("0123456789", min_size=1, max_size=12), max_size=3),
        "customer_ids": st.lists(st.text(max_size=8), max_size=3),
        "speed": st.integers(-5, 200),
        "report": st.sampled_from(["campaign_1", "campaign_3", "campaign_99", "detail"]),
        "chunk_size": st.integers(-1, 20_000),
        "cap": st.integers(-1, 100_000),
        "field": st.sampled_from(["Cod_Machine", "cod_rslt1", "nope"]),
        "dial_order": st.sampled_from(["linear", "zigzag", "random", "spiral"]),
        "connector": st.sampled_from(["and", "or", "xor"]),
        "on_invalid": st.sampled_from(["raise", "skip", "ignore"]),
        "campaign_status": st.sampled_from(["start", "stop", "stopped", "1", 0, True, "go"]),
        "description": st.text(max_size=20) | ANYTHING,
        "comment": st.text(max_size=20) | ANYTHING,
        "start_time": st.times(),
        "end_time": st.times(),
    }
    return by_name.get(name, st.text(max_size=12))


METHODS = sorted(
    name
    for name, fn in inspect.getmembers(WolkvoxClient, inspect.isfunction)
    if not name.startswith("_")
    and name not in ("close", "with_options", "scheduler_stats", "sync_quota")
)
NO_CALLBACKS = {"progress", "journal"}  # a callback or a file path: not fuzzed here


async def _call(method: str, kwargs: dict[str, Any], fake: FakeWolkvox) -> None:
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, max_attempts=1, poll_interval=0
    ) as wv:
        before = fake.stats.requests
        try:
            result = getattr(wv, method)(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, AsyncIterator):
                async for _ in result:
                    pass
        except (w.ConfigError, ValueError) as exc:
            assert fake.stats.requests == before, f"{method} raised {exc!r} after sending"
            assert isinstance(exc, w.ConfigError), f"{method}: a bare {type(exc).__name__}"
        except w.ApiError as exc:
            # The server refused what we let through: only its own knowledge may say no
            # (an unknown campaign, a full one, a campaign of the other type), never a
            # malformed request.
            knowledge = re.search(r"is not a \w+ campaign|DOES NOT WORK FOR PREVIEW", str(exc))
            assert not isinstance(exc, w.BadRequest) or knowledge, f"{method}({kwargs!r}): {exc}"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@pytest.mark.slow
@given(data=st.data(), method=st.sampled_from(METHODS))
def test_every_public_method_checks_its_arguments_before_sending(
    data: st.DataObject, method: str
) -> None:
    async def scenario() -> None:
        async with FakeWolkvox(licenses=3) as fake:
            camp = fake.create_campaign()
            signature = inspect.signature(getattr(WolkvoxClient, method))
            kwargs: dict[str, Any] = {}
            for name, param in signature.parameters.items():
                if name == "self" or name in NO_CALLBACKS:
                    continue
                if param.default is not inspect.Parameter.empty and data.draw(st.booleans()):
                    continue  # left at its default
                hostile = data.draw(st.booleans())
                kwargs[name] = data.draw(ANYTHING if hostile else plausible(name, camp.id))
            await _call(method, kwargs, fake)

    reset_shared_state()
    asyncio.run(scenario())


def test_the_fuzzed_methods_are_all_of_them() -> None:
    assert len(METHODS) >= 30 and "upload_records" in METHODS and "iter_report" in METHODS
