"""WolkvoxClient: the public client, one typed method per Wolkvox campaign endpoint.

The methods live in groups over one core (``_core``), every request taking the one path
of ``_call``: campaign.php in ``_campaign_methods``, reports and information in
``_report_methods``, and on top of both, uploads and windowed downloads in ``bulk``.
"""

from __future__ import annotations

from .bulk import BulkMethods

__all__ = ["WolkvoxClient"]


class WolkvoxClient(BulkMethods):
    """Async client for the Wolkvox API v2 campaign endpoints.

    Use it as an async context manager; it owns its aiohttp session unless one is
    passed::

        async with WolkvoxClient(server="0014", token=TOKEN, licenses=3) as wv:
            camp = await wv.create_campaign(
                name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
            )
            await wv.add_record(camp.id, [Record(customer_id="1", phones=("3001234567",))])
    """
