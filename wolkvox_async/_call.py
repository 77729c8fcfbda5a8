"""The path of every call, read top to bottom (DESIGN.md §2).

:meth:`Caller.call` builds the request (pure, ``_protocol``), asks the scheduler for a
lease, sends it under the call timeout (``_transport``), releases the lease with what
happened (the server's limit refusals included, so the next caller already sees them),
decodes the answer (pure, ``_protocol``) and, when ``_retry`` says so, goes round again,
each attempt admitted and counted anew. Nothing here calls back into the client.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ._config import ClientConfig
from ._convert import structure_rows
from ._errors import (
    ApiError,
    ClientClosed,
    Maintenance,
    RequestTimeout,
    TokenLimitExceeded,
    TooManySimultaneous,
    TransportError,
    WolkvoxError,
)
from ._protocol import Envelope, RawRequest, build_request, parse_response
from ._retry import RetryPolicy, maintenance_pause, retry_delay
from ._routes import TOKEN_INFO, Route
from ._time import WOLKVOX_TZ
from ._transport import Transport
from .models import TokenInfo
from .scheduler import (
    CAP_COOLDOWN,
    Backend,
    Clock,
    Feedback,
    Lease,
    Outcome,
    Priority,
    Scheduler,
    Slot,
    TokenLimits,
    scheduler_for,
    token_key,
)

if TYPE_CHECKING:
    from .otel import CallTrace, Telemetry

__all__ = ["Caller"]

log = logging.getLogger("wolkvox_async.client")


class _Hooks(NamedTuple):
    """What a bulk caller is told along one call (see :meth:`Caller.call`)."""

    on_send: Callable[[float], None] | None
    on_written: Callable[[], None] | None
    on_answer: Callable[[bytes], Awaitable[None]] | None
    cut: Callable[[Envelope], bool] | None
    stamped: Callable[[Lease], None] | None
    trace: CallTrace | None


class _Life:
    """Whether a client is closed, and its calls in flight (shared with its views)."""

    __slots__ = ("active", "closed", "closing", "idle")

    def __init__(self) -> None:
        self.closed = False
        self.closing: asyncio.Event | None = None
        """Set when the client closes: calls resting before a retry wake on it."""
        self.active = 0
        """Calls of the client (and its views) begun and not yet ended: queued, being
        admitted, in flight or resting before a retry."""
        self.idle: asyncio.Event | None = None
        """Set when ``active`` falls to 0 while the client closes."""


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
        # The lease lives a lifetime from its grant, and the call may hold its slot until
        # the timeout after it leaves: a lease older than this margin when its call would
        # leave (a starved process) could be outlived by the call and let another in.
        self.send_within = config.lease_life - max(config.timeout, config.server_limit)
        self.is_view = False
        self.life = _Life()
        self._root = self
        """The client's own caller (a view's is its client's): it attaches to the scheduler
        for them all, so closing the client detaches once every call, its views' too,
        is over."""
        self._attached: Scheduler | None = None
        # Looked up once per event loop, not per call (a weak-keyed lookup costs a crowd).
        self._cached: tuple[weakref.ref[asyncio.AbstractEventLoop], Scheduler] | None = None

    def view(self, config: ClientConfig, priority: Priority) -> Caller:
        """A caller with other per-call settings, sharing everything else."""
        view = copy.copy(self)
        view.config, view.priority, view.is_view = config, priority, True
        return view

    @property
    def scheduler(self) -> Scheduler:
        """The scheduler of the running loop, this token registered with it."""
        loop = asyncio.get_running_loop()
        cached = self._cached
        if cached is not None and cached[0]() is loop:
            return cached[1]
        scheduler = scheduler_for(self.backend, self.clock)
        scheduler.register(self.limits)
        root = self._root
        if root._attached is None:  # (a view's first call attaches its client)
            root._attached = scheduler.attach()
        self._cached = (weakref.ref(loop), scheduler)
        return scheduler

    async def close(self) -> None:
        """End the client's calls: the queued ones fail with ClientClosed at once (nothing
        of them sent), those in flight are waited for (their answers are delivered, their
        slots released as their outcome says); later calls raise ClientClosed. Then detach
        from the scheduler (the last client of a loop closes the backend)."""
        life = self.life
        life.closed = True
        if life.closing is not None:
            life.closing.set()  # calls resting before a retry end now
        if self._attached is not None:
            failed = self._attached.fail_queued(life, ClientClosed, self._closed_message)
            if failed:
                log.info("client closed: %d queued calls failed, nothing of them sent", failed)
        try:
            if life.active:  # the failed ones end at once; those in flight when answered
                life.idle = asyncio.Event()
                await life.idle.wait()
        finally:
            # Detached once the calls in flight are released (theirs, its views' too).
            attached, self._attached, self._cached = self._attached, None, None
            if attached is not None:
                await attached.detach()

    @property
    def _closed_message(self) -> str:
        return f"the client was closed: the call was not sent ({self.config.base_url})"

    def _check_open(self) -> None:
        if self.life.closed:
            raise ClientClosed(self._closed_message)

    async def call(
        self,
        route: Route,
        params: Mapping[str, str | None] | None = None,
        body: Any = None,
        *,
        on_send: Callable[[float], None] | None = None,
        on_written: Callable[[], None] | None = None,
        on_answer: Callable[[bytes], Awaitable[None]] | None = None,
        cut: Callable[[Envelope], bool] | None = None,
        stamped: Callable[[Lease], None] | None = None,
        corrects_quota: bool = False,
        trace: CallTrace | None = None,
    ) -> tuple[RawRequest, Envelope]:
        """Send ``route``; ``on_send`` is told the time of each attempt as it leaves (the
        upload journal), ``on_written`` when its body is with the socket (a bulk load's
        reader waits for that), ``on_answer`` the body of a 200 before it is parsed (a
        download asks for its next part from the last row), ``cut`` whether a parsed
        answer holds only part of what was asked (a report at its row cap: its read then
        keeps no poll stamp, see ``Outcome.CUT``), ``stamped`` the lease of a poll-limited
        read whose answer kept its stamp (``Scheduler.forget`` clears it if the answer is
        not used after all). With telemetry, the call
        runs again inside its span, ``trace`` set: the default path adds no frame."""
        if self.telemetry is not None and trace is None:  # the call again, in its span
            async with self.telemetry.call(self, route, params) as traced:
                return await self.call(
                    route,
                    params,
                    body,
                    on_send=on_send,
                    on_written=on_written,
                    on_answer=on_answer,
                    cut=cut,
                    stamped=stamped,
                    corrects_quota=corrects_quota,
                    trace=traced,
                )
        self._check_open()
        hooks = _Hooks(on_send, on_written, on_answer, cut, stamped, trace)
        config = self.config
        request = build_request(
            config.base_url,
            config.token,
            route,
            params,
            body,
            server=config.server if config.server_header else "",
        )
        self.transport.ready()  # before admission: a session of another loop costs nothing
        poll_key = None
        if route.poll_limited and config.poll_interval > 0:
            digest = hashlib.sha256(f"{self.limits.token}|{request.url}".encode()).hexdigest()
            poll_key = f"p{digest[:24]}"
        if poll_key is None or config.poll_policy != "share":
            return request, await self._attempts(request, poll_key, corrects_quota, hooks)
        reads = self.scheduler.reads  # an identical read within the interval: its result
        shared = await reads.get(poll_key)
        if shared is not None:
            log.debug("%s: sharing the result of an identical read", route.name)
            return request, shared
        attempts = self._attempts(request, poll_key, corrects_quota, hooks)
        return request, await reads.run(poll_key, config.poll_interval, attempts)

    async def _attempts(
        self,
        request: RawRequest,
        poll_key: str | None,
        corrects_quota: bool,
        hooks: _Hooks,
    ) -> Envelope:
        life = self.life
        life.active += 1  # (close() waits for the client's calls to end)
        try:
            attempt, trace = 0, hooks.trace
            config, token = self.config, self.limits.token
            while True:
                attempt += 1
                async with self.scheduler.slot(
                    token,
                    poll_key,
                    priority=self.priority,
                    max_wait=config.max_wait,
                    raise_on_poll=config.poll_policy == "raise",
                    corrects_quota=corrects_quota,
                    owner=self.life,
                    hold=config.held_after_send,
                    waiting=None if trace is None else trace.waiting,
                ) as slot:
                    unfit = None
                    if (
                        self.life.closed
                        or (not corrects_quota and self.backend.lost)
                        or self.clock.time() - slot.lease.granted_at > self.send_within
                    ):
                        unfit = self._unfit(slot, corrects_quota)
                    if unfit is None:
                        try:
                            return await self._send(request, slot, attempt, hooks)
                        except (ApiError, TransportError) as exc:
                            error: WolkvoxError = exc
                if unfit is not None:
                    attempt -= 1  # (asked again: no attempt was made)
                    if unfit == "lost":
                        await self._recount()
                    continue
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
                log.debug(
                    "%s: %s, retry %d/%d in %.2f s",
                    request.route.name,
                    type(error).__name__,
                    attempt,
                    self.retry.max_attempts - 1,
                    delay,
                )
                await self._rest(delay)
                if self.life.closed:
                    raise ClientClosed(f"{self._closed_message}; it had failed: {error}") from error
        finally:
            life.active -= 1
            if not life.active and life.idle is not None:
                life.idle.set()  # the client closing waits for its last call to end

    async def _rest(self, delay: float) -> None:
        """Sleep before a retry, or until the client closes."""
        life = self.life
        if life.closing is None:
            life.closing = asyncio.Event()
        sleep = asyncio.ensure_future(self.clock.sleep(delay))
        closing = asyncio.ensure_future(life.closing.wait())
        try:
            await asyncio.wait((sleep, closing), return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleep.cancel()
            closing.cancel()

    def _unfit(self, slot: Slot, corrects_quota: bool) -> str | None:
        """Why a granted slot is given back unused, reported NOT_SENT: the client closed
        (raised), the ledger was lost ("lost": read today's count first), it was granted
        too long ago to send on ("late"); None: it is fit to send on after all."""
        token = self.limits.token
        if self.life.closed:  # granted as the client closed: give it back unused
            slot.report(Outcome.NOT_SENT)
            raise ClientClosed(self._closed_message)
        if not corrects_quota and self.backend.lost and self.scheduler.ledger_lost(token):
            slot.report(Outcome.NOT_SENT)
            return "lost"
        late = self.clock.time() - slot.lease.granted_at
        if late > self.send_within:
            log.warning("lease granted %.2f s ago, too late to send on; asking again", late)
            slot.report(Outcome.NOT_SENT)
            return "late"
        return None

    async def _recount(self) -> None:
        """Today's count restarted from zero (a Redis restarted empty): take the server's
        before the next call is counted against it."""
        log.warning("the scheduler's ledger was lost: reading today's count first")
        try:
            await self.sync_quota()
        except WolkvoxError as exc:  # the call goes on; the server still counts
            log.warning("could not read today's count (%s)", exc)

    async def _send(
        self,
        request: RawRequest,
        slot: Slot,
        attempt: int,
        hooks: _Hooks,
    ) -> Envelope:
        """Send on ``slot``, and report to it what happened (its exit releases it)."""
        config = self.config
        lease = slot.lease
        lease.sent_at = self.clock.time()
        if hooks.on_send is not None:
            hooks.on_send(lease.sent_at)
        outcome = Outcome.ABANDONED  # cancelled mid-send: the server may still be running it
        said: Feedback | None = None
        try:
            try:
                async with self.clock.timeout(config.timeout):
                    if hooks.trace is None:
                        response = await self.transport.send(request, hooks.on_written)
                    else:
                        with hooks.trace.sending():
                            response = await self.transport.send(request, hooks.on_written)
                        hooks.trace.answered(response.status)
            except TimeoutError:
                raise RequestTimeout(
                    method=request.method, url=request.url, reason="timeout", timeout=config.timeout
                ) from None
            except TransportError as exc:
                # Sent with no answer (a reset after any byte left): the server may still
                # be running it, so its slot stays taken (RELEASES).
                if not exc.sent:
                    outcome = Outcome.NOT_SENT
                elif exc.answered:
                    outcome = Outcome.FAILED
                raise
            except ApiError:
                outcome = Outcome.FAILED  # the transport refused the answer (over max_answer_bytes)
                raise
            outcome = Outcome.FAILED
            if hooks.on_answer is not None and response.status == 200:
                await hooks.on_answer(response.body)
            try:
                envelope = parse_response(request, response)
            except ApiError as exc:
                said = self._said(exc, attempt)
                if said is not None and hooks.trace is not None:
                    hooks.trace.refused(exc, "server")
                if isinstance(exc, TokenLimitExceeded):
                    exc.resets_at = datetime.fromtimestamp(lease.resets_at, UTC)
                raise
            cut = hooks.cut is not None and hooks.cut(envelope)
            outcome = Outcome.CUT if cut else Outcome.ANSWERED
            return envelope
        finally:
            # A call that may still run at the server holds its slot as long as we would
            # have waited for its answer (RELEASES, ClientConfig.held_after_send).
            slot.report(outcome, said)
            if outcome is Outcome.ANSWERED and hooks.stamped is not None:
                hooks.stamped(lease)

    def _said(self, error: ApiError, attempt: int) -> Feedback | None:
        """What the server's refusal means for everyone on the token (§3.3, §4)."""
        if isinstance(error, TooManySimultaneous):
            return Feedback(cap_for=CAP_COOLDOWN)  # someone else uses the token
        if isinstance(error, TokenLimitExceeded):
            return Feedback(spent=True)
        if isinstance(error, Maintenance):
            return Feedback(pause_for=maintenance_pause(self.retry, attempt))
        return None

    async def sync_quota(self) -> None:
        """Read token_info (1 call) and take the server's used/limit for today."""
        token = self.limits.token
        # The ledger's count as the read goes (itself included): what is admitted after
        # it may not be in the server's answer, and is added to it.
        before = (await self.scheduler.stats(token)).quota_used + 1
        request, envelope = await self.call(TOKEN_INFO, {}, corrects_quota=True)
        rows = structure_rows(request, envelope, TokenInfo)
        info = rows[0] if rows else TokenInfo()
        used = info.all_token_today if info.all_token_today is not None else info.token_use_today
        await self.scheduler.set_quota(token, used=used or 0, limit=info.token_limit, since=before)
