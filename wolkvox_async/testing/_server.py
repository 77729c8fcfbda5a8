"""FakeWolkvox: the Wolkvox API v2 simulator on aiohttp.web, listening on 127.0.0.1.

:func:`serving_in_thread` runs one on a thread and event loop of its own, as a real
server is elsewhere: for demos, and for tests that run loops (or processes) beside it.

One request goes through the gates Wolkvox documents, in this order (wolkvox-api.md §10):
no token → 401; unknown token → 403 PLEASE VALIDATE TOKEN; maintenance → 403; a request
beyond the per-token cap in flight → 403 SIMULTANEOUS (naming the cap); quota spent → 403
TOKEN LIMIT EXCEEDED. Every request of a known token costs one unit of its operation's
daily quota — token_info, failed calls and a 403 SIMULTANEOUS included (§2, §10) — but a
request refused at the gate for maintenance ("consumption is disabled") or a spent quota.
Then latency, then any injected fault, then the endpoint itself. A request whose client
gave up keeps running (and counting as in flight) until it ends, as a PHP server would.

Where the docs are silent or disagree it had to choose (each a :class:`Knobs` setting
where a test may want the other reading): "31 days" counts calendar dates, both ends
included; a refused call is charged (``charge_refusals``); rows past the 60,000 cap are
cut (``cap_mode``) in time order or shuffled (``shuffle_at_cap``); an empty report window
is HTTP 404 (``empty_report_404``) but find_record without a hit is 200 with ``[]``
(``find_record_no_hit_404``); agentbox.php calls cost no quota (§2); predictive add_record
requires ``campaign_status`` (start, stop, started, stopped, 1, 0, any case; optional on
preview) and does not apply it (``add_record_sets_status`` does); ``type_campaign`` on
start/stop/speed/recall may be absent (§9.2), else must match, in any case;
``wolkvox_server`` is logged, not required; a non-String body field is 400 naming it;
impossible dates are 400; record lengths are held only where the docs give one
(``DOCUMENTED_MAX_LENGTHS``); the undocumented maintenance 403 is JSON with our text or any
(``maintenance_text``), or a page (``maintenance_body``).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Self

import attrs
from aiohttp import web

from ._campaign_api import Context
from ._faults import Fault, FaultPlan, apply_fault
from ._replies import (
    CALL_LIMIT,
    INVALID_TOKEN,
    NO_TOKEN,
    TOKEN_LIMIT,
    Knobs,
    Reply,
    maintenance,
    simultaneous,
)
from ._routes import dispatch, json_or, made
from ._state import Attempt, Campaign, FakeStats, Operation, World, wolkvox_day

__all__ = ["FakeWolkvox", "LoggedRequest", "serving_in_thread"]


@attrs.frozen(kw_only=True)
class LoggedRequest:
    """One request as the simulator received it (the token is not kept)."""

    method: str
    file: str
    api: str
    query: dict[str, str]
    body: Any
    status: int
    wolkvox_server: str | None = None
    """The ``wolkvox_server`` header, if sent (accepted and otherwise ignored, §10)."""


class FakeWolkvox:
    """A faithful in-memory Wolkvox for tests, demos and benchmarks.

    It changes nothing outside itself: give its clients ``backend=`` (``"memory://"``,
    a ``MemoryBackend()``, the ``wolkvox_backend`` fixture), or their calls count in the
    per-user ledger like real ones.

    Example::

        async with FakeWolkvox(licenses=3) as fake:
            async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url):
                ...
            assert fake.stats.peak_in_flight[fake.token] <= 2
    """

    def __init__(
        self,
        *,
        token: str | None = None,
        server: str = "0014",
        licenses: int = 3,
        daily_quota: int | None = None,
        max_concurrency: int = 2,
        latency: float | tuple[float, float] = 0.0,
        call_limit: float = 60.0,
        knobs: Knobs | None = None,
        campaign_capacity: int | None = None,
        clock: Callable[[], datetime] | None = None,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        log_size: int = 100_000,
    ) -> None:
        self.world = World(campaign_capacity=campaign_capacity)
        self.token = token or secrets.token_hex(28)
        self.server = server
        self.add_operation(server, licenses=licenses, daily_quota=daily_quota, tokens=[self.token])
        self.max_concurrency = max_concurrency
        self.latency = latency
        self.call_limit = call_limit
        """Seconds a call may run (§3.1): one whose body is read later is stopped, not run."""
        self.knobs = knobs or Knobs()
        self.maintenance = False
        self.answers_as: str | None = None
        """Set to a server number, only the tokens of that server's operation are known, as on
        a real host: a client at the wrong server, or with another operation's token, gets
        403 PLEASE VALIDATE TOKEN (None: every operation's tokens, the default)."""
        self.elsewhere = 0
        """Slots of every token held by a client the test does not run (another team's
        script): a request finding ``in flight + elsewhere >= max_concurrency`` is refused
        403 SIMULTANEOUS."""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.faults = FaultPlan()
        self.requests: deque[LoggedRequest] = deque(maxlen=log_size)
        self.timeline: deque[tuple[float, float]] = deque(maxlen=log_size)
        """(arrived, answered) of each request, in ``time.monotonic()`` seconds (one clock
        for every process of the machine: benchmarks set it beside their clients' times)."""
        self._rng = random.Random(seed)
        self._host, self._port = host, port
        self._ssl = ssl_context
        self._runner: web.AppRunner | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self._release: asyncio.Event | None = None
        self.url = ""

    # ---- set-up -------------------------------------------------------------------------

    @property
    def stats(self) -> FakeStats:
        """Peak in-flight per token, calls per operation, refusals, records per campaign."""
        return self.world.stats

    def add_operation(
        self,
        server: str,
        *,
        licenses: int = 1,
        daily_quota: int | None = None,
        tokens: Iterable[str] = (),
    ) -> Operation:
        """Add an operation (quota pool) with its tokens; returns it (``.tokens``)."""
        op = Operation(server=server, licenses=licenses, daily_quota=daily_quota)
        op.tokens.update(tokens)
        self.world.operations[server] = op
        return op

    def add_token(self, server: str | None = None) -> str:
        """A new token for an operation (default: the main one)."""
        token = secrets.token_hex(28)
        self.world.operations[server or self.server].tokens.add(token)
        return token

    def create_campaign(
        self, *, name: str = "Seed", type: str = "predictive", skill_id: str = "1"
    ) -> Campaign:
        """Create a campaign directly in the state (no request, no quota)."""
        return self.world.new_campaign(name=name, type=type, skill_id=skill_id)

    def let_go(self) -> None:
        """Answer the requests held by :attr:`Fault.HELD`, now or when they arrive (call it
        in the server's loop); a HELD fault injected later holds again."""
        if self._release is not None:
            self._release.set()

    def campaign(self, campaign_id: str) -> Campaign:
        """The stored state of a campaign."""
        return self.world.campaigns[campaign_id]

    def add_call_results(
        self, campaign_id: str, start: datetime, end: datetime, count: int, *, seed: int = 0
    ) -> list[Attempt]:
        """Spread ``count`` synthetic dial attempts over start..end (for the reports)."""
        camp = self.campaign(campaign_id)
        attempts = self.world.synthetic_attempts(camp, start, end, count, seed=seed)
        camp.add_attempts(attempts)
        return attempts

    def inject(
        self,
        fault: Fault | str,
        *,
        times: int = 1,
        api: str | None = None,
        delay: float = 65.0,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` requests (to ``api``, and with the values of ``query``
        in their query, if given) fail with ``fault``. A fault for one request of several
        in flight (``query``) lands on it whichever reaches the server first.

        ``delay`` is how long a SLOW response takes (default past Wolkvox's 60 s); a HELD
        one waits for :meth:`let_go`.
        """
        kind = Fault(fault)
        if kind is Fault.HELD and (self._release is None or self._release.is_set()):
            self._release = asyncio.Event()  # held until the next let_go()
        self.faults.add(kind, times=times, api=api, delay=delay, query=query)

    def quota_used(self, server: str | None = None) -> int:
        """Calls charged today to an operation (default: the main one)."""
        op = self.world.operations[server or self.server]
        return op.used[wolkvox_day(self.clock())]

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> str:
        """Listen on host:port (port 0 = a free one); returns the base URL."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/api/v2/{file}.php", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"{'https' if self._ssl else 'http'}://{self._host}:{port}"
        return self.url

    async def drain(self) -> None:
        """Wait until no request is being handled (e.g. a slow one the client gave up on)."""
        running = {task for task in self._handlers if task is not asyncio.current_task()}
        if running:
            await asyncio.wait(running)

    async def close(self) -> None:
        """Stop listening; requests still running (slow faults) are cancelled."""
        for task in list(self._handlers):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- one request --------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        arrived = time.monotonic()
        try:
            response = await self._serve(request)
            if not response.prepared:  # the Date header on the server's clock (``clock``)
                response.headers["Date"] = format_datetime(
                    self.clock().astimezone(UTC), usegmt=True
                )
            return response
        finally:
            self._handlers.discard(task)
            self.timeline.append((arrived, time.monotonic()))

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        stats = self.stats
        stats.requests += 1
        # The latency is the server's whole time per call: its own work happens inside it,
        # as on a real server (so a bulk benchmark measures the client, not our JSON parsing).
        arrived = asyncio.get_running_loop().time()
        answer_at = arrived + self._latency()
        file, api = request.match_info["file"], request.query.get("api", "")
        query = {k: v for k, v in request.query.items() if k != "api"}
        body: Any = None

        def answer(
            reply: Reply, refusal: str | None = None, text: bytes | None = None
        ) -> web.Response:
            if refusal:
                stats.refusals[refusal] += 1
            self.requests.append(
                LoggedRequest(
                    method=request.method,
                    file=file,
                    api=api,
                    query=query,
                    body=body,
                    status=reply.status,
                    wolkvox_server=request.headers.get("wolkvox_server"),
                )
            )
            if text is not None:  # made in a thread (Reply.later)
                return web.Response(
                    body=text, status=reply.status, content_type=reply.content_type, charset="utf-8"
                )
            if reply.content_type != "application/json":
                return web.Response(
                    text=reply.payload, status=reply.status, content_type=reply.content_type
                )
            return web.json_response(reply.payload, status=reply.status)

        async def refuse(reply: Reply, refusal: str) -> web.Response:
            nonlocal body
            body = json_or(await request.read())
            return answer(reply, refusal)

        # The gates read only the headers; a request is in flight from its arrival, body
        # upload included, as the server counts it.
        token = request.headers.get("wolkvox-token", "")
        if not token:
            return await refuse(NO_TOKEN, "no_token")
        op = self.world.operation_of(token)
        if op is None or self.answers_as not in (None, op.server):
            return await refuse(INVALID_TOKEN, "invalid_token")
        if self.maintenance or self.faults.take(api, only=Fault.MAINTENANCE, query=query):
            return await refuse(maintenance(self.knobs), "maintenance")
        if stats.in_flight[token] + self.elsewhere >= self.max_concurrency:
            if self.knobs.charge_refusals:
                self.world.charge(op, token, self.clock())
            return await refuse(simultaneous(self.max_concurrency), "simultaneous")
        stats.in_flight[token] += 1
        stats.peak_in_flight[token] = max(stats.peak_in_flight[token], stats.in_flight[token])
        try:
            body = json_or(await request.read())
            if asyncio.get_running_loop().time() > arrived + self.call_limit:
                if self.knobs.charge_refusals:
                    self.world.charge(op, token, self.clock())
                return answer(CALL_LIMIT, "call_limit")  # stopped: nothing of it runs
            now = self.clock()
            # The agent APIs v2 "do not affect the assigned consumption" (§2).
            if file != "agentbox" and not self.world.charge(op, token, now):
                return answer(TOKEN_LIMIT, "token_limit")
            fault = self.faults.take(api, query=query)
            if fault is not None and fault.kind.skips_endpoint:
                await _sleep_until(answer_at)
                stats.refusals[f"fault:{fault.kind.value}"] += 1
                return await apply_fault(fault.kind, request, None)
            ctx = Context(query, body, self.world, op, token, self.knobs, now)
            reply, text = dispatch(file, api, request.method, ctx), None
            if reply.later is not None:  # a large answer, made beside the loop (in flight)
                reply, text = await asyncio.to_thread(made, reply.later)
            await _sleep_until(answer_at)
            if fault is None:
                return answer(reply, text=text)
            stats.refusals[f"fault:{fault.kind.value}"] += 1
            if fault.kind is Fault.SLOW:
                await asyncio.sleep(fault.delay)
                return answer(reply, text=text)
            if fault.kind is Fault.HELD and self._release is not None:
                await self._release.wait()
                return answer(reply, text=text)
            return await apply_fault(fault.kind, request, reply)
        finally:
            stats.in_flight[token] -= 1

    def _latency(self) -> float:
        latency = self.latency
        return self._rng.uniform(*latency) if isinstance(latency, tuple) else latency


async def _sleep_until(when: float) -> None:
    delay = when - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)


@contextlib.contextmanager
def serving_in_thread(**settings: Any) -> Iterator[FakeWolkvox]:
    """A running FakeWolkvox(**settings) served from a background thread.

    Its work on a request (reading 10,000 records, say) does not stall the caller's event
    loop, so a client's two calls overlap as they would against Wolkvox. Read its state
    (``fake.stats``, ``fake.campaign(...)``) between calls, not while they run.
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="FakeWolkvox", daemon=True)
    thread.start()
    fake = FakeWolkvox(**settings)
    try:
        asyncio.run_coroutine_threadsafe(fake.start(), loop).result(30)
        yield fake
    finally:
        asyncio.run_coroutine_threadsafe(fake.close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
        loop.close()
