"""``wolkvox status [--watch]``: what the shared ledger says the tokens are doing now.

Per operation: today's quota (used / limit / reserve, and when it resets, in the user's
zone), the lost-ledger pause if one holds; per token (its short hash, never the token):
each slot held — by which host and pid, on which route, since when —, callers waiting by
priority, a lowered cap or pause, and the last hour's refusals and server push-backs.
Read from the ledger (``sqlite:///`` by default, ``--redis-url`` or ``--backend``) and the
heartbeats its processes write; it costs no call to Wolkvox. A memory ledger belongs to
one process: ``status`` says so. ``--watch`` redraws each second (rich's Live; into a
pipe, each reading is printed after the last) until Ctrl-C, which ends it with exit 0;
``--json`` prints one document (one a line with ``--watch``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import click
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from .._config import server_number
from .._errors import ConfigError, SchedulerUnavailable
from ..scheduler import Backend, LedgerStatus, OperationStatus, ledger_status, resolve_backend
from ._common import Settings, pass_settings, run

__all__ = ["status"]

REFRESH = 1.0
"""Seconds between two reads of the ledger with ``--watch``."""


@click.command()
@click.option(
    "--backend",
    "backend_url",
    help="The ledger to read (default: --redis-url, else the state dir's ledger.db).",
)
@click.option(
    "--operation",
    "operations",
    multiple=True,
    help="Show this operation even when idle, as --server is (Redis finds the others by "
    "their heartbeats).",
)
@click.option("--watch", is_flag=True, help="Redraw every second until Ctrl-C.")
@pass_settings
def status(
    settings: Settings, backend_url: str | None, operations: tuple[str, ...], watch: bool
) -> None:
    """Who holds each token's slots, who waits, today's quota: from the shared ledger."""
    url = backend_url or settings.redis_url or f"sqlite:///{settings.state_dir / 'ledger.db'}"
    if settings.server:  # (--server / WOLKVOX_SERVER: shown idle, found on a Redis)
        operations = (*operations, settings.server)
    try:  # (each form --server takes: "wv0016" is 0016, not an idle operation of its own)
        operations = tuple(dict.fromkeys(server_number(o) for o in operations))
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--operation") from None

    async def work() -> None:
        backend = resolve_backend(url)
        try:
            if not watch:
                show(settings, await ledger_status(backend, operations=operations))
                return
            await _watch(settings, backend, operations)
        finally:
            await backend.close()

    run(work)


async def _watch(settings: Settings, backend: Backend, operations: tuple[str, ...]) -> None:
    """Read and show every second; Ctrl-C (the task cancelled) ends it as done. The first
    reading fails as a one-shot does (a wrong URL or password is told at once); a later
    one that cannot reach the ledger (a Redis restarting) is shown and read again: the
    watch is most wanted while the ledger is in trouble."""
    first = await ledger_status(backend, operations=operations)

    async def reading() -> LedgerStatus | SchedulerUnavailable:
        try:
            return await ledger_status(backend, operations=operations)
        except SchedulerUnavailable as exc:
            return exc

    try:
        if settings.json:
            found: LedgerStatus | SchedulerUnavailable = first
            while True:
                show(settings, found)
                await asyncio.sleep(REFRESH)
                found = await reading()
        console = Console(soft_wrap=True)
        if not console.is_terminal:  # (a pipe, a log: Live would show only the last one)
            found = first
            while True:
                console.print(render(found))
                console.print()
                await asyncio.sleep(REFRESH)
                found = await reading()
        with Live(render(first), console=console, auto_refresh=False) as live:
            while True:
                await asyncio.sleep(REFRESH)
                live.update(render(await reading()))
                live.refresh()
    except asyncio.CancelledError:
        return  # Ctrl-C: the view was the work; it ends as done (exit 0)


def show(settings: Settings, found: LedgerStatus | SchedulerUnavailable) -> None:
    """One reading, as JSON (one line) or as tables."""
    if settings.json:
        if isinstance(found, SchedulerUnavailable):
            gone = {"unreachable": str(found), "read_at": _now().isoformat(timespec="seconds")}
            click.echo(json.dumps(gone, ensure_ascii=False))
            return
        click.echo(json.dumps(found.to_dict(), ensure_ascii=False), nl=True)
        return
    Console().print(render(found), soft_wrap=True)  # (a path stays whole, to copy)


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone()
    return local.strftime("%H:%M:%S")


def render(found: LedgerStatus | SchedulerUnavailable) -> RenderableType:
    """The reading as rich renderables: a heading, then one table per operation."""
    if isinstance(found, SchedulerUnavailable):  # (a watch's: it reads again)
        tried = _now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
        return Text(f"{found}  read {tried}; reading again each second", style="red")
    read = found.read_at.astimezone()
    parts: list[RenderableType] = [
        Text.assemble(
            ("ledger ", "bold"),
            found.backend,
            f"  read {read.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        )
    ]
    if found.note:
        parts.append(Text(found.note, style="yellow"))
    if found.processes:
        alive = ", ".join(
            f"{p.host} pid {p.pid} (since {_when(p.started)})" for p in found.processes
        )
        parts.append(Text(f"processes: {alive}"))
    elif found.shared and not found.note:
        parts.append(Text("processes: none with a live heartbeat"))
    if not found.operations and found.shared and not found.note:
        parts.append(Text("nothing recorded today"))
    parts += [_operation(op) for op in found.operations]
    return Group(*parts)


def _operation(op: OperationStatus) -> Table:
    name = op.operation if op.operation is not None else "(operation unknown)"
    limit = "limit unknown" if op.quota_limit is None else f"{op.quota_limit:,}"
    resets = op.resets_at.astimezone().strftime("%Y-%m-%d %H:%M %Z")
    title = f"operation {name} · quota used {op.quota_used:,} / {limit}"
    if op.quota_reserved:
        title += f" (reserve {op.quota_reserved:,})"
    title += f" · resets {resets}"
    if op.fenced_until is not None:
        title += f" · FENCED until {_when(op.fenced_until)} (ledger lost)"
    table = Table(title=title, title_justify="left")
    table.add_column("token", no_wrap=True)
    for column in ("slot", "holder", "route", "since", "waiting", "last hour"):
        table.add_column(column, overflow="fold")
    for token in op.tokens:
        waiting = f"{token.waiting_interactive} int, {token.waiting_bulk} bulk"
        events = [f"refused: {k} {v}" for k, v in sorted(token.refusals_last_hour.items())]
        events += [f"paused: {k} {v}" for k, v in sorted(token.pauses_last_hour.items())]
        events += [f"retried: {k} {v}" for k, v in sorted(token.pushback_last_hour.items())]
        hour = ", ".join(events) or "-"
        if token.paused_until is not None:
            hour += f"; paused until {_when(token.paused_until)}"
        if token.capped_until is not None:
            hour += f"; cap 1 until {_when(token.capped_until)}"
        cap = "?" if token.cap is None else str(token.cap)
        if not token.held:
            table.add_row(token.token, f"0/{cap} held", "-", "-", "-", waiting, hour)
        for n, slot in enumerate(token.held, 1):
            if slot.known:
                holder = f"{slot.host}:{slot.pid}"
            else:
                holder = f"holder unknown (pid {slot.pid if slot.pid is not None else '?'})"
            route = slot.route or (
                "kept after its caller left"
                if slot.caller_left
                else "admitted since its last heartbeat"
                if slot.known
                # (killed, frozen: no one to ask; the slot frees when its lease ends)
                else f"no heartbeat: free at {_when(slot.expires)}"
            )
            table.add_row(
                token.token if n == 1 else "",
                f"{n}/{cap}",
                holder,
                route,
                _when(slot.since),
                waiting if n == 1 else "",
                hour if n == 1 else "",
            )
    return table
