"""``wolkvox export``: any report over any date span, streamed to CSV or JSONL."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import click

from ..bulk._methods import _REPORTS
from ._common import (
    Settings,
    err,
    parse_when,
    pass_settings,
    run,
)
from ._files import RowWriter, row_dict

__all__ = ["export"]


@click.command()
@click.argument("report", type=click.Choice(sorted(_REPORTS)))
@click.argument("campaign_id")
@click.option("--start", required=True, help="Wolkvox time, e.g. 2026-08-01.")
@click.option("--end", required=True, help="Wolkvox time, e.g. 2026-11-01T23:59:59.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--output", "-o", default="-", help="File to write, or - for standard output.")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["predictive", "preview"]),
    help="Campaign type (the detail report needs it).",
)
@pass_settings
def export(
    settings: Settings,
    report: str,
    campaign_id: str,
    start: str,
    end: str,
    fmt: str,
    output: str,
    kind: str | None,
) -> None:
    """Export REPORT of CAMPAIGN_ID (any date span) as CSV or JSONL, streamed."""
    since, until = parse_when(start), parse_when(end)

    with ExitStack() as stack:
        out: IO[str] = (
            sys.stdout
            if output == "-"
            else stack.enter_context(Path(output).open("w", newline="", encoding="utf-8"))
        )
        writer = RowWriter(out, fmt)

        async def work() -> int:
            async with settings.client() as wv:
                download = wv.iter_report(report, campaign_id, since, until, campaign_type=kind)
                async for row in download:  # written as each window arrives
                    writer.write(row_dict(row))
            return download.requests

        requests = run(work)
    count = writer.count
    if output != "-" or settings.json:
        err.print(f"{count} rows in {requests} requests", highlight=False)
