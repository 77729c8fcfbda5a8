"""``wolkvox upload``: load a CSV or JSONL file into a campaign, exactly once.

Every load keeps a journal (by default in the state directory, named after the campaign and
the file) holding the options that shape it and a fingerprint of the file. A load stopped
by Ctrl-C, a crash or a limit continues with ``--resume`` alone; a finished load is kept,
marked finished, so running it again (plain or ``--resume``) sends nothing. A load that
sent nothing leaves no journal. Finished journals are removed after ``RETENTION`` days or
by ``--restart``.
"""

from __future__ import annotations

import hashlib
import shlex
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._errors import WolkvoxError
from ..bulk import UploadProgress, UploadReport
from ..bulk._journal import Journal, read_meta, remove
from ..bulk._upload import PATIENCE
from ._common import EXIT_USAGE, Settings, emit, err, fail, pass_settings, progress_bar, run
from ._files import read_records

__all__ = ["upload"]

RETENTION = 90
"""Days a finished load's journal is kept (it is what makes a second run send nothing)."""
_SHAPING = ("format", "map", "type", "chunk_size", "skip_invalid", "encoding")
"""Options that decide which records go in which chunk: a resume must use the same."""


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


def _fingerprint(path: Path) -> dict[str, Any]:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return {"path": str(path.resolve()), "size": path.stat().st_size, "sha256": digest.hexdigest()}


def _changed(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    if before.get("size") != now["size"]:
        return f"its size was {before.get('size'):,} bytes, now {now['size']:,}"
    if before.get("sha256") != now["sha256"]:
        return "its content differs (same size)"
    return None


def _prune(folder: Path) -> None:
    """Remove journals of loads that finished more than RETENTION days ago."""
    horizon = time.time() - RETENTION * 86_400
    for path in folder.glob("*.journal"):
        try:
            if path.stat().st_mtime < horizon and (read_meta(path) or {}).get("finished"):
                remove(path)
        except (OSError, sqlite3.Error):
            continue  # another load's business; never fail this one over it


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
@click.option("--resume", is_flag=True, help="Continue a stopped load of this file.")
@click.option("--restart", is_flag=True, help="Forget a stopped or finished load; load anew.")
@click.option("--skip-invalid", is_flag=True, help="Report bad rows and load the rest.")
@click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="The file's text encoding (UTF-8 may start with a BOM), e.g. cp1252, latin-1.",
)
@click.option(
    "--patience",
    type=click.FloatRange(min=0),
    default=PATIENCE,
    show_default=True,
    help="Seconds to keep retrying a chunk refused before anything was done (the token "
    "busy elsewhere, maintenance, no connection) before stopping (resumable).",
)
@click.pass_context
@pass_settings
def upload(
    settings: Settings,
    ctx: click.Context,
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
    encoding: str,
    patience: float,
) -> None:
    """Load the records of FILE (CSV or JSONL) into CAMPAIGN_ID, exactly once."""
    _mapping(maps)  # a bad --map is a usage error before anything else
    hint = ["wolkvox", "upload", campaign_id, str(file)]
    if journal is None:
        key = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
        journal = settings.state_dir / "journals" / f"{campaign_id}-{key}.journal"
    else:
        hint += ["--journal", str(journal)]
    resume_hint = shlex.join([*hint, "--resume"])
    journal.parent.mkdir(parents=True, exist_ok=True)
    _prune(journal.parent)
    options: dict[str, Any] = {"format": fmt, "map": list(maps), "type": kind}
    options["chunk_size"] = chunk_size
    options.update(skip_invalid=skip_invalid, encoding=encoding)
    fingerprint = _fingerprint(file)
    if restart:
        remove(journal)
    meta = read_meta(journal)
    if meta is not None and meta.get("finished"):
        _already_loaded(settings, file, campaign_id, meta, fingerprint)
        return
    if meta is not None:
        if not resume:
            fail(
                EXIT_USAGE,
                f"a stopped load of {file} into campaign {campaign_id} exists ({journal}): "
                f"continue it with: {resume_hint}   (or --restart to forget it)",
            )
        options = _resumed(ctx, options, meta.get("options") or {})
    elif resume:
        fail(
            EXIT_USAGE,
            f"no stopped load of {file} into campaign {campaign_id} to resume (no journal "
            f"at {journal}); run without --resume to start one",
        )
    else:
        book = Journal(journal, campaign_id=campaign_id, chunk_size=options["chunk_size"])
        book.put("options", options)
        book.put("input", fingerprint)
        book.close()
    mapping = _mapping(tuple(options["map"]))

    async def work() -> UploadReport:
        with progress_bar(quiet=settings.json) as bar:
            task = bar.add_task("uploading", total=_count_rows(file, options["format"]))

            def advance(progress: UploadProgress) -> None:
                bar.update(task, completed=progress.records_landed)

            async with settings.client() as wv:
                try:
                    return await wv.upload_records(
                        campaign_id,
                        read_records(file, options["format"], mapping, options["encoding"]),
                        campaign_type=options["type"],
                        chunk_size=options["chunk_size"],
                        journal=journal,
                        progress=advance,
                        on_invalid="skip" if options["skip_invalid"] else "raise",
                        patience=patience,
                    )
                except WolkvoxError as exc:
                    if not (read_meta(journal) or {}).get("chunks"):
                        remove(journal)  # nothing was sent: the corrected command just runs
                    elif exc.upload_report is not None:
                        # Stopped with records pending (exit 3 for a limit, 4 for the
                        # server or the network): the journal keeps them.
                        exc.add_note(f"the journal keeps the rest; continue with: {resume_hint}")
                        if exc.upload_report.failures and not options["skip_invalid"]:
                            exc.add_note(
                                "or fix that row and continue, or load the rest without the "
                                f"bad rows: {resume_hint} --skip-invalid"
                            )
                    raise

    report = run(
        work, interrupted=f"stopped; in-flight chunks are journaled. Resume with: {resume_hint}"
    )
    _emit(settings, report)


def _resumed(ctx: click.Context, given: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """The stopped load's options; one given on the command line must agree with them."""
    names = {"format": "fmt", "map": "maps", "type": "kind"}
    for option in _SHAPING:
        source = ctx.get_parameter_source(names.get(option, option))
        if option not in stored or source is click.core.ParameterSource.DEFAULT:
            continue
        if given[option] != stored[option] and not (option == "skip_invalid" and given[option]):
            fail(
                EXIT_USAGE,
                f"--{option.replace('_', '-')} {given[option]!r} differs from the stopped "
                f"load's {stored[option]!r}: leave it out to continue that load, or "
                "--restart to forget it",
            )
    # --skip-invalid may be added on resume: the rows before the bad one are unchanged.
    return {**given, **stored, "skip_invalid": stored.get("skip_invalid") or given["skip_invalid"]}


def _already_loaded(
    settings: Settings, file: Path, campaign_id: str, meta: dict[str, Any], now: dict[str, Any]
) -> None:
    done = meta["finished"]
    when = datetime.fromisoformat(done["finished_at"]).strftime("%Y-%m-%d %H:%M UTC")
    changed = _changed(meta.get("input") or {}, now)
    if changed is not None:
        fail(
            EXIT_USAGE,
            f"{file} changed since it was loaded into campaign {campaign_id} on {when} "
            f"({changed}); nothing sent. --restart to load it as a new load",
        )
    err.print(
        f"already loaded {done['records_landed']:,} records into campaign {campaign_id} on "
        f"{when}; nothing sent (--restart to load again)",
        highlight=False,
        soft_wrap=True,
    )
    if settings.json:
        emit(settings, [{"records_landed": done["records_landed"], "already_loaded": when}])


def _emit(settings: Settings, report: UploadReport) -> None:
    emit(
        settings,
        [
            {
                "records_read": report.records_read,
                "records_landed": report.records_landed,
                "records_pending": report.records_pending,
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
