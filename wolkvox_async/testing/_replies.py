"""Replies of the simulator: the envelope, the documented error rows, the knobs, and the
:class:`Context` every endpoint handler reads a request from.

Error rows are those of the api-response-codes page (wolkvox-api.md §4.1); the body
``code`` is an int there, as in the inferred envelope ``{"code":403,"error":"FORBIDDEN",...}``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from ._state import Campaign, Operation, World

__all__ = [
    "Context",
    "Handler",
    "Knobs",
    "Reply",
    "bad_params",
    "error",
    "maintenance",
    "ok",
    "simultaneous",
]


@attrs.frozen(kw_only=True)
class Reply:
    """Status and payload of one answer: JSON, or text of ``content_type`` (a page)."""

    status: int
    payload: Any
    content_type: str = "application/json"
    later: Callable[[], Reply] | None = None
    """The answer itself, made off the event loop (a thread) from what the handler read
    of the state on it: a page of 60,000 rows would otherwise hold the loop, and the
    token's other request in flight, for its whole render."""


@attrs.define(kw_only=True)
class Knobs:
    """Limits and undocumented behaviours the simulator lets a test choose."""

    max_upload: int = 10_000
    """Records accepted per add_record call."""
    max_span_days: int = 31
    """Longest date range per query."""
    span_error_status: int = 400
    """Status of a too-long date range (undocumented; 400 or 416 are plausible)."""
    download_cap: int = 60_000
    """Rows returned per report call."""
    cap_mode: Literal["truncate", "error"] = "truncate"
    """Past the cap: silently cut the rows (what public code fears) or refuse."""
    empty_report_404: bool = True
    """An empty report window is HTTP 404, as observed; False gives an empty 200."""
    charge_refusals: bool = True
    """A call refused 403 SIMULTANEOUS, or stopped at the call limit, costs a unit as every
    other failed call does ("every request, failed ones included", inferred, §10); False
    charges only the calls that ran."""
    shuffle_at_cap: bool = False
    """Rows past the download cap: the cut answer comes in the order a database gives when
    it is not asked to sort (shuffled), instead of sorted by time; the docs promise no
    order, and a client must not trust a cut answer's last row either way."""
    find_record_no_hit_404: bool = False
    """find_record without a hit: a 200 with an empty list, as public code and the Postman
    samples show (default), or True: HTTP 404 "0 records were found"."""
    maintenance_body: Literal["json", "html"] = "json"
    """The body of the 403 served during maintenance, which the help centre does not show
    (§2): Wolkvox's JSON envelope, or a web page (a server or proxy in front of it)."""
    maintenance_text: str = "THE SERVER IS UNDER MAINTENANCE, TRY AGAIN LATER"
    """Its text: the default is ours, invented; any other (in the envelope's ``msg``, or
    the page's) tests a client against a text it does not know."""
    add_record_sets_status: bool = False
    """add_record's ``campaign_status`` sets the campaign's state (start starts it, stop
    stops it): the reading of "the current status of the campaign" a client must survive;
    the docs do not say the server does this, nor that it does not. Off: it is checked and
    otherwise ignored."""


def ok(code: int | str, msg: str, data: Any = None, *, status: int | None = None) -> Reply:
    """A success envelope; ``code`` keeps the per-endpoint type (int or string, §10)."""
    payload: dict[str, Any] = {"code": code, "error": None, "msg": msg}
    if data is not None:
        payload["data"] = data
    return Reply(status=status or int(code or 200), payload=payload)


def error(status: int, error_name: str, msg: str) -> Reply:
    """An error envelope."""
    return Reply(status=status, payload={"code": status, "error": error_name, "msg": msg})


def bad_params() -> Reply:
    """400 SOME PARAMETERS ARE REQUIRED."""
    return error(400, "BAD REQUEST", "SOME PARAMETERS ARE REQUIRED")


UNKNOWN_API = error(400, "BAD REQUEST", "THE API YOU WANT TO CONSULT DOES NOT EXIST")
NO_TOKEN = error(401, "UNAUTHORIZED", "PLEASE ENTER THE WOLKVOX-TOKEN")
INVALID_TOKEN = error(403, "FORBIDDEN", "PLEASE VALIDATE TOKEN")
TOKEN_LIMIT = error(403, "FORBIDDEN", "TOKEN LIMIT EXCEEDED")


def simultaneous(cap: int) -> Reply:
    """403 for a request past the token's cap; the message names the cap, as the docs'
    "(2)" does for the documented one."""
    return error(403, "FORBIDDEN", f"EXCEEDS THE LIMIT OF SIMULTANEOUS REQUESTS PER TOKEN ({cap})")


SIMULTANEOUS = simultaneous(2)
CALL_LIMIT = error(504, "GATEWAY TIMEOUT", "THE REQUEST WAS STOPPED AFTER 60 SECONDS")


def maintenance(knobs: Knobs) -> Reply:
    """The 403 of a maintenance window (§2: its body was not retrievable), as ``knobs``
    say: Wolkvox's envelope, or a page."""
    text = knobs.maintenance_text
    if knobs.maintenance_body == "html":
        page = f"<html><head><title>403 Forbidden</title></head><body><h1>{text}</h1></body></html>"
        return Reply(status=403, payload=page, content_type="text/html")
    return error(403, "FORBIDDEN", text)


class Context:
    """What a handler may read: query, body, world, the caller's operation, knobs, now."""

    def __init__(
        self,
        query: Mapping[str, str],
        body: Any,
        world: World,
        operation: Operation,
        token: str,
        knobs: Knobs,
        now: datetime,
    ) -> None:
        if "type_campaign" in query:  # "Predictive" and "PREVIEW" are accepted too
            query = {**query, "type_campaign": query["type_campaign"].lower()}
        self.query, self.body, self.world = query, body, world
        self.operation, self.token, self.knobs, self.now = operation, token, knobs, now

    def campaign(self, *, key: str = "campaign_id") -> Campaign | Reply:
        cid = self.query.get(key, "")
        if not cid:
            return bad_params()
        found = self.world.campaigns.get(cid)
        if found is None:
            return error(404, "NOT FOUND", f"campaign_id {cid} does not exist")
        wanted = self.query.get("type_campaign")
        if wanted is not None and wanted != found.type:
            return error(400, "BAD REQUEST", f"campaign_id {cid} is not a {wanted} campaign")
        return found


Handler = Callable[[Context], Reply]
