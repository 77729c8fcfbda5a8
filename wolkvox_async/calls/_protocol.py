"""Sans-I/O protocol: build Wolkvox requests and read their answers, over plain bytes.

No network code lives here (gidgethub's pattern): :func:`build_request` makes a
:class:`RawRequest`, the transport sends it, and :func:`parse_response` turns the status
and body into an :class:`Envelope` or raises the :mod:`~wolkvox_async._errors` class that
:func:`error_class` picks from (HTTP status, body code, msg).

Wolkvox's HTTP status and its body ``code`` need not agree (wolkvox-api.md §1, §9.12), so
both are read and an error in either is an error: the body code is checked on HTTP 200
too. Reports answer an empty window with HTTP 404 (§4.2); that is an empty result — when
the 404 carries Wolkvox's JSON. Every documented answer is a JSON object with ``code``
(§1, §9.4; real_time campaigns: a bare array), so a body that is not one is not
Wolkvox's, whatever its status: a wrong base URL answers every path with a web server's
``404: Not Found``, and taking that for "no data" would make every lookup "no such
customer" and every export empty (:class:`~wolkvox_async.NotWolkvox`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

import attrs

from .. import _errors as e
from .._config import redact, token_pattern
from . import _json
from ._json import encode_json as encode_json
from ._json import encode_rows as encode_rows
from ._routes import Route, Shape

__all__ = [
    "SERVER_HEADER",
    "Envelope",
    "RawRequest",
    "RawResponse",
    "build_request",
    "encode_json",
    "encode_rows",
    "error_class",
    "last_object",
    "parse_response",
    "rows_at_most",
]


SERVER_HEADER: Final = "wolkvox_server"
"""The header naming the operation's server, with an underscore as the docs write it."""
_CAMPAIGN_FULL: Final = re.compile(r"licen|50[.,]?000", re.IGNORECASE)  # 50000, 50.000, 50,000


@attrs.frozen(kw_only=True)
class RawRequest:
    """A request ready to send. The token lives only in ``headers``, hidden from repr."""

    route: Route
    method: str
    url: str
    """Full URL with query; never contains the token."""
    headers: Mapping[str, str] = attrs.field(repr=False)
    body: bytes | None = attrs.field(default=None, repr=False)
    token: str = attrs.field(repr=False, default="")


@attrs.frozen(kw_only=True)
class RawResponse:
    """What came back: status, content type and body bytes."""

    status: int
    content_type: str = ""
    body: bytes = attrs.field(default=b"", repr=False)
    location: str = ""
    """The ``Location`` header of a redirect (never followed: each send costs a unit)."""


@attrs.frozen(kw_only=True)
class Envelope:
    """A successful answer: the body code, ``msg`` and the payload (``data`` or records)."""

    http_status: int
    code: str | None
    message: str
    payload: Any
    """``data`` of the envelope, the export object, or the bare list."""


MAX_URL_LENGTH: Final = 8000
"""Longer URLs are refused by common servers and proxies (8 KB is nginx's and Apache's
default header line limit); every Wolkvox query is far shorter."""


_PLAIN: Final = re.compile(r"[A-Za-z0-9_.~-]*")
"""Query text that percent-encoding leaves as it is (ids, numbers, dates, api names)."""


def build_request(
    base_url: str,
    token: str,
    route: Route,
    params: Mapping[str, str | None] | None = None,
    body: Any = None,
    *,
    server: str = "",
) -> RawRequest:
    """Build the documented request for ``route``; ``None`` params are left out.

    ``body`` is a JSON-able value, or ``bytes`` already made by :func:`encode_json` (bulk
    uploads encode a chunk while the previous one is in flight). Query values are
    percent-encoded (``quote``, so a space is ``%20``), and the ``api``
    selector always comes first, as in every documented URL (§1). ``server``, the server
    number, goes in the ``wolkvox_server`` header (empty: no such header).
    """
    # ``urlencode(query, quote_via=quote)``, with the common plain values (ids, numbers,
    # dates, api names) passed as they are instead of quoted through bytes.
    parts = [f"api={route.api}"]
    try:
        for key, value in (params or {}).items():
            if value is not None:
                text = value if type(value) is str else str(value)
                parts.append(f"{key}={text if _PLAIN.fullmatch(text) else quote(text, safe='')}")
    except (TypeError, ValueError) as exc:  # a lone surrogate cannot be percent-encoded
        raise e.ConfigError(f"a parameter of {route.api} cannot be sent: {exc}") from None
    url = f"{base_url}{route.path}?{'&'.join(parts)}"
    if len(url) > MAX_URL_LENGTH:
        raise e.ConfigError(
            f"the {route.api} URL would be {len(url):,} characters; servers refuse more than "
            f"{MAX_URL_LENGTH:,} (a parameter is far longer than any Wolkvox value)"
        )
    headers = {"wolkvox-token": token, "Accept": "application/json"}
    if server:
        # The find_record and token_info doc samples, most Postman requests and public
        # clients send it beside the token (wolkvox-api.md §2); nothing says it is
        # required, but a server that routes on it would fail every call without it.
        headers[SERVER_HEADER] = server
    data = None
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = body if isinstance(body, bytes) else encode_json(body)
    return RawRequest(
        route=route,
        method=route.method,
        url=url,
        headers=headers,
        body=data,
        token=token,
    )


def _as_status(code: Any) -> int | None:
    """The body ``code`` as an int, or None when absent/blank ("" on information campaigns)."""
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def _is_success(status: int) -> bool:
    # "0" is success on activity_codes (§9.4); 2xx everywhere else.
    return status == 0 or 200 <= status < 300


def error_class(
    route: Route, http_status: int, body_code: Any, message: str, error: Any = None
) -> type[e.ApiError] | None:
    """The error class for an answer, or None when it is a success.

    An empty report (HTTP 404 on a route that answers "no data" that way) is a success
    here; :func:`parse_response` turns it into an empty payload.
    """
    code = _as_status(body_code)
    if _is_success(http_status) and (code is None or _is_success(code)):
        return None if not error else e.ApiError  # public code: a truthy error is a failure
    status = code if code is not None and not _is_success(code) else http_status
    upper = message.upper()
    if status == 400:
        return e.BadRequest
    if status == 401:
        return e.Unauthorized
    if status == 403:
        if "VALIDATE TOKEN" in upper:
            return e.InvalidToken
        if "TOKEN LIMIT" in upper:
            return e.TokenLimitExceeded
        if "SIMULTANEOUS" in upper:
            return e.TooManySimultaneous
        if "MAINTENANCE" in upper or "MANTENIMIENTO" in upper:
            return e.Maintenance  # the help centre: 403 during maintenance windows
        # A firewall page, an empty body, the docs' unpublished "incorrect, expired or
        # malformed token" row: fail at once, without pausing the token for everyone.
        return e.Forbidden
    if status == 404:
        if route.may_be_full and _CAMPAIGN_FULL.search(message):
            return e.CampaignFull
        return None if route.empty_on_404 else e.NotFound
    if status >= 500:
        return e.ServerError
    return e.ApiError


def _decode_json(body: bytes) -> Any:
    """The JSON document of an answer msgspec refused, or ``_NOT_JSON``: a BOM, a lone
    surrogate escape or NaN, read as the stdlib reads them (``_json``); else not JSON."""
    try:
        return _json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError, json.JSONDecodeError
        return _NOT_JSON


_NOT_JSON: Final = object()


def last_object(body: bytes) -> dict[str, Any] | None:
    """From a JSON answer not yet parsed: its last flat object, which is the last row of a
    report (``{"code":…,"data":[{…},…,{…}]}``). None when that object cannot be read
    alone. A small part of the cost of parsing the answer whole (benchmarks/download.py):
    a download continues a window at the cap from it (bulk/_download.py)."""
    start = body.rfind(b"{")
    end = body.find(b"}", start)
    if start <= 0 or end < 0:
        return None
    try:
        row = json.loads(body[start : end + 1])
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return row if isinstance(row, dict) else None


def rows_at_most(body: bytes) -> int:
    """How many rows a JSON answer not yet parsed holds at most: its opening braces, the
    envelope's excluded. A pass over the whole body, so asked for only when it decides
    something (a window at the cap continued early, bulk/_download.py)."""
    return body.count(b"{") - 1


_BESIDE_CODE: Final = frozenset({"msg", "error", "data", "records", "total_records"})
"""What a Wolkvox answer holds beside its ``code``: ``error`` and ``msg`` (the envelope,
§1, and the error table, §4.1), ``data``, or the export's ``records`` (§5 #15)."""


def _wolkvox_shaped(route: Route, doc: Any) -> bool:
    """Whether ``doc`` has a shape Wolkvox answers with: an object with its ``code`` (every
    documented answer has one, §1, §9.4) and one of its other keys, or with ``msg`` and
    ``error``; or the bare array of real_time campaigns (§6.3). Another service's JSON
    (``{"detail": "Not Found"}``, ``{"code": 404, "message": "Not Found"}``) is not."""
    if isinstance(doc, dict):
        if "code" in doc:
            return not _BESIDE_CODE.isdisjoint(doc)
        return "msg" in doc and "error" in doc
    return isinstance(doc, list) and route.shape is Shape.BARE_LIST


_PREVIEW: Final = 100
"""Characters of a foreign body shown in its error (after redaction)."""
_SPACES: Final = re.compile(r"\s+")
_OK_TEXT: Final = ("200", "201", "202")
"""The body codes of a success as the documented answers spell them (§10)."""
_FRAGMENT: Final = 8
"""redact's edge piece (a token cut short): a shorter text holds none."""


def _described(response: RawResponse, token: str) -> str:
    """What came back, for a person: content type, size and the first characters, the
    token redacted from the whole body before it is cut (a cut could keep a piece)."""
    kind = response.content_type or "no content type"
    size = len(response.body)
    if not size:
        return f"{kind}, empty body"
    text = redact(response.body.decode("utf-8", "replace"), token)
    text = _SPACES.sub(" ", text).strip()
    shown = text if len(text) <= _PREVIEW else text[:_PREVIEW] + "…"
    return f"{kind}, {size:,} bytes: {shown!r}"


def _starts_like_json(body: bytes) -> bool:
    """A body that opens as a JSON object or array does (a BOM and spaces aside)."""
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return head in (b"{", b"[")


def _foreign(request: RawRequest, response: RawResponse, doc: Any) -> e.ApiError:
    """The error for an answer that is not Wolkvox's JSON (see :func:`_wolkvox_shaped`)."""
    status, token = response.status, request.token
    what = _described(response, token)
    kind: type[e.ApiError]
    if status >= 500:
        # A proxy's 502/503/504 page or the server's own crash: a server error, retried on
        # the routes where that is safe (_retry).
        kind, message = e.ServerError, f"not Wolkvox's JSON: {what}"
    elif status == 403:
        # Maintenance comes as a 403 whose body the docs do not show (help centre), and an
        # IP firewall's refusal may be a page: read its text as a 403's message.
        text = redact(response.body.decode("utf-8", "replace"), token)
        kind = error_class(request.route, 403, None, text) or e.Forbidden
        message = f"not Wolkvox's JSON: {what}"
    elif 200 <= status < 300 and doc is None:
        # A 200 with nothing in it is not "no data" (that is a 404 or an empty list): a CRM
        # would conclude "no such customer" and a download would skip its window.
        kind, message = e.ResponseDecodeError, "empty body"
    elif 200 <= status < 300 and doc is _NOT_JSON and _starts_like_json(response.body):
        kind = e.ResponseDecodeError  # Wolkvox's JSON, cut short or broken on the way
        message = f"body is not JSON (cut short?): {what}"
    else:
        why = "not JSON" if doc is _NOT_JSON else f"a JSON {type(doc).__name__}, not Wolkvox's"
        if doc is None:
            why = "no body"
        where = f", redirected to {redact(response.location, token)!r}" if response.location else ""
        kind = e.NotWolkvox
        message = (
            f"not a Wolkvox answer ({why}{where}): {what}. Check the base URL (Wolkvox's is "
            "https://wv<server>.wolkvox.com) and any proxy or login page on the way"
        )
    raw = redact(response.body.decode("utf-8", "replace"), token).encode()
    return kind(
        method=request.method,
        url=request.url,
        http_status=status,
        body_code=None,
        message=message,
        raw_body=raw,
    )


def parse_response(request: RawRequest, response: RawResponse) -> Envelope:
    """Read an answer; return the envelope of a success or raise the matching error.

    Raises:
        ApiError: one of its subclasses, chosen by :func:`error_class`.
        NotWolkvox: the body is not Wolkvox's JSON (any status but 403 and 5xx).
        ServerError: a 5xx, whatever its body.
        ResponseDecodeError: a success whose body is empty, cut or not shaped as
            documented.
    """
    route, body, status, token = request.route, response.body, response.status, request.token
    # (isspace, not strip: a report's body is not copied to be looked at)
    if not body or body.isspace():
        doc = None
    else:
        try:
            doc = _json.parse(body)  # msgspec's C parse: no Python call on the common path
        except _json.REFUSED:
            doc = _decode_json(body)
    if type(doc) is dict and "code" in doc and not _BESIDE_CODE.isdisjoint(doc):
        envelope = doc  # the common shape, in one look (_wolkvox_shaped says the rest)
    elif _wolkvox_shaped(route, doc):
        envelope = doc if isinstance(doc, dict) else {}
    else:
        raise _foreign(request, response, doc)
    code = envelope.get("code")
    message = envelope.get("msg")
    if not isinstance(message, str):
        message = ""
    elif token:  # redact's own tests first, here: a message without the token, no call
        secret, edge = token.lower(), _FRAGMENT
        if token_pattern(token).search(message) or (
            len(message) >= edge
            and (
                secret.find(message[-edge:].lower()) >= 0
                or secret.find(message[:edge].lower()) >= 0
            )
        ):
            message = redact(message, token)
    flagged = envelope.get("error")
    if flagged and not message:
        message = redact(str(flagged), token)
    # The common success is told at once; anything else is error_class's to read.
    if (
        200 <= status < 300
        and not flagged
        and (code is None or (code.__class__ is int and 200 <= code < 300) or code in _OK_TEXT)
    ):
        cls = None
    else:
        cls = error_class(route, status, code, message, flagged)
    if cls is not None:
        raw = redact(body.decode("utf-8", "replace"), token).encode()
        raise cls(
            method=request.method,
            url=request.url,
            http_status=status,
            body_code=None if code is None else str(code),
            message=message or f"HTTP {status}",
            raw_body=raw,
        )
    if status == 404:  # a route's documented "no data" (error_class said so)
        return Envelope(http_status=status, code=None, message=message, payload=[])
    if isinstance(doc, list):  # real_time campaigns (_wolkvox_shaped allows it nowhere else)
        return Envelope(http_status=status, code=None, message="", payload=doc)
    payload = envelope if route.shape is Shape.EXPORT else envelope.get("data")
    return Envelope(
        http_status=status,
        code=None if code is None else str(code),
        message=message,
        payload=payload,
    )
