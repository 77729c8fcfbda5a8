"""sync_quota takes only counts of calls: a token_info whose count is negative or past a
ledger's 64-bit integers (a broken proxy, a server's bug) is a ResponseDecodeError, and
the ledger keeps what it had, on every local backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from wolkvox_async import ResponseDecodeError, WolkvoxClient

_FIND = b'{"code":200,"error":"","msg":"ok","data":[]}'


@pytest.fixture
async def token_info_server() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    """A loopback server answering token_info with the body the test sets."""
    said: dict[str, bytes] = {}

    async def answer(request: web.Request) -> web.Response:
        body = said["token_info"] if request.query.get("api") == "token_info" else _FIND
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", said
    finally:
        await runner.cleanup()


def _info(used: str, limit: str) -> bytes:
    head = '{"code":200,"msg":"ok","data":{"description":"t","token_use_today":1,'
    return f'{head}"token_limit":{limit},"all_token_today":{used}}}}}'.encode()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
@pytest.mark.parametrize(
    ("used", "limit"),
    [
        ("123456789012345678901234567890", "3000"),
        ("5", "123456789012345678901234567890"),
        ("9223372036854775808", "3000"),
        ("-3", "3000"),
        ("5", "-5"),
    ],
)
async def test_a_count_no_ledger_can_hold_is_refused(
    token_info_server: tuple[str, dict[str, bytes]],
    tmp_path: Path,
    kind: str,
    used: str,
    limit: str,
) -> None:
    # Before: on SQLite a bare OverflowError from sqlite3 (no WolkvoxError); on memory the
    # day marked spent (QuotaExhausted on every later call until midnight).
    url, said = token_info_server
    backend = "memory://" if kind == "memory" else f"sqlite:///{tmp_path}/ledger.db"
    said["token_info"] = _info(used, limit)
    async with WolkvoxClient(
        server="0014", token="a" * 56, base_url=url, backend=backend, licenses=3
    ) as wv:
        before = await wv.scheduler_stats()
        with pytest.raises(ResponseDecodeError, match="token_info's"):
            await wv.sync_quota()
        after = await wv.scheduler_stats()
        assert after.quota_limit == before.quota_limit == 3000
        assert after.quota_used == before.quota_used + 1  # the token_info call itself
        assert await wv.find_record(customer_id="1") == ()  # the day is not spent
        said["token_info"] = _info("7", "3000")
        await wv.sync_quota()  # a sane answer is still taken
        assert (await wv.scheduler_stats()).quota_used == 7
