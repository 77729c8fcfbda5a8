"""``wolkvox doctor``: every check of the set-up, one line each, with the fix.

A table (✓ ok, ⚠ warning, ✗ error) or, with ``--json``, the report as one JSON object;
the exit code is the report's: 0 all ok, 1 warnings, 2 errors. It costs one quota unit
(the token's ``token_info``). The client is made as the other commands make theirs, but
the state folder is not created first: a folder that cannot be made is one of the things
the report names (the ``ledger`` line), not a traceback before it.
"""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import WolkvoxError
from ..models import CheckLevel, DoctorReport
from ._common import Settings, ending, fail, pass_settings, run

__all__ = ["doctor"]

_MARKS = {
    CheckLevel.OK: ("✓", "green"),
    CheckLevel.WARNING: ("⚠", "yellow"),
    CheckLevel.ERROR: ("✗", "red"),
}
_SUMMARY = {
    CheckLevel.OK: "all checks passed",
    CheckLevel.WARNING: "works, with warnings: see their fixes",
    CheckLevel.ERROR: "errors: calls fail or may trip a limit until they are fixed",
}


@click.command()
@pass_settings
def doctor(settings: Settings) -> None:
    """Check the set-up: base URL, token, quota, ledger, clock, server header.

    Costs one quota unit (token_info). Exit 0 all ok, 1 warnings, 2 errors.
    """
    try:
        client = settings.client(make_state_dir=False)
    except WolkvoxError as exc:  # a setting that no client takes (a bad Redis URL...)
        fail(2, str(exc))

    async def work() -> DoctorReport:
        async with client as wv:
            return await wv.doctor()

    report = run(work)
    if settings.json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        _show(report)
    ending()
    sys.exit(report.exit_code)


def _show(report: DoctorReport) -> None:
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("", no_wrap=True)
    table.add_column("check", no_wrap=True)
    table.add_column("seen", overflow="fold")
    table.add_column("fix", overflow="fold")
    for check in report.checks:
        mark, style = _MARKS[check.level]
        table.add_row(
            Text(mark, style=style), check.name, Text(check.seen), Text(check.fix, style=style)
        )
    console = Console()
    console.print(table)
    mark, style = _MARKS[report.level]
    console.print(Text(f"{mark} {_SUMMARY[report.level]}", style=style))
