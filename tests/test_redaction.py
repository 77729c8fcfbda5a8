"""The token never shows: not in DEBUG logs, not in any error's str or repr."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aioresponses import aioresponses
from helpers import CompatResponse

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async._config import ClientConfig, redact
from wolkvox_async._errors import ApiError
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._protocol import RawResponse, build_request, parse_response
from wolkvox_async.testing import FakeWolkvox, Fault, reset_shared_state

TOKEN = "7b226f7065726174696f6e227d2d3230323631313233313831353030"


@pytest.fixture
async def fake() -> AsyncIterator[FakeWolkvox]:
    async with FakeWolkvox(
        token=TOKEN, daily_quota=50, campaign_capacity=3, max_concurrency=1
    ) as server:
        yield server


def _client(fake: FakeWolkvox, **kw: object) -> WolkvoxClient:
    options: dict[str, object] = {"max_attempts": 1, "base_url": fake.url, **kw}
    return WolkvoxClient(server=fake.server, token=TOKEN, **options)  # type: ignore[arg-type]


async def _raise_each_error(fake: FakeWolkvox) -> list[BaseException]:
    caught: list[BaseException] = []

    async def expect(cls: type[BaseException], coro: object) -> None:
        with pytest.raises(cls) as info:
            await coro  # type: ignore[misc]
        caught.append(info.value)

    async with _client(fake) as wv:
        camp = fake.create_campaign(type="preview")
        await expect(w.BadRequest, wv.add_record(camp.id, [Record(customer_id="1")]))
        await expect(w.NotFound, wv.start_campaign("987654"))
        full = fake.create_campaign()
        await expect(
            w.CampaignFull, wv.add_record(full.id, [Record(customer_id=str(i)) for i in range(4)])
        )
        fake.inject(Fault.HTTP_500)
        await expect(w.ServerError, wv.token_info())
        for fault in (Fault.GARBAGE, Fault.HTML, Fault.TRUNCATED, Fault.EMPTY, Fault.OVERSIZED):
            fake.inject(fault)
            await expect(w.ResponseDecodeError, wv.token_info())
    async with _client(fake, base_url=fake.url + "/wrong") as wv:  # a web server's 404 page
        await expect(w.NotWolkvox, wv.find_record(customer_id="1"))
    async with _client(fake) as wv:
        fake.latency = 0.05
        results = await asyncio.gather(wv.token_info(), wv.token_info(), return_exceptions=True)
        caught += [r for r in results if isinstance(r, w.TooManySimultaneous)]
        assert any(isinstance(r, w.TooManySimultaneous) for r in results)
        fake.latency = 0.0
        fake.maintenance = True
        await expect(w.Maintenance, wv.token_info())
        fake.maintenance = False
        fake.inject(Fault.RESET)  # (its slot stays held: the server may be running it)
        await expect(w.TransportError, wv.token_info())
    reset_shared_state()  # forget the lowered cap (60 s) left by the 403 SIMULTANEOUS
    async with _client(fake, timeout=0.05) as wv:
        fake.inject(Fault.SLOW, delay=0.3)
        await expect(w.RequestTimeout, wv.token_info())
    await fake.drain()  # the server still runs the abandoned call, holding the only slot
    fake.world.operations[fake.server].daily_quota = 0
    async with _client(fake) as wv:
        await expect(w.TokenLimitExceeded, wv.token_info())
    reset_shared_state()  # forget the spent quota (and held leases) the client now knows of
    fake.world.operations[fake.server].tokens.discard(TOKEN)
    async with _client(fake) as wv:
        await expect(w.InvalidToken, wv.token_info())
    closed = FakeWolkvox(token=TOKEN)
    url = await closed.start()
    await closed.close()
    async with WolkvoxClient(server="0014", token=TOKEN, base_url=url, max_attempts=1) as wv:
        await expect(w.TransportError, wv.token_info())
    # The server echoing the token back must not leak it either.
    with aioresponses() as mocked:
        echo = {
            "code": 401,
            "error": "UNAUTHORIZED",
            "msg": f"PLEASE ENTER THE WOLKVOX-TOKEN {TOKEN}",
        }
        mocked.get(re.compile(".*"), payload=echo, status=401, response_class=CompatResponse)
        async with WolkvoxClient(server="0014", token=TOKEN) as wv:
            await expect(w.Unauthorized, wv.token_info())
    for bad in ({"server": "evil.com#"}, {"token": TOKEN + " "}, {"timeout": -1}):
        with pytest.raises(w.ConfigError) as info:
            ClientConfig(**{"server": "0014", "token": TOKEN, **bad})  # type: ignore[arg-type]
        caught.append(info.value)
    reset = datetime(2026, 11, 24, 5, tzinfo=UTC)
    caught.append(w.QuotaExhausted(operation="0014", used=3000, limit=3000, resets_at=reset))
    caught.append(w.WaitTooLong(retry_at=reset, max_wait=1.0))
    return caught


async def test_no_error_and_no_debug_log_shows_the_token(
    fake: FakeWolkvox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caught = await _raise_each_error(fake)
    kinds = {type(exc) for exc in caught}
    expected = {
        w.ConfigError,
        w.TransportError,
        w.RequestTimeout,
        w.QuotaExhausted,
        w.WaitTooLong,
        w.BadRequest,
        w.Unauthorized,
        w.InvalidToken,
        w.TokenLimitExceeded,
        w.TooManySimultaneous,
        w.Maintenance,
        w.NotFound,
        w.CampaignFull,
        w.ServerError,
        w.ResponseDecodeError,
        w.NotWolkvox,
    }
    assert kinds == expected
    for exc in caught:
        shown = str(exc) + repr(exc) + "".join(traceback.format_exception(exc))
        assert TOKEN not in shown, type(exc).__name__
        if isinstance(exc, w.ApiError):
            assert TOKEN.encode() not in exc.raw_body
    assert any("wolkvox_async" in r.name for r in caplog.records)
    assert TOKEN not in caplog.text
    for record in caplog.records:
        assert TOKEN not in record.getMessage()


def test_the_suite_wide_log_watch_sees_debug_records_and_tokens(token_watch: Any) -> None:
    # conftest.py logs the whole suite at DEBUG and fails a test whose logs show a token.
    before = token_watch.seen
    logging.getLogger("wolkvox_async.http").debug("-> GET %s", "https://wv0014.wolkvox.com/x")
    assert token_watch.seen == before + 1 and not token_watch.leaks
    logging.getLogger("elsewhere").debug("token %s", TOKEN)
    assert token_watch.leaks
    token_watch.leaks.clear()


def test_demo_at_debug_never_prints_the_token() -> None:
    env = {**os.environ, "WOLKVOX_LOG_LEVEL": "DEBUG"}
    command = [sys.executable, "-m", "wolkvox_async", "demo", "--records", "3000"]
    demo = subprocess.run(
        [*command, "--results", "2000", "--latency-ms", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert demo.returncode == 0, demo.stderr
    assert demo.stderr.count("DEBUG wolkvox_async.http: -> ") >= 3  # every request logged
    token_like = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{56}(?![0-9a-fA-F])")
    assert not token_like.search(demo.stdout + demo.stderr)  # the simulator's token_hex(28)


@pytest.mark.parametrize("kind", ["html", "text", "json-escaped", "json-url", "upper"])
def test_no_piece_of_the_token_at_any_offset_of_any_body(kind: str) -> None:
    """The token at every offset of a 500 answer's body (before, across and after the
    200-character preview), in the forms a body can carry it: no piece of 8 or more of its
    characters in str(), repr() or raw_body."""
    token = "tok-alpha-0123456789abcdefXYZ"
    config = ClientConfig(server="0014", token=token)
    request = build_request(
        config.base_url, config.token, routes.FIND_RECORD, {"campaign_id": "1", "customer_id": "2"}
    )
    forms = {
        "html": token,
        "text": token,
        "json-escaped": "".join(f"\\u{ord(c):04x}" for c in token),
        "json-url": "".join(f"%{ord(c):02x}" for c in token),
        "upper": token.upper(),
    }
    pieces = {token[i : i + 8].lower() for i in range(len(token) - 7)}
    for offset in range(0, 260, 3):
        filler = ("<p>error</p>" if kind == "html" else "x") * 300
        body = (filler[:offset] + forms[kind] + filler[offset:]).encode()
        if kind.startswith("json"):
            body = b'{"code": 500, "error": "' + body + b'"}'
        with pytest.raises(ApiError) as info:
            parse_response(request, RawResponse(status=500, body=body))
        for shown in (str(info.value), repr(info.value), info.value.raw_body.decode()):
            lowered = shown.lower()
            assert not [p for p in pieces if p in lowered], (kind, offset, shown[:300])


@pytest.mark.parametrize("encoder", ["php", "json"])
def test_a_token_echoed_json_escaped_is_redacted_from_the_raw_body(encoder: str) -> None:
    # PHP's json_encode writes "/" as "\\/"; any encoder writes '"' and "\\" escaped.
    token = 'tok/alpha"0123\\456789/abcdef'
    request = build_request("https://wv0014.wolkvox.com", token, routes.TOKEN_INFO)
    echoed = json.dumps({"code": 403, "error": "FORBIDDEN", "msg": f"bad token {token}"})
    if encoder == "php":
        echoed = echoed.replace("/", "\\/")
    with pytest.raises(ApiError) as info:
        parse_response(request, RawResponse(status=403, body=echoed.encode()))
    shown = str(info.value) + repr(info.value) + info.value.raw_body.decode()
    assert "0123" not in shown and "abcdef" not in shown, shown


def test_a_body_cut_mid_token_keeps_no_piece_of_it() -> None:
    token = "tok-alpha-0123456789abcdefXYZ"
    for size in range(8, len(token)):
        assert token[:size] not in redact(f"the server said {token[:size]}", token)
        assert token[-size:] not in redact(f"{token[-size:]} and more", token)


def _bodies() -> dict[str, tuple[int, str, bytes]]:
    """Answers carrying the token where MARK is, by kind: (status, content type, body)."""
    return {
        "json": (500, "application/json", b'{"code":500,"error":"MARK","msg":"x"}'),
        "json-escaped": (200, "application/json", b'{"code":403,"msg":"' + b"MARK" + b'"}'),
        "html": (502, "text/html", b"<html><body><p>bad gateway MARK</p></body></html>"),
        "text": (200, "text/plain", b"Fatal error: MARK"),
        "headers": (400, "text/plain", b"GET /api/v2 HTTP/1.1\r\nwolkvox-token: MARK\r\n"),
        "upper": (403, "text/html", b"<p>MARK</p>"),
        "url": (403, "application/json", b'{"code":403,"msg":"see ?t=MARK"}'),
    }


@pytest.mark.slow
async def test_no_piece_of_the_token_at_any_offset_in_errors_logs_or_cli_output(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The token at every offset (0..259) of answers of every kind, through a real socket:
    no piece of 8+ of its characters in str, repr, raw_body, a DEBUG log line or what the
    ``wolkvox`` command prints."""
    from click.testing import CliRunner

    from wolkvox_async.cli._app import cli

    token = "tok-alpha-0123456789abcdefXYZ"
    forms = {
        "json-escaped": "".join(f"\\u{ord(c):04x}" for c in token),
        "upper": token.upper(),
        "url": "".join(f"%{ord(c):02x}" for c in token),
    }
    kinds = list(_bodies())
    pieces = {token[i : i + 8].lower() for i in range(len(token) - 7)}
    answer: list[bytes] = [b""]

    async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer[0])
        await writer.drain()
        writer.close()

    def leaks(text: str) -> list[str]:
        lowered = text.lower()
        return [p for p in pieces if p in lowered]

    server = await asyncio.start_server(reply, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    env = {"WOLKVOX_SERVER": "0014", "WOLKVOX_TOKEN": token, "WOLKVOX_BASE_URL": url}
    checked = 0
    try:
        async with WolkvoxClient(server="0014", token=token, base_url=url, max_attempts=1) as wv:
            for kind in kinds:
                status, ctype, template = _bodies()[kind]
                for offset in range(260):
                    filler = b"<p>error</p>" * 30 if ctype == "text/html" else b"x" * 300
                    secret = forms.get(kind, token).encode()
                    body = template.replace(b"MARK", filler[:offset] + secret + filler[offset:])
                    answer[0] = (
                        b"HTTP/1.1 %d X\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                        b"Connection: close\r\n\r\n" % (status, ctype.encode(), len(body))
                    ) + body
                    caplog.clear()
                    with caplog.at_level(logging.DEBUG, logger="wolkvox_async"):
                        with pytest.raises(w.WolkvoxError) as info:
                            await wv.find_record(customer_id=f"c{offset}")
                    exc = info.value
                    raw = getattr(exc, "raw_body", b"") or b""
                    shown = [str(exc), repr(exc), raw.decode(errors="replace"), caplog.text]
                    if offset % 13 == 0 and status < 500:
                        # The command, in-process (it runs its own loop); on answers it
                        # does not retry (a 5xx it would, with real pauses).
                        result = await asyncio.to_thread(
                            CliRunner().invoke, cli, ["find", "--customer-id", "c"], env=env
                        )
                        assert result.exit_code != 0
                        shown.append(result.output)
                    for text in shown:
                        assert not leaks(text), (kind, offset, text[:300])
                    checked += 1
    finally:
        server.close()
        await server.wait_closed()
    assert checked == 260 * len(kinds)
