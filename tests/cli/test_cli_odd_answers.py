"""Values in Wolkvox's answers that a terminal or a UTF-8 stream cannot take as they are,
through the ``wolkvox`` command in real subprocesses: a lone surrogate (``"\\ud800"`` is
valid JSON, and Wolkvox stores what a web form gave it) is shown escaped, never a
traceback; a terminal escape sequence in a customer's name does not reach the screen."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from wolkvox_async.testing import FakeWolkvox


def _env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONIOENCODING": "utf-8",  # what a UTF-8 locale gives (strict errors)
    }


def _find(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wolkvox_async", *args, "find", "--customer-id", "c1"],
        env=env,
        capture_output=True,
        timeout=120,
    )


def _seed(served: FakeWolkvox, name: str) -> None:
    camp = served.create_campaign()
    camp.add_records([{"customer_id": "c1", "customer_name": name, "tel1": "3001"}])


def test_find_shows_a_lone_surrogate_escaped(served: FakeWolkvox, tmp_path: Path) -> None:
    # Before: exit 1 and a UnicodeEncodeError traceback ("surrogates not allowed").
    _seed(served, "Ana\ud800")
    env = _env(served, tmp_path)
    shown = _find(env)
    assert shown.returncode == 0, shown.stderr.decode(errors="replace")
    assert b"Traceback" not in shown.stderr
    assert b"Ana\\ud800" in shown.stdout
    as_json = _find(env, "--json")
    assert as_json.returncode == 0, as_json.stderr.decode(errors="replace")
    [hit] = json.loads(as_json.stdout)
    assert hit["customer_name"] == "Ana\ud800"  # the value as sent, read back


def test_find_does_not_pass_a_terminal_escape_to_the_screen(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    _seed(served, "Ana\x1b[31mRED\x1b]0;title\x07")
    shown = _find(_env(served, tmp_path))
    assert shown.returncode == 0
    assert b"Ana" in shown.stdout and b"\x1b" not in shown.stdout
