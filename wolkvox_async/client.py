"""WolkvoxClient: the public client, one typed method per Wolkvox campaign endpoint.

The methods live in groups (campaign.php in ``_campaign_methods``, reports and
information in ``_report_methods``, uploads and windowed downloads in ``bulk``) over one
core (``_core``) through which every request passes.
"""

from __future__ import annotations

from ._campaign_methods import CampaignMethods
from ._report_methods import ReportMethods
from .bulk import BulkMethods

__all__ = ["WolkvoxClient"]


class WolkvoxClient(CampaignMethods, ReportMethods, BulkMethods):
    """Async client for the Wolkvox API v2 campaign endpoints.

    Use it as an async context manager; it owns its aiohttp session unless one is
    passed::

        async with WolkvoxClient(server="0014", token=TOKEN, licenses=3) as wv:
            camp = await wv.create_campaign(
                name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
            )
            await wv.add_record(camp.id, [Record(customer_id="1", phones=("3001234567",))])
    """
