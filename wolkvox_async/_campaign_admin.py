"""campaign.php #12 to #15 (wolkvox-api.md §5, numbered as there): find a record, delete
campaigns (both documented forms), filter a campaign and export it.

The two reads, find_record and the campaign_15 export, answer at most 60,000 rows per call
with no paging (§3.1, §5 #15): an answer at that cap raises
:class:`~wolkvox_async.TruncatedAnswer` unless the caller takes it marked
(``allow_truncated``), so a cut answer is never returned as complete.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final, Literal

import attrs

from . import _routes as routes
from . import _validate as check
from ._answers import EXPORT_ADVICE, FIND_ADVICE, Rows, export_cut, truncated
from ._convert import CONVERTER, decode_error, structure, warn_unread
from ._core import ClientCore
from ._errors import ConfigError, shown
from ._protocol import Envelope
from .models import (
    CampaignType,
    DeleteCampaignsResult,
    Export,
    FilterResult,
    FilterRule,
    FoundRecord,
)

__all__ = ["CampaignAdmin"]

_DELETED: Final = re.compile(r"(\d+)\s+campaigns?\s+deleted\D+?(\d+)\s+operations?\s+failed", re.I)


def _rule(rule: object) -> FilterRule:
    if not isinstance(rule, FilterRule):
        raise ConfigError(f"rules must hold FilterRule objects, got {shown(rule)}")
    return rule


class CampaignAdmin(ClientCore):
    """campaign.php find_record, delete_campaign, campaign_filter and campaign_15."""

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
        # h-path: one check, then the caller reads the rows (no _rows hop; issue 33 item 1).
        params = check.find_record(campaign_id, customer_id, customer_phone)
        return await self._caller.call(
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
        request, envelope = await self._caller.call(routes.DELETE_CAMPAIGN, params, body)
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
        return await self._first(routes.CAMPAIGN_FILTER, FilterResult, params, body)

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

        request, envelope = await self._caller.call(routes.EXPORT, params, cut=cut)
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
        export = structure(request, envelope, envelope.payload, Export, self._converter)
        warn_unread(request, export.records)
        return attrs.evolve(export, truncated=True) if shown_total is not None else export
