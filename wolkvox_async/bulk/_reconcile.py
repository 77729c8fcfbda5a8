"""Reconciling a chunk whose answer was lost: which of its records are in the campaign.

A call that got no answer may have stored its records, and may still be running on the
server (Wolkvox stops calls at 60 s, §3.1). One campaign_15 export tells which customer_ids
are in the campaign; past the export's 60,000-row cap, three find_record probes (first,
middle and last record) do, since Wolkvox stores a chunk whole or not at all.
"""

from __future__ import annotations

import logging

from ..scheduler import Clock
from ._journal import NOT_SENT
from ._needs import Endpoints
from ._outcomes import ReconcileError

__all__ = ["Reconciler"]

log = logging.getLogger("wolkvox_async.bulk")


class Reconciler:
    """Asks the campaign about records; counts the calls it makes."""

    def __init__(
        self, client: Endpoints, clock: Clock, campaign_id: str, held_after_send: float
    ) -> None:
        self.client = client
        self.held_after_send = held_after_send
        """Seconds after it left that a call may still be running (``ClientConfig``)."""
        self.clock = clock
        self.campaign_id = campaign_id
        self.requests = 0

    async def missing(self, records: list[dict[str, str]], sent_at: float) -> list[dict[str, str]]:
        """The records of ``records`` not in the campaign (outcome of a lost answer).

        Records missing while the request that left at ``sent_at`` may still be running on
        the server (it stops calls 60 s after they reach it, §3.1, so until sent +
        ``held_after_send``) are not missing yet: ask again once it
        cannot be, or a resend would double them. ``NOT_SENT``: no call of them can be
        running (none left, or its answer came).
        """
        absent = await self._absent(records)
        ends = 0.0 if sent_at == NOT_SENT else sent_at + self.held_after_send
        wait = ends - self.clock.time()
        if absent and wait > 0:
            log.warning(
                "%d records of a lost call are not in the campaign yet; the call may still be "
                "running on the server: checking again in %.0f s",
                len(absent),
                wait,
            )
            await self.clock.sleep(wait)
            absent = await self._absent(records)
        return absent

    async def _absent(self, records: list[dict[str, str]]) -> list[dict[str, str]]:
        self.requests += 1
        # Past the cap the export is cut (TruncatedAnswer): take it marked, and probe.
        export = await self.client.export_campaign(self.campaign_id, allow_truncated=True)
        if not export.truncated:
            present = {r.customer_id for r in export.records}
            return [r for r in records if r["customer_id"] not in present]
        # The export stops at 60,000 rows: ask about the first, middle and last record.
        probes = {
            records[0]["customer_id"],
            records[len(records) // 2]["customer_id"],
            records[-1]["customer_id"],
        }
        found = set()
        for cid in probes:
            self.requests += 1
            if await self.client.find_record(campaign_id=self.campaign_id, customer_id=cid):
                found.add(cid)
        if not found:
            return records
        if found == probes:
            return []
        raise ReconcileError(
            f"some records of a chunk landed and some did not ({len(found)}/{len(probes)} "
            "probes found); check the campaign before resuming"
        )
