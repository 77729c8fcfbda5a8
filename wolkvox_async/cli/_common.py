"""Shared pieces of the ``wolkvox`` commands: settings, running, output, exit codes."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
import json
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs
import click
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from .. import (
    AlreadyLoaded,
    CampaignFull,
    ConfigError,
    JournalError,
    LoadRunning,
    NotWolkvox,
    SchedulerRefusal,
    TokenLimitExceeded,
    TooManySimultaneous,
    TruncatedAnswer,
    WolkvoxClient,
    WolkvoxError,
)
from .._config import server_number

__all__ = [
    "EXIT_API",
    "EXIT_INTERRUPTED",
    "EXIT_LIMIT",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "Settings",
    "check_output",
    "emit",
    "ending",
    "err",
    "exit_code",
    "fail",
    "parse_when",
    "pass_settings",
    "progress_bar",
    "run",
    "show_hits",
]

T = TypeVar("T")
EXIT_USAGE, EXIT_LIMIT, EXIT_API, EXIT_INTERRUPTED, EXIT_TERMINATED = 2, 3, 4, 130, 143
err = Console(stderr=True)


@attrs.define
class Settings:
    """Everything the commands share, from flags or environment."""

    server: str | None
    token: str | None = attrs.field(repr=False)
    licenses: int | None
    redis_url: str | None
    base_url: str | None
    state_dir: Path
    json: bool
    server_limit: float = 60.0
    quota_reserve: int | float = 0
    """Today's quota kept for interactive calls (the upload and export are bulk work)."""
    server_header: bool = True
    """Send the ``wolkvox_server`` header (``--no-server-header``: not)."""
    given: tuple[str, ...] = ()
    """The options given before the subcommand on the command line (never ``--token``;
    a Redis URL's password as ***), as words: :meth:`command` repeats them."""

    def command(self, *words: str) -> list[str]:
        """``wolkvox``, the options given before the subcommand, then ``words``: a command
        to print (``--resume``...) that, pasted, runs against the same server, base URL,
        ledger and state directory as this one. Options from the environment are not
        repeated: the printed command runs where they are set."""
        return ["wolkvox", *self.given, *words]

    def require(self) -> tuple[str, str]:
        """The server and token; a usage error (exit 2) naming the one missing, so that a
        command can refuse before it makes anything."""
        if not self.server:
            raise click.UsageError("set the server number: --server or WOLKVOX_SERVER")
        if not self.token:
            raise click.UsageError("set the token: --token or WOLKVOX_TOKEN")
        return self.server, self.token

    def client(self, *, make_state_dir: bool = True, **options: Any) -> WolkvoxClient:
        """A client with the persistent ledger (or Redis); usage errors name the setting.
        ``make_state_dir=False`` leaves the folder as it is (doctor reports its faults)."""
        server, token = self.require()
        if make_state_dir:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        # The per-user ledger, as clients without backend= use (one host, one token), or Redis.
        backend = self.redis_url or f"sqlite:///{self.state_dir / 'ledger.db'}"
        # The ledger outlives the process: an identical read within 5 minutes has no shared
        # result here, so say so (exit 3, with the time), not a silent 5-minute wait.
        return WolkvoxClient(
            server=server,
            token=token,
            licenses=self.licenses,
            base_url=self.base_url,
            backend=backend,
            server_limit=self.server_limit,
            quota_reserve=self.quota_reserve,
            server_header=self.server_header,
            poll_policy="raise",
            **options,
        )


_LIMITS = (SchedulerRefusal, TokenLimitExceeded, TooManySimultaneous, CampaignFull, TruncatedAnswer)
"""Refusals by a limit (exit 3): our ledger's, or the server's quota, 2-slot or capacity,
or an answer at the 60,000-row download cap (shown nowhere: it may be cut)."""


_USAGE = (ConfigError, LoadRunning, AlreadyLoaded, JournalError)
"""Nothing sent, and the command (or the place it writes) must change, or wait (exit 2)."""


def exit_code(exc: WolkvoxError) -> int:
    """The documented exit code of an error: 2 usage, 3 a limit, 4 the API or network."""
    if isinstance(exc, _USAGE):
        return EXIT_USAGE
    return EXIT_LIMIT if isinstance(exc, _LIMITS) else EXIT_API


class _Terminated(Exception):
    """The work was cancelled by SIGTERM."""


AS_PROCESS = contextvars.ContextVar("wolkvox_as_process", default=False)
"""True while a command runs as the process itself (``cli.main``), not inside another
program (a test's runner): then, once its work is done, it owns the process's signals."""


def run(
    work: Callable[[], Coroutine[Any, Any, T]],
    *,
    interrupted: str | Callable[[], str] = "interrupted",
) -> T:
    """Run a coroutine and turn our errors (with their notes: what was done, what to run
    next) into messages and documented exit codes.

    Ctrl-C (once) and SIGTERM cancel the work, so its cleanup runs (an export writes its
    checkpoint, a load lets its chunks in flight end) before ``interrupted`` is printed
    (a callable: worked out then) and the command exits 130 or 143. A second Ctrl-C stops
    at once. Run as the process (``cli.main``), once the work is done the command ends as
    done whatever signal comes (``ending``): a command calls ``run`` once.
    """
    try:
        return asyncio.run(_terminable(work))
    except (KeyboardInterrupt, _Terminated) as exc:
        # Handled: the command says so and exits. A second Ctrl-C from here on would land
        # in the interpreter's teardown, where it kills the process (exit -2) with the
        # sentence half said.
        ending()
        said = interrupted() if callable(interrupted) else interrupted
        # soft_wrap: a resume command in the message must stay one line that pastes as is.
        err.print(f"[yellow]{said}[/]", highlight=False, soft_wrap=True)
        sys.exit(EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED)
    except WolkvoxError as exc:
        notes = [*getattr(exc, "__notes__", ())]
        if isinstance(exc, NotWolkvox):  # first: the notes end with the command to run next
            notes.insert(0, _base_url_note())
        fail(exit_code(exc), "\n".join([str(exc), *notes]))


def ending() -> None:
    """The work is over (done, failed or interrupted); what is left takes milliseconds
    (an export's rename, the last message, the event loop's and the interpreter's
    teardown). A Ctrl-C or SIGTERM now could only break that off: an exit 130 with
    nothing to continue, a traceback from the teardown, a kill by SIGTERM's default
    action (exit -15), an exit code other than the one the message goes with, or a
    finished export's checkpoint left beside it (whose --resume finds no partial file).
    Run as the process (``AS_PROCESS``), the command ends as it was ending instead.
    (asyncio.run leaves a SIGINT handler that is no longer its own in place.)"""
    if not AS_PROCESS.get():
        return  # a caller's process (a test's runner): its handlers are its own
    with contextlib.suppress(ValueError):  # (not the main thread)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _base_url_note() -> str:
    """Where the base URL of an answer that was not Wolkvox's came from."""
    context = click.get_current_context(silent=True)
    settings = context.find_object(Settings) if context is not None else None
    if settings is None or not settings.base_url:
        try:
            server = server_number(settings.server if settings else None)
        except ConfigError:
            server = "<server>"
        host = f"https://wv{server}.wolkvox.com"
        return f"the base URL is Wolkvox's own, {host}: is the server number right?"
    return (
        f"the base URL {settings.base_url} comes from --base-url or WOLKVOX_BASE_URL; "
        "unset, it is https://wv<server>.wolkvox.com"
    )


async def _terminable(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``work()``, cancelled by SIGTERM as asyncio.run cancels it on Ctrl-C (a service
    manager stopping the command gets the same clean stop). Later SIGTERMs are ignored
    while the work cleans up; after it, the handler before is put back (in a caller's
    process) or both signals are ignored (the command's own: ``ending``)."""
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    terminated: list[bool] = []

    def on_signal(_signum: int, _frame: object) -> None:
        if not terminated and task is not None:
            terminated.append(True)
            loop.call_soon_threadsafe(task.cancel)

    try:
        previous = signal.signal(signal.SIGTERM, on_signal)
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        previous = None
    try:
        return await work()
    except asyncio.CancelledError:
        if terminated:
            raise _Terminated from None
        raise
    finally:
        if AS_PROCESS.get():
            ending()  # the work is over, however: the command only says so and ends
        elif previous is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, previous)


def fail(code: int, message: str) -> NoReturn:
    """Print an error (never the token: our errors carry none) and exit with ``code``;
    with ``--json`` it is also on standard output, as ``{"error": {...}}``."""
    context = click.get_current_context(silent=True)
    settings = context.find_object(Settings) if context is not None else None
    if settings is not None and settings.json:
        lines = message.split("\n")
        error = {"exit_code": code, "message": lines[0], "notes": lines[1:]}
        click.echo(json.dumps({"error": error}, ensure_ascii=False))
    ending()  # the command's last word: a signal now must not change its exit code
    # soft_wrap: a resume command in the message must stay one line that pastes as is.
    err.print(Text.assemble(("error: ", "red"), message), highlight=False, soft_wrap=True)
    sys.exit(code)


def emit(settings: Settings, rows: Sequence[dict[str, Any]], title: str = "") -> None:
    """Rows as a table, or as JSON with ``--json``."""
    if settings.json:
        click.echo(json.dumps(rows, ensure_ascii=False, default=str))
        return
    if not rows:
        click.echo("(nothing)")
        return
    table = Table(title=title or None)
    columns = [key for key in rows[0] if any(row.get(key) not in (None, "") for row in rows)]
    for column in columns:
        table.add_column(column, overflow="fold")  # a value is wrapped, never cut with "…"
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console().print(table)


_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _cell(value: Any) -> Text:
    """A value as shown: as it is (``Text``: a "[b]" is not markup), control characters
    escaped (an ESC sequence a web form stored would recolour the user's terminal)."""
    text = "" if value is None else str(value)
    return Text(_CONTROLS.sub(lambda found: repr(found.group())[1:-1], text))


_CARDS_UP_TO = 3
"""A lookup that finds this many records or fewer shows each one field per line: readable
at any width, nothing cut (a customer is usually in one or two campaigns)."""


def show_hits(rows: Sequence[dict[str, Any]]) -> None:
    """``find``'s records, never a value cut: one field per line for a few (or when no
    table fits the terminal), else a table of the fields that tell records apart
    (campaign, customer, name, phones, calls, result, last call), values wrapped;
    ``--json`` has every field."""
    console = Console()
    if len(rows) > _CARDS_UP_TO:
        table = _hits_table(rows)
        # Rendered uncropped: wider than the terminal (its columns cannot shrink below
        # their longest words), it would be cut at the edge: one field per line instead.
        drawn = io.StringIO()
        Console(width=console.width, file=drawn, color_system=None).print(table, crop=False)
        if all(cell_len(line) <= console.width for line in drawn.getvalue().splitlines()):
            console.print(table)
            return
    for number, row in enumerate(rows, start=1):
        card = Table.grid(padding=(0, 2))
        card.add_column(style="bold", no_wrap=True)
        card.add_column(overflow="fold")
        first = {"campaign_id": row.get("campaign_id")}  # which campaign, then the rest
        for key, value in {**first, **row}.items():
            if value not in (None, ""):
                card.add_row(key, _cell(value))
        if number > 1:
            console.print()
        console.print(Text(f"record {number} of {len(rows)}", style="bold"))
        console.print(card)


def _hits_table(rows: Sequence[dict[str, Any]]) -> Table:
    phones = [[str(v) for k, v in row.items() if k.startswith("tel") and v] for row in rows]
    columns = {
        "campaign": [row["campaign_id"] for row in rows],
        "customer": [row["customer_id"] for row in rows],
        "name": [
            " ".join(str(row[k]) for k in ("customer_name", "customer_last_name") if row[k])
            for row in rows
        ],
        "phones": ["\n".join(numbers) for numbers in phones],
        "calls": [row["calls"] for row in rows],
        "result": [row["result"] for row in rows],
        "last call": [str(row["date"] or "").replace("T", "\n")[:16] for row in rows],
    }
    table = Table(box=None, pad_edge=False, header_style="bold underline")
    shown = {name: values for name, values in columns.items() if any(values)}
    for name, values in shown.items():
        # An id or a phone is never split (it is copied from here): the widest fits its
        # column. Names, results and dates wrap.
        whole = name in ("campaign", "customer", "phones")
        widest = max(cell_len(line) for value in values for line in str(value).split("\n"))
        table.add_column(name, overflow="fold", min_width=widest if whole else None)
    for cells in zip(*shown.values(), strict=True):
        table.add_row(*map(_cell, cells))
    return table


def parse_when(value: str, *, day_ends: bool = False) -> datetime:
    """A moment in Wolkvox time: ``2026-11-23T14:30`` (that second; an offset, e.g.
    ``-03:00``, is converted), or a date alone, ``2026-11-23``: its first second, or with
    ``day_ends`` its last (23:59:59), so that a date means its whole day as an end."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        return datetime.combine(day, time(23, 59, 59) if day_ends else time())
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date like 2026-11-23 or 2026-11-23T14:30"
        ) from None


pass_settings = click.make_pass_decorator(Settings)


def progress_bar(*, quiet: bool) -> Progress:
    """Live progress bars on standard error (so standard output stays clean for --json);
    each task's description is its label."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet,
    )


def check_output(target: Path) -> None:
    """Refuse, before anything is made or a call spent, an output that could not be
    written at the end (exit 2)."""
    if target.is_dir():
        fail(EXIT_USAGE, f"-o {target} is a folder: name a file in it, e.g. {target / 'out.csv'}")
    if target.exists() and not target.is_file():
        fail(EXIT_USAGE, f"-o {target} is not a regular file (use -o - for standard output)")
    folder = target.parent
    if not folder.exists():
        fail(EXIT_USAGE, f"the folder {folder} of -o {target} does not exist: create it first")
    if not folder.is_dir():
        fail(EXIT_USAGE, f"{folder} in -o {target} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(EXIT_USAGE, f"cannot write in {folder} (-o {target}): permission denied")
