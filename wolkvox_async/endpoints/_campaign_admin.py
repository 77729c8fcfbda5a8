"""campaign.php's reads and campaign-wide changes: find, delete, filter, export, edit.

campaign.php #12 to #15 and #17 (wolkvox-api.md §5, numbered as there): find a record,
delete campaigns (both documented forms), filter, export and edit a campaign.

The two reads, find_record and the campaign_15 export, answer at most 60,000 rows per call
with no paging (§3.1, §5 #15): an answer at that cap raises
:class:`~wolkvox_async.TruncatedAnswer` unless the caller takes it marked
(``allow_truncated``), so a cut answer is never returned as complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import time
from typing import TYPE_CHECKING, Any, Final, Literal

import attrs

from .._errors import ConfigError, shown
from ..calls import _routes as routes
from ..calls._answers import EXPORT_ADVICE, FIND_ADVICE, Rows, export_cut, truncated
from ..calls._convert import CONVERTER, decode_error, structure, warn_unread
from ..calls._protocol import Envelope
from ..models import (
    CampaignSettings,
    CampaignType,
    DeleteCampaignsResult,
    Export,
    FilterResult,
    FilterRule,
    FoundRecord,
)
from . import _validate as check
from ._campaign_methods import AMD_COUNTRIES, clock_text

if TYPE_CHECKING:
    from ._campaign_state import CampaignFacts
    from ._core import Calls

__all__ = ["CampaignAdmin"]

_DELETED: Final = re.compile(r"(\d+)\s+campaigns?\s+deleted\D+?(\d+)\s+operations?\s+failed", re.I)


def _rule(rule: object) -> FilterRule:
    if not isinstance(rule, FilterRule):
        raise ConfigError(f"rules must hold FilterRule objects, got {shown(rule)}")
    return rule


class CampaignAdmin:
    """campaign.php find_record, delete_campaign, campaign_filter, campaign_15 and
    edit_campaign, over the client's calls and what it knows of its campaigns."""

    def __init__(self, calls: Calls, facts: CampaignFacts) -> None:
        self._calls = calls
        self._facts = facts

    async def find_record(
        self,
        *,
        campaign_id: str | int | None = None,
        customer_id: str | None = None,
        customer_phone: str | None = None,
        allow_truncated: bool = False,
    ) -> Rows[FoundRecord]:
        """``find_record`` (#12): search by any of campaign, customer id and phone; without
        campaign_id, across every campaign (the docs: "either campaign_id or
        customer_phone may be omitted"; Postman sends each alone).

        Returns:
            The hits; an empty tuple when there are none (HTTP 200 with no rows, or 404).

        Raises:
            TruncatedAnswer: 60,000 hits, the most Wolkvox returns per call (a campaign
                alone lists all its records): ``allow_truncated`` returns them marked.
        """
        # One check, then the caller reads the rows (Caller.call's rows=).
        params = check.find_record(campaign_id, customer_id, customer_phone)
        return await self._calls.caller.call(
            routes.FIND_RECORD,
            params,
            rows=FoundRecord,
            allow_truncated=allow_truncated,
            advice=FIND_ADVICE,
        )

    async def delete_campaigns(self, campaign_ids: Iterable[str | int]) -> DeleteCampaignsResult:
        """``delete_campaign`` (#13; irreversible), several at once.

        Uses the body form ``{"campaign_ids": [...]}``: it needs no type_campaign and works
        for preview and predictive alike (§5 #13 "new form").
        """
        ids = [
            check.campaign_id(cid) for cid in check.iterable("campaign_ids", campaign_ids, "ids")
        ]
        if not ids:
            raise ConfigError("campaign_ids must name at least one campaign")
        return await self._delete({}, {"campaign_ids": ids}, ids)

    async def delete_campaign(
        self, campaign_id: str | int, *, campaign_type: CampaignType | str
    ) -> DeleteCampaignsResult:
        """``delete_campaign`` (#13; irreversible), one campaign, in the URL form the site
        and Postman show: ``?api=delete_campaign&type_campaign=…&campaign_id=…``, no body
        (§5 #13 "old form")."""
        params = check.campaign_of_type(campaign_id, campaign_type)
        return await self._delete(params, None, [params["campaign_id"]])

    async def _delete(
        self, params: dict[str, str], body: object, ids: list[str]
    ) -> DeleteCampaignsResult:
        request, envelope = await self._calls.caller.call(routes.DELETE_CAMPAIGN, params, body)
        for cid in ids:  # what was known of them (type, state) no longer holds
            self._facts.forget(cid)
        match = _DELETED.search(envelope.message)
        if match is None:  # never read an answer we cannot parse as "all deleted"
            raise decode_error(
                request,
                envelope,
                f"cannot tell how many campaigns were deleted from {envelope.message!r}",
            )
        deleted, failed = int(match[1]), int(match[2])
        return DeleteCampaignsResult(deleted=deleted, failed=failed, message=envelope.message)

    async def filter_campaign(
        self,
        campaign_id: str | int,
        *,
        campaign_type: CampaignType | str,
        rules: Sequence[FilterRule],
        active: bool = True,
        connector: Literal["and", "or"] = "and",
    ) -> FilterResult:
        """``campaign_filter`` (#14): dial only the records matching ``rules``."""
        if connector not in ("and", "or"):
            raise ConfigError(f"connector must be 'and' or 'or', got {shown(connector)}")
        body = {
            "filter_active": "yes" if active else "no",
            "connector": connector,
            "filters": [
                CONVERTER.unstructure(_rule(rule))
                for rule in check.iterable("rules", rules, "FilterRule")
            ],
        }
        params = check.campaign_of_type(campaign_id, campaign_type)
        return await self._calls.first(routes.CAMPAIGN_FILTER, FilterResult, params, body)

    async def export_campaign(
        self, campaign_id: str | int, *, allow_truncated: bool = False
    ) -> Export:
        """``campaign_15`` (#15): every record of the campaign, managed or not.

        Raises:
            TruncatedAnswer: the answer holds 60,000 records (the most Wolkvox returns per
                call) or fewer than its ``total_records``: campaign_15 has no paging, so
                the rest cannot be read with it. ``allow_truncated`` returns the export
                with ``truncated`` set instead.
        """
        params = {"campaign_id": check.campaign_id(campaign_id)}

        def cut(answer: Envelope) -> bool:
            return export_cut(answer.payload) is not None

        request, envelope = await self._calls.caller.call(routes.EXPORT, params, cut=cut)
        shown_total = export_cut(envelope.payload)
        if shown_total is not None and not allow_truncated:
            rows, total = shown_total
            raise truncated(
                request,
                params,
                rows,
                total=total,
                advice=EXPORT_ADVICE,
            )
        export = structure(request, envelope, envelope.payload, Export, self._calls.converter)
        warn_unread(request, export.records)
        return attrs.evolve(export, truncated=True) if shown_total is not None else export

    async def edit_campaign(
        self,
        campaign_id: str | int,
        *,
        name: str | None = None,
        description: str | None = None,
        campaign_type: CampaignType | str | None = None,
        enable_edition: bool | None = None,
        start_time: time | None = None,
        end_time: time | None = None,
        skill_id: str | None = None,
        amd_conf: str | None = None,
        turbo_dial: bool | None = None,
        routing_recall: bool | None = None,
        dial_order: Literal["linear", "zigzag", "random"] | None = None,
        opt_labels: Mapping[str, str] | None = None,
    ) -> CampaignSettings:
        """``edit_campaign`` (#17): change only the settings given."""
        body: dict[str, Any] = {}
        if name is not None:
            body["campaign_name"] = check.non_blank("name", name)
        if description is not None:
            body["campaign_description"] = check.text(
                "description", description, limit=check.FREE_TEXT_MAX_LENGTH
            )
        if campaign_type is not None:
            body["type_camp"] = check.campaign_type(campaign_type).value.capitalize()
        for key, flag in (
            ("enable_edition", enable_edition),
            ("turbo_dial", turbo_dial),
            ("routing_recall", routing_recall),
        ):
            if flag is not None:
                body[key] = "yes" if flag else "no"
        for key, at in (("start_time", start_time), ("end_time", end_time)):
            if at is not None:
                body[key] = clock_text(key, at, "%H:%M:%S")  # edit_campaign uses HH:mm:ss (§9.6)
        if start_time is not None and end_time is not None and start_time >= end_time:
            raise ConfigError(f"start_time ({start_time}) must be before end_time ({end_time})")
        if skill_id is not None:
            body["skill_id"] = check.non_blank("skill_id", skill_id)
        if amd_conf is not None:
            if not isinstance(amd_conf, str) or amd_conf not in AMD_COUNTRIES | {"default", "none"}:
                raise ConfigError(
                    f"amd_conf must be default, none or a country code, got {shown(amd_conf)}"
                )
            body["amd_conf"] = amd_conf
        if dial_order is not None:
            if dial_order not in ("linear", "zigzag", "random"):
                raise ConfigError(
                    f"dial_order must be linear, zigzag or random, got {shown(dial_order)}"
                )
            body["camp_dial_order"] = dial_order
        if opt_labels is not None:
            if not isinstance(opt_labels, Mapping):
                raise ConfigError(
                    f"opt_labels must map opt0..opt12 to labels, got {shown(opt_labels)}"
                )
            bad = [k for k in opt_labels if k not in {f"opt{i}" for i in range(13)}]
            if bad:
                raise ConfigError(
                    f"opt_labels keys must be opt0..opt12, got {', '.join(map(repr, bad))}"
                )
            body["optional_labels"] = {
                key: check.text(f"opt_labels[{key!r}]", label) for key, label in opt_labels.items()
            }
        if not body:
            raise ConfigError("edit_campaign needs at least one setting to change")
        cid = check.campaign_id(campaign_id)
        settings = await self._calls.first(
            routes.EDIT_CAMPAIGN, CampaignSettings, {"campaign_id": cid}, body
        )
        if campaign_type is not None:
            self._facts.learn(cid, type=check.campaign_type(campaign_type))
        return settings
