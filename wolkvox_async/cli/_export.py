"""``wolkvox export``: any report over any date span, streamed to CSV or JSONL exactly as
Wolkvox sent it (or to typed Parquet or Arrow, ``_columnar``), never destroying a file,
continued after any stop.

Dates are what a person means: a date alone as ``--end`` is its whole day (to 23:59:59
Wolkvox time), as ``--start`` its first second; ``--days N`` is the N calendar days ending
with ``--end``'s day (default today, up to now).

Everything checkable is checked before anything is made or spent: the dates, the
settings, the output path (a folder, a missing or unwritable folder, a device: exit 2).
With ``-o OUTPUT`` the rows go to ``OUTPUT.partial`` beside a checkpoint (``_checkpoint``),
renamed over OUTPUT only when the export completed: a refused or failed export leaves an
existing OUTPUT untouched. A failed, interrupted (Ctrl-C, SIGTERM) or killed export
continues with the printed ``--resume`` from the second its rows reach, at once: the reads
it made whose answers were not delivered are no polls of the same data, and those whose
answers arrived whole are kept in ``OUTPUT.partial.ahead`` instead of read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import click

from .._errors import ConfigError, WolkvoxError
from .._time import to_wolkvox_time
from ..bulk import DownloadProgress, WindowedDownload, WindowRows
from ..bulk._arrow import pyarrow
from ..endpoints._report_table import DETAIL, REPORTS
from ._checkpoint import Busy, Checkpoint
from ._columnar import COLUMNAR, assemble
from ._common import (
    EXIT_USAGE,
    Settings,
    check_output,
    err,
    fail,
    parse_when,
    pass_settings,
    progress_bar,
    run,
)
from ._files import RowWriter, columns_of, summary
from ._partial import Writer, open_partial

__all__ = ["export"]

SECOND = timedelta(seconds=1)


@click.command()
@click.argument("report", type=click.Choice(sorted(REPORTS)))
@click.argument("campaign_id", required=False)
@click.option(
    "--start",
    help="First moment, Wolkvox time (GMT-5): a date starts at 00:00:00 "
    "(--start 2026-08-01), or a time (--start 2026-08-01T06:30).",
)
@click.option(
    "--end",
    help="Last moment, included: a date covers that whole day, to 23:59:59 "
    "(--end 2026-10-31 includes 31 October), or a time (--end 2026-10-31T12:00). "
    "With --days, default: now.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    help="Instead of --start: the N calendar days ending with --end's day (default today), "
    "from 00:00:00 of the first (--days 7: today and the 6 days before).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl", *COLUMNAR]),
    default="csv",
    help="csv (RFC 4180, every value as sent), jsonl, or typed columns: parquet, arrow "
    '(an Arrow IPC file); those two need pip install "wolkvox-async[arrow]".',
)
@click.option("--output", "-o", default="-", help="File to write, or - for standard output.")
@click.option(
    "--type",
    "kind",
    type=click.Choice(["predictive", "preview"]),
    help="Campaign type (the detail report needs it; no other report takes it).",
)
@click.option(
    "--excel-safe",
    is_flag=True,
    help="CSV for spreadsheets: a cell starting with = + - @ (a formula) gets a leading ' "
    "so it never runs; numbers and phones (+57 300 1234567, -5) are never touched. "
    "Default: every value exactly as Wolkvox sent it.",
)
@click.option("--resume", is_flag=True, help="Continue a stopped export into --output.")
@pass_settings
def export(
    settings: Settings,
    report: str,
    campaign_id: str | None,
    start: str | None,
    end: str | None,
    days: int | None,
    fmt: str,
    output: str,
    kind: str | None,
    excel_safe: bool,
    resume: bool,
) -> None:
    """Export REPORT (of CAMPAIGN_ID) over any date span as CSV, JSONL, Parquet or Arrow.

    REPORT is Wolkvox's name: campaign_1..campaign_10 take a CAMPAIGN_ID (or all), detail
    one CAMPAIGN_ID and --type; cdr_1, cdr_5, cdr_6, agent_1, agent_3, agent_7, agent_8,
    chat_1, chat_2 and chat_16 cover the whole operation and take none. Dates are Wolkvox
    time; a date alone means its whole day, so `--start 2026-08-01 --end 2026-10-31`
    includes every row of 31 October.
    """
    table = REPORTS[report]
    if table.scope == "operation" and campaign_id is not None:
        raise click.UsageError(
            f"{report} covers the whole operation and takes no CAMPAIGN_ID "
            f"(got {campaign_id!r}): wolkvox export {report} --start ... --end ..."
        )
    if table is DETAIL and campaign_id in (None, "all"):
        # wolkvox-api.md §5 #6: campaign.php detail takes one campaign's id.
        raise click.UsageError(
            "detail reads one campaign: give its CAMPAIGN_ID (campaign.php detail takes no "
            "'all'; campaign_1..campaign_10 do)"
        )
    if table.scope == "campaign" and campaign_id is None:
        raise click.UsageError(f"{report} needs a CAMPAIGN_ID (or all)")
    if kind is not None and table is not DETAIL:
        # Only campaign.php detail sends type_campaign: on any other report --type would
        # look like a filter and export every campaign's rows all the same.
        raise click.UsageError(
            f"--type is for the detail report only; {report} takes no campaign type "
            f"(got --type {kind})"
        )
    since, until, span_args = _span(start, end, days)
    if excel_safe and fmt != "csv":
        raise click.UsageError(f"--excel-safe is for CSV: {fmt} holds every value as sent")
    if fmt in COLUMNAR and output == "-":
        raise click.UsageError(f"--format {fmt} writes a file: give --output FILE")
    if fmt in COLUMNAR:
        try:
            pyarrow()
        except ConfigError as exc:
            fail(EXIT_USAGE, str(exc))
    settings.require()
    if table is DETAIL and kind is None:
        fail(EXIT_USAGE, "the detail report needs the campaign type: --type predictive|preview")
    columns = columns_of(table.row, table.columns)
    job: dict[str, Any] = {"report": report, "campaign": campaign_id}
    job.update(start=_iso(since), end=_iso(until), format=fmt, type=kind, excel_safe=excel_safe)
    if output == "-":
        if resume:
            fail(EXIT_USAGE, "--resume needs the --output file of the export to continue")
        writer = RowWriter(sys.stdout, fmt, columns, excel_safe=excel_safe)
        requests = run(lambda: _fetch(settings, job, since, until, writer, lambda _: None))
        if settings.json:
            err.print(summary(writer, requests, 0), highlight=False)
        return

    target = Path(output)
    check_output(target)
    campaign = [campaign_id] if campaign_id is not None else []
    command = settings.command("export", report, *campaign)
    command += [*span_args, "--format", fmt]
    command += ["--output", output, *(["--type", kind] if kind else [])]
    command += ["--excel-safe"] if excel_safe else []
    resume_hint = shlex.join([*command, "--resume"])
    saved = Checkpoint(target, job)
    try:
        saved.lock()
    except Busy as busy:
        fail(
            EXIT_USAGE,
            f"an export into {target} is running ({busy}): let it end (or stop it: it can "
            "be continued), or write to another file",
        )
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot write {saved.lock_file}: {exc.strerror or exc}")
    try:
        _into_file(settings, saved, target, since, until, columns, resume, resume_hint)
    finally:
        saved.unlock()


def _into_file(
    settings: Settings,
    saved: Checkpoint,
    target: Path,
    since: datetime,
    until: datetime,
    columns: list[str],
    resume: bool,
    resume_hint: str,
) -> None:
    """The export into ``target`` (locked), through its partial file and checkpoint."""
    job = saved.state["job"]
    fmt, excel_safe = job["format"], job["excel_safe"]
    if resume:
        if not saved.exists() or not saved.partial.exists():
            missing = saved.path if not saved.exists() else saved.partial
            fail(EXIT_USAGE, f"no stopped export into {target} to resume ({missing} missing)")
        if saved.load() != job:
            fail(
                EXIT_USAGE,
                f"the stopped export into {target} was {saved.state['job']}; this one is {job}: "
                "give the same arguments to continue it, or leave out --resume",
            )
        if saved.through is not None:
            since = saved.through + SECOND
    elif saved.exists():
        fail(
            EXIT_USAGE,
            f"a stopped export into {target} can be continued: {resume_hint}\n"
            f"or remove {saved.partial} and {saved.path} to start over",
        )
    try:
        out = open_partial(saved, columns, excel_safe=excel_safe, resume=resume)
    except OSError as exc:
        fail(EXIT_USAGE, f"cannot write {saved.partial}: {exc.strerror or exc}")
    before = saved.state["rows"]
    stopped: list[str] = []

    writer = out.writer

    def checkpoint_window(done: DownloadProgress) -> None:
        if done.held:  # read ahead by the stopped run: its rows go in here, in order
            writer.put(*saved.take(done))
        writer.flush()
        out.file.flush()
        saved.reached(done, writer.count, out.file.tell())

    def keep(windows: Collection[WindowRows[Any]]) -> None:
        """Spool the windows read past the rows and save the checkpoint; if the disk
        refuses, the checkpoint saved last stands (it matches the partial file)."""
        with contextlib.suppress(OSError):
            saved.keep(windows, writer.encode)
            saved.save()

    async def work() -> int:
        downloads: list[WindowedDownload[Any]] = []
        try:
            return await _fetch(
                settings, job, since, until, writer, checkpoint_window, saved.held(), downloads
            )
        except WolkvoxError as exc:
            keep(exc.windows_ahead)
            nothing = saved.through is None and not saved.state["ahead"]
            if nothing and not resume:  # nothing to continue: the same command starts over
                with contextlib.suppress(OSError):
                    out.file.close()
                saved.drop(partial=True)
            elif nothing:
                # A --resume refused before any window (a killed run's reads still in
                # their 5 minutes: exit 3, "retry at"): its checkpoint stays, so the
                # retry the message asks for is the same command, not "no stopped export".
                exc.add_note(
                    f"no rows written yet; {saved.path} stands: continue with: {resume_hint}"
                )
            else:
                reached = saved.state["through"] or "none yet: a window read ahead is kept"
                exc.add_note(
                    f"export stopped after {saved.state['rows']:,} rows (through "
                    f"{reached}); they are in {saved.partial}, not "
                    f"{target}; continue with: {resume_hint}"
                )
            raise
        except asyncio.CancelledError:  # Ctrl-C or SIGTERM: the printed --resume works
            keep(downloads[0].windows_ahead if downloads else ())
            raise
        except OSError as exc:  # our files (a full disk): the last checkpoint stands
            stopped.append(f"cannot write {saved.partial}: {exc.strerror or exc}")
            return 0

    try:
        requests = run(work, interrupted=f"interrupted; continue with: {resume_hint}")
        if stopped:
            fail(EXIT_USAGE, f"{stopped[0]}; free the space, then continue with: {resume_hint}")
        out.file.flush()
        os.fsync(out.file.fileno())
    finally:
        with contextlib.suppress(OSError):  # (rows past the checkpoint: cut on --resume)
            out.file.close()
    try:
        if fmt in COLUMNAR:  # the spool, read once into the file
            assemble(saved.partial, saved.assembling, fmt, job["report"])
            os.replace(saved.assembling, target)
        else:
            os.replace(saved.partial, target)
    except OSError as exc:
        fail(
            EXIT_USAGE,
            f"cannot put the export in {target} ({exc.strerror or exc}): every row is in "
            f"{saved.partial}; once {target} can be written, continue with: {resume_hint}",
        )
    saved.drop(partial=True)
    err.print(f"{summary(writer, requests, before)} -> {target}", highlight=False)


def _span(
    start: str | None, end: str | None, days: int | None
) -> tuple[datetime, datetime, list[str]]:
    """The export's first and last moments, and the options that give them again (for a
    printed ``--resume``: ``--days`` without ``--end`` gets the end it was given, now)."""
    if days is not None and start is not None:
        raise click.UsageError("give --start or --days, not both")
    if days is None and (start is None or end is None):
        missing = "--start" if start is None else "--end"
        raise click.UsageError(
            f"give {missing} (a date alone means its whole day), or --days N for the last N days"
        )
    until = parse_when(end, day_ends=True) if end is not None else _now()
    args = ["--end", end if end is not None else until.isoformat()]
    if days is not None:
        first = to_wolkvox_time(until).date() - timedelta(days=days - 1)
        since = datetime.combine(first, clock_time())
        args = ["--days", str(days), *args]
    else:
        assert start is not None
        since = parse_when(start)
        args = ["--start", start, *args]
    since, until = to_wolkvox_time(since), to_wolkvox_time(until)  # naive, Wolkvox time
    if since > until:
        raise click.UsageError(f"--start ({_iso(since)}) is after --end ({_iso(until)})")
    return since, until, args


def _now() -> datetime:
    return to_wolkvox_time(datetime.now(UTC)).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return to_wolkvox_time(moment).isoformat()


async def _fetch(
    settings: Settings,
    job: dict[str, Any],
    since: datetime,
    until: datetime,
    writer: Writer,
    window_done: Callable[[DownloadProgress], None],
    held: Collection[tuple[datetime, datetime]] = (),
    downloads: list[WindowedDownload[Any]] | None = None,
) -> int:
    """Write every row of the job's report from ``since`` to ``until``; the requests made
    (``downloads`` is given the download, for what it kept if it is cancelled). A terminal
    sees rows, windows done of all and the rate; --json or a pipe see nothing."""
    if since > until:
        return 0  # a continued export whose windows were all written
    quiet = settings.json or writer.out is sys.stdout or not err.is_terminal
    with progress_bar(quiet=quiet) as bar:
        task = bar.add_task("exporting", total=None)
        started = time.monotonic()

        def done(progress: DownloadProgress) -> None:
            window_done(progress)
            rate = progress.rows / max(1e-3, time.monotonic() - started)
            bar.update(
                task,
                completed=progress.windows_done,
                description=f"exporting: {writer.count:,} rows, {rate:,.0f} rows/s, windows",
            )

        async with settings.client() as wv:
            download = wv.iter_report(
                job["report"],
                job["campaign"],
                since,
                until,
                campaign_type=job["type"],
                progress=done,
                held=held,
            )
            if downloads is not None:
                downloads.append(download)
            bar.update(task, total=download.windows_total)
            # Closed here, before the client, if writing fails (a full disk): the answers
            # it held unwritten are then no polls of delivered data for the ledger.
            rows = aiter(download)
            async with contextlib.aclosing(rows):
                async for row in rows:  # written as each window arrives
                    writer.add(row)
            writer.unread_rows += download.unread_rows
    return download.requests
