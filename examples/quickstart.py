"""Quick start: create a campaign, add records, find one, schedule a recall and read the
dial attempts, printing each step.

It runs against FakeWolkvox on loopback, so it needs no Wolkvox account; the simulator
also plays the dialer (``fake.add_call_results``). The README shows this file from its
first import on (tests/test_examples.py checks they agree and runs both).
"""

import asyncio
from datetime import UTC, datetime, timedelta

from wolkvox_async import CampaignType, Record, WolkvoxClient
from wolkvox_async.testing import FakeWolkvox


async def main() -> None:
    async with FakeWolkvox(licenses=3) as fake:  # a loopback Wolkvox; drop it for the real one
        async with WolkvoxClient(
            server=fake.server,
            token=fake.token,
            licenses=3,
            base_url=fake.url,
            backend="memory://",  # the fake's calls stay out of your ledger: drop it too
        ) as wv:
            camp = await wv.create_campaign(
                name="Leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
            )
            print(f"created campaign {camp.id}")
            records = [Record(customer_id=str(i), phones=(f"300{i:07d}",)) for i in range(100)]
            added = await wv.add_record(camp.id, records)
            print(f"added {added.sent} records")
            [hit] = await wv.find_record(campaign_id=camp.id, customer_id="42")
            print(f"found customer {hit.customer_id}, phone {hit.phones[0]}")
            now = datetime.now(UTC)  # aware datetimes are converted to Wolkvox time (GMT-5)
            recall = await wv.recall(
                camp.id, customer_id="42", telephone="3000000042", at=now + timedelta(hours=2)
            )
            print(f"recall: {recall.message}")
            week_ago = now - timedelta(days=7)
            fake.add_call_results(camp.id, week_ago, now, 300)  # the simulator dials
            rows = await wv.phone_results(camp.id, week_ago, now)
            print(f"{len(rows)} dial attempts in the last 7 days; the first 3:")
            for row in rows[:3]:
                print(f"  {row.conn_id}  {row.telephone}  {row.date}  {row.result}")
            info = await wv.token_info()
            print(f"quota used today: {info.all_token_today} of {info.token_limit} calls")


if __name__ == "__main__":
    asyncio.run(main())
