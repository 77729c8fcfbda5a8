"""A TCP proxy on 127.0.0.1 that resets some client connections after forwarding a request.

What proxies, load balancers and NAT timeouts do in production: the request reaches the
server, which runs it to its end, while the client sees its connection reset with no
answer. The server side of a reset connection is kept open and drained, so the server
never notices (for FakeWolkvox the call stays in flight until it answers). A reset
request may also reach the server later than it left the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from types import TracebackType


class ResettingProxy:
    """Forwards to ``upstream`` (host, port); after every ``every``-th request (counted
    over all connections, which aiohttp keeps alive) is forwarded whole, the client's
    connection is reset (RST). A request whose connection is reset reaches the server
    ``delay`` seconds after the proxy got it (it was stuck: a slow link, a proxy buffering
    the body), the others at once. ``requests`` and
    ``resets`` count them."""

    def __init__(self, upstream: tuple[str, int], every: int = 3, *, delay: float = 0.0) -> None:
        self.upstream = upstream
        self.every = every
        self.delay = delay
        self.requests = 0
        self.resets = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> ResettingProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        back = asyncio.create_task(_pipe(up_reader, writer))  # the answers, to the client
        try:
            while (request := await _request(reader)) is not None:
                self.requests += 1
                reset = self.requests % self.every == 0
                if reset and self.delay:
                    await asyncio.sleep(self.delay)
                up_writer.write(request)
                await up_writer.drain()
                if not reset:
                    continue
                back.cancel()  # (awaited: the drain below reads the same stream)
                await asyncio.gather(back, return_exceptions=True)
                # A reset, not a clean close: SO_LINGER 0 makes the close send RST.
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                self.resets += 1
                # The server runs the call to its end: its answer is read and dropped.
                while await up_reader.read(65536):
                    pass
                return
            await back
        finally:
            back.cancel()
            self._tasks.discard(task)
            for w in (writer, up_writer):
                with contextlib.suppress(Exception):
                    w.close()


async def _request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole HTTP/1.1 request (head and Content-Length body), None at the end."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
