"""``wolkvox upload`` and ``wolkvox export``: bulk work from files, resumable, streamed.

An upload always keeps a journal (by default in the state directory, named after the
campaign and the file), so a load stopped by Ctrl-C or a crash continues with ``--resume``
without losing or doubling a record; a finished load removes its journal.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click

from .._errors import WolkvoxError
from ..bulk import UploadProgress
from ..bulk._methods import _REPORTS
from ..bulk._upload import PATIENCE
from ._common import (
    EXIT_USAGE,
    Settings,
    emit,
    err,
    fail,
    parse_when,
    pass_settings,
    progress_bar,
    run,
)
from ._files import RowWriter, read_records, row_dict

__all__ = ["export", "upload"]


def _mapping(pairs: tuple[str, ...]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise click.BadParameter(
                f"{pair!r}: use FIELD=COLUMN, e.g. customer_id=id", param_hint="--map"
            )
        mapping[field.strip()] = column.strip()
    return mapping


def _count_rows(path: Path, fmt: str) -> int:
    with path.open("rb") as handle:
        lines = sum(1 for line in handle if line.strip())
    csv_file = fmt == "csv" or (
        fmt == "auto" and path.suffix.lower() not in (".jsonl", ".ndjson", ".json")
    )
    return max(0, lines - 1) if csv_file else lines


@click.command()
@click.argument("campaign_id")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["auto", "csv", "jsonl"]), default="auto")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="Take FIELD (customer_id, tel1, opt1, …) from COLUMN; repeat per field.",
)
@click.option("--type", "kind", type=click.Choice(["predictive", "preview"]), default="predictive")
@click.option("--chunk-size", type=click.IntRange(1, 10_000), default=10_000, show_default=True)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal file (default: in the state directory).",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted load of this file.")
@click.option("--restart", is_flag=True, help="Forget an interrupted load and start over.")
@click.option("--skip-invalid", is_flag=True, help="Report bad rows and load the rest.")
@click.option(
    "--patience",
    type=click.FloatRange(min=0),
    default=PATIENCE,
    show_default=True,
    help="Seconds to keep retrying a chunk refused before anything was done (the token "
    "busy elsewhere, maintenance, no connection) before stopping (resumable).",
)
@pass_settings
def upload(
    settings: Settings,
    campaign_id: str,
    file: Path,
    fmt: str,
    maps: tuple[str, ...],
    kind: str,
    chunk_size: int,
    journal: Path | None,
    resume: bool,
    restart: bool,
    skip_invalid: bool,
    patience: float,
) -> None:
    """Load the records of FILE (CSV or JSONL) into CAMPAIGN_ID."""
    mapping = _mapping(maps)
    if journal is None:
        key = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
        journal = settings.state_dir / "journals" / f"{campaign_id}-{key}.journal"
    if restart:
        journal.unlink(missing_ok=True)
    elif journal.exists() and not resume:
        fail(
            EXIT_USAGE,
            f"an interrupted load of {file} into campaign {campaign_id} exists "
            f"({journal}): add --resume to continue it, or --restart to start over",
        )
    journal.parent.mkdir(parents=True, exist_ok=True)
    resume_hint = shlex.join(["wolkvox", "upload", campaign_id, str(file), "--resume"])

    async def work() -> Any:
        with progress_bar("uploading", quiet=settings.json) as bar:
            task = bar.add_task("upload", total=_count_rows(file, fmt))

            def advance(progress: UploadProgress) -> None:
                bar.update(task, completed=progress.records_landed)

            async with settings.client() as wv:
                try:
                    return await wv.upload_records(
                        campaign_id,
                        read_records(file, fmt, mapping),
                        campaign_type=kind,
                        chunk_size=chunk_size,
                        journal=journal,
                        progress=advance,
                        on_invalid="skip" if skip_invalid else "raise",
                        patience=patience,
                    )
                except WolkvoxError as exc:
                    # A load that stops with records pending raises (exit 3 for a limit, 4
                    # for the server or the network); the journal keeps what is pending.
                    if exc.upload_report is not None:
                        exc.add_note(f"the journal keeps the rest; continue with: {resume_hint}")
                    raise

    report = run(
        work, interrupted=f"stopped; in-flight chunks are journaled. Resume with: {resume_hint}"
    )
    journal.unlink(missing_ok=True)
    emit(
        settings,
        [
            {
                "records_read": report.records_read,
                "records_landed": report.records_landed,
                "failures": len(report.failures),
                "requests": report.requests,
                "elapsed_s": round(report.elapsed, 2),
                "stopped": report.stopped,
            }
        ],
        "upload",
    )
    for failure in report.failures[:20]:
        err.print(f"row {failure.row}: {failure.reason}", highlight=False)


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
