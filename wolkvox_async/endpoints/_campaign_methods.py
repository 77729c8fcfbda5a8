"""One typed method per campaign.php endpoint (wolkvox-api.md §5, numbered as there).

Where the docs disagree (§9) the variant that public code shows working is used, and the
comment says so. Every check runs before a request is built.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, Final, Literal

from .._errors import ConfigError, shown
from .._time import format_query_datetime
from ..calls import _routes as routes
from ..calls._convert import CONVERTER, decode_error, structure_rows
from ..models import (
    ActionResult,
    AddRecordResult,
    CallResult,
    CampaignCreated,
    CampaignStatus,
    CampaignType,
    DncEntry,
    DncResult,
    RecallRecordsResult,
    Record,
)
from . import _validate as check
from ._records import MAX_RECORDS_PER_UPLOAD, WireRecord, to_wire

if TYPE_CHECKING:
    from ._campaign_state import CampaignFacts
    from ._core import Calls
    from ._records import SendRecords

__all__ = ["AMD_COUNTRIES", "CampaignMethods", "clock_text"]

AMD_COUNTRIES: Final = frozenset(
    ["ARG", "CHL", "COL", "CRI", "ECU", "ESP", "GTM", "HND", "ITA", "MEX", "NIC", "PAN", "PER"]
)


def clock_text(name: str, value: time, fmt: str = "%H%M%S") -> str:
    if not isinstance(value, time):
        raise ConfigError(f"{name} must be a datetime.time, got {type(value).__name__}")
    return value.strftime(fmt)


def _dnc(entry: object) -> DncEntry:
    if isinstance(entry, str):
        return DncEntry(telephone=entry)
    if isinstance(entry, DncEntry):
        return entry
    raise ConfigError(f"entries must hold telephones (str) or DncEntry, got {shown(entry)}")


class CampaignMethods:
    """campaign.php: create, load, control campaigns, over the client's calls, what it
    knows of its campaigns, and the record sender (bulk's, which add_record shares)."""

    def __init__(self, calls: Calls, facts: CampaignFacts, send: SendRecords) -> None:
        self._calls = calls
        self._facts = facts
        self._send = send

    async def add_dnc(self, entries: Iterable[DncEntry | str]) -> DncResult:
        """``add_dnc`` (#1): block telephones (a bare string is blocked for 15 days)."""
        items = [_dnc(e) for e in check.iterable("entries", entries, "telephones")]
        if not items:
            raise ConfigError("entries must hold at least one telephone")
        body = [CONVERTER.unstructure(item) for item in items]  # always a JSON array
        return await self._calls.first(routes.ADD_DNC, DncResult, {}, body)

    async def add_record(
        self,
        campaign_id: str | int,
        records: Iterable[Record | Mapping[str, Any]],
        *,
        campaign_type: CampaignType | str = CampaignType.PREDICTIVE,
        campaign_status: CampaignStatus | str | None = None,
    ) -> AddRecordResult:
        """``add_record`` (#2.1/#2.2): insert up to 10,000 records in one call.

        ``campaign_status`` is "the current status of the campaign" (the docs). Left out,
        the client sends the campaign's state as information.php campaigns says it (1
        call, kept 5 minutes; this client's start/stop update it), so a load never tells
        a stopped campaign "start" — a fixed default could start it, were the server to
        apply what it is told. Given, it is sent and nothing is read:
        ``CampaignStatus.STARTED``/``STOPPED`` as ``start``/``stop`` (Postman's words), a
        string (start, stop, started, stopped, 1, 0 — what public code sends) as it is.

        Raises:
            ConfigError: more than 10,000 records, an invalid record (its row named), or
                a ``campaign_status`` that is none of those.
            NotFound: ``campaign_status`` left out, and the campaign is not among the
                operation's campaigns.
            CampaignFull: the campaign holds no more records (HTTP 404 licenses/50000).
        """
        cid = check.campaign_id(campaign_id)
        kind = check.campaign_type(campaign_type)
        body: list[WireRecord] = []
        for row, item in enumerate(check.iterable("records", records, "records"), start=1):
            if row > MAX_RECORDS_PER_UPLOAD:
                raise ConfigError(
                    f"add_record takes at most {MAX_RECORDS_PER_UPLOAD} records per call "
                    "(use upload_records for more)"
                )
            body.append(to_wire(item, kind, row=row))
        if not body:
            raise ConfigError("records must hold at least one record")
        status = check.campaign_status(campaign_status)
        calls = self._calls
        if status is None:
            status, _ = await self._facts.status_to_send(calls.caller, calls.converter, cid)
        return await self._send(calls.caller, cid, kind, status, body, len(body))

    async def campaign_status(self, campaign_id: str | int) -> CampaignStatus | None:
        """The campaign's current state, as information.php campaigns says it: read (1
        call) unless this client learnt it in the last 5 minutes (its own read, start or
        stop). None when Wolkvox names a state the docs do not (a warning names it).
        What ``add_record`` and ``upload_records`` send when not told: ``start`` for
        STARTED, else ``stop`` — only a campaign known to be running is told "start".

        Raises:
            NotFound: the campaign is not among the operation's campaigns.
        """
        cid = check.campaign_id(campaign_id)
        status, _ = await self._facts.status_of(self._calls.caller, self._calls.converter, cid)
        return status

    async def _type_to_send(self, cid: str, given: CampaignType | str | None) -> str:
        """``type_campaign`` for start, stop and speed: the caller's, or the campaign's."""
        if given is not None:
            return check.campaign_type(given).value
        calls = self._calls
        return (await self._facts.type_of(calls.caller, calls.converter, cid)).value

    async def clear_campaign(
        self,
        campaign_id: str | int,
        *,
        campaign_type: CampaignType | str,
        result: CallResult | str | None = None,
    ) -> ActionResult:
        """``clear_campaign`` (#3): delete every record (or those with ``result``)."""
        params = {
            **check.campaign_of_type(campaign_id, campaign_type),
            "result": check.result_filter(result),
        }
        return await self._calls.action(routes.CLEAR_CAMPAIGN, params)

    async def create_campaign(
        self,
        *,
        name: str,
        campaign_type: CampaignType | str,
        skill_id: str,
        description: str = "",
        start_time: time = time(8, 0),
        end_time: time = time(18, 0),
        opt_labels: Sequence[str] = (),
        enable_edition: bool = False,
        amd: str | None = None,
    ) -> CampaignCreated:
        """``create_campaign`` (#4). ``start_time``/``end_time`` apply to predictive only.

        Raises:
            ConfigError: blank name/skill, end before start, > 12 labels, or a bad ``amd``.
        """
        kind = check.campaign_type(campaign_type)
        # §9.6: "hhiiss" per the field table and Postman ("080000"), as public code sends.
        start_text = clock_text("start_time", start_time)
        end_text = clock_text("end_time", end_time)
        if start_time >= end_time:
            raise ConfigError(f"start_time ({start_time}) must be before end_time ({end_time})")
        opt_labels = [
            check.non_blank("opt_labels", label)
            for label in check.iterable("opt_labels", opt_labels, "labels")
        ]
        if len(opt_labels) > 12:
            raise ConfigError(f"opt_labels holds {len(opt_labels)} labels; at most 12")
        body: dict[str, str] = {
            "campaign_name": check.non_blank("name", name),
            "campaign_description": check.text(
                "description", description, limit=check.FREE_TEXT_MAX_LENGTH
            ),
            "start_time": start_text,
            "end_time": end_text,
            "skill_id": check.non_blank("skill_id", skill_id),
            # Every label key, as the docs' example sends them ("" when unlabelled).
            **{f"opt{i}": label for i, label in enumerate([*opt_labels, *[""] * 12][:12], 1)},
            "enable_edition": "yes" if enable_edition else "no",
        }
        if amd is not None:
            if kind is not CampaignType.PREDICTIVE:
                raise ConfigError("amd applies to predictive campaigns only")
            if not isinstance(amd, str) or amd not in AMD_COUNTRIES:
                raise ConfigError(
                    f"amd must be one of {', '.join(sorted(AMD_COUNTRIES))}, got {shown(amd)}"
                )
            body["amd"] = amd
        params = {"type_campaign": kind.value}
        calls = self._calls
        request, envelope = await calls.caller.call(routes.CREATE_CAMPAIGN, params, body)
        rows = structure_rows(request, envelope, CampaignCreated, calls.converter)
        if not rows or not rows[0].id:
            raise decode_error(
                request,
                envelope,
                "the answer names no campaign id: the campaign may exist; look for it "
                "(campaigns()) before creating it again",
            )
        self._facts.learn(rows[0].id, type=kind)
        return rows[0]

    async def codify(
        self,
        campaign_id: str | int,
        *,
        campaign_type: CampaignType | str,
        customer_id: str,
        cod_act: str,
        cod_act_2: str | None = None,
        comment: str = "",
    ) -> ActionResult:
        """``codify`` (#5): mark a record handled so the dialer skips it."""
        body = {
            "cod_act": check.non_blank("cod_act", cod_act),
            "comment": check.text("comment", comment, limit=check.FREE_TEXT_MAX_LENGTH),
        }
        if cod_act_2 is not None:  # only when the second code level is enabled
            body["cod_act_2"] = check.non_blank("cod_act_2", cod_act_2)
        body["customer_id"] = check.non_blank(
            "customer_id", customer_id, limit=check.CUSTOMER_ID_MAX_LENGTH
        )
        params = check.campaign_of_type(campaign_id, campaign_type)
        return await self._calls.action(routes.CODIFY, params, body)

    async def recall(
        self,
        campaign_id: str | int,
        *,
        customer_id: str,
        telephone: str,
        at: datetime,
        campaign_type: CampaignType | str = CampaignType.PREDICTIVE,
    ) -> ActionResult:
        """``recall`` (#7): call ``telephone`` back at ``at`` (naive = Wolkvox time).

        Raises:
            ConfigError: on a preview campaign ("does not work for preview campaigns").
        """
        kind = check.campaign_type(campaign_type)
        if kind is not CampaignType.PREDICTIVE:
            raise ConfigError("recall works on predictive campaigns only (campaign.php #7)")
        body = {
            "recall_date": format_query_datetime(check.moment("at", at)),
            "recall_telephone": check.non_blank(
                "telephone", telephone, limit=check.PHONE_MAX_LENGTH
            ),
            "customer_id": check.non_blank(
                "customer_id", customer_id, limit=check.CUSTOMER_ID_MAX_LENGTH
            ),
        }
        # §9.2: the seed's cURL (and the site's URL) carry type_campaign, Postman's URL
        # does not; sent, as a superset of both (the simulator takes either).
        params = {"type_campaign": kind.value, "campaign_id": check.campaign_id(campaign_id)}
        return await self._calls.action(routes.RECALL, params, body)

    async def remove_records(
        self,
        campaign_id: str | int,
        customer_ids: Iterable[str] | str,
        *,
        campaign_type: CampaignType | str,
        result: CallResult | str | None = None,
    ) -> ActionResult:
        """``remove_record`` (#8): delete records by customer_id (irreversible)."""
        params = {
            **check.campaign_of_type(campaign_id, campaign_type),
            "result": check.result_filter(result),
        }
        body = {"customer_id": check.customer_ids(customer_ids)}  # a JSON body on DELETE
        return await self._calls.action(routes.REMOVE_RECORD, params, body)

    async def set_speed(
        self,
        campaign_id: str | int,
        speed: int,
        *,
        campaign_type: CampaignType | str | None = None,
    ) -> ActionResult:
        """``speed`` (#9): 0..100.

        ``type_campaign`` goes in the URL, as on the site (§9.2): ``campaign_type``, or the
        campaign's own, learnt with one information.php campaigns read (1 call) the first
        time this client touches the campaign.
        """
        if isinstance(speed, bool) or not isinstance(speed, int) or not 0 <= speed <= 100:
            raise ConfigError(f"speed must be an int from 0 to 100, got {shown(speed)}")
        return await self._switch(routes.SPEED, campaign_id, campaign_type, {"speed": str(speed)})

    async def start_campaign(
        self, campaign_id: str | int, *, campaign_type: CampaignType | str | None = None
    ) -> ActionResult:
        """``start`` (#10); ``campaign_type`` as for :meth:`set_speed`."""
        return await self._switch(routes.START, campaign_id, campaign_type)

    async def stop_campaign(
        self, campaign_id: str | int, *, campaign_type: CampaignType | str | None = None
    ) -> ActionResult:
        """``stop`` (#11): pause the campaign; ``campaign_type`` as for :meth:`set_speed`."""
        return await self._switch(routes.STOP, campaign_id, campaign_type)

    async def _switch(
        self,
        route: routes.Route,
        campaign_id: str | int,
        campaign_type: CampaignType | str | None,
        body: Any = None,
    ) -> ActionResult:
        """start, stop or speed, with the site's ``type_campaign`` (Postman omits it and
        public start/stop code works without it, §9.2: a superset of both)."""
        cid = check.campaign_id(campaign_id)
        if campaign_type is not None:
            check.campaign_type(campaign_type)  # refused before anything is read or sent
        params = {"type_campaign": await self._type_to_send(cid, campaign_type), "campaign_id": cid}
        result = await self._calls.action(route, params, body)
        if route is not routes.SPEED:  # the state the campaign is now in
            status = CampaignStatus.STARTED if route is routes.START else CampaignStatus.STOPPED
            self._facts.learn(cid, status=status, at=self._calls.caller.clock.time())
        return result

    async def recall_records(
        self,
        campaign_id: str | int,
        *,
        field: Literal["Cod_Machine", "cod_rslt1", "cod_rslt2"],
        value: str,
    ) -> RecallRecordsResult:
        """``recall_records`` (#16): set matching records back to CLEAN (predictive)."""
        if field not in ("Cod_Machine", "cod_rslt1", "cod_rslt2"):
            raise ConfigError(
                f"field must be Cod_Machine, cod_rslt1 or cod_rslt2, got {shown(field)}"
            )
        body = {"field": field, "value": check.non_blank("value", value)}
        params = {"campaign_id": check.campaign_id(campaign_id)}
        return await self._calls.first(routes.RECALL_RECORDS, RecallRecordsResult, params, body)
