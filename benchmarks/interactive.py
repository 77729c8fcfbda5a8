"""Client CPU of one interactive call: find_record against a bare aiohttp GET + json.loads.

A CRM webhook awaits one find_record at a time; what the library adds to each call —
checking the arguments, building the request, admission and release, parsing, making
the row — is CPU the service pays per call. Both contenders call the simulator (its own
process) sequentially on loopback, the same URL, interleaved in rounds; µs of this
process's CPU per call, median and spread over the rounds.

    taskset -c 1 python benchmarks/interactive.py --calls 2000 --rounds 5

``--parts`` also times the call taken apart (the transport and parse alone, then with the
timeout, with admission and release, with building the request, the whole call path):
what each layer adds, in place, between aiohttp's own steps.

``--telemetry`` adds find_record with ``telemetry=True`` twice: on OpenTelemetry's no-op
API (the extra installed, no SDK configured) and on the SDK (spans to an exporter that
drops them, metrics aggregated for an in-memory reader): what the otel extra costs a call.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from _common import TOKEN, Simulator, publish

from wolkvox_async import WolkvoxClient
from wolkvox_async.calls import _routes as routes
from wolkvox_async.calls._protocol import build_request, parse_response
from wolkvox_async.scheduler import MemoryBackend, Outcome


def parts(wv: WolkvoxClient, url: str) -> dict[str, Callable[[], Awaitable[Any]]]:
    """The call taken apart: what each layer adds, measured in place (``--parts``)."""
    caller = wv._caller
    request = build_request(url, TOKEN, routes.FIND_RECORD, {"customer_id": "c1"})
    transport, scheduler, token = caller.transport, caller.scheduler, caller.limits.token

    async def sent() -> Any:
        return parse_response(request, await transport.send(request))

    async def timed() -> Any:
        async with caller.clock.timeout(90.0):
            return await sent()

    async def admitted() -> Any:
        lease = await scheduler.acquire(token)
        try:
            return await sent()
        finally:
            await scheduler.release(lease, Outcome.ANSWERED)

    async def built() -> Any:
        made = build_request(url, TOKEN, routes.FIND_RECORD, {"customer_id": "c1"})
        return parse_response(made, await transport.send(made))

    async def called() -> Any:
        return await caller.call(routes.FIND_RECORD, {"customer_id": "c1"})

    return {
        "part: transport + parse": sent,
        "part: + the call's timeout": timed,
        "part: + admission and release": admitted,
        "part: + building the request": built,
        "part: the whole call path (Caller.call)": called,
    }


def telemetry_contenders(url: str) -> tuple[dict[str, WolkvoxClient], Callable[[], None]]:
    """Clients with telemetry on (``--telemetry``), and how to close their providers."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from wolkvox_async.otel import Telemetry

    class Dropped(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(Dropped()))
    metering = MeterProvider(metric_readers=[InMemoryMetricReader()])
    sdk = Telemetry(tracer_provider=tracing, meter_provider=metering)

    def client(telemetry: Any) -> WolkvoxClient:
        return WolkvoxClient(
            server="0014", token=TOKEN, base_url=url, backend=MemoryBackend(), telemetry=telemetry
        )

    def close() -> None:
        tracing.shutdown()
        metering.shutdown()

    return {
        "find_record, telemetry: no-op API": client(True),
        "find_record, telemetry: SDK": client(sdk),
    }, close


async def measure(
    calls: int, rounds: int, split: bool = False, telemetry: bool = False
) -> list[dict[str, Any]]:
    sim = Simulator(0, 1000)  # --parts makes 7 contenders: more than 100,000 calls
    try:
        async with aiohttp.ClientSession() as session:
            campaign = await sim.new_campaign(session)
            body = [{"customer_id": "c1", "customer_name": "Ana", "tel1": "3001234567"}]
            await sim.call(
                session,
                "POST",
                "campaign.php?api=add_record&type_campaign=predictive"
                f"&campaign_id={campaign}&campaign_status=start",
                body,
            )
            url = f"{sim.url}/api/v2/campaign.php?api=find_record&customer_id=c1"
            async with WolkvoxClient(
                server="0014", token=TOKEN, base_url=sim.url, backend=MemoryBackend()
            ) as wv:

                async def ours() -> Any:
                    return await wv.find_record(customer_id="c1")

                async def bare() -> Any:
                    async with session.get(url, headers={"wolkvox-token": TOKEN}) as resp:
                        return json.loads(await resp.read())

                contenders: dict[str, Callable[[], Awaitable[Any]]] = {
                    "wolkvox-async find_record": ours,
                    "aiohttp GET + json.loads": bare,
                }
                if split:
                    contenders.update(parts(wv, sim.url))
                traced, close = telemetry_contenders(sim.url) if telemetry else ({}, None)
                for name, client in traced.items():

                    async def find(client: WolkvoxClient = client) -> Any:
                        return await client.find_record(customer_id="c1")

                    contenders[name] = find
                for call in contenders.values():  # warm: connections, hooks made once
                    for _ in range(50):
                        await call()
                spent: dict[str, list[float]] = {name: [] for name in contenders}
                for _ in range(rounds):
                    for name, call in contenders.items():
                        started = time.process_time()
                        for _ in range(calls):
                            await call()
                        spent[name].append((time.process_time() - started) / calls * 1e6)
                for client in traced.values():
                    await client.close()
                if close is not None:
                    close()
    finally:
        sim.stop()
    bare_us = spent["aiohttp GET + json.loads"]
    rows = []
    for name, values in spent.items():
        ratios = [ours / ref for ours, ref in zip(values, bare_us, strict=True)]
        rows.append(
            {
                "contender": name,
                "calls": calls * rounds,
                "us_per_call": round(statistics.median(values), 1),
                "us_spread": f"{min(values):.0f}–{max(values):.0f}",
                "x_bare": round(statistics.median(ratios), 2),
                "x_bare_spread": f"{min(ratios):.2f}–{max(ratios):.2f}",
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--parts", action="store_true", help="also time the call's layers")
    parser.add_argument(
        "--telemetry", action="store_true", help="also find_record with OpenTelemetry on"
    )
    args = parser.parse_args()
    publish(
        "interactive_telemetry" if args.telemetry else "interactive",
        asyncio.run(measure(args.calls, args.rounds, args.parts, args.telemetry)),
        [
            ("contender", "contender", 40),
            ("us_per_call", "µs/call", 8),
            ("us_spread", "spread", 9),
            ("x_bare", "× bare", 6),
            ("x_bare_spread", "× spread", 9),
        ],
    )


if __name__ == "__main__":
    main()
