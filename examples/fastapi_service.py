"""Recipe: a CRM webhook service on FastAPI that looks customers up in Wolkvox.

One WolkvoxClient lives as long as the app (FastAPI's lifespan): one session, one
scheduler, so every request of every route shares the token's 2 slots and its daily
quota. The scheduler's refusals become HTTP answers a caller can act on:

* the daily quota is spent (our ledger's count or the server's): 429, ``Retry-After``
  until Wolkvox's midnight;
* no slot within ``max_wait`` (the token is busy with bulk work, or paused after a
  maintenance answer): 503, ``Retry-After`` until the scheduler's estimate;
* the scheduler's shared state (Redis) is unreachable: 503, nothing was sent.

Run it::

    pip install 'wolkvox-async[otel]' fastapi uvicorn
    WOLKVOX_SERVER=0014 WOLKVOX_TOKEN=... WOLKVOX_LICENSES=3 \\
        uvicorn examples.fastapi_service:app --port 8000

Settings (environment): ``WOLKVOX_SERVER``, ``WOLKVOX_TOKEN``, ``WOLKVOX_LICENSES``,
``WOLKVOX_MAX_WAIT`` (seconds a request may wait for a slot, default 5),
``WOLKVOX_BASE_URL`` (a simulator: ``wolkvox fake-server``), ``WOLKVOX_BACKEND`` (e.g.
``redis://…`` when several replicas share the token), ``WOLKVOX_TELEMETRY=1``
(OpenTelemetry spans and metrics, to the providers the process has installed).
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import attrs
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from wolkvox_async import (
    ConfigError,
    QuotaSpent,
    SchedulerUnavailable,
    WaitTooLong,
    WolkvoxClient,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with WolkvoxClient(
        server=os.environ["WOLKVOX_SERVER"],
        token=os.environ["WOLKVOX_TOKEN"],
        licenses=int(os.environ.get("WOLKVOX_LICENSES", "1")),
        base_url=os.environ.get("WOLKVOX_BASE_URL"),
        # A webhook should answer, not queue behind a bulk load for minutes.
        max_wait=float(os.environ.get("WOLKVOX_MAX_WAIT", "5")),
        # Spans under each request's span, run under `opentelemetry-instrument uvicorn ...`
        # (needs the otel extra).
        telemetry=os.environ.get("WOLKVOX_TELEMETRY") == "1",
    ) as wolkvox:
        app.state.wolkvox = wolkvox
        yield


app = FastAPI(title="CRM lookups", lifespan=lifespan)


def _retry_after(when: datetime | None, default: int) -> dict[str, str]:
    seconds = default if when is None else (when - datetime.now(UTC)).total_seconds()
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


@app.exception_handler(QuotaSpent)
async def quota_spent(request: Request, exc: QuotaSpent) -> JSONResponse:
    return JSONResponse(
        {"detail": "today's Wolkvox quota is spent"},
        status_code=429,
        headers=_retry_after(exc.resets_at, 3600),
    )


@app.exception_handler(WaitTooLong)
async def too_busy(request: Request, exc: WaitTooLong) -> JSONResponse:
    return JSONResponse(
        {"detail": f"Wolkvox is busy ({exc.reason})"},
        status_code=503,
        headers=_retry_after(exc.retry_at, 5),
    )


@app.exception_handler(SchedulerUnavailable)
async def no_scheduler(request: Request, exc: SchedulerUnavailable) -> JSONResponse:
    return JSONResponse(
        {"detail": "the scheduler is unreachable; nothing was sent"},
        status_code=503,
        headers={"Retry-After": "5"},
    )


@app.exception_handler(ConfigError)
async def bad_input(request: Request, exc: ConfigError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=422)  # names the bad argument


def _wolkvox(request: Request) -> WolkvoxClient:
    client: WolkvoxClient = request.app.state.wolkvox
    return client


@app.get("/customers/{customer_id}")
async def find_customer(
    customer_id: str, request: Request, campaign_id: str | None = None
) -> list[dict[str, Any]]:
    """Every record of the customer (in one campaign, or in all)."""
    hits = await _wolkvox(request).find_record(customer_id=customer_id, campaign_id=campaign_id)
    if not hits:
        raise HTTPException(status_code=404, detail="no such customer")
    return [attrs.asdict(hit) for hit in hits]


@app.post("/campaigns/{campaign_id}/recalls")
async def schedule_recall(
    campaign_id: str, customer_id: str, telephone: str, at: datetime, request: Request
) -> dict[str, Any]:
    """Call the customer back at ``at`` (an aware time is converted to Wolkvox time)."""
    done = await _wolkvox(request).recall(
        campaign_id, customer_id=customer_id, telephone=telephone, at=at
    )
    return attrs.asdict(done)


@app.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """The token's slots and quota, from the scheduler (no call to Wolkvox)."""
    stats = await _wolkvox(request).scheduler_stats()
    return {
        "in_flight": stats.in_flight,
        "queued": stats.queued_interactive + stats.queued_bulk,
        "quota_used": stats.quota_used,
        "quota_limit": stats.quota_limit,
    }
