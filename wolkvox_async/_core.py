"""The client core: configuration, session ownership, and the structuring helpers the
endpoint groups share. Every request goes through :class:`~wolkvox_async._call.Caller`
(``self._caller``): the one path of a call, in one module."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar

import aiohttp
import attrs

from ._answers import Rows
from ._call import Caller
from ._campaign_state import CampaignFacts
from ._config import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    SERVER_LIMIT,
    TRANSFER_MARGIN,
    ClientConfig,
    reserve_of,
)
from ._convert import CONVERTER, STRICT_CONVERTER, structure, structure_rows
from ._errors import ConfigError, shown
from ._routes import Route
from ._transport import AiohttpTransport, Transport
from .models import ActionResult
from .scheduler import (
    SYSTEM_CLOCK,
    Clock,
    Priority,
    SchedulerStats,
    resolve_backend,
)

if TYPE_CHECKING:
    from .otel import Telemetry
    from .scheduler._backend import BackendSpec

__all__ = ["ClientCore"]

T = TypeVar("T")

PollPolicy = Literal["share", "wait", "raise"]


class ClientCore:
    """Lifecycle, settings and the helpers shared by the endpoint method groups."""

    def __init__(
        self,
        server: str,
        token: str,
        *,
        licenses: int | None = None,
        daily_quota: int | None = None,
        operation: str | None = None,
        base_url: str | None = None,
        server_header: bool = True,
        session: aiohttp.ClientSession | None = None,
        backend: BackendSpec = None,
        max_concurrency: int = 2,
        timeout: float | None = None,
        server_limit: float = SERVER_LIMIT,
        poll_interval: float = 300.0,
        poll_policy: PollPolicy = "share",
        max_wait: float | None = None,
        priority: Priority = Priority.INTERACTIVE,
        max_attempts: int = 5,
        max_answer_bytes: int = MAX_ANSWER_BYTES,
        strict: bool = False,
        quota_reserve: int | float | Mapping[Priority | str, int | float] = 0,
        verify_ssl: bool = True,
        clock: Clock | None = None,
        transport: Transport | None = None,
        telemetry: bool | Telemetry = False,
    ) -> None:
        """Create a client; no connection is made until the first call.

        ``server``, ``token`` and every other keyword not listed below is a setting,
        documented once, in :class:`~wolkvox_async.ClientConfig` (``wv.config``).

        Args:
            session: An aiohttp session to use; the client then never closes it.
            backend: Where the scheduler's state lives: ``"sqlite:///path"``,
                ``"redis://…"``, ``"redis+cluster://…"``, ``"redis+sentinel://…/service"``,
                ``"memory://"``, a redis-py asyncio client or a backend object. Clients given
                the same URL (or redis-py client) share one backend, kept in
                :data:`wolkvox_async.scheduler.BACKENDS`; clients given one backend object
                share it. Default: the per-user ledger the ``wolkvox`` command uses
                (``sqlite:///$XDG_STATE_HOME/wolkvox-async/ledger.db``), so a service and a
                command run by one user on one host share the token's 2 slots and its
                quota; ``WOLKVOX_BACKEND`` overrides it; ``memory://``, with a warning,
                where that folder is not writable.
            priority: INTERACTIVE (default) or BULK; per call:
                ``wv.with_options(priority=...)``.
            clock: Time source (tests inject a VirtualClock).
            transport: A custom transport (the default uses aiohttp).
            telemetry: OpenTelemetry spans and metrics (the ``otel`` extra): True for the
                global providers, or a :class:`wolkvox_async.otel.Telemetry`. Off by
                default; off, nothing of OpenTelemetry is imported.

        Raises:
            ConfigError: an argument is invalid; the message names it.
        """
        if timeout is None:
            timeout = (
                server_limit * (1 + TRANSFER_MARGIN)
                if isinstance(server_limit, float | int) and not isinstance(server_limit, bool)
                else DEFAULT_TIMEOUT
            )
        self._config = ClientConfig(
            server=server,
            token=token,
            licenses=licenses,
            daily_quota=daily_quota,
            operation=operation or "",
            base_url=base_url or "",
            server_header=server_header,
            timeout=timeout,
            server_limit=server_limit,
            verify_ssl=verify_ssl,
            max_concurrency=max_concurrency,
            poll_interval=poll_interval,
            poll_policy=poll_policy,
            max_wait=max_wait,
            max_attempts=max_attempts,
            max_answer_bytes=max_answer_bytes,
            strict=strict,
            quota_reserve=reserve_of(quota_reserve),
        )
        self._converter = STRICT_CONVERTER if self._config.strict else CONVERTER
        self._facts = CampaignFacts()  # shared by the views (with_options copies the client)
        self._caller = Caller(
            self._config,
            transport=transport
            or AiohttpTransport(
                session, verify_ssl=verify_ssl, max_body=self._config.max_answer_bytes
            ),
            backend=resolve_backend(backend),
            clock=clock or SYSTEM_CLOCK,
            priority=Priority(priority),
            telemetry=_telemetry(telemetry),
        )

    @property
    def config(self) -> ClientConfig:
        """The validated settings (the token is hidden from its repr)."""
        return self._config

    def __repr__(self) -> str:
        config = self._config
        return f"{type(self).__name__}(server={config.server!r}, base_url={config.base_url!r})"

    def with_options(
        self,
        *,
        priority: Priority | None = None,
        max_wait: float | None = None,
        poll_policy: PollPolicy | None = None,
    ) -> Self:
        """A view of this client with other per-call settings; it shares the session,
        the scheduler and the state, and closing it closes nothing."""
        view = copy.copy(self)
        changes: dict[str, Any] = {}
        if max_wait is not None:
            changes["max_wait"] = max_wait
        if poll_policy is not None:
            changes["poll_policy"] = poll_policy
        if changes:
            view._config = attrs.evolve(self._config, **changes)
        caller = self._caller
        view._caller = caller.view(
            view._config, caller.priority if priority is None else Priority(priority)
        )
        return view

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """End what the client owns (views close nothing).

        Calls queued for a slot (or waiting to retry) fail at once with
        :class:`ClientClosed`, nothing of them sent; calls in flight are waited for, so
        their answers are delivered and their slots released as their outcome says (a
        cancelled ``close()`` leaves them running); any later call raises
        :class:`ClientClosed`. Then the HTTP session, if the client created it, is closed
        (also when ``close()`` is cancelled once no call of the client runs).
        The last client of a backend in this event loop also closes the backend's
        connections for the loop (Redis, SQLite); a later client reopens them.
        """
        caller = self._caller
        if caller.is_view:
            return
        try:
            await caller.close()
        finally:
            # Cancelled once its calls had ended (while the backend closed, say: a Ctrl-C
            # as a command ends), the session is still closed; nobody else would close it.
            # Cancelled while calls run, it is theirs.
            if not caller.life.active:
                await caller.transport.close()

    # ---- the scheduler ------------------------------------------------------------------

    async def scheduler_stats(self) -> SchedulerStats:
        """In flight, queued per priority, quota used/limit/reserved/available to bulk and
        resets_at, refusals, retries."""
        caller = self._caller
        return await caller.scheduler.stats(caller.limits.token)

    async def sync_quota(self) -> SchedulerStats:
        """Read token_info (costs 1 call) and take the server's used/limit for today.

        Never refused by the local ledger (it is how a wrong count is corrected); the
        server may still answer TOKEN LIMIT EXCEEDED.
        """
        await self._caller.sync_quota()
        return await self.scheduler_stats()

    # ---- structuring helpers used by the method groups ----------------------------------

    async def _rows(
        self,
        route: Route,
        cls: type[T],
        params: Mapping[str, str | None],
        *,
        allow_truncated: bool = False,
        advice: str,
    ) -> Rows[T]:
        """The rows of a read; an answer at the 60,000-row cap raises TruncatedAnswer
        (naming the read, then ``advice``), or with ``allow_truncated`` comes marked."""
        # h-path: the caller reads the rows (Caller.call's rows=).
        return await self._caller.call(
            route, params, rows=cls, allow_truncated=allow_truncated, advice=advice
        )

    async def _first(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> T:
        request, envelope = await self._caller.call(route, params, body)
        rows = structure_rows(request, envelope, cls, self._converter)
        # data[0] carries the result; a missing one means all fields blank.
        return rows[0] if rows else structure(request, envelope, {}, cls, self._converter)

    async def _action(
        self, route: Route, params: Mapping[str, str | None], body: Any = None
    ) -> ActionResult:
        _, envelope = await self._caller.call(route, params, body)
        return ActionResult(message=envelope.message)


def _telemetry(spec: object) -> Telemetry | None:
    """The client's telemetry; the otel module is imported only when it is asked for."""
    if spec is False:
        return None
    try:
        from .otel import Telemetry
    except ImportError:
        raise ConfigError(
            "telemetry needs OpenTelemetry: pip install 'wolkvox-async[otel]'"
        ) from None
    if spec is True:
        return Telemetry()
    if isinstance(spec, Telemetry):
        return spec
    raise ConfigError(f"telemetry must be True, False or a Telemetry, got {shown(spec)}")
