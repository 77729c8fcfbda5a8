"""``wolkvox demo``: the main job end to end against the embedded simulator, in one command.

FakeWolkvox starts on loopback with a realistic latency; the demo creates a predictive
campaign, loads generated leads with a live progress bar, schedules recalls, finds a
record, exports months of phone results through 31-day windows, and shows what the server
saw: requests, quota, peak in flight per token, and the elapsed time next to the bound
that 2 requests in flight allow.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import click
from rich.console import Console
from rich.table import Table

from .. import CampaignType, WolkvoxClient
from ..bulk import DownloadProgress, UploadProgress
from ..scheduler import MemoryBackend
from ..testing import serving_in_thread
from ._common import Settings, progress_bar, run

__all__ = ["demo"]

CITIES = ("Bogotá", "Medellín", "Cali", "Barranquilla", "Cartagena")


def _leads(count: int) -> Iterator[dict[str, str]]:
    # Wire dicts, as a CSV or a CRM export gives them (a Record per lead is accepted too,
    # and costs more to check).
    for i in range(count):
        yield {
            "customer_id": f"lead-{i}",
            "customer_name": f"Cliente {i}",
            "tel1": f"3{i:09d}",
            "opt1": CITIES[i % len(CITIES)],
        }


@click.command()
@click.option("--records", type=click.IntRange(1, 2_000_000), default=100_000, show_default=True)
@click.option(
    "--results",
    type=click.IntRange(0, 2_000_000),
    default=120_000,
    show_default=True,
    help="Simulated dial attempts to export.",
)
@click.option("--days", type=click.IntRange(1, 365), default=90, show_default=True)
@click.option("--latency-ms", type=click.FloatRange(0, 5_000), default=50.0, show_default=True)
@click.pass_context
def demo(ctx: click.Context, records: int, results: int, days: int, latency_ms: float) -> None:
    """Load leads and export results against the embedded simulator (no account needed)."""
    console = Console(stderr=True)
    settings = ctx.find_object(Settings)
    as_json = settings.json if settings is not None else False

    async def work() -> dict[str, object]:
        licenses = max(3, math.ceil(records / 7_000) + 1)  # a campaign holds 7,000 × licenses
        latency = latency_ms / 1000
        with serving_in_thread(licenses=licenses, latency=latency) as fake:
            async with WolkvoxClient(
                server=fake.server,
                token=fake.token,
                base_url=fake.url,
                licenses=licenses,
                backend=MemoryBackend(),
            ) as wv:
                started = time.perf_counter()
                camp = await wv.create_campaign(
                    name="Demo leads", campaign_type=CampaignType.PREDICTIVE, skill_id="4069"
                )
                console.print(f"campaign [bold]{camp.id}[/] created on {fake.url}")
                with progress_bar(quiet=as_json) as bar:
                    task = bar.add_task("loading leads", total=records)

                    def landed(p: UploadProgress) -> None:
                        bar.update(task, completed=p.records_landed)

                    report = await wv.upload_records(camp.id, _leads(records), progress=landed)
                now = datetime.now(UTC)
                for i in (7, 42, 99):
                    await wv.recall(
                        camp.id,
                        customer_id=f"lead-{i}",
                        telephone=f"3{i:09d}",
                        at=now + timedelta(hours=2),
                    )
                [hit] = await wv.find_record(campaign_id=camp.id, customer_id="lead-42")
                console.print(
                    f"found lead-42: {hit.customer_name}, {hit.phones[0]}; 3 recalls scheduled"
                )
                fake.add_call_results(camp.id, now - timedelta(days=days), now, results)
                rows = 0
                with progress_bar(quiet=as_json) as bar:
                    task = bar.add_task(f"exporting {days} days", total=results)

                    def window(p: DownloadProgress) -> None:
                        bar.update(task, completed=p.rows)

                    download = wv.iter_phone_results(
                        camp.id, now - timedelta(days=days), now, progress=window
                    )
                    async for _ in download:
                        rows += 1
                elapsed = time.perf_counter() - started
            stored = {r["customer_id"] for r in fake.campaign(camp.id).records}
            requests = fake.stats.requests
            return {
                "records_loaded": report.records_landed,
                "records_in_campaign": len(stored),
                "rows_exported": rows,
                "download_requests": download.requests,
                "requests": requests,
                "quota_used": fake.quota_used(),
                "quota_limit": licenses * 1000,
                "peak_in_flight_per_token": fake.stats.peak_in_flight[fake.token],
                "limit_refusals": sum(fake.stats.refusals.values()),
                "elapsed_s": round(elapsed, 2),
                "bound_s": round(requests * latency / 2, 2),  # every call ≥ latency, 2 at a time
            }

    summary = run(work)
    if as_json:
        import json

        click.echo(json.dumps(summary))
        return
    table = Table(title="wolkvox demo: what the server saw")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_column("what it means")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), str(value), _MEANING.get(key, ""))
    Console().print(table)


_MEANING = {
    "records_loaded": "leads the upload reports landed (10,000 per call, 2 calls at a time)",
    "records_in_campaign": "distinct leads the simulator stored: each exactly once",
    "rows_exported": "call results read back, in windows of at most 31 days",
    "download_requests": "report calls: one per window, more where a window hit 60,000 rows",
    "requests": "every call the server received (uploads, lookups, recalls, reports)",
    "quota_used": "calls charged to today's quota (licenses × 1000)",
    "peak_in_flight_per_token": "most calls at once on the token: 2 is the limit, and used",
    "limit_refusals": "403s for too many calls or a spent quota: none is the promise",
    "elapsed_s": "wall time of the whole job on this machine",
    "bound_s": "the least any client could take: each call lasts the latency, 2 at a time;"
    " elapsed is above it by the CPU of client and simulator (checking and encoding"
    " rows, JSON) and by calls that cannot overlap (lookups, recalls, the last chunk)",
}
