"""``wolkvox upload``: load a CSV or JSONL file into a campaign, exactly once.

Everything that can be checked is checked before anything is made or sent: the settings
(server, token, the quota reserve), the options, the file (read once through: its rows
counted, its SHA-256 taken) and the journal's path. Then the journal is locked for the
whole load (``bulk._owner``): a second command on it is refused at once, naming the load
that runs (or waits for it, ``--wait``), and the journal is read only under the lock, so
"a stopped load exists" is never said of a load that runs. The library claims the file
(its SHA-256) on the scheduler's ledger, so another host loading it into the same campaign
is refused the same way.

A journal (``_journals``) holds the options that shape its load and a fingerprint of the
file. A load stopped by Ctrl-C, a crash or a limit continues with ``--resume`` alone; a
finished load is kept, marked finished, so running it again (plain or ``--resume``)
sends nothing; a load of which nothing landed leaves no journal, so the corrected command
just runs. ``--restart`` forgets a journal; if records of it landed, only with ``--yes``.
"""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Any, cast

import click

from .. import AlreadyLoaded, LoadRunning, WolkvoxClient, WolkvoxError
from ..bulk import UploadProgress, UploadReport
from ..bulk._journal import check_path, read_meta, remove, server_of
from ..bulk._owner import POLL, JournalLock
from ..bulk._upload import PATIENCE, RecordSource
from ._common import (
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    Settings,
    emit,
    ending,
    err,
    exit_code,
    fail,
    pass_settings,
    progress_bar,
    run,
)
from ._files import Lines, count_records, read_records
from ._journals import (
    already_loaded,
    command_line,
    default_journal,
    fingerprint,
    legacy_journal,
    loaded_elsewhere,
    prune,
    restart_gate,
    resumed,
    same_load,
)

__all__ = ["upload"]


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
    help="Journal file (default: in the state directory, one per server, campaign and file).",
)
@click.option("--resume", is_flag=True, help="Continue a stopped load of this file.")
@click.option(
    "--restart",
    is_flag=True,
    help="Forget a stopped or finished load and load anew; if records of it landed, they "
    "would be sent again: that needs --yes too.",
)
@click.option("--yes", is_flag=True, help="With --restart: do send again what already landed.")
@click.option(
    "--wait",
    is_flag=True,
    help="If this load is running (this journal; or this file into this campaign from "
    "another host of a shared ledger), wait for it to end, then do what is left.",
)
@click.option(
    "--campaign-status",
    type=click.Choice(["start", "stop", "started", "stopped", "1", "0"], case_sensitive=False),
    help="Send this as add_record's campaign_status. Default: the campaign's current state, "
    "read once (1 call): the docs ask for it, and a wrong 'start' could start a stopped "
    "campaign.",
)
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
    help="Seconds to keep retrying, with growing rests, a chunk refused before anything was "
    "done (the token busy elsewhere, maintenance, no connection, 503s), or the check of "
    "whether a chunk whose answer was lost landed, before stopping (resumable).",
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
    yes: bool,
    wait: bool,
    campaign_status: str | None,
    skip_invalid: bool,
    encoding: str,
    patience: float,
) -> None:
    """Load the records of FILE (CSV or JSONL) into CAMPAIGN_ID, exactly once.

    Every chunk tells Wolkvox the campaign's current status, as the docs ask: read from
    the campaign once per run unless --campaign-status says it."""
    _mapping(maps)  # a bad --map is a usage error before anything else
    if yes and not restart:
        raise click.UsageError("--yes goes with --restart (to send again what landed)")
    if resume and restart:
        raise click.UsageError("--resume continues a load, --restart forgets it: pick one")
    try:
        client = settings.client()  # the server, the token, the reserve: checked now
    except WolkvoxError as exc:
        fail(exit_code(exc), str(exc))
    server = server_of(client.config.base_url)
    hint = settings.command("upload", campaign_id, str(file))
    if journal is None:
        journal = default_journal(settings.state_dir, server, campaign_id, file)
    else:
        hint += ["--journal", str(journal)]
    base = shlex.join(hint)  # --resume takes the options from the journal
    options: dict[str, Any] = {"format": fmt, "map": list(maps), "type": kind}
    options.update(chunk_size=chunk_size, skip_invalid=skip_invalid, encoding=encoding)
    again = command_line(hint, options)
    lock = JournalLock(journal)
    try:
        check_path(journal)
        _lock(lock, wait, again)
        prune(journal.parent, keep=journal)
        meta = read_meta(journal)
        reload = False
        if restart:
            reload = restart_gate(settings, journal, meta, again, yes=yes)
            remove(journal)
            meta = None
        where = {"server": server, "operation": client.config.operation, "campaign": campaign_id}
        if meta is not None and not meta.get("finished") and not meta.get("touched"):
            # Nothing of its load landed, nor may have (every chunk refused before anything
            # was done): it knows nothing a fresh run would not. This command runs as
            # given, in it (the library starts it afresh).
            meta = {}
        elif meta is not None:
            same_load(journal, meta, where)
            if resume:
                options = resumed(ctx, options, meta.get("options") or {})
            if meta.get("finished"):
                already_loaded(settings, file, campaign_id, meta, options, resume)
                return
            if not resume:
                fail(
                    EXIT_USAGE,
                    f"a stopped load of {file} into campaign {campaign_id} exists ({journal}; "
                    "no load runs on it now): continue it with: "
                    f"{base} --resume   (or --restart to forget it)",
                )
        if meta is None and resume:
            legacy = legacy_journal(settings.state_dir, campaign_id, file)
            older = f"; an older version's journal is at {legacy}: add --journal {legacy}"
            fail(
                EXIT_USAGE,
                f"no stopped load of {file} into campaign {campaign_id} to resume (no journal "
                f"at {journal}){older if legacy.exists() else ''}; run without --resume to "
                "start one",
            )
        mapping = _mapping(tuple(options["map"]))
        again = command_line(hint, options)  # the options of the load that runs
        lines = Lines(first=1)  # (it learns where the first row is)
        total = count_records(file, options["format"], options["encoding"])
        _load(
            settings,
            client,
            campaign_id,
            file,
            journal,
            lock,
            options,
            mapping,
            lines,
            total,
            again,
            base,
            patience=patience,
            wait=wait,
            reload=reload,
            campaign_status=campaign_status,
        )
    except WolkvoxError as exc:  # the journal's path, or the file, found wanting
        fail(exit_code(exc), "\n".join([str(exc), *getattr(exc, "__notes__", ())]))
    finally:
        lock.release()


def _lock(lock: JournalLock, wait: bool, again: str) -> None:
    """Take the journal's lock, or say which load holds it (never "--resume": it runs)."""
    told = False
    try:
        while True:
            try:
                lock.try_acquire()
                return
            except LoadRunning as exc:
                if not wait:
                    fail(
                        EXIT_USAGE,
                        f"{exc}.\nIt holds this load's journal: let it finish, or wait for "
                        f"it and then do what is left with: {again} --wait",
                    )
                if not told:
                    err.print(f"{exc}; waiting for it to end…", highlight=False, soft_wrap=True)
                    told = True
            time.sleep(POLL)
    except KeyboardInterrupt:
        # Plainly written: Ctrl-C may have come in the middle of the console's last print.
        ending()
        sys.stderr.write("\ninterrupted while waiting: nothing sent\n")
        sys.stderr.flush()
        raise SystemExit(EXIT_INTERRUPTED) from None


def _load(
    settings: Settings,
    client: WolkvoxClient,
    campaign_id: str,
    file: Path,
    journal: Path,
    lock: JournalLock,
    options: dict[str, Any],
    mapping: dict[str, str],
    lines: Lines,
    total: int,
    again: str,
    base: str,
    *,
    patience: float,
    wait: bool,
    reload: bool,
    campaign_status: str | None,
) -> None:
    """Run the load, the journal's lock held; say what happened and what to run next."""
    resume_hint = f"{base} --resume"
    input_print = fingerprint(file)

    def next_step() -> str:
        # A journal kept means something landed (or may have): --resume continues it;
        # none kept means nothing did, and the same command starts afresh.
        return resume_hint if journal.exists() else again

    def kept() -> str:
        if journal.exists():
            return "the journal keeps the rest"
        return "nothing of it landed, so no journal was kept"

    async def work() -> UploadReport | AlreadyLoaded:
        with progress_bar(quiet=settings.json) as bar:
            task = bar.add_task("uploading", total=total)

            def advance(progress: UploadProgress) -> None:
                bar.update(task, completed=progress.records_landed)

            async with client as wv:
                try:
                    return await wv.upload_records(
                        campaign_id,
                        cast(
                            "RecordSource",
                            read_records(
                                file, options["format"], mapping, options["encoding"], lines
                            ),
                        ),
                        campaign_type=options["type"],
                        campaign_status=campaign_status,
                        chunk_size=options["chunk_size"],
                        journal=lock,  # held: the journal was read under it
                        progress=advance,
                        on_invalid="skip" if options["skip_invalid"] else "raise",
                        patience=patience,
                        wait=wait,
                        fingerprint="sha256:" + input_print["sha256"],
                        reload=reload,
                        total=total,
                        notes={"options": options, "input": input_print},
                    )
                except AlreadyLoaded as exc:
                    if exc.state == "finished":
                        return exc
                    exc.add_note(
                        "its journal there continues it (--resume on that host); to load all "
                        f"of it again here (after clearing the campaign): {again} --restart --yes"
                    )
                    raise
                except LoadRunning as exc:
                    exc.add_note(
                        "let it finish, or wait for it and then do what is left with: "
                        f"{again} --wait"
                    )
                    raise
                except WolkvoxError as exc:
                    report = exc.upload_report
                    if report is not None and report.failures:
                        row = report.failures[0].row
                        exc.add_note(f"row {row} is line {lines.of(row)} of {file.name}")
                    if report is not None:
                        # Stopped with records pending (exit 3 for a limit, 4 for the
                        # server or the network): the journal keeps them, or nothing landed.
                        exc.add_note(f"{kept()}; continue with: {next_step()}")
                        if report.failures and not options["skip_invalid"]:
                            exc.add_note(
                                "or fix that row and continue, or load the rest without the "
                                f"bad rows: {next_step()} --skip-invalid"
                            )
                    raise

    def interrupted() -> str:
        if journal.exists():
            return f"stopped; in-flight chunks are journaled. Resume with: {resume_hint}"
        return f"stopped before anything landed (no journal kept); run it again with: {again}"

    outcome = run(work, interrupted=interrupted)
    if isinstance(outcome, AlreadyLoaded):
        loaded_elsewhere(settings, outcome, again)
        return
    _emit(settings, outcome, file, lines)


def _emit(settings: Settings, report: UploadReport, file: Path, lines: Lines) -> None:
    emit(
        settings,
        [
            {
                "records_read": report.records_read,
                "records_total": report.records_total,
                "records_landed": report.records_landed,
                "records_pending": report.records_pending,
                "records_unread": report.records_unread,
                "failures": len(report.failures),
                "requests": report.requests,
                "elapsed_s": round(report.elapsed, 2),
                "stopped": report.stopped,
            }
        ],
        "upload",
    )
    for failure in report.failures[:20]:
        line = lines.of(failure.row)
        err.print(f"row {failure.row} ({file.name} line {line}): {failure.reason}", highlight=False)
    if len(report.failures) > 20:
        err.print(f"… and {len(report.failures) - 20:,} more rows rejected", highlight=False)
