"""The path of every call, read top to bottom (DESIGN.md §2).

:meth:`Caller.call` builds the request (pure, ``_protocol``), then per attempt: a lease,
the request sent under the call timeout (``_transport``), the lease released with what
happened (a server's limit refusal too), the answer read (``_protocol``), and round again
when the error's class says so (``_meaning``); then the rows (``_convert``). Errors, late
leases and lost ledgers are branches the common call never enters.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final, NamedTuple, TypeVar, overload

from .._config import ClientConfig
from .._errors import ApiError, ClientClosed, RequestTimeout, TransportError, WolkvoxError
from .._meaning import Refusal
from .._time import WOLKVOX_TZ
from ..scheduler import (
    CAP_COOLDOWN,
    Backend,
    Clock,
    Feedback,
    Lease,
    Outcome,
    Priority,
    Scheduler,
    SystemClock,
    TokenLimits,
    token_key,
)
from ._answers import MAX_ROWS, Rows, truncated
from ._convert import CONVERTER, STRICT_CONVERTER, quota_counts, structure_rows
from ._life import Life
from ._protocol import Envelope, RawRequest, build_request, parse_response
from ._retry import RetryPolicy, maintenance_pause, retry_delay
from ._routes import TOKEN_INFO, Route
from ._transport import Transport

if TYPE_CHECKING:
    from ..otel import CallTrace, Telemetry

__all__ = ["Caller"]

log = logging.getLogger("wolkvox_async.client")
T = TypeVar("T")
_UNTRACED: Final = contextlib.nullcontext()  # where a traced call is inside its trace's block
_NEW_ROWS: Final = tuple.__new__  # Rows without a call: a complete answer's mark is the default


class _Hooks(NamedTuple):
    """What a bulk caller is told along one call (see :meth:`Caller.call`)."""

    on_send: Callable[[float], None] | None
    on_written: Callable[[], None] | None
    on_answer: Callable[[bytes], Awaitable[None]] | None
    cut: Callable[[Envelope], bool] | None
    stamped: Callable[[Lease], None] | None
    trace: CallTrace | None
    capped: bool  # cut when the answer holds the row cap (a read of rows)


class Caller:
    """Sends the calls of one client (and of its views) through the scheduler."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        transport: Transport,
        backend: Backend,
        clock: Clock,
        priority: Priority,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.config = config
        self.telemetry = telemetry
        self.transport = transport
        self.backend = backend
        self.clock = clock
        self.priority = priority
        self.retry = RetryPolicy(max_attempts=config.max_attempts)
        self.converter = STRICT_CONVERTER if config.strict else CONVERTER
        reserve = config.quota_reserve
        self.limits = TokenLimits(
            token=token_key(config.token),
            operation=config.operation,
            limit=config.quota_limit,
            cap=config.max_concurrency,
            # A holder that dies never releases: its lease ends when its call must be over.
            lease_ttl=config.lease_life,
            poll_interval=config.poll_interval,
            tz=WOLKVOX_TZ,
            reserve=reserve if isinstance(reserve, int) else 0,
            reserve_fraction=reserve if isinstance(reserve, float) else 0.0,
        )
        # A lease older than this as its call leaves (a starved process) could be outlived.
        self.send_within = config.lease_life - max(config.timeout, config.server_limit)
        self.hold = config.held_after_send  # a call that may still run keeps its slot
        # The clock's timeout, or asyncio's own where it is the system clock's (one frame).
        self.timeout = asyncio.timeout if type(clock) is SystemClock else clock.timeout
        self.is_view = False
        self.life = Life()

    def view(self, config: ClientConfig, priority: Priority) -> Caller:
        """A caller with other per-call settings, sharing everything else."""
        view = copy.copy(self)
        view.config, view.priority, view.is_view = config, priority, True
        view.hold = config.held_after_send
        return view

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of the running loop, this token registered with it."""
        cached = self.life.cached
        if cached is None or cached[0]() is not asyncio.get_running_loop():
            return self.life.attach(None, self.backend, self.clock, self.limits)
        return cached[1]

    async def close(self) -> None:
        """End the client's calls (see :meth:`Life.close`); later calls raise ClientClosed."""
        await self.life.close(self._closed_message)

    @property
    def _closed_message(self) -> str:
        return f"the client was closed: the call was not sent ({self.config.base_url})"

    @overload
    async def call(
        self,
        route: Route,
        params: Mapping[str, str | None] | None = None,
        body: Any = None,
        *,
        rows: None = None,
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
        on_answer: Callable[[bytes], Awaitable[None]] | None = None,
        cut: Callable[[Envelope], bool] | None = None,
        stamped: Callable[[Lease], None] | None = None,
        corrects_quota: bool = False,
        trace: CallTrace | None = None,
    ) -> tuple[RawRequest, Envelope]: ...

    @overload
    async def call(
        self,
        route: Route,
        params: Mapping[str, str | None],
        *,
        rows: type[T],
        allow_truncated: bool = False,
        advice: str,
    ) -> Rows[T]: ...

    async def call(
        self,
        route: Route,
        params: Mapping[str, str | None] | None = None,
        body: Any = None,
        *,
        rows: type[Any] | None = None,
        allow_truncated: bool = False,
        advice: str = "",
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
        on_answer: Callable[[bytes], Awaitable[None]] | None = None,
        cut: Callable[[Envelope], bool] | None = None,
        stamped: Callable[[Lease], None] | None = None,
        corrects_quota: bool = False,
        trace: CallTrace | None = None,
    ) -> Any:
        """Send ``route``: the request and the answer's envelope, or with ``rows`` its rows
        of that model (at the 60,000-row cap: TruncatedAnswer naming the read, then
        ``advice``, or with ``allow_truncated`` marked; the read keeps no poll stamp).

        Told along the way: ``on_send`` the time each attempt leaves (the upload journal),
        ``on_written`` when its body is with the socket, ``on_answer`` the body of a 200
        before it is parsed (a download's next part), ``cut`` whether an answer holds only
        part of what was asked (``Outcome.CUT``), ``stamped`` the lease of a poll-limited
        read that kept its stamp. With telemetry, the call runs again in its span."""
        if self.telemetry is not None and trace is None:  # the call again, in its span
            async with self.telemetry.call(self, route, params) as traced:
                return await self.call(  # type: ignore[call-overload,misc]
                    route,
                    params,
                    body,
                    rows=rows,
                    allow_truncated=allow_truncated,
                    advice=advice,
                    on_send=on_send,
                    on_written=on_written,
                    on_answer=on_answer,
                    cut=cut,
                    stamped=stamped,
                    corrects_quota=corrects_quota,
                    trace=traced,
                )
        if self.life.closed:
            raise ClientClosed(self._closed_message)
        config = self.config
        request = build_request(
            config.base_url,
            config.token,
            route,
            params,
            body,
            server=config.server if config.server_header else "",
        )
        hooks = _Hooks(on_send, on_written, on_answer, cut, stamped, trace, rows is not None)
        poll_key = None  # (a poll-limited read: its key; see scheduler/_reads.py)
        if route.poll_limited and config.poll_interval > 0:
            digest = hashlib.sha256(f"{self.limits.token}|{request.url}".encode()).hexdigest()
            poll_key = f"p{digest[:24]}"
        if poll_key is None or config.poll_policy != "share":
            envelope = await self._attempts(request, poll_key, corrects_quota, hooks)
        else:
            self.transport.ready()  # (before any admission, as _attempts does)
            reads = self.scheduler.reads  # an identical read within the interval: its result
            shared = await reads.get(poll_key)
            if shared is not None:
                log.debug("%s: sharing the result of an identical read", route.name)
                envelope = shared
            else:
                attempts = self._attempts(request, poll_key, corrects_quota, hooks)
                envelope = await reads.run(poll_key, config.poll_interval, attempts)
        if rows is None:
            return request, envelope
        count = len(envelope.payload) if type(envelope.payload) is list else 0
        if count >= MAX_ROWS and not allow_truncated:
            # Its read kept no poll stamp (Outcome.CUT): the windowed read may start at once.
            raise truncated(request, params or {}, count, advice=advice)
        read = structure_rows(request, envelope, rows, self.converter)
        return Rows(read, truncated=True) if count >= MAX_ROWS else _NEW_ROWS(Rows, read)

    async def _attempts(
        self, request: RawRequest, poll_key: str | None, corrects_quota: bool, hooks: _Hooks
    ) -> Envelope:
        """Admit, send, release and read, round again while the error's class says so."""
        life, clock, config, trace = self.life, self.clock, self.config, hooks.trace
        token = self.limits.token
        cached = life.cached
        if cached is None or cached[0]() is not asyncio.get_running_loop():
            scheduler = life.attach(self.transport, self.backend, self.clock, self.limits)
        else:
            scheduler = cached[1]
        life.active += 1  # (close() waits for the client's calls to end)
        error: WolkvoxError | None
        unfit: str | None
        try:
            attempt = 0
            while True:
                error, unfit = None, None
                async with scheduler.slot(
                    token,
                    poll_key,
                    priority=self.priority,
                    max_wait=config.max_wait,
                    raise_on_poll=config.poll_policy == "raise",
                    corrects_quota=corrects_quota,
                    owner=life,
                    hold=self.hold,
                    waiting=None if trace is None else trace.waiting,
                    route=request.route,
                ) as slot:
                    # What the slot's exit releases with: its outcome as the call goes on
                    # (a cancellation leaves the last one set), and what the server said.
                    slot.outcome = Outcome.NOT_SENT
                    lease = slot.lease
                    try:
                        late = clock.time() - lease.granted_at > self.send_within
                        if life.closed or self.backend.lost or late:
                            unfit = self._unfit(scheduler, lease, corrects_quota)
                        if unfit is None:
                            attempt += 1
                            # Cancelled from here: the server may still be running it.
                            slot.outcome, lease.sent_at = Outcome.ABANDONED, clock.time()
                            if hooks.on_send is not None:
                                hooks.on_send(lease.sent_at)
                            try:
                                async with self.timeout(config.timeout):
                                    with _UNTRACED if trace is None else trace.sending():
                                        response = await self.transport.send(
                                            request, hooks.on_written
                                        )
                            except TimeoutError:
                                method, url, timeout = request.method, request.url, config.timeout
                                raise RequestTimeout(
                                    method=method, url=url, reason="timeout", timeout=timeout
                                ) from None
                            slot.outcome = Outcome.FAILED
                            if trace is not None:
                                trace.answered(response.status)
                            if hooks.on_answer is not None and response.status == 200:
                                await hooks.on_answer(response.body)
                            envelope = parse_response(request, response)
                            if hooks.capped:
                                payload = envelope.payload
                                cut = type(payload) is list and len(payload) >= MAX_ROWS
                            else:
                                cut = hooks.cut is not None and hooks.cut(envelope)
                            slot.outcome = Outcome.CUT if cut else Outcome.ANSWERED
                    except ApiError as exc:  # the server's, or the transport's (max_answer_bytes)
                        slot.outcome, error = Outcome.FAILED, exc
                        if exc.feedback is not None:
                            slot.feedback = self._feedback(exc, attempt, lease)
                    except TransportError as exc:
                        # Sent with no answer: the server may still run it, its slot stays taken.
                        error = exc
                        if not exc.sent:
                            slot.outcome = Outcome.NOT_SENT
                        elif exc.answered:
                            slot.outcome = Outcome.FAILED
                if unfit is not None:
                    await self._refit(unfit)
                elif error is None:
                    if slot.outcome is Outcome.ANSWERED and hooks.stamped is not None:
                        hooks.stamped(lease)
                    return envelope
                else:
                    await self._again(request, error, attempt, trace)
        finally:
            life.active -= 1
            if not life.active and life.idle is not None:
                life.idle.set()  # the client closing waits for its last call to end

    def _unfit(self, scheduler: Scheduler, lease: Lease, corrects_quota: bool) -> str | None:
        """Why a lease granted as the client closed, on a lost ledger or late goes back
        unused, or None: it is fit to send on."""
        if self.life.closed:
            return "closed"
        if not corrects_quota and self.backend.lost and scheduler.ledger_lost(self.limits.token):
            return "lost"
        late = self.clock.time() - lease.granted_at
        if late <= self.send_within:
            return None
        log.warning("lease granted %.2f s ago, too late to send on; asking again", late)
        return "late"

    async def _refit(self, unfit: str) -> None:
        """After an unfit lease went back: raise, read today's count, or ask again."""
        if unfit == "closed":
            raise ClientClosed(self._closed_message)
        if unfit == "lost":
            # Today's count restarted from zero (a Redis restarted empty): take the server's.
            log.warning("the scheduler's ledger was lost: reading today's count first")
            try:
                await self.sync_quota()
            except WolkvoxError as exc:  # the call goes on; the server still counts
                log.warning("could not read today's count (%s)", exc)

    def _feedback(self, error: ApiError, attempt: int, lease: Lease) -> Feedback:
        """What a server's limit refusal tells everyone on the token (§3.3, §4)."""
        if error.feedback is Refusal.BUSY:
            return Feedback(cap_for=CAP_COOLDOWN)  # someone else uses the token
        if error.feedback is Refusal.SPENT:  # (a TokenLimitExceeded: it says when it resets)
            resets = datetime.fromtimestamp(lease.resets_at, UTC)
            error.resets_at = resets  # type: ignore[attr-defined]
            return Feedback(spent=True)
        return Feedback(pause_for=maintenance_pause(self.retry, attempt))

    async def _again(
        self, request: RawRequest, error: WolkvoxError, attempt: int, trace: CallTrace | None
    ) -> None:
        """Rest before the next attempt, or raise ``error`` (or ClientClosed)."""
        delay = retry_delay(self.retry, attempt, request.route, error)
        if trace is not None:
            trace.failed(error)
        if delay is None:
            raise error
        if self.life.closed:
            raise ClientClosed(f"{self._closed_message}; it had failed: {error}") from error
        if trace is not None:
            trace.retry(error, delay)
        self.scheduler.count_retry(self.limits.token, type(error).__name__)
        name, kind, most = request.route.name, type(error).__name__, self.retry.max_attempts
        log.debug("%s: %s, retry %d/%d in %.2f s", name, kind, attempt, most - 1, delay)
        await self.life.rest(self.clock, delay)
        if self.life.closed:
            raise ClientClosed(f"{self._closed_message}; it had failed: {error}") from error

    async def sync_quota(self) -> None:
        """Read token_info (1 call) and take the server's used/limit for today."""
        token = self.limits.token
        # The ledger's count as it reads (itself included): what follows is added to it.
        before = (await self.scheduler.stats(token)).quota_used + 1
        request, envelope = await self.call(TOKEN_INFO, {}, corrects_quota=True)
        used, limit = quota_counts(request, envelope)
        await self.scheduler.set_quota(token, used=used, limit=limit, since=before)
