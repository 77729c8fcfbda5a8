"""The one error tree of wolkvox-async.

Every exception the library raises on purpose derives from :class:`WolkvoxError`::

    WolkvoxError
    ├── ConfigError                      bad server id, bad limits, bad dates, bad records
    │                                    (also a ValueError; raised before any request)
    ├── ClientClosed                     the client was closed; the call was not sent
    ├── TruncatedAnswer                  a single call's answer at the 60,000-row cap: it
    │                                    may be cut (the windowed iterators read it whole)
    ├── TransportError                   network: connection refused/reset, TLS
    │   └── RequestTimeout               (also a TimeoutError)
    ├── QuotaSpent(resets_at)            the daily quota is spent (catch for both below)
    ├── SchedulerRefusal                 raised by admission; nothing was sent
    │   ├── QuotaExhausted(resets_at)    (also a QuotaSpent)
    │   │   └── QuotaReserved(reserved)  a BULK call would spend the interactive reserve
    │   ├── WaitTooLong(retry_at)
    │   └── SchedulerUnavailable         the shared backend cannot be reached or trusted
    └── ApiError(method, url, http_status, body_code, message, raw_body)
        ├── BadRequest           400
        ├── Unauthorized         401 PLEASE ENTER THE WOLKVOX-TOKEN
        ├── InvalidToken         403 PLEASE VALIDATE TOKEN
        ├── TokenLimitExceeded   403 TOKEN LIMIT EXCEEDED (also a QuotaSpent)
        ├── TooManySimultaneous  403 EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN (2)
        ├── Maintenance          403 mentioning maintenance (help centre)
        ├── Forbidden            403, any other message: not retried, no pause
        ├── NotFound             404 other than "no data" and "campaign full"
        ├── CampaignFull         404 whose message mentions licenses / 50000, on add_record
        │                        and create_campaign only
        ├── ServerError          5xx (whatever the body: a proxy's 502 page too)
        └── ResponseDecodeError  the body is not what the docs say
            └── NotWolkvox       not Wolkvox's JSON at all: a wrong base URL, a proxy's
                                 or a login page (any status but 403 and 5xx)

Errors carry what was asked (method, redacted URL, campaign) and never the token: URLs
are built without it (it travels only in the ``wolkvox-token`` header) and bodies are
redacted before they are stored. What an error means is said once, by its class:
``retry``, ``feedback``, ``pause`` (``_meaning``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ._meaning import Pause, Rebuilt, Refusal, Retry

if TYPE_CHECKING:
    from .bulk._results import UploadReport, WindowRows

__all__ = [
    "ApiError",
    "BadRequest",
    "CampaignFull",
    "ClientClosed",
    "ConfigError",
    "Forbidden",
    "InvalidToken",
    "Maintenance",
    "NotFound",
    "NotWolkvox",
    "Pause",
    "QuotaExhausted",
    "QuotaReserved",
    "QuotaSpent",
    "Refusal",
    "RequestTimeout",
    "ResponseDecodeError",
    "Retry",
    "SchedulerRefusal",
    "SchedulerUnavailable",
    "ServerError",
    "TokenLimitExceeded",
    "TooManySimultaneous",
    "TransportError",
    "TruncatedAnswer",
    "Unauthorized",
    "WaitTooLong",
    "WolkvoxError",
    "shown",
]

_BODY_PREVIEW = 200


class WolkvoxError(Rebuilt, Exception):
    """Base class of every error raised by wolkvox-async."""

    retry: Retry = Retry.NEVER
    """Whether the call path sends the call again (its policy permitting)."""
    feedback: Refusal | None = None
    """What the token's scheduler is told (a server's limit refusal), or None."""
    pause: Pause | None = None
    """Why a bulk job may wait and try again; None: it stops."""

    upload_report: UploadReport | None = None
    """Set on an error that stopped ``upload_records``: what landed, what was rejected and
    what is pending (in the journal, for resume) when it stopped."""
    windows_ahead: tuple[WindowRows[Any], ...] = ()
    """Set on an error that stopped a windowed download: the later windows it had already
    read, whole, to keep and pass back as ``held`` (see :class:`WindowRows`)."""


class ConfigError(WolkvoxError, ValueError):
    """An argument or setting is invalid; raised before any request is sent."""


class ClientClosed(WolkvoxError):
    """The client was closed before this call was sent: it was queued for a slot, waiting
    to retry, or made after :meth:`~wolkvox_async.WolkvoxClient.close`. Nothing of it
    reached Wolkvox."""


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class TruncatedAnswer(WolkvoxError):
    """A single call's answer holds as many rows as Wolkvox returns per call (60,000,
    wolkvox-api.md §3.1), so it may be cut, and no paging says whether it is: never taken
    as complete. The message names what was asked (endpoint, campaign, window) and what to
    do: a date-range report is read whole by its windowed iterator (``iter_report``), which
    splits or continues a window at the cap until every window is complete; an answer
    without a date range (the ``campaign_15`` export, a DNC list) has no windowed form.
    ``allow_truncated=True`` on the method returns the rows instead, marked
    ``.truncated``. Public code stops at 59,000 rows for fear of exactly this cut."""

    endpoint: str
    """The endpoint asked, e.g. ``reports_manager.campaign_3``."""
    url: str
    """The request URL (it never holds the token)."""
    rows: int
    """Rows in the answer."""
    cap: int
    """The most rows Wolkvox returns per call."""
    total: int | None = None
    """The rows the answer says exist, when it says (the export's ``total_records``)."""
    window: tuple[datetime, datetime] | None = None
    """The dates asked (Wolkvox time, both included), for a date-range read."""
    campaign_id: str | None = None
    """The campaign asked (or "all"), when the endpoint takes one."""
    advice: str = ""
    """What to do instead: the windowed call to make, or why there is none."""

    def __str__(self) -> str:
        asked = [f"campaign {self.campaign_id}"] if self.campaign_id else []
        if self.window is not None:
            lo, hi = (moment.isoformat(sep=" ") for moment in self.window)
            asked.append(f"{lo} to {hi}")
        what = f"{self.endpoint} ({', '.join(asked)})" if asked else self.endpoint
        rows = f"{self.rows:,}" if self.total is None else f"{self.rows:,} of {self.total:,}"
        return (
            f"{what} answered {rows} rows, the most Wolkvox returns per call "
            f"({self.cap:,}): the answer may be cut, so it is not returned as complete. "
            f"{self.advice}"
        ).strip()


def shown(value: object) -> str:
    """``value`` for a ConfigError's message: its repr, cut to a readable length. A huge
    int has no decimal form at all (Python refuses str() past 4,300 digits), so a message
    that said ``{value!r}`` would itself raise ValueError."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**20:
        return f"an int of {value.bit_length()} bits"
    try:
        text = repr(value)
    except Exception:  # a caller's object whose repr fails still gets a message
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 60 else f"{text[:57]}..."


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class TransportError(WolkvoxError):
    """The request could not be completed on the network.

    ``sent`` tells whether the request may have reached the server: False for a refused
    connection (safe to send again), True when the connection broke after sending.
    ``answered``: the server's response had begun (its status line arrived) when the
    connection broke, so the server is done with the call.
    """

    method: str
    url: str
    reason: str
    sent: bool = True
    answered: bool = False
    retry = Retry.IF_IDEMPOTENT
    pause = Pause.UNANSWERED

    def __attrs_post_init__(self) -> None:
        if not self.sent:  # nothing left us: refused before the server did anything
            self.retry, self.pause = Retry.ALWAYS, Pause.REFUSED

    def __str__(self) -> str:
        return f"{self.method} {self.url}: {self.reason}"


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class RequestTimeout(TransportError, TimeoutError):
    """No complete response arrived within the client timeout (Wolkvox allows 60 s)."""

    timeout: float = 60.0

    def __str__(self) -> str:
        return f"{self.method} {self.url}: no response within {self.timeout:g} s"


class SchedulerRefusal(WolkvoxError):
    """Admission refused the request; nothing was sent to Wolkvox."""


class QuotaSpent(WolkvoxError):
    """The operation's daily quota is spent, by our ledger's count (:class:`QuotaExhausted`,
    nothing sent) or the server's (:class:`TokenLimitExceeded`): calls can run again at
    ``resets_at`` (the next midnight in Wolkvox time). Catch this one for both."""

    resets_at: datetime | None = None


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class QuotaExhausted(SchedulerRefusal, QuotaSpent):
    """Our ledger counts the daily quota spent; calls can run again at ``resets_at``."""

    operation: str
    used: int
    limit: int
    resets_at: datetime

    def __str__(self) -> str:
        return (
            f"daily quota of operation {self.operation} is spent ({self.used}/{self.limit}); "
            f"it resets at {self.resets_at.isoformat()}"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class QuotaReserved(QuotaExhausted):
    """A BULK call would eat into the quota reserved for interactive calls
    (``quota_reserve``): bulk work resumes at ``resets_at``; interactive calls go on."""

    reserved: int
    """The units kept for interactive calls today."""

    def __str__(self) -> str:
        left = max(0, self.limit - self.used)
        return (
            f"the {left} calls left today of operation {self.operation} "
            f"({self.used}/{self.limit} used) are reserved for interactive calls "
            f"(quota_reserve: {self.reserved}); bulk work resumes at "
            f"{self.resets_at.isoformat()}"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class WaitTooLong(SchedulerRefusal):
    """Admission would come later than the caller's ``max_wait`` allows."""

    pause = Pause.REFUSED

    retry_at: datetime
    max_wait: float
    reason: str = "waiting for a slot"
    """What it would wait for: a slot, the polling interval, a pause."""

    def __str__(self) -> str:
        when = self.retry_at.isoformat(timespec="seconds")
        if self.reason == "the polling interval":
            return f"the same read was made within its polling interval; retry at {when}"
        wait = f"max_wait={self.max_wait:g} s"
        return f"admission ({self.reason}) would wait past {wait}; retry at {when}"


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class SchedulerUnavailable(SchedulerRefusal):
    """The shared scheduler state cannot be reached, so nothing is sent (fail closed)."""

    pause = Pause.REFUSED

    backend: str
    """Where the state lives, e.g. ``redis://10.0.0.5:6379`` (no credentials)."""
    reason: str
    unreachable: bool = True
    """False: it answers, but cannot be trusted with the limits (e.g. a Redis that may
    evict keys); ``reason`` says why and what to change."""

    def __str__(self) -> str:
        if not self.unreachable:
            return (
                f"scheduler backend {self.backend} cannot be used: {self.reason}; "
                "nothing was sent to Wolkvox"
            )
        return (
            f"scheduler backend {self.backend} is unreachable ({self.reason}); "
            "nothing was sent to Wolkvox"
        )


@attrs.define(auto_exc=True, kw_only=True, slots=False)
class ApiError(WolkvoxError):
    """Wolkvox answered, and the answer is an error (checked on every HTTP status)."""

    method: str
    """HTTP method of the request."""
    url: str
    """The request URL (it never holds the token, which travels in a header)."""
    http_status: int
    """HTTP status of the response."""
    body_code: str | None
    """The envelope's ``code`` as a string (it comes as int, string or ""), if any."""
    message: str
    """The envelope's ``msg`` (or a description of what was wrong with the body)."""
    raw_body: bytes = attrs.field(repr=False, default=b"")
    """The body as received, for debugging; not shown in repr."""

    def __str__(self) -> str:
        code = f"/body code {self.body_code}" if self.body_code not in (None, "") else ""
        msg = self.message
        if len(msg) > _BODY_PREVIEW:
            msg = msg[:_BODY_PREVIEW] + "…"
        return f"{self.method} {self.url} -> {self.http_status}{code}: {msg}"


class BadRequest(ApiError):
    """HTTP 400: unknown api, missing parameters or invalid values."""


class Unauthorized(ApiError):
    """HTTP 401 PLEASE ENTER THE WOLKVOX-TOKEN: the token header was missing."""


class InvalidToken(ApiError):
    """HTTP 403 PLEASE VALIDATE TOKEN: invalid, expired or foreign token. Never retried."""


class TokenLimitExceeded(ApiError, QuotaSpent):
    """HTTP 403 TOKEN LIMIT EXCEEDED: the server counts the daily quota spent;
    ``resets_at`` is the end of the Wolkvox day the request was sent in."""

    feedback = Refusal.SPENT


class TooManySimultaneous(ApiError):
    """HTTP 403: more than 2 requests in flight on this token (someone else uses it)."""

    retry, feedback, pause = Retry.ALWAYS, Refusal.BUSY, Pause.REFUSED


class Maintenance(ApiError):
    """HTTP 403 mentioning maintenance: the help centre documents 403 during maintenance;
    the token rests and the call is tried again."""

    retry, feedback, pause = Retry.ALWAYS, Refusal.MAINTENANCE, Pause.REFUSED


class Forbidden(ApiError):
    """HTTP 403 with a message the docs do not list (a firewall page, an empty body, an
    incorrect or malformed token): raised at once, never retried, the token not paused."""


class NotFound(ApiError):
    """HTTP 404 that is neither an empty report nor a full campaign."""


class CampaignFull(ApiError):
    """HTTP 404 mentioning licenses/50000 on add_record (the campaign holds no more
    records) or create_campaign (the operation's licences allow no more): only there; on
    any other route such a 404 keeps that route's meaning."""


class ServerError(ApiError):
    """HTTP 5xx."""

    retry, pause = Retry.IF_IDEMPOTENT, Pause.UNANSWERED


class ResponseDecodeError(ApiError):
    """The body is not what the Wolkvox docs describe (not JSON, wrong shape, bad values)."""

    pause: Pause | None = Pause.UNANSWERED  # (not sent again by the call path: bulk reads)


class NotWolkvox(ResponseDecodeError):
    """The answer is not Wolkvox's JSON at all (neither an object with its ``code`` or
    ``msg`` nor, on real_time campaigns, its bare array): a base URL whose path is wrong
    (a web server's ``404: Not Found``), a proxy's or a captive portal's page, another
    service's JSON. Never taken for "no data", whatever the status; never retried (the
    same address gives the same page). The message names what came back: its content
    type, size and first characters, without the token.

    A 5xx page is a :class:`ServerError` (retried on reads: a proxy's 502 passes), and a
    403 page keeps its 403 classes (an IP firewall's page is :class:`Forbidden`).
    """

    pause = None  # the same address gives the same page: waiting will not help

    def __str__(self) -> str:
        # The message is bounded where it is made (its preview is cut there), and its
        # advice comes last: not cut again.
        return f"{self.method} {self.url} -> {self.http_status}: {self.message}"
