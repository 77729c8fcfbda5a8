"""The client core: configuration, session ownership, and the one place every call goes.

:meth:`ClientCore._call` builds the request (sans-I/O), sends it through the transport
and parses the answer. It is the seam where the per-token scheduler admits each request
(DESIGN.md §2): nothing else in the client talks to the transport.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import aiohttp

from ._config import DEFAULT_TIMEOUT, ClientConfig
from ._protocol import (
    Envelope,
    RawRequest,
    build_request,
    parse_response,
    structure,
    structure_rows,
)
from ._routes import Route
from ._transport import AiohttpTransport, Transport
from .models import ActionResult

__all__ = ["ClientCore"]

T = TypeVar("T")


class ClientCore:
    """Lifecycle and request plumbing shared by the endpoint method groups."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        licenses: int | None = None,
        daily_quota: int | None = None,
        operation: str | None = None,
        base_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        verify_ssl: bool = True,
        transport: Transport | None = None,
    ) -> None:
        """Create a client; no connection is made until the first call.

        Args:
            server: The operation's server number, ASCII digits (``"0014"``).
            token: The ``wolkvox-token``; never logged or shown.
            licenses: Licenses of the operation (daily quota = licenses × 1000).
            daily_quota: Explicit daily quota, instead of licenses × 1000.
            operation: Name of the quota pool shared by the operation's tokens.
            base_url: Replaces ``https://wv{server}.wolkvox.com`` (tests, proxies).
            session: An aiohttp session to use; the client then never closes it.
            timeout: Seconds a call may take (Wolkvox's own limit is 60 s).
            verify_ssl: TLS verification; False warns.
            transport: A custom :class:`~wolkvox_async._transport.Transport`.

        Raises:
            ConfigError: an argument is invalid; the message names it.
        """
        self._config = ClientConfig(
            server=server,
            token=token,
            licenses=licenses,
            daily_quota=daily_quota,
            operation=operation or "",
            base_url=base_url or "",
            timeout=timeout,
            verify_ssl=verify_ssl,
        )
        self._transport: Transport = transport or AiohttpTransport(session, verify_ssl=verify_ssl)

    @property
    def config(self) -> ClientConfig:
        """The validated settings (the token is hidden from its repr)."""
        return self._config

    def __repr__(self) -> str:
        config = self._config
        return f"{type(self).__name__}(server={config.server!r}, base_url={config.base_url!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if the client created it."""
        await self._transport.close()

    async def _call(
        self, route: Route, params: Mapping[str, str | None] | None = None, body: Any = None
    ) -> tuple[RawRequest, Envelope]:
        request = build_request(self._config, route, params, body)
        # Admission seam: the scheduler will take a lease here and release it after.
        response = await self._transport.send(request)
        return request, parse_response(request, response)

    async def _rows(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> tuple[T, ...]:
        request, envelope = await self._call(route, params, body)
        return structure_rows(request, envelope, cls)

    async def _first(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> T:
        request, envelope = await self._call(route, params, body)
        rows = structure_rows(request, envelope, cls)
        # data[0] carries the result; a missing one means all fields blank.
        return rows[0] if rows else structure(request, envelope, {}, cls)

    async def _action(
        self, route: Route, params: Mapping[str, str | None], body: Any = None
    ) -> ActionResult:
        _, envelope = await self._call(route, params, body)
        return ActionResult(message=envelope.message)
