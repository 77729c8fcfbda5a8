"""OpenTelemetry spans and metrics for the client (the ``otel`` extra).

Made only when a client is created with ``telemetry=``: without it this module is never
imported, and the call path pays one ``is None`` test. It uses ``opentelemetry-api`` alone,
so the application's SDK (or none: then everything is a no-op) decides where data goes.

Spans:
    ``wolkvox <route>`` (kind CLIENT), one per call, under the caller's current span, with
    the attributes in :data:`CALL_ATTRIBUTES`; a ``retry`` event per attempt that is
    tried again. ``wolkvox upload_records`` and ``wolkvox download <report>``, one per bulk
    job, with a ``chunk`` or ``window`` event as each lands; the job's calls nest under it.

Metrics (instrument names in :data:`METRICS`): requests in flight, calls waiting for
admission by priority, today's quota used and limit, refusals and retries by kind, call
duration. The token is never an attribute: the operation (server number) and the route
name say what was called.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from opentelemetry import metrics, trace
from opentelemetry.metrics import Observation
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from ._errors import ApiError, SchedulerRefusal
from ._version import __version__

if TYPE_CHECKING:
    from .calls._routes import Route
    from .scheduler import Priority, Scheduler, TokenLimits


class _Caller(Protocol):
    """What telemetry reads of the caller it measures (``_call.Caller``), named here so
    that the call path and its telemetry do not import each other."""

    priority: Priority
    limits: TokenLimits

    @property
    def scheduler(self) -> Scheduler: ...


__all__ = ["CALL_ATTRIBUTES", "METRICS", "CallTrace", "Job", "Telemetry"]

CALL_ATTRIBUTES = (
    "wolkvox.api",
    "wolkvox.route",
    "wolkvox.campaign_id",
    "wolkvox.priority",
    "wolkvox.attempt",
    "wolkvox.queued_seconds",
    "wolkvox.sent",
    "wolkvox.shared_read",
    "http.request.method",
    "http.response.status_code",
    "error.type",
)
"""What a call's span carries (``campaign_id`` where the call names one, the status
where an answer came, ``error.type`` where it failed)."""

METRICS = {  # name: (unit, description)
    "wolkvox.client.in_flight": ("{request}", "requests sent and not yet answered"),
    "wolkvox.client.queued": ("{call}", "calls waiting for admission, by wolkvox.priority"),
    "wolkvox.quota.used": ("{call}", "today's calls counted on the operation"),
    "wolkvox.quota.limit": ("{call}", "today's quota of the operation"),
    "wolkvox.client.refusals": ("{refusal}", "refusals by wolkvox.refusal and refused_by"),
    "wolkvox.client.retries": ("{retry}", "attempts tried again, by error.type"),
    "wolkvox.client.call.duration": ("s", "from the call to its result, queue included"),
}


class Telemetry:
    """Where a client's spans and metrics go.

    ``WolkvoxClient(..., telemetry=True)`` uses the global providers; pass
    ``Telemetry(tracer_provider=..., meter_provider=...)`` for others.

    Args:
        tracer_provider: Default: the global one.
        meter_provider: Default: the global one.
        quota_every: Seconds between two readings of the quota gauges (each is a read of
            the scheduler's ledger, a round trip on Redis), per client.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
        quota_every: float = 1.0,
    ) -> None:
        self.tracer = trace.get_tracer("wolkvox_async", __version__, tracer_provider)
        meter = metrics.get_meter("wolkvox_async", __version__, meter_provider)
        self.quota_every = quota_every
        self._quota_read_at: dict[str, float] = {}
        # What a call changes on every call is kept in plain numbers and observed when the
        # reader collects: four SDK measurements a call added up (benchmarks/interactive.py
        # --telemetry).
        self.in_flight = 0
        self.queued: Counter[str] = Counter()
        self.quota: dict[str, tuple[int, int | None]] = {}
        """Per operation: (used, limit) as last read from the scheduler's ledger."""

        def named(name: str) -> tuple[str, str, str]:  # (name, unit, description)
            return (name, *METRICS[name])

        def observed(name: str, observe: Callable[[], Iterable[Observation]]) -> dict[str, Any]:
            unit, description = METRICS[name]
            return {
                "name": name,
                "callbacks": [lambda _options: observe()],
                "unit": unit,
                "description": description,
            }

        meter.create_observable_up_down_counter(
            **observed("wolkvox.client.in_flight", lambda: [Observation(self.in_flight)])
        )
        meter.create_observable_up_down_counter(
            **observed(
                "wolkvox.client.queued",
                lambda: [
                    Observation(n, {"wolkvox.priority": p}) for p, n in list(self.queued.items())
                ],
            )
        )
        meter.create_observable_gauge(**observed("wolkvox.quota.used", self._used))
        meter.create_observable_gauge(**observed("wolkvox.quota.limit", self._limits))
        self.refusals = meter.create_counter(*named("wolkvox.client.refusals"))
        self.retries = meter.create_counter(*named("wolkvox.client.retries"))
        self.duration = meter.create_histogram(*named("wolkvox.client.call.duration"))

    def _used(self) -> list[Observation]:
        # list(): a reader's thread collects while the loop's thread may add a key
        quota = list(self.quota.items())
        return [Observation(used, {"wolkvox.operation": op}) for op, (used, _) in quota]

    def _limits(self) -> list[Observation]:
        return [
            Observation(limit, {"wolkvox.operation": op})
            for op, (_, limit) in list(self.quota.items())
            if limit is not None
        ]

    def __repr__(self) -> str:
        return f"Telemetry(quota_every={self.quota_every})"

    @asynccontextmanager
    async def call(
        self, caller: _Caller, route: Route, params: Mapping[str, str | None] | None
    ) -> AsyncIterator[CallTrace]:
        """The span and metrics of one call through ``caller``."""
        attributes: dict[str, Any] = {
            "wolkvox.api": route.api,
            "wolkvox.route": route.name,
            "wolkvox.priority": caller.priority.name.lower(),
            "http.request.method": route.method,
        }
        campaign = params.get("campaign_id") if params else None
        if campaign:
            attributes["wolkvox.campaign_id"] = campaign
        started = time.perf_counter()
        error: str | None = None
        with self.tracer.start_as_current_span(
            f"wolkvox {route.name}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            traced = CallTrace(self, span, caller.priority.name.lower())
            try:
                yield traced
            except BaseException as exc:
                error = _failed(span, exc)
                if isinstance(exc, SchedulerRefusal):
                    traced.refused(exc, "scheduler")
                if isinstance(exc, Exception):
                    span.record_exception(exc)  # our messages never hold the token
                raise
            finally:
                ended: dict[str, Any] = {
                    "wolkvox.attempt": traced.attempt,
                    "wolkvox.queued_seconds": traced.queued,
                    "wolkvox.sent": traced.sent,
                }
                if traced.status is not None:
                    ended["http.response.status_code"] = traced.status
                if traced.attempt == 0 and error is None:  # an identical read's result
                    ended["wolkvox.shared_read"] = True
                span.set_attributes(ended)
                measured = {"wolkvox.route": route.name}
                if error is not None:
                    measured["error.type"] = error
                self.duration.record(time.perf_counter() - started, measured)
        await self._read_quota(caller)

    async def _read_quota(self, caller: _Caller) -> None:
        """Record today's quota of the caller's token, at most every ``quota_every`` s."""
        token = caller.limits.token
        now = time.monotonic()
        if now - self._quota_read_at.get(token, -self.quota_every) < self.quota_every:
            return
        self._quota_read_at[token] = now
        try:
            stats = await caller.scheduler.stats(token)
        except Exception:  # a gauge is not worth failing a call that succeeded
            return
        self.quota[caller.limits.operation] = (stats.quota_used, stats.quota_limit)

    def job(self, name: str, attributes: Mapping[str, Any]) -> Job:
        """A bulk job's span, started by :meth:`Job.start`."""
        return Job(self, f"wolkvox {name}", dict(attributes))


class CallTrace:
    """What the call path tells the telemetry of one call as it goes."""

    def __init__(self, telemetry: Telemetry, span: Span, priority: str) -> None:
        self.telemetry = telemetry
        self.span = span
        self.priority = priority
        self.attempt = 0
        self.queued = 0.0
        self.sent = False
        self.status: int | None = None
        """The last answer's HTTP status."""

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Around one wait for admission."""
        self.attempt += 1
        queued = self.telemetry.queued
        queued[self.priority] += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            self.queued += time.perf_counter() - started
            queued[self.priority] -= 1

    @contextmanager
    def sending(self) -> Iterator[None]:
        """Around one request on the wire."""
        self.sent = True
        telemetry = self.telemetry
        telemetry.in_flight += 1
        try:
            yield
        finally:
            telemetry.in_flight -= 1

    def answered(self, status: int) -> None:
        self.status = status

    def failed(self, error: Exception) -> None:
        """An attempt ended in ``error`` (raised or retried): an answer the transport
        refused (too large) has a status too; a server's limit refusal (its class's
        ``feedback``, what the scheduler is told) is counted."""
        if isinstance(error, ApiError):
            self.status = error.http_status
            if error.feedback is not None:
                self.refused(error, "server")

    def refused(self, error: Exception, by: str) -> None:
        """A limit refusal: the scheduler's (nothing sent) or the server's."""
        self.telemetry.refusals.add(
            1, {"wolkvox.refusal": type(error).__name__, "wolkvox.refused_by": by}
        )

    def retry(self, error: Exception, delay: float) -> None:
        kind = type(error).__name__
        self.telemetry.retries.add(1, {"error.type": kind})
        self.span.add_event(
            "retry", {"wolkvox.attempt": self.attempt, "error.type": kind, "wolkvox.delay": delay}
        )


class Job:
    """One bulk job's span: an upload or a download, with an event per chunk or window."""

    def __init__(self, telemetry: Telemetry, name: str, attributes: dict[str, Any]) -> None:
        self.telemetry = telemetry
        self.name = name
        self.attributes = attributes
        self.span: Span | None = None

    def start(self) -> None:
        self.span = self.telemetry.tracer.start_span(self.name, attributes=self.attributes)

    @contextmanager
    def current(self) -> Iterator[None]:
        """Calls made inside nest under the job's span."""
        if self.span is None:
            yield
            return
        with trace.use_span(self.span, end_on_exit=False):
            yield

    def chunk(self, index: int, records: int, outcome: str, landed: int) -> None:
        """An upload's chunk has ended (landed, already landed, reconciled or pending)."""
        if self.span is not None:
            self.span.add_event(
                "chunk",
                {
                    "wolkvox.chunk": index,
                    "wolkvox.records": records,
                    "wolkvox.outcome": str(outcome),
                    "wolkvox.landed": landed,
                },
            )

    def window(self, start: datetime, end: datetime, rows: int, held: bool) -> None:
        """A download's window was delivered (``held``: its rows came from a failed run)."""
        if self.span is not None:
            self.span.add_event(
                "window",
                {
                    "wolkvox.window_start": start.isoformat(),
                    "wolkvox.window_end": end.isoformat(),
                    "wolkvox.rows": rows,
                    "wolkvox.held": held,
                },
            )

    def end(self, error: BaseException | None = None, **attributes: Any) -> None:
        span, self.span = self.span, None
        if span is None:
            return
        span.set_attributes(attributes)
        if error is not None:
            _failed(span, error)
        span.end()


def _failed(span: Span, error: BaseException) -> str:
    """Mark ``span`` as ended by ``error``; its class name."""
    name = type(error).__name__
    span.set_attribute("error.type", name)
    span.set_status(Status(StatusCode.ERROR, name))
    return name
