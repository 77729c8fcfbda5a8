"""The ``wolkvox`` command (needs the ``cli`` extra: click and rich).

Exit codes: 0 done; 1 the cli extra is missing; 2 usage or configuration error (nothing was
sent); 3 refused by a limit (the quota spent or too small — by our ledger or by the server —,
the token's 2 slots busy past --patience, a full campaign, a wait too long, the scheduler's
backend unreachable); 4 Wolkvox or the network failed (an invalid token, an unknown
campaign, an error answer, no connection); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import io
import json
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``wolkvox`` command; Ctrl-C while it starts is a quiet exit 130 too."""
    try:
        _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)


def _main(argv: list[str] | None) -> None:
    try:
        import click

        from ._app import cli
    except ImportError as exc:
        if exc.name in ("click", "rich"):
            print(
                "the wolkvox command needs the cli extra: pip install 'wolkvox-async[cli]'",
                file=sys.stderr,
            )
            sys.exit(1)
        raise
    from ._common import AS_PROCESS

    AS_PROCESS.set(True)  # the command is the process: it owns its signals when done
    for stream in (sys.stdout, sys.stderr):
        # A lone surrogate is valid JSON ("\ud800") and Wolkvox keeps what a form gave
        # it; a strict UTF-8 stream raised UnicodeEncodeError on it: shown escaped instead.
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    args = sys.argv[1:] if argv is None else argv
    try:
        cli.main(args=args, prog_name="wolkvox", standalone_mode=False)
    except click.ClickException as exc:  # a usage error: as JSON too with --json
        if "--json" in args:
            error = {"exit_code": exc.exit_code, "message": exc.format_message()}
            print(json.dumps({"error": error}))
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(130)
