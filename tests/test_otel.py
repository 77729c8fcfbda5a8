"""OpenTelemetry (the ``otel`` extra), through the SDK's in-memory exporters: the spans and
metric points a find_record, a retried call, an upload, a download and each kind of
refusal produce, against FakeWolkvox over loopback; no token in any of them; and without
``telemetry=`` (or without the extra) nothing of OpenTelemetry is imported."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import until
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from redis_server import RedisServer, with_option

import wolkvox_async as w
from wolkvox_async import Record, WolkvoxClient
from wolkvox_async.otel import CALL_ATTRIBUTES, METRICS, Telemetry
from wolkvox_async.scheduler import MemoryBackend, RedisBackend
from wolkvox_async.testing import FakeWolkvox, Fault, VirtualClock


class Seen:
    """One client's telemetry, collected in memory."""

    def __init__(self) -> None:
        self.spans_out = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans_out))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.telemetry = Telemetry(
            tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        return [s for s in self.spans_out.get_finished_spans() if name in (None, s.name)]

    def points(self) -> dict[str, list[tuple[dict[str, Any], Any]]]:
        """Each metric's points: (attributes, value or histogram count)."""
        data = self.reader.get_metrics_data()
        found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    found[metric.name] = [
                        (dict(p.attributes or {}), p.value if hasattr(p, "value") else p.count)
                        for p in metric.data.data_points
                    ]
        return found

    def everything(self) -> str:
        """All that was exported, as text."""
        spans = [s.to_json() for s in self.spans()]
        data = self.reader.get_metrics_data()
        return "\n".join(spans) + (data.to_json() if data else "")


@pytest.fixture
def seen() -> Iterator[Seen]:
    seen = Seen()
    yield seen
    seen.tracer_provider.shutdown()
    seen.meter_provider.shutdown()


def make(fake: FakeWolkvox, seen: Seen, **kw: Any) -> WolkvoxClient:
    return WolkvoxClient(
        server=fake.server,
        token=fake.token,
        base_url=fake.url,
        telemetry=seen.telemetry,
        strict=True,
        **kw,
    )


async def test_a_find_record_is_one_client_span_under_the_callers(
    fake: FakeWolkvox, seen: Seen
) -> None:
    camp = fake.create_campaign()
    tracer = seen.tracer_provider.get_tracer("crm")
    async with make(fake, seen, licenses=3) as wv:
        await wv.upload_records(camp.id, [Record(customer_id="C1", phones=("3001234567",))])
        seen.spans_out.clear()
        with tracer.start_as_current_span("webhook") as parent:
            hits = await wv.find_record(campaign_id=camp.id, customer_id="C1")
    assert len(hits) == 1
    (span,) = seen.spans("wolkvox campaign.find_record")
    assert span.kind is SpanKind.CLIENT
    assert span.parent is not None
    assert span.parent.span_id == parent.get_span_context().span_id
    attributes = dict(span.attributes or {})
    assert attributes["wolkvox.api"] == "find_record"
    assert attributes["wolkvox.route"] == "campaign.find_record"
    assert attributes["wolkvox.campaign_id"] == camp.id
    assert attributes["wolkvox.priority"] == "interactive"
    assert attributes["wolkvox.attempt"] == 1
    assert attributes["wolkvox.sent"] is True
    assert attributes["http.response.status_code"] == 200
    assert attributes["http.request.method"] == "GET"
    assert 0 <= attributes["wolkvox.queued_seconds"] < 5
    assert "error.type" not in attributes
    assert set(attributes) <= set(CALL_ATTRIBUTES)
    assert span.status.status_code is not StatusCode.ERROR

    points = seen.points()
    assert set(points) <= set(METRICS)
    durations = dict((a["wolkvox.route"], n) for a, n in points["wolkvox.client.call.duration"])
    assert durations["campaign.find_record"] == 1
    assert [v for _, v in points["wolkvox.client.in_flight"]] == [0]  # +1, then -1
    assert {v for _, v in points["wolkvox.client.queued"]} == {0}
    assert points["wolkvox.quota.limit"] == [({"wolkvox.operation": fake.server}, 3000)]
    assert points["wolkvox.quota.used"][0][1] >= 1
    assert fake.token not in seen.everything()


async def test_the_quota_gauges_read_a_shared_ledger(
    fake: FakeWolkvox, seen: Seen, redis_url: str
) -> None:
    """On Redis the gauges show the operation's count across processes: here another
    client's calls (its own process, as far as the ledger knows) are in it."""
    async with WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, licenses=3, backend=redis_url
    ) as other:
        for _ in range(3):
            await other.token_info()
    async with make(fake, seen, licenses=3, backend=redis_url) as wv:
        await wv.token_info()
    assert seen.points()["wolkvox.quota.used"] == [({"wolkvox.operation": fake.server}, 4)]
    assert seen.points()["wolkvox.quota.limit"] == [({"wolkvox.operation": fake.server}, 3000)]


async def test_redis_stopped_while_traced(
    fake: FakeWolkvox, seen: Seen, redis_server: RedisServer, redis_url: str
) -> None:
    """Redis gone under a traced client: a call is refused, nothing sent, and counted as
    the scheduler's refusal; with ``fallback=memory`` the calls go on, and the quota read
    after each (a Redis round trip) neither fails nor holds them."""
    strict, lenient = (
        RedisBackend(redis_url),
        RedisBackend(with_option(redis_url, "fallback=memory")),
    )
    try:
        async with (
            make(fake, seen, licenses=3, backend=strict, server_limit=1) as wv,
            make(fake, seen, licenses=3, backend=lenient) as other,
        ):
            await wv.token_info()
            await other.token_info()
            redis_server.stop()
            with pytest.raises(w.SchedulerUnavailable):
                await wv.token_info()
            answers = await asyncio.gather(*(other.token_info() for _ in range(4)))
    finally:
        redis_server.start()
        await strict.close()
        await lenient.close()
    assert len(answers) == 4
    spans = seen.spans("wolkvox information.token_info")
    failed = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert [dict(s.attributes or {})["error.type"] for s in failed] == ["SchedulerUnavailable"]
    assert dict(failed[0].attributes or {})["wolkvox.sent"] is False
    assert len(spans) == 7 and fake.stats.requests == 6
    refusals = seen.points()["wolkvox.client.refusals"]
    assert refusals == [
        ({"wolkvox.refusal": "SchedulerUnavailable", "wolkvox.refused_by": "scheduler"}, 1)
    ]


async def test_in_flight_and_queued_are_what_they_are_when_read(
    fake: FakeWolkvox, seen: Seen
) -> None:
    async with make(fake, seen) as wv:
        fake.inject(Fault.HELD, times=2)
        calls = [asyncio.create_task(wv.token_info()) for _ in range(3)]
        await until(lambda: fake.stats.in_flight[fake.token] == 2)
        points = seen.points()
        assert points["wolkvox.client.in_flight"] == [({}, 2)]
        assert points["wolkvox.client.queued"] == [({"wolkvox.priority": "interactive"}, 1)]
        fake.let_go()
        await asyncio.gather(*calls)
    points = seen.points()
    assert points["wolkvox.client.in_flight"] == [({}, 0)]
    assert points["wolkvox.client.queued"] == [({"wolkvox.priority": "interactive"}, 0)]


async def test_a_retried_call_says_each_attempt(fake: FakeWolkvox, seen: Seen) -> None:
    async with make(fake, seen) as wv:
        fake.inject(Fault.HTTP_500, times=2, api="token_info")
        await wv.token_info()
    (span,) = seen.spans("wolkvox information.token_info")
    attributes = dict(span.attributes or {})
    assert attributes["wolkvox.attempt"] == 3
    assert attributes["http.response.status_code"] == 200  # the last attempt's
    retries = [e for e in span.events if e.name == "retry"]
    assert [e.attributes["wolkvox.attempt"] for e in retries] == [1, 2]  # type: ignore[index]
    assert {e.attributes["error.type"] for e in retries} == {"ServerError"}  # type: ignore[index]
    assert seen.points()["wolkvox.client.retries"] == [({"error.type": "ServerError"}, 2)]
    assert fake.token not in seen.everything()


async def test_a_read_that_shares_an_identical_reads_result_says_so(
    fake: FakeWolkvox, seen: Seen
) -> None:
    async with make(fake, seen) as wv:
        await wv.campaigns()
        await wv.campaigns()  # within the 5-minute interval: the first one's result
    first, second = seen.spans("wolkvox information.campaigns")
    assert dict(first.attributes or {})["wolkvox.sent"] is True
    assert "wolkvox.shared_read" not in dict(first.attributes or {})
    shared = dict(second.attributes or {})
    assert (shared["wolkvox.shared_read"], shared["wolkvox.sent"]) == (True, False)
    assert shared["wolkvox.attempt"] == 0
    assert fake.stats.requests == 1


async def test_a_call_that_fails_carries_its_error(fake: FakeWolkvox, seen: Seen) -> None:
    async with make(fake, seen, max_attempts=1) as wv:
        with pytest.raises(w.NotFound):
            await wv.start_campaign("999999", campaign_type="predictive")
    (span,) = seen.spans("wolkvox campaign.start")
    attributes = dict(span.attributes or {})
    assert attributes["error.type"] == "NotFound"
    assert attributes["http.response.status_code"] == 404
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]
    (duration,) = seen.points()["wolkvox.client.call.duration"]
    assert duration[0] == {"wolkvox.route": "campaign.start", "error.type": "NotFound"}


async def test_refusals_are_counted_by_kind_and_by_whom(fake: FakeWolkvox, seen: Seen) -> None:
    # The scheduler's: a quota of one call, asked for two (on a clock that stays in one
    # quota day).
    clock = VirtualClock(datetime(2026, 11, 23, 15, 0, tzinfo=UTC))
    async with make(fake, seen, daily_quota=1, clock=clock) as wv:
        await wv.token_info()
        with pytest.raises(w.QuotaExhausted):
            await wv.campaigns()
    (refused,) = seen.spans("wolkvox information.campaigns")
    assert dict(refused.attributes or {})["wolkvox.sent"] is False
    assert dict(refused.attributes or {})["error.type"] == "QuotaExhausted"
    # The server's: two calls of another client (its own ledger) hold the token's 2 slots.
    other = WolkvoxClient(
        server=fake.server, token=fake.token, base_url=fake.url, backend=MemoryBackend()
    )
    async with other, make(fake, seen, max_attempts=1, backend=MemoryBackend()) as wv:
        fake.inject(Fault.HELD, times=2)
        held = [asyncio.create_task(other.token_info()) for _ in range(2)]
        await until(lambda: fake.stats.in_flight[fake.token] == 2)
        with pytest.raises(w.TooManySimultaneous):
            await wv.realtime_campaigns()
        fake.let_go()
        await asyncio.gather(*held)
    refusals = {
        (a["wolkvox.refusal"], a["wolkvox.refused_by"]): n
        for a, n in seen.points()["wolkvox.client.refusals"]
    }
    assert refusals == {("QuotaExhausted", "scheduler"): 1, ("TooManySimultaneous", "server"): 1}
    assert fake.token not in seen.everything()


async def test_an_upload_is_a_job_span_with_its_chunks(fake: FakeWolkvox, seen: Seen) -> None:
    camp = fake.create_campaign()
    records = [Record(customer_id=f"C{i}", phones=(f"300{i:07d}",)) for i in range(250)]
    async with make(fake, seen) as wv:
        report = await wv.upload_records(camp.id, records, chunk_size=100)
    assert report.records_landed == 250
    (job,) = seen.spans("wolkvox upload_records")
    chunks = [e for e in job.events if e.name == "chunk"]
    assert sorted(e.attributes["wolkvox.records"] for e in chunks) == [50, 100, 100]  # type: ignore[index]
    assert {e.attributes["wolkvox.outcome"] for e in chunks} == {"landed"}  # type: ignore[index]
    attributes = dict(job.attributes or {})
    assert attributes["wolkvox.records_landed"] == 250
    assert attributes["wolkvox.campaign_id"] == camp.id
    uploads = seen.spans("wolkvox campaign.add_record")
    assert len(uploads) == 3
    for span in uploads:
        assert span.parent is not None and span.parent.span_id == job.context.span_id
        assert dict(span.attributes or {})["wolkvox.priority"] == "bulk"
    assert fake.token not in seen.everything()


START = datetime(2026, 6, 1)


def results(fake: FakeWolkvox, days: int, count: int) -> str:
    """A campaign with ``count`` dial attempts over ``days`` from START; its id."""
    camp = fake.create_campaign()
    fake.add_call_results(camp.id, START, START + timedelta(days=days), count, seed=3)
    return camp.id


async def test_a_download_is_a_job_span_with_its_windows(fake: FakeWolkvox, seen: Seen) -> None:
    campaign = results(fake, 40, 500)
    async with make(fake, seen) as wv:
        download = wv.iter_phone_results(campaign, START, START + timedelta(days=40))
        rows = [row async for row in download]
    assert len(rows) == 500
    (job,) = seen.spans("wolkvox download campaign_3")
    windows = [e for e in job.events if e.name == "window"]
    assert sum(e.attributes["wolkvox.rows"] for e in windows) == 500  # type: ignore[index,misc]
    assert len(windows) == download.windows_total == 2
    assert dict(job.attributes or {})["wolkvox.rows"] == 500
    reads = [s for s in seen.spans() if s.name.startswith("wolkvox reports_manager.")]
    assert len(reads) == download.requests
    assert all(s.parent is not None and s.parent.span_id == job.context.span_id for s in reads)


async def test_a_download_stopped_early_ends_its_span(fake: FakeWolkvox, seen: Seen) -> None:
    campaign = results(fake, 2, 50)
    async with make(fake, seen) as wv:
        rows = aiter(wv.iter_phone_results(campaign, START, START + timedelta(days=2)))
        await anext(rows)
        await rows.aclose()  # type: ignore[attr-defined]
    (job,) = seen.spans("wolkvox download campaign_3")
    assert job.status.status_code is not StatusCode.ERROR
    assert dict(job.attributes or {})["wolkvox.stopped_early"] is True


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_without_telemetry_nothing_of_opentelemetry_is_imported() -> None:
    code = """
import asyncio, sys
from wolkvox_async import WolkvoxClient
from wolkvox_async.testing import FakeWolkvox

async def main():
    async with FakeWolkvox() as fake:
        async with WolkvoxClient(server=fake.server, token=fake.token, base_url=fake.url) as wv:
            await wv.token_info()
            camp = fake.create_campaign()
            await wv.upload_records(camp.id, [{"customer_id": "1", "tel1": "3001234567"}])
    print(sorted(m for m in sys.modules if "opentelemetry" in m or m.endswith(".otel")))

asyncio.run(main())
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().replace("'", '"')) == []


def test_without_the_extra_telemetry_is_a_clear_error() -> None:
    # As if opentelemetry-api were not installed: its import fails.
    code = """
import sys
sys.modules["opentelemetry"] = None
import wolkvox_async as w
try:
    w.WolkvoxClient(server="1", token="secret-token-x", telemetry=True)
except w.ConfigError as exc:
    print(exc)
"""
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert "pip install 'wolkvox-async[otel]'" in done.stdout
    assert "secret-token-x" not in done.stdout


def test_a_bad_telemetry_value_is_named() -> None:
    with pytest.raises(w.ConfigError, match="telemetry must be"):
        WolkvoxClient(server="1", token="t", telemetry="yes")  # type: ignore[arg-type]
