"""The client core: configuration, session ownership, and the one path every call takes.

:meth:`ClientCore._call` builds the request (sans-I/O), asks the scheduler for admission,
sends it under the call timeout, releases the lease with what happened, feeds the
server's limit refusals back to the scheduler, and retries when ``_retry`` says so, each
attempt admitted (and counted) again (DESIGN.md §2).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import aiohttp
import attrs

from ._config import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    SERVER_LIMIT,
    TRANSFER_MARGIN,
    ClientConfig,
    reserve_of,
)
from ._convert import CONVERTER, STRICT_CONVERTER, WOLKVOX_TZ
from ._errors import (
    ApiError,
    Maintenance,
    RequestTimeout,
    TokenLimitExceeded,
    TooManySimultaneous,
    TransportError,
    WolkvoxError,
)
from ._protocol import (
    Envelope,
    RawRequest,
    build_request,
    parse_response,
    structure,
    structure_rows,
)
from ._retry import RetryPolicy, maintenance_pause, retry_delay
from ._routes import TOKEN_INFO, Route
from ._transport import AiohttpTransport, Transport
from .models import ActionResult, TokenInfo
from .scheduler import (
    CAP_COOLDOWN,
    SYSTEM_CLOCK,
    Admission,
    Backend,
    Clock,
    Feedback,
    Outcome,
    Priority,
    Scheduler,
    SchedulerStats,
    resolve_backend,
    scheduler_for,
    token_key,
)

__all__ = ["ClientCore"]

T = TypeVar("T")
log = logging.getLogger("wolkvox_async.client")

PollPolicy = Literal["share", "wait", "raise"]


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
        backend: Backend | str | None = None,
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
    ) -> None:
        """Create a client; no connection is made until the first call.

        Args:
            server: The operation's server number, ASCII digits (``"0014"``).
            token: The ``wolkvox-token``; never logged or shown.
            licenses: Licenses of the operation (daily quota = licenses × 1000).
            daily_quota: Explicit daily quota, instead of licenses × 1000.
            operation: The quota pool shared by the operation's tokens (default: server).
            base_url: Replaces ``https://wv{server}.wolkvox.com`` (tests, proxies).
            session: An aiohttp session to use; the client then never closes it.
            backend: Scheduler state: ``"sqlite:///path"``, ``"redis://…"``,
                ``"memory://"`` or a backend object; clients with the same backend share
                their state. Default: the per-user ledger the ``wolkvox`` command uses
                (``$XDG_STATE_HOME/wolkvox-async/ledger.db``), or ``WOLKVOX_BACKEND``.
            max_concurrency: Requests in flight per token, 2 (documented) or 1.
            timeout: Seconds a call may take, answer included; default 90 s (Wolkvox's 60 s
                and half again to receive a large answer), 1.5 × ``server_limit`` when that
                is set. At most 2 × ``server_limit``; a lease lives as long.
            server_limit: Seconds the server may run a call (60 s, §3.1); lower it only
                for a simulator that stops calls sooner.
            poll_interval: Seconds between identical report/information reads.
            poll_policy: An identical read within the interval: ``"share"`` the last
                result, ``"wait"`` for the interval, or ``"raise"`` WaitTooLong.
            max_wait: Longest wait for admission; longer waits raise WaitTooLong.
            priority: INTERACTIVE (default) or BULK.
            max_attempts: Attempts per call, retries included.
            max_answer_bytes: The largest answer read, counted decompressed as it streams
                in (256 MB, the documented result limit); a larger one (a compression
                bomb) is refused with ResponseDecodeError, never inflated whole.
            quota_reserve: Today's quota kept for INTERACTIVE calls: BULK calls (uploads,
                downloads, ``with_options(priority=BULK)``) are refused with QuotaReserved
                once only this much is left. Units (an int), a fraction of the limit (a
                float below 1), or ``{Priority.INTERACTIVE: either}``. Give every client
                of the operation the same reserve.
            strict: Raise ResponseDecodeError for an answer with unknown keys or a value
                that cannot be read. By default such a row is delivered, the value None,
                ``row.unread`` naming it, and a warning is logged (our tests against the
                simulator run strict).
            verify_ssl: TLS verification; False warns.
            clock: Time source (tests inject a VirtualClock).
            transport: A custom transport (the default uses aiohttp).

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
        self._transport: Transport = transport or AiohttpTransport(
            session, verify_ssl=verify_ssl, max_body=self._config.max_answer_bytes
        )
        self._backend = resolve_backend(backend)
        self._clock = clock or SYSTEM_CLOCK
        self._priority = Priority(priority)
        self._retry = RetryPolicy(max_attempts=max_attempts)
        self._token_key = token_key(token)
        self._is_view = False
        self._attached: Scheduler | None = None
        # The scheduler of the loop last used: looked up once per loop, not per step of a
        # call (a weak-keyed lookup costs ~3 µs; a crowd of 10,000 callers feels it).
        self._cached: tuple[weakref.ref[asyncio.AbstractEventLoop], Scheduler] | None = None
        self._admissions: dict[bool, Admission] = {}
        """Today's admission of a call that is not a read, by bulk-ness (made once a day)."""

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
        view._is_view = True
        view._admissions = {}
        if priority is not None:
            view._priority = Priority(priority)
        changes: dict[str, Any] = {}
        if max_wait is not None:
            changes["max_wait"] = max_wait
        if poll_policy is not None:
            changes["poll_policy"] = poll_policy
        if changes:
            view._config = attrs.evolve(self._config, **changes)
        return view

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
        """Close the HTTP session if the client created it (views close nothing).

        The last client of a backend in this event loop also closes the backend's
        connections for the loop (Redis, SQLite); a later client reopens them.
        """
        if self._is_view:
            return
        await self._transport.close()
        attached, self._attached = self._attached, None
        self._cached = None
        if attached is not None:
            await attached.detach()

    # ---- the scheduler ------------------------------------------------------------------

    @property
    def _scheduler(self) -> Scheduler:
        loop = asyncio.get_running_loop()
        cached = self._cached
        if cached is not None and cached[0]() is loop:
            return cached[1]
        scheduler = scheduler_for(self._backend, self._clock)
        if self._attached is None and not self._is_view:
            self._attached = scheduler.attach()
        self._cached = (weakref.ref(loop), scheduler)
        return scheduler

    def _admission(self, route: Route, request: RawRequest, *, bulk: bool = False) -> Admission:
        """What one call asks of the scheduler; a BULK call (or ``bulk``) carries the
        quota reserve it must leave to interactive calls."""
        config = self._config
        bulk = bulk or self._priority is Priority.BULK
        reserve = config.quota_reserve if bulk else 0
        poll_key = None
        if route.poll_limited and config.poll_interval > 0:
            digest = hashlib.sha256(f"{self._token_key}|{request.url}".encode()).hexdigest()
            poll_key = f"p{digest[:24]}"
        day, resets_at = self._scheduler.today(WOLKVOX_TZ)
        if poll_key is None and (made := self._admissions.get(bulk)) and made.day == day:
            return made  # the same for every call of the day but reads (frozen: shared)
        admission = Admission(
            token=self._token_key,
            operation=config.operation,
            limit=config.quota_limit,
            cap=config.max_concurrency,
            # A holder that dies never releases: its lease ends when its call must be over.
            lease_ttl=config.lease_life,
            poll_key=poll_key,
            poll_interval=config.poll_interval,
            tz=WOLKVOX_TZ,
            day=day,
            resets_at=resets_at,
            reserve=reserve if isinstance(reserve, int) else 0,
            reserve_fraction=reserve if isinstance(reserve, float) else 0.0,
        )
        if poll_key is None:
            self._admissions[bulk] = admission
        return admission

    async def scheduler_stats(self) -> SchedulerStats:
        """In flight, queued per priority, quota used/limit/reserved/available to bulk and
        resets_at, refusals, retries."""
        request = build_request(self._config, TOKEN_INFO)
        return await self._scheduler.stats(self._admission(TOKEN_INFO, request, bulk=True))

    async def sync_quota(self) -> SchedulerStats:
        """Read token_info (costs 1 call) and take the server's used/limit for today.

        Never refused by the local ledger (it is how a wrong count is corrected); the
        server may still answer TOKEN LIMIT EXCEEDED.
        """
        admission = self._admission(TOKEN_INFO, build_request(self._config, TOKEN_INFO), bulk=True)
        # The ledger's count as the read goes (itself included): what is admitted after
        # it may not be in the server's answer, and is added to it.
        before = (await self._scheduler.stats(admission)).quota_used + 1
        request, envelope = await self._call(TOKEN_INFO, {}, corrects_quota=True)
        rows = structure_rows(request, envelope, TokenInfo)
        info = rows[0] if rows else TokenInfo()
        used = info.all_token_today if info.all_token_today is not None else info.token_use_today
        await self._scheduler.set_quota(
            admission, used=used or 0, limit=info.token_limit, since=before
        )
        return await self._scheduler.stats(admission)

    # ---- one call -----------------------------------------------------------------------

    async def _call(
        self,
        route: Route,
        params: Mapping[str, str | None] | None = None,
        body: Any = None,
        *,
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
        corrects_quota: bool = False,
    ) -> tuple[RawRequest, Envelope]:
        """Send ``route`` through admission and retries; ``on_send`` is told the time of
        each attempt once it is admitted, just before it leaves (the upload journal), and
        ``on_written`` when its body is with the socket (a bulk load's reader waits
        for that before it reads on)."""
        request = build_request(self._config, route, params, body)
        self._transport.ready()  # before admission: a session of another loop costs nothing
        admission = self._admission(route, request)
        if corrects_quota:
            admission = attrs.evolve(admission, corrects_quota=True)
        scheduler = self._scheduler
        if admission.poll_key and self._config.poll_policy == "share":
            shared = await scheduler.reads.get(admission.poll_key)
            if shared is not None:
                log.debug("%s: sharing the result of an identical read", route.name)
                return request, shared
            return request, await scheduler.reads.run(
                admission.poll_key,
                admission.poll_interval,
                self._attempts(route, request, admission),
            )
        return request, await self._attempts(route, request, admission, on_send, on_written)

    async def _attempts(
        self,
        route: Route,
        request: RawRequest,
        admission: Admission,
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
    ) -> Envelope:
        scheduler = self._scheduler
        attempt = 0
        while True:
            attempt += 1
            try:
                return await self._exchange(request, admission, attempt, on_send, on_written)
            except (ApiError, TransportError) as exc:
                error: WolkvoxError = exc
            if isinstance(error, TokenLimitExceeded):
                error.resets_at = datetime.fromtimestamp(admission.resets_at, UTC)
            delay = retry_delay(self._retry, attempt, route, error)
            if delay is None:
                raise error
            scheduler.count_retry(admission.token, type(error).__name__)
            log.debug(
                "%s: %s, retry %d/%d in %.2f s",
                route.name,
                type(error).__name__,
                attempt,
                self._retry.max_attempts - 1,
                delay,
            )
            await self._clock.sleep(delay)

    async def _exchange(
        self,
        request: RawRequest,
        admission: Admission,
        attempt: int,
        on_send: Callable[[float], None] | None,
        on_written: Callable[[], None] | None,
    ) -> Envelope:
        """One admitted attempt: lease, send under the timeout, parse, and release with
        what the server said (applied before anyone else is admitted)."""
        scheduler = self._scheduler
        config = self._config
        while True:
            lease = await scheduler.acquire(
                admission,
                priority=self._priority,
                max_wait=config.max_wait,
                raise_on_poll=config.poll_policy == "raise",
            )
            # The ledger frees the lease a lifetime after granting it, and the call may
            # hold its slot until the timeout (or the server's limit) after it leaves:
            # sent later than the margin between the two (a starved process), the call
            # could outlive its lease — and another caller would join it. Such a lease
            # goes back unused and is asked for again.
            late = self._clock.time() - lease.granted_at
            lost = self._backend.lost
            if lost and admission.operation in lost and not admission.corrects_quota:
                # The ledger's count of today restarted from zero (a Redis restarted
                # empty): take the server's before this call is counted against it.
                lost.discard(admission.operation)
                await scheduler.release(lease, Outcome.NOT_SENT)
                log.warning("the scheduler's ledger was lost: reading today's count first")
                try:
                    await self.sync_quota()
                except WolkvoxError as exc:  # the call goes on; the server still counts
                    log.warning("could not read today's count (%s)", exc)
                continue
            if late <= config.lease_life - max(config.timeout, config.server_limit):
                break
            log.warning("lease granted %.2f s ago, too late to send on; asking again", late)
            await scheduler.release(lease, Outcome.NOT_SENT)
        lease.sent_at = self._clock.time()
        if on_send is not None:
            on_send(lease.sent_at)
        outcome = Outcome.ABANDONED  # cancelled mid-send: the server may still be running it
        said: Feedback | None = None
        try:
            try:
                async with self._clock.timeout(config.timeout):
                    response = await self._transport.send(request, on_written)
            except TimeoutError:
                raise RequestTimeout(
                    method=request.method, url=request.url, reason="timeout", timeout=config.timeout
                ) from None
            except TransportError as exc:
                outcome = Outcome.FAILED if exc.sent else Outcome.NOT_SENT
                raise
            except ApiError:
                outcome = Outcome.FAILED  # the transport refused the answer (over max_answer_bytes)
                raise
            outcome = Outcome.FAILED
            try:
                envelope = parse_response(request, response)
            except ApiError as exc:
                said = self._said(exc, attempt)
                raise
            outcome = Outcome.ANSWERED
            return envelope
        finally:
            # An abandoned call holds its slot until dispatch + 60 s (DESIGN §4); an error
            # here costs at worst a 403 SIMULTANEOUS, which is retried. (Reconciling an
            # upload waits the margin too: its error would be a doubled record.)
            await scheduler.release(lease, outcome, hold=config.server_limit, feedback=said)

    def _said(self, error: ApiError, attempt: int) -> Feedback | None:
        """What the server's refusal means for everyone on the token (§3.3, §4)."""
        if isinstance(error, TooManySimultaneous):
            return Feedback(cap_for=CAP_COOLDOWN)  # someone else uses the token
        if isinstance(error, TokenLimitExceeded):
            return Feedback(spent=True)
        if isinstance(error, Maintenance):
            return Feedback(pause_for=maintenance_pause(self._retry, attempt))
        return None

    # ---- structuring helpers used by the method groups ----------------------------------

    async def _rows(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> tuple[T, ...]:
        request, envelope = await self._call(route, params, body)
        return structure_rows(request, envelope, cls, self._converter)

    async def _first(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> T:
        request, envelope = await self._call(route, params, body)
        rows = structure_rows(request, envelope, cls, self._converter)
        # data[0] carries the result; a missing one means all fields blank.
        return rows[0] if rows else structure(request, envelope, {}, cls, self._converter)

    async def _action(
        self, route: Route, params: Mapping[str, str | None], body: Any = None
    ) -> ActionResult:
        _, envelope = await self._call(route, params, body)
        return ActionResult(message=envelope.message)
