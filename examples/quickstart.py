"""Quick start: create a campaign, load records, search, recall and read results.

Runs against FakeWolkvox on loopback, so it needs no Wolkvox account.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from wolkvox_async import CampaignType, Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox


async def main() -> None:
    async with FakeWolkvox(licenses=3, latency=0.02) as fake:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, licenses=3, base_url=fake.url
        ) as wv:
            camp = await wv.create_campaign(
                name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
            )
            records = [Record(customer_id=str(i), phones=(f"300{i:07d}",)) for i in range(100)]
            loaded = await wv.add_record(camp.id, records)
            print(f"campaign {camp.id}: {loaded.sent} records loaded")
            [hit] = await wv.find_record(campaign_id=camp.id, customer_id="42")
            print(f"found customer {hit.customer_id} at {hit.phones[0]}")
            now = datetime.now(UTC)  # aware datetimes are converted to Wolkvox time (GMT-5)
            at = now + timedelta(hours=2)
            recall = await wv.recall(camp.id, customer_id="42", telephone="3000000042", at=at)
            print(recall.message)
            end = now
            fake.add_call_results(camp.id, end - timedelta(days=7), end, 500)  # simulated dialing
            rows = await wv.phone_results(camp.id, end - timedelta(days=7), end)
            print(f"{len(rows)} dial attempts in the last 7 days; first: {rows[0].result}")
            info = await wv.token_info()
            print(f"quota used today: {info.all_token_today}/{info.token_limit}")


if __name__ == "__main__":
    asyncio.run(main())
