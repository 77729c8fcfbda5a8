"""The only aiohttp code: send a RawRequest, get a RawResponse, map network failures.

It owns its ClientSession unless one is passed in (then it never closes it), caps the
body as it streams in, decompressed (256 MB by default, the documented result limit: a
compression bomb is refused once past the cap, never inflated whole), and logs requests
at DEBUG without headers, so the token never reaches a log line. The call timeout is the
client core's (on the injected clock).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp
import aiohttp.abc

from .._config import MAX_ANSWER_BYTES, redact
from .._errors import ClientClosed, ConfigError, ResponseDecodeError, TransportError
from ._protocol import RawRequest, RawResponse

__all__ = ["AiohttpTransport", "Transport"]

log = logging.getLogger("wolkvox_async.http")


class _Body(aiohttp.BytesPayload):
    """A request body written to the socket in one call.

    aiohttp warns on raw bodies over 1 MB and suggests a BytesIO, which it reads in 64 KB
    pieces through the thread pool, each hand-off waiting for the event loop while the
    slot idles (benchmarks/upload_throughput.py); a whole body to the transport is one copy.
    """

    def __init__(self, value: bytes, written: Callable[[], None] | None) -> None:
        aiohttp.payload.Payload.__init__(self, value, content_type="application/json")
        self._size = len(value)
        self._written = written

    async def write_with_length(
        self, writer: aiohttp.abc.AbstractStreamWriter, content_length: int | None
    ) -> None:
        await super().write_with_length(writer, content_length)
        if self._written is not None:  # the bytes are with the socket: tell the sender
            self._written()


class Transport(Protocol):
    """Anything that can send a :class:`RawRequest`."""

    async def send(
        self, request: RawRequest, written: Callable[[], None] | None = None
    ) -> RawResponse:
        """Send and read the whole answer, or raise TransportError. ``written`` is called
        once the body has been handed to the socket (requests with a body)."""
        ...

    def ready(self) -> None:
        """Raise ConfigError if no request can go from the running event loop."""
        ...

    async def close(self) -> None:
        """Release what the transport owns."""
        ...


class AiohttpTransport:
    """:class:`Transport` over an aiohttp ClientSession."""

    def __init__(
        self,
        session: aiohttp.ClientSession | None = None,
        *,
        verify_ssl: bool = True,
        max_body: int = MAX_ANSWER_BYTES,
    ):
        self._session = session
        self._max_body = max_body
        """Bytes of answer read at most, decompressed (aiohttp inflates a compressed body
        a bounded piece at a time as it is read, so counting the pieces bounds memory)."""
        self._owns_session = session is None
        self._verify_ssl = verify_ssl
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop the session works in (a session cannot cross loops)."""
        self._closed = False
        """Closed: no session is made again (it would never be closed)."""

    @property
    def given_session(self) -> aiohttp.ClientSession | None:
        """The session passed in (its proxy, TLS and connector settings), if any."""
        return None if self._owns_session else self._session

    def ready(self) -> None:
        """Make sure a request can go from the running loop; called before admission, so
        a refusal costs no slot and no quota unit. An aiohttp session (ours or one passed
        in) works in the loop it was first used in only.

        Raises:
            ConfigError: the session was used in another event loop (``asyncio.run``
                called again with the same client, or a client shared between threads).
        """
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed:
            self._loop = loop  # a session is made (or was closed): this loop is its loop
            return
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise ConfigError(
                "this client's HTTP session belongs to another event loop (asyncio.run called "
                "again, or another thread): make one client per event loop — clients of one "
                "backend share the token's slots and quota wherever they run"
            )

    def _new_session(self) -> aiohttp.ClientSession:
        """The session, made on the first call (and again if a passed one was closed)."""
        if self._closed:
            raise ClientClosed("the client was closed: the call was not sent")
        connector = aiohttp.TCPConnector(ssl=self._verify_ssl)
        # The call's timeout is the core's (on its clock, answer included); aiohttp's
        # own 5-minute one would only add a second timer to every call. Connecting
        # keeps aiohttp's bound.
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        # aiohttp silently re-sends GET/PUT/DELETE once when a kept-alive connection
        # drops. Every Wolkvox call costs a quota unit and a concurrency slot, so a
        # hidden second send must not happen: retries are the retry policy's call.
        # (aiohttp's own test_utils turns it off the same way.)
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False
        self._owns_session = True
        return self._session

    async def send(
        self, request: RawRequest, written: Callable[[], None] | None = None
    ) -> RawResponse:
        """Send ``request``; see :class:`Transport`.

        Raises:
            TransportError: the connection failed (``sent`` False if nothing left us).
            ResponseDecodeError: the body, decompressed, is larger than ``max_body``.
        """
        session = self._session
        if session is None or session.closed:
            session = self._new_session()
        started = time.perf_counter()
        log.debug("-> %s %s", request.method, request.url)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=dict(request.headers),
                data=None if request.body is None else _Body(request.body, written),
                allow_redirects=False,
            ) as resp:
                try:
                    length = resp.content_length
                    plain = "Content-Encoding" not in resp.headers
                    if length is not None and length <= self._max_body and plain:
                        # Its length is known and within the limit: read at once.
                        body = await resp.read()
                    else:
                        body = await self._body(request, resp)
                except aiohttp.ClientError as exc:
                    # Broken mid-answer: the server had answered, it is done with the call.
                    raise self._failed(request, exc, sent=True, answered=True) from None
                result = RawResponse(
                    status=resp.status,
                    content_type=resp.content_type,
                    body=body,
                    location=resp.headers.get("Location", ""),
                )
        except aiohttp.ClientConnectorError as exc:
            # Nothing reached the server: refused, DNS, TLS handshake.
            raise self._failed(request, exc, sent=False) from None
        except aiohttp.ClientError as exc:
            # Any byte may have left: the server may be running the call still.
            raise self._failed(request, exc, sent=True) from None
        log.debug(
            "<- %s %s %s (%d bytes, %.0f ms)",
            result.status,
            request.method,
            request.url,
            len(result.body),
            (time.perf_counter() - started) * 1000,
        )
        return result

    async def _body(self, request: RawRequest, resp: aiohttp.ClientResponse) -> bytes:
        """The whole answer, never more than ``max_body`` bytes of it held."""
        limit = self._max_body
        length = resp.content_length
        if length is not None and length > limit:
            raise self._too_big(request, resp.status, limit)
        if length is not None and "Content-Encoding" not in resp.headers:
            # Its length is known and within the limit: read at once, not through the
            # async iterator below (2-7 % of an interactive call's client CPU).
            return await resp.read()
        # Compressed (inflated as read, to any size) or of unknown length: counted piece by
        # piece.
        chunks, size = [], 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > limit:
                raise self._too_big(request, resp.status, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _failed(
        request: RawRequest, exc: Exception, *, sent: bool, answered: bool = False
    ) -> TransportError:
        reason = redact(f"{type(exc).__name__}: {exc}", request.token)
        log.debug("xx %s %s: %s", request.method, request.url, reason)
        return TransportError(
            method=request.method, url=request.url, reason=reason, sent=sent, answered=answered
        )

    @staticmethod
    def _too_big(request: RawRequest, status: int, limit: int) -> ResponseDecodeError:
        return ResponseDecodeError(
            method=request.method,
            url=request.url,
            http_status=status,
            body_code=None,
            message=(
                f"the answer passed max_answer_bytes ({limit:,} bytes, decompressed) and was "
                "refused unread (Wolkvox's results are at most 256 MB)"
            ),
        )

    async def close(self) -> None:
        """Close the session if this transport created it; none is made after."""
        self._closed = True
        if self._owns_session and self._session is not None:
            await self._session.close()
        self._session = None
