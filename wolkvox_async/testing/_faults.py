"""Fault injection for FakeWolkvox: broken answers a real network and server can give.

A fault replaces the answer of the next matching request. Server errors (5xx) are
raised before the endpoint runs, so nothing changes; every other fault hits the answer
after the endpoint ran, which is the case a client cannot tell apart from success (an
add_record whose answer was lost still stored its records).
"""

from __future__ import annotations

import copy
import enum
import functools
import gzip
import json
import re
from collections.abc import Mapping

import attrs
from aiohttp import web

from ._replies import Knobs, Reply, maintenance

__all__ = ["Fault", "FaultPlan", "PlannedFault", "apply_fault"]


class Fault(enum.StrEnum):
    """Kinds of injected failure."""

    HTTP_500 = "500"
    HTTP_502 = "502"
    HTTP_503 = "503"
    RESET = "reset"
    """The connection drops before any byte of the answer."""
    RESET_MID_BODY = "reset_mid_body"
    """Headers and half the body arrive, then the connection drops."""
    SLOW = "slow"
    """The answer comes after ``delay`` seconds (past the client timeout)."""
    HELD = "held"
    """The answer waits until the test calls ``fake.let_go()``: a call in flight for
    exactly as long as a test needs, whatever the machine's speed."""
    GARBAGE = "garbage"
    HTML = "html"
    """HTTP 200 with an HTML error page."""
    TRUNCATED = "truncated"
    """HTTP 200, JSON cut in half."""
    EMPTY = "empty"
    """HTTP 200, empty body."""
    WRONG_CONTENT_TYPE = "wrong_content_type"
    """The right JSON labelled text/html (PHP's default)."""
    OVERSIZED = "oversized"
    """A declared body larger than the 256 MB result limit."""
    BAD_VALUE = "bad_value"
    """The right answer, but in the middle row of ``data`` every number is ``"n/a"`` and
    every date ``"31/02/2023"`` (values no model can read; the other rows are intact)."""
    GZIP_BOMB = "gzip_bomb"
    """HTTP 200, ``Content-Encoding: gzip``: 1 MB on the wire that inflates to 1 GiB."""
    CONTRADICTORY_CODE = "contradictory_code"
    """HTTP 200 whose body ``code`` says 503."""
    MAINTENANCE = "maintenance"
    """HTTP 403 of maintenance, at the gate: nothing charged or run (its body as the
    simulator's ``Knobs.maintenance_body``/``maintenance_text`` say)."""

    @property
    def skips_endpoint(self) -> bool:
        """True when the server fails before the endpoint changes anything."""
        return self in (Fault.HTTP_500, Fault.HTTP_502, Fault.HTTP_503, Fault.CONTRADICTORY_CODE)


@attrs.frozen(kw_only=True)
class PlannedFault:
    kind: Fault
    api: str | None
    delay: float
    query: Mapping[str, str] | None = None
    """Only a request whose query has these values (None: any)."""

    def matches(self, api: str, query: Mapping[str, str] | None) -> bool:
        if self.api not in (None, api):
            return False
        wanted = self.query
        return wanted is None or (
            query is not None and all(query.get(k) == v for k, v in wanted.items())
        )


@attrs.define
class FaultPlan:
    """Queued faults, consumed in order by matching requests."""

    _queue: list[PlannedFault] = attrs.field(factory=list)

    def add(
        self,
        kind: Fault,
        *,
        times: int,
        api: str | None,
        delay: float,
        query: Mapping[str, str] | None = None,
    ) -> None:
        self._queue.extend(
            PlannedFault(kind=kind, api=api, delay=delay, query=query) for _ in range(times)
        )

    def take(
        self, api: str, only: Fault | None = None, query: Mapping[str, str] | None = None
    ) -> PlannedFault | None:
        """The next fault planned for ``api`` and ``query`` (if it is of kind ``only``,
        when given)."""
        for i, planned in enumerate(self._queue):
            if planned.matches(api, query):
                if only is not None and planned.kind is not only:
                    return None
                return self._queue.pop(i)
        return None

    def __len__(self) -> int:
        return len(self._queue)


@functools.cache
def gzip_bomb() -> bytes:
    """1 GiB of zeros as 128 gzip members of 8 MiB (~1 MB in all; one member is made once
    and repeated, so building it takes milliseconds)."""
    return gzip.compress(bytes(8 << 20), compresslevel=9) * 128


_HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _spoil_a_row(payload: object) -> object:
    payload = copy.deepcopy(payload)
    rows = payload.get("data") if isinstance(payload, dict) else None
    if isinstance(rows, list) and rows and isinstance(rows[len(rows) // 2], dict):
        row = rows[len(rows) // 2]
        for key, value in row.items():
            if isinstance(value, str) and _NUMBER.fullmatch(value):
                row[key] = "n/a"
            elif isinstance(value, str) and _DATE.match(value):
                row[key] = "31/02/2023"
    return payload


async def apply_fault(kind: Fault, request: web.Request, reply: Reply | None) -> web.StreamResponse:
    """Answer ``request`` with the fault ``kind`` (``reply`` is the endpoint's answer)."""
    body = json.dumps(reply.payload if reply else {}).encode()
    if kind is Fault.BAD_VALUE:
        status = reply.status if reply else 200
        spoiled = _spoil_a_row(reply.payload if reply else {})
        return web.json_response(spoiled, status=status)
    if kind is Fault.HTTP_500:
        payload = {"code": 500, "error": "INTERNAL SERVER ERROR", "msg": "INTERNAL SERVER ERROR"}
        return web.json_response(payload, status=500)
    if kind in (Fault.HTTP_502, Fault.HTTP_503):
        return web.Response(body=_HTML, status=int(kind.value), content_type="text/html")
    if kind is Fault.CONTRADICTORY_CODE:
        payload = {"code": 503, "error": "SERVICE UNAVAILABLE", "msg": "SERVICE UNAVAILABLE"}
        return web.json_response(payload, status=200)
    if kind is Fault.MAINTENANCE:  # normally answered at the server's gate, before this
        default = maintenance(Knobs())
        return web.json_response(default.payload, status=default.status)
    if kind is Fault.GARBAGE:
        return web.Response(body=b"\x00\xffnot json at all", content_type="application/json")
    if kind is Fault.HTML:
        return web.Response(body=_HTML, content_type="text/html")
    if kind is Fault.TRUNCATED:
        return web.Response(body=body[: max(1, len(body) // 2)], content_type="application/json")
    if kind is Fault.EMPTY:
        return web.Response(body=b"", content_type="application/json")
    if kind is Fault.GZIP_BOMB:
        headers = {"Content-Encoding": "gzip"}
        return web.Response(body=gzip_bomb(), headers=headers, content_type="application/json")
    if kind is Fault.WRONG_CONTENT_TYPE:
        status = reply.status if reply else 200
        return web.Response(body=body, status=status, content_type="text/html")
    return await _broken_stream(kind, request, body)


async def _broken_stream(kind: Fault, request: web.Request, body: bytes) -> web.StreamResponse:
    transport = request.transport
    if kind is Fault.RESET:
        if transport is not None:
            transport.abort()
        return web.Response(status=200)  # never reaches the client
    response = web.StreamResponse(status=200)
    response.content_type = "application/json"
    response.content_length = 300 * 1024 * 1024 if kind is Fault.OVERSIZED else len(body)
    await response.prepare(request)
    await response.write(body[: max(1, len(body) // 2)])
    if transport is not None:
        transport.abort()
    return response
