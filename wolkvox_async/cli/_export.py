"""``wolkvox export``: any report over any date span, streamed to CSV or JSONL, never
destroying a file.

Rows go to ``OUTPUT.partial`` in the output's folder, renamed over OUTPUT only when the
export completed: a refused or failed export leaves an existing OUTPUT untouched. After
each window a checkpoint (``OUTPUT.partial.json``: the Wolkvox time the rows reach and the
byte length of the partial file then) is saved, so a failed export continues with
``--resume`` from the first window it lacks, and a window cut short by the failure is
dropped and fetched again, never written twice. Windows are read two at a time: the ones
already read past a failed window are written to ``OUTPUT.partial.ahead`` and named in
the checkpoint, and the resumed export puts them in their place instead of reading them
again (which Wolkvox allows only five minutes after the first read).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from .._errors import WolkvoxError
from .._report_methods import REPORTS
from ..bulk import DownloadProgress
from ._common import EXIT_USAGE, Settings, err, fail, parse_when, pass_settings, progress_bar, run
from ._files import RowWriter, row_dict

__all__ = ["export"]


def _save(path: Path, state: dict[str, Any]) -> None:
    """Write the checkpoint atomically (a crash leaves the old one or the new one)."""
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(json.dumps(state))
    os.replace(scratch, path)


def _drop(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _keep_ahead(exc: WolkvoxError, state: dict[str, Any], path: Path, fmt: str) -> None:
    """Append the windows read past the failed one to the ahead file, as they will be
    written (no CSV header: they go into the middle of the output), and name them in the
    checkpoint with their place in that file."""
    if not exc.windows_ahead:
        return
    with path.open("a", newline="", encoding="utf-8") as spill:
        for window in exc.windows_ahead:
            spill.seek(0, os.SEEK_END)
            at = spill.tell()
            writer = RowWriter(spill, fmt, header=False)
            for row in window.rows:
                writer.write(row_dict(row))
            spill.flush()
            state["ahead"].append(
                {
                    "start": window.start.isoformat(),
                    "end": window.end.isoformat(),
                    "rows": writer.count,
                    "at": at,
                    "bytes": spill.tell() - at,
                }
            )


def _held(state: dict[str, Any], done: DownloadProgress) -> dict[str, Any]:
    """The kept window ``done`` reports, taken out of the checkpoint's list."""
    window: dict[str, Any]
    for window in state["ahead"]:
        if datetime.fromisoformat(window["start"]) == done.window_start:
            state["ahead"].remove(window)
            return window
    raise AssertionError(f"no kept window starts at {done.window_start}")


def _read_range(path: Path, at: int, size: int) -> str:
    with path.open("rb") as spill:  # offsets are bytes (tell() of a written text file)
        spill.seek(at)
        return spill.read(size).decode("utf-8")


@click.command()
@click.argument("report", type=click.Choice(sorted(REPORTS)))
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
@click.option("--resume", is_flag=True, help="Continue a failed export into --output.")
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
    resume: bool,
) -> None:
    """Export REPORT of CAMPAIGN_ID (any date span) as CSV or JSONL, streamed."""
    since, until = parse_when(start), parse_when(end)
    job: dict[str, Any] = {"report": report, "campaign": campaign_id, "start": start}
    job.update(end=end, format=fmt, type=kind)
    if output == "-":
        if resume:
            fail(EXIT_USAGE, "--resume needs the --output file of the export to continue")
        writer = RowWriter(sys.stdout, fmt)
        requests = run(lambda: _fetch(settings, job, since, until, writer, lambda _: None))
        if settings.json:
            err.print(f"{writer.count} rows in {requests} requests{writer.unread}", highlight=False)
        return

    target = Path(output)
    partial = target.with_name(target.name + ".partial")
    checkpoint = target.with_name(target.name + ".partial.json")
    ahead_file = target.with_name(target.name + ".partial.ahead")
    state: dict[str, Any] = {"job": job, "through": None, "rows": 0, "bytes": 0, "ahead": []}
    if resume:
        if not checkpoint.exists() or not partial.exists():
            fail(EXIT_USAGE, f"no failed export into {target} to resume ({checkpoint} missing)")
        state = json.loads(checkpoint.read_text())
        if state["job"] != job:
            fail(
                EXIT_USAGE,
                f"the failed export into {target} was {state['job']}; this one is {job}: "
                "give the same arguments to continue it, or leave out --resume",
            )
        if state["through"] is not None:
            since = datetime.fromisoformat(state["through"]) + timedelta(seconds=1)
        state.setdefault("ahead", [])
    elif checkpoint.exists():
        fail(
            EXIT_USAGE,
            f"a failed export into {target} can be continued: add --resume, or remove "
            f"{partial} and {checkpoint} to start over",
        )
    command = ["wolkvox", "export", report, campaign_id, "--start", start, "--end", end]
    command += ["--format", fmt, "--output", output, *(["--type", kind] if kind else [])]
    resume_hint = shlex.join([*command, "--resume"])

    with partial.open("a" if resume else "w", newline="", encoding="utf-8") as out:
        out.truncate(state["bytes"])  # rows of a window the failure cut short go
        out.seek(state["bytes"])
        writer = RowWriter(out, fmt, header=not state["bytes"])
        writer.count = state["rows"]

        def checkpoint_window(done: DownloadProgress) -> None:
            if done.held:  # read ahead by the failed run: its rows go in here, in order
                window = _held(state, done)
                out.write(_read_range(ahead_file, window["at"], window["bytes"]))
                writer.count += window["rows"]
            out.flush()
            state.update(through=done.window_end.isoformat(), rows=writer.count, bytes=out.tell())
            _save(checkpoint, state)

        async def work() -> int:
            held = [
                (datetime.fromisoformat(w["start"]), datetime.fromisoformat(w["end"]))
                for w in state["ahead"]
            ]
            try:
                return await _fetch(settings, job, since, until, writer, checkpoint_window, held)
            except WolkvoxError as exc:
                _keep_ahead(exc, state, ahead_file, fmt)
                if state["through"] is None and not state["ahead"]:  # nothing to continue
                    out.close()
                    _drop(partial, checkpoint, ahead_file)
                else:
                    _save(checkpoint, state)
                    exc.add_note(
                        f"export stopped after {state['rows']:,} rows (through "
                        f"{state['through']}); they are in {partial}, not {target}; "
                        f"continue with: {resume_hint}"
                    )
                raise

        requests = run(work, interrupted=f"interrupted; continue with: {resume_hint}")
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    _drop(checkpoint, ahead_file)
    err.print(
        f"{writer.count} rows in {requests} requests -> {target}{writer.unread}", highlight=False
    )


async def _fetch(
    settings: Settings,
    job: dict[str, Any],
    since: datetime,
    until: datetime,
    writer: RowWriter,
    window_done: Callable[[DownloadProgress], None],
    held: Collection[tuple[datetime, datetime]] = (),
) -> int:
    """Write every row of the job's report from ``since`` to ``until``; the requests made.
    A terminal sees rows, windows done of all and the rate; --json or a pipe see nothing."""
    if since > until:
        return 0  # a resumed export whose windows were all written
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
            bar.update(task, total=download.windows_total)
            async for row in download:  # written as each window arrives
                writer.write(row_dict(row))
            writer.unread_rows += download.unread_rows
    return download.requests
