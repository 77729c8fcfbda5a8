"""What a client knows of its campaigns' type and state, and the one read that learns it.

Two requests need a fact about a campaign that their caller may not give:

* ``type_campaign`` in the URL of start, stop and speed: the site's URLs carry it
  (wolkvox-api.md §5 #9–11, §9.2; Postman omits it). A guessed value could be refused by
  a server that checks it, so the client sends the campaign's real type: the caller's,
  or what it learnt. A campaign's type changes only through ``edit_campaign``, so once
  known it is kept for the client's life (this client's ``edit_campaign`` updates it).
* ``campaign_status`` in the URL of add_record: "must be replaced by the current status
  of the campaign" (§5 #2.1, seed). Sending a fixed "start" (what public code does, and
  what this library did) may start a stopped campaign if the server applies it; the docs
  do not say it does not. So the state is read, and kept :data:`STATE_TTL` seconds — the
  docs' own "every 5 minutes" for this read — and updated by this client's own
  ``start_campaign``/``stop_campaign``. A campaign started or stopped by someone else in
  that window is sent the state read before it: pass ``campaign_status`` to decide.

The read is ``information.php?api=campaigns&campaign={id}`` (§6.2): 1 quota unit. It is
part of a write, not the tracking the "every 5 minutes" rule is about (§3.2), so it is
not held to the polling rule (a second load within 5 minutes would otherwise wait or be
refused); what it learnt is kept instead, so one client reads a campaign's state at most
once per 5 minutes. The cache belongs to one client and its views (no module-global
state).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Final

import attrs

from .._errors import NotFound
from ..calls import _routes as routes
from ..calls._convert import decode_error, structure_rows
from ..models import CampaignInfo, CampaignStatus, CampaignType

if TYPE_CHECKING:
    from cattrs import Converter

    from ..calls._call import Caller
    from ..calls._protocol import Envelope, RawRequest

__all__ = ["STATE_TTL", "CampaignFacts"]

log = logging.getLogger("wolkvox_async.client")

STATE_TTL: Final = 300.0
"""Seconds a campaign's state read by the client is taken as current (§3.1 "every 5
minutes", the docs' freshness for information reads)."""


@attrs.define
class _Known:
    type: CampaignType | None = None
    status: CampaignStatus | None = None
    status_at: float = float("-inf")
    """When ``status`` was learnt (the client's clock)."""


class CampaignFacts:
    """The type and state of the campaigns a client touched (shared by its views)."""

    def __init__(self) -> None:
        self._known: dict[str, _Known] = {}
        self._reads: dict[str, asyncio.Lock] = {}
        """One read of a campaign at a time: callers that need it together share it."""

    def _one_read(self, campaign_id: str) -> asyncio.Lock:
        if len(self._reads) > 10_000 and not any(lock.locked() for lock in self._reads.values()):
            self._reads.clear()
        return self._reads.setdefault(campaign_id, asyncio.Lock())

    def learn(
        self,
        campaign_id: str,
        *,
        type: CampaignType | None = None,
        status: CampaignStatus | None = None,
        at: float = 0.0,
    ) -> None:
        """Keep what an answer (or a successful action) said of a campaign."""
        if len(self._known) > 10_000:  # a process that touches every campaign ever
            self._known.clear()
        known = self._known.setdefault(campaign_id, _Known())
        if type is not None:
            known.type = type
        if status is not None:
            known.status, known.status_at = status, at

    def forget(self, campaign_id: str) -> None:
        """A deleted campaign: nothing of it holds any more."""
        self._known.pop(campaign_id, None)

    async def type_of(self, caller: Caller, converter: Converter, campaign_id: str) -> CampaignType:
        """The campaign's type, read once (1 call) when the client does not know it."""
        async with self._one_read(campaign_id):
            known = self._known.get(campaign_id)
            if known is None or known.type is None:
                info = await self._read(caller, converter, campaign_id)
                known = self._known[campaign_id]
                if known.type is None:
                    raise _unreadable(info, "type_campaign", "pass campaign_type=")
            return known.type

    async def status_of(
        self, caller: Caller, converter: Converter, campaign_id: str
    ) -> tuple[CampaignStatus | None, bool]:
        """The campaign's current state, learnt within :data:`STATE_TTL` or read now (1
        call), and whether it was read now. None: Wolkvox named a state the docs do not
        (they name Started and Stopped); a warning says which."""
        async with self._one_read(campaign_id):  # two loads at once: one read, shared
            known = self._known.get(campaign_id)
            if known is not None and caller.clock.time() - known.status_at < STATE_TTL:
                return known.status, False
            info = await self._read(caller, converter, campaign_id)
        if info.row.status is None:
            log.warning(
                "campaign %s: information.php campaigns gives a status of %r, neither "
                "Started nor Stopped",
                campaign_id,
                _raw(info.row, "status"),
            )
        return info.row.status, True

    async def status_to_send(
        self, caller: Caller, converter: Converter, campaign_id: str
    ) -> tuple[str, bool]:
        """add_record's campaign_status for the campaign's current state (Postman's words:
        ``start`` for STARTED, else ``stop``), and whether learning it cost a call."""
        status, read = await self.status_of(caller, converter, campaign_id)
        return ("start" if status is CampaignStatus.STARTED else "stop"), read

    async def _read(self, caller: Caller, converter: Converter, campaign_id: str) -> _Info:
        request, envelope = await caller.call(routes.CAMPAIGN_STATE, {"campaign": campaign_id})
        rows = structure_rows(request, envelope, CampaignInfo, converter)
        row = next((r for r in rows if r.campaign_id == campaign_id), None)
        if row is None:
            raise NotFound(
                method=request.method,
                url=request.url,
                http_status=envelope.http_status,
                body_code=envelope.code,
                message=(
                    f"campaign {campaign_id} is not among the operation's campaigns "
                    f"(information.php campaigns answered {len(rows)} other rows): check "
                    "the campaign id and the server"
                ),
            )
        known = self._known.setdefault(campaign_id, _Known())
        known.type = row.type_campaign or known.type
        known.status, known.status_at = row.status, caller.clock.time()
        return _Info(request, envelope, row)


@attrs.frozen
class _Info:
    request: RawRequest
    envelope: Envelope
    row: CampaignInfo


def _raw(row: CampaignInfo, field: str) -> object:
    """A field of the row as Wolkvox sent it (None when it was absent or blank)."""
    return row.unread.row.get(field) if row.unread is not None else None


def _unreadable(info: _Info, field: str, instead: str) -> Exception:
    return decode_error(
        info.request,
        info.envelope,
        f"information.php campaigns gives campaign {info.row.campaign_id} a {field} of "
        f"{_raw(info.row, field)!r}, which is not one Wolkvox documents: {instead} to say it",
    )
