"""The aiohttp transport: session ownership, faults mapped to errors, one send per call."""

from __future__ import annotations

import asyncio
import ssl
import tracemalloc

import aiohttp
import pytest
import trustme

import wolkvox_async as w
from wolkvox_async import WolkvoxClient
from wolkvox_async.calls._transport import AiohttpTransport
from wolkvox_async.scheduler import MemoryBackend
from wolkvox_async.testing import FakeWolkvox, Fault


async def test_passed_session_is_used_and_left_open(fake: FakeWolkvox) -> None:
    async with aiohttp.ClientSession() as session:
        async with WolkvoxClient(
            server="0014", token=fake.token, base_url=fake.url, session=session
        ) as wv:
            await wv.token_info()
        assert not session.closed
        async with session.get(fake.url + "/api/v2/information.php?api=token_info") as resp:
            assert resp.status == 401


async def test_a_closed_client_sends_nothing_and_makes_no_session(fake: FakeWolkvox) -> None:
    wv = WolkvoxClient(server="0014", token=fake.token, base_url=fake.url)
    await wv.token_info()
    await wv.close()
    with pytest.raises(w.ClientClosed):
        await wv.token_info()  # a session made now would never be closed
    transport = wv._caller.transport
    assert isinstance(transport, AiohttpTransport) and transport._session is None
    await wv.close()  # closing twice is harmless
    assert fake.stats.requests == 1


async def test_a_close_cancelled_after_the_calls_ended_still_closes_the_session(
    fake: FakeWolkvox,
) -> None:
    # Found by the journey test (tests/cli/test_journeys.py): Ctrl-C as an export ended
    # cancelled its client's close() while the ledger closed, and the command printed
    # "ERROR asyncio: Unclosed client session" on its way out.
    class ClosingSlowly(MemoryBackend):
        def __init__(self) -> None:
            super().__init__()
            self.closing = asyncio.Event()

        async def close(self) -> None:
            self.closing.set()
            await asyncio.Event().wait()  # (until cancelled)

    backend = ClosingSlowly()
    wv = WolkvoxClient(server="0014", token=fake.token, base_url=fake.url, backend=backend)
    await wv.token_info()
    transport = wv._caller.transport
    assert isinstance(transport, AiohttpTransport) and transport._session is not None
    session = transport._session
    closing = asyncio.create_task(wv.close())
    await backend.closing.wait()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert session.closed and transport._session is None
    with pytest.raises(w.ClientClosed):
        await wv.token_info()


FAULTS = [
    (Fault.HTTP_500, w.ServerError),
    (Fault.HTTP_502, w.ServerError),
    (Fault.HTTP_503, w.ServerError),
    (Fault.RESET, w.TransportError),
    (Fault.RESET_MID_BODY, w.TransportError),
    (Fault.GARBAGE, w.ResponseDecodeError),
    (Fault.HTML, w.ResponseDecodeError),
    (Fault.TRUNCATED, w.ResponseDecodeError),
    (Fault.EMPTY, w.ResponseDecodeError),
    (Fault.OVERSIZED, w.ResponseDecodeError),
    (Fault.CONTRADICTORY_CODE, w.ServerError),
]


@pytest.mark.parametrize(("fault", "error"), FAULTS, ids=[f.value for f, _ in FAULTS])
async def test_fault_gives_documented_error_and_is_sent_once(
    fake: FakeWolkvox, fault: Fault, error: type[Exception]
) -> None:
    client = WolkvoxClient(server="0014", token=fake.token, base_url=fake.url, max_attempts=1)
    await client.token_info()  # a kept-alive connection, which aiohttp would silently retry
    fake.inject(fault)
    with pytest.raises(error):
        await client.token_info()
    assert fake.stats.requests == 2  # no hidden second send
    assert len(fake.faults) == 0
    assert (await client.token_info()).token_use_today == 3  # the client recovers
    await client.close()


async def test_wrong_content_type_with_valid_json_is_fine(
    fake: FakeWolkvox, client: WolkvoxClient
) -> None:
    fake.inject(Fault.WRONG_CONTENT_TYPE)
    assert (await client.token_info()).token_limit == 3000


async def test_a_compression_bomb_is_refused_at_the_cap_never_inflated_whole(
    fake: FakeWolkvox,
) -> None:
    cap = 4 << 20
    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, max_attempts=1, max_answer_bytes=cap
    ) as wv:
        await wv.token_info()  # the session and connection exist before measuring
        fake.inject(Fault.GZIP_BOMB)  # 1 MB on the wire, 1 GiB inflated
        tracemalloc.start()
        try:
            with pytest.raises(w.ResponseDecodeError, match="max_answer_bytes") as info:
                await wv.token_info()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < 3 * cap, f"{peak:,} bytes held to refuse a bomb (cap {cap:,})"
    assert fake.token not in str(info.value)


def test_the_answer_cap_is_a_checked_setting() -> None:
    client = WolkvoxClient(server="0014", token="t")
    assert client.config.max_answer_bytes == 256 * 1024 * 1024  # the documented limit
    with pytest.raises(w.ConfigError, match="max_answer_bytes"):
        WolkvoxClient(server="0014", token="t", max_answer_bytes=0)


async def test_timeout_is_enforced_and_reports_the_limit(fake: FakeWolkvox) -> None:
    async with WolkvoxClient(
        server="0014", token=fake.token, base_url=fake.url, timeout=0.05, max_attempts=1
    ) as wv:
        fake.inject(Fault.SLOW, delay=0.2)
        with pytest.raises(w.RequestTimeout, match=r"0\.05 s") as info:
            await wv.token_info()
    assert isinstance(info.value, TimeoutError)
    assert fake.stats.in_flight[fake.token] == 1  # the server still runs it, as Wolkvox would
    await fake.drain()
    assert fake.stats.in_flight[fake.token] == 0


async def test_connection_refused_is_marked_not_sent() -> None:
    closed = FakeWolkvox()
    url = await closed.start()
    await closed.close()
    async with WolkvoxClient(server="0014", token="t", base_url=url, max_attempts=1) as wv:
        with pytest.raises(w.TransportError) as info:
            await wv.token_info()
    assert info.value.sent is False


async def test_tls_is_verified_unless_turned_off_which_warns() -> None:
    # A server whose certificate no system authority signed: a man in the middle.
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with FakeWolkvox(ssl_context=context) as fake:
        assert fake.url.startswith("https://")
        async with WolkvoxClient(
            server="0014", token=fake.token, base_url=fake.url, max_attempts=1
        ) as wv:
            with pytest.raises(w.TransportError, match=r"(?i)certificate") as info:
                await wv.token_info()
        assert info.value.sent is False and fake.stats.requests == 0  # the token never left
        with pytest.warns(UserWarning, match="TLS verification is off"):
            unverified = WolkvoxClient(
                server="0014", token=fake.token, base_url=fake.url, verify_ssl=False
            )
        async with unverified as wv:
            assert (await wv.token_info()).token_limit == 3000
