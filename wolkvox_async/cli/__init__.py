"""The ``wolkvox`` command (needs the ``cli`` extra: click and rich).

Exit codes: 0 done; 1 the cli extra is missing; 2 usage or configuration error (nothing was
sent); 3 refused by a limit (quota spent or too small, a wait too long, the scheduler's
backend unreachable); 4 Wolkvox or the network failed; 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Run the ``wolkvox`` command."""
    try:
        from ._app import cli
    except ImportError as exc:
        if exc.name in ("click", "rich"):
            print(
                "the wolkvox command needs the cli extra: pip install 'wolkvox-async[cli]'",
                file=sys.stderr,
            )
            sys.exit(1)
        raise
    cli.main(args=argv, prog_name="wolkvox")
