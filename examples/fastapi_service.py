"""Recipe: a CRM webhook service on FastAPI that looks customers up in Wolkvox.

One WolkvoxClient lives as long as the app (FastAPI's lifespan): one session, one
scheduler, so every request of every route shares the token's 2 slots and its daily
quota. Every error of the library becomes an HTTP answer with a reason a caller can act
on (``ANSWERS`` below), never a 500 with a traceback:

* the daily quota is spent (our ledger's count or the server's): 429, ``Retry-After``
  until Wolkvox's midnight;
* the service shutting down (the client closed with calls still queued): 503;
* no slot within ``max_wait`` (the token is busy with bulk work, or paused after a
  maintenance answer), the scheduler's shared state (Redis) unreachable, Wolkvox
  unreachable or in maintenance: 503 with ``Retry-After``;
* this service's Wolkvox credentials refused (a wrong or revoked token, an IP Wolkvox's
  firewall does not allow): 503 saying so, for the service's operator to fix;
* an answer that is not Wolkvox's (a wrong ``WOLKVOX_BASE_URL``, a proxy's page), a
  Wolkvox server error or an answer that cannot be read: 502; no answer in time: 504;
* the caller's own input: 422 (refused before sending) or Wolkvox's 400/404, passed on;
  a search matching more than Wolkvox returns per call (60,000 rows, which may be cut):
  422, to narrow it.

Run it::

    pip install '.[otel]' fastapi uvicorn        # in wolkvox-async's folder
    WOLKVOX_SERVER=0014 WOLKVOX_TOKEN=... WOLKVOX_LICENSES=3 \\
        uvicorn examples.fastapi_service:app --port 8000

Settings (environment): ``WOLKVOX_SERVER``, ``WOLKVOX_TOKEN``, ``WOLKVOX_LICENSES``,
``WOLKVOX_MAX_WAIT`` (seconds a request may wait for a slot, default 5),
``WOLKVOX_BASE_URL`` (a simulator: ``wolkvox fake-server``), ``WOLKVOX_BACKEND`` (e.g.
``redis://…`` when several replicas share the token), ``WOLKVOX_TELEMETRY=1``
(OpenTelemetry spans and metrics, to the providers the process has installed).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, NamedTuple

import attrs
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from wolkvox_async import (
    AlreadyLoaded,
    ApiError,
    BadRequest,
    CampaignFull,
    ClientClosed,
    ConfigError,
    Forbidden,
    InvalidToken,
    JournalError,
    LoadRunning,
    Maintenance,
    NotFound,
    NotWolkvox,
    QuotaExhausted,
    QuotaSpent,
    RequestTimeout,
    SchedulerRefusal,
    SchedulerUnavailable,
    ServerError,
    TokenLimitExceeded,
    TooManySimultaneous,
    TransportError,
    TruncatedAnswer,
    Unauthorized,
    WaitTooLong,
    WolkvoxClient,
    WolkvoxError,
)

log = logging.getLogger("crm_lookups")


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


class Answer(NamedTuple):
    """What the service answers for one error class."""

    status: int
    reason: str
    retry_after: int | None = None
    """Seconds, when the error carries no time of its own (None: retrying alone won't help)."""
    tell: bool = False
    """Add the error's own words: they are about the caller's input."""


# The first class in an error's MRO with an answer decides.
ANSWERS: dict[type[WolkvoxError], Answer] = {
    ConfigError: Answer(422, "invalid request", tell=True),  # refused before sending
    # (the server's count and our ledger's: named, as each has a nearer base below)
    QuotaSpent: Answer(429, "today's Wolkvox quota is spent", 3600),
    TokenLimitExceeded: Answer(429, "today's Wolkvox quota is spent", 3600),
    QuotaExhausted: Answer(429, "today's Wolkvox quota is spent", 3600),
    WaitTooLong: Answer(503, "Wolkvox is busy", 5),
    SchedulerUnavailable: Answer(503, "the scheduler is unreachable; nothing was sent", 5),
    SchedulerRefusal: Answer(503, "the scheduler refused the call; nothing was sent", 5),
    Maintenance: Answer(503, "Wolkvox is in maintenance", 60),
    TooManySimultaneous: Answer(503, "this service's Wolkvox token is in use elsewhere", 5),
    RequestTimeout: Answer(504, "Wolkvox did not answer in time"),
    TransportError: Answer(503, "Wolkvox cannot be reached", 30),
    ClientClosed: Answer(503, "the service is shutting down; nothing was sent", 5),
    InvalidToken: Answer(503, "this service's Wolkvox credentials are wrong (token refused)"),
    Unauthorized: Answer(503, "this service's Wolkvox credentials are missing"),
    Forbidden: Answer(503, "Wolkvox refuses this service (its token or IP is not allowed)"),
    NotWolkvox: Answer(502, "the answer did not come from Wolkvox (check WOLKVOX_BASE_URL)"),
    ServerError: Answer(502, "Wolkvox answered with a server error", 30),
    BadRequest: Answer(400, "Wolkvox refused the request", tell=True),
    NotFound: Answer(404, "Wolkvox found no such thing", tell=True),
    CampaignFull: Answer(409, "the campaign is full", tell=True),
    TruncatedAnswer: Answer(422, "the search matches more than Wolkvox returns at once: narrow it"),
    # A route that starts an upload: one load of an input at a time, and never twice.
    LoadRunning: Answer(409, "this load is running already; nothing was sent", 60, tell=True),
    AlreadyLoaded: Answer(409, "this input was loaded already; nothing was sent", tell=True),
    JournalError: Answer(503, "this service's upload journal cannot be used"),
    ApiError: Answer(502, "Wolkvox's answer was an error"),
    WolkvoxError: Answer(502, "the Wolkvox call failed"),
}


def answer_for(exc: WolkvoxError) -> Answer:
    """The answer of an error's class, or of its nearest base that has one."""
    return next(ANSWERS[cls] for cls in type(exc).__mro__ if cls in ANSWERS)


@app.exception_handler(WolkvoxError)
async def wolkvox_failed(request: Request, exc: WolkvoxError) -> JSONResponse:
    answer = answer_for(exc)
    detail = answer.reason
    if answer.tell:
        detail += f": {exc.message if isinstance(exc, ApiError) else exc}"
    if answer.status >= 500:
        # The operator's side: the whole error in the log (the URL, what came back; never
        # the token), the reason to the caller.
        log.warning("%s %s -> %d: %s", request.method, request.url.path, answer.status, exc)
    headers = {}
    when: datetime | None = getattr(exc, "retry_at", None) or getattr(exc, "resets_at", None)
    if when is not None or answer.retry_after is not None:
        seconds = (when - datetime.now(UTC)).total_seconds() if when else answer.retry_after
        headers["Retry-After"] = str(max(1, math.ceil(seconds or 1)))
    return JSONResponse({"detail": detail}, status_code=answer.status, headers=headers)


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
