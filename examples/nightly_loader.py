"""Recipe: the nightly bulk loader — tonight's leads in, yesterday's call results out.

Run by cron once a night (and again if it stopped short)::

    # m h dom mon dow  command
    30 1 * * *  cd /srv/leads && WOLKVOX_TOKEN=... python nightly_loader.py \\
                    leads-$(date +\\%F).csv 7001 --results results-$(date +\\%F).csv

What makes it safe to run again, by hand or by cron:

* the journal (``<leads>.journal``, SQLite) records each chunk as it lands. A run killed
  at any point and started again with the same file loads exactly what is missing; a
  finished load run again sends nothing;
* ``allow_partial``: when today's quota runs out, the records that fit are loaded and the
  script exits 75 (EX_TEMPFAIL) with the time the quota resets. Run it again after that
  time and it goes on where it stopped. A full campaign (7,000 records a license) is an
  error, exit 1: waiting will not make room;
* leads are read from the CSV lazily (a few chunks in memory, whatever the file's size);
  a bad row is reported with its line and skipped, not sent.

The results export (``--day``, default yesterday in Wolkvox time) is written to
``<results>.partial`` and renamed when complete.

Exit codes: 0 done, 75 stopped short (run again later), 1 failed (the message says why;
the journal keeps what landed).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import logging
import os
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

from wolkvox_async import WOLKVOX_TZ, WolkvoxClient, WolkvoxError
from wolkvox_async.bulk import StopReason, UploadProgress

log = logging.getLogger("nightly_loader")

EX_TEMPFAIL = 75


def leads(path: Path) -> Iterator[dict[str, str]]:
    """The CSV's rows as wire dicts (header: customer_id, customer_name, tel1, ...)."""
    with path.open(newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            yield {key: value for key, value in row.items() if value}


def count_leads(path: Path) -> int:
    """The CSV's data rows: the load's reports count against them (what was not read yet
    when a stop came is pending too, and said so)."""
    with path.open(newline="", encoding="utf-8") as file:
        return sum(1 for _ in csv.DictReader(file))


def progress(state: UploadProgress) -> None:
    log.info(
        "%d records read, %d landed, %d chunks",
        state.records_read,
        state.records_landed,
        state.chunks_done,
    )


async def run(args: argparse.Namespace) -> int:
    async with WolkvoxClient(
        server=os.environ["WOLKVOX_SERVER"],
        token=os.environ["WOLKVOX_TOKEN"],
        licenses=int(os.environ.get("WOLKVOX_LICENSES", "1")),
        base_url=os.environ.get("WOLKVOX_BASE_URL"),
    ) as wolkvox:
        report = await wolkvox.upload_records(
            args.campaign_id,
            leads(args.leads),
            journal=args.leads.with_name(args.leads.name + ".journal"),
            on_invalid="skip",
            allow_partial=True,
            progress=progress,
            total=count_leads(args.leads),
        )
        for failure in report.failures:
            log.warning("row %d skipped: %s", failure.row, failure.reason)
        log.info("upload: %s", report.summary())
        if report.stopped == StopReason.CAMPAIGN_FULL:
            log.error(
                "the campaign is full: %d records not loaded; clear it or use another",
                report.records_pending,
            )
            return 1
        if report.records_pending:
            log.warning(
                "stopped short (%s): %d of %d records wait for the quota (%d of them not read "
                "yet); run again after %s",
                report.stopped,
                report.records_pending,
                report.records_read,
                report.records_unread,
                report.resumes_at,
            )
            return EX_TEMPFAIL

        if args.results is not None:
            # The day in Wolkvox time (naive datetimes are Wolkvox time to the client).
            day = datetime.combine(args.day, datetime.min.time())
            partial = args.results.with_name(args.results.name + ".partial")
            download = wolkvox.iter_phone_results(
                args.campaign_id, day, day + timedelta(days=1, seconds=-1)
            )
            with partial.open("w", newline="", encoding="utf-8") as file:
                out = csv.writer(file)
                out.writerow(["conn_id", "customer_id", "telephone", "date", "result"])
                async for row in download:
                    out.writerow(
                        [row.conn_id, row.customer_id, row.telephone, row.date, row.result_raw]
                    )
            partial.replace(args.results)
            log.info("results: %d rows in %d requests", download.rows, download.requests)
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("leads", type=Path, help="CSV of tonight's leads")
    parser.add_argument("campaign_id")
    parser.add_argument("--results", type=Path, help="write a day's call results here")
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=datetime.now(WOLKVOX_TZ).date() - timedelta(days=1),
        help="the day of --results, YYYY-MM-DD in Wolkvox time (default: yesterday)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        sys.exit(asyncio.run(run(args)))
    except WolkvoxError as exc:  # the journal keeps what landed: run again to go on
        log.error("%s: %s", type(exc).__name__, exc)
        sys.exit(1)


if __name__ == "__main__":
    main()
