"""``wolkvox doctor`` in real subprocesses: the table, ``--json``, exit 0 / 1 / 2, and the
token in no output, the failing runs included."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from wolkvox_async.testing import FakeWolkvox


def doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "wolkvox_async", *args, "doctor"],
        env={**os.environ, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    token = env["WOLKVOX_TOKEN"]
    assert token not in done.stdout and token not in done.stderr
    return done


@pytest.fixture
def env(served: FakeWolkvox, tmp_path: Path) -> dict[str, str]:
    return {
        "WOLKVOX_SERVER": served.server,
        "WOLKVOX_TOKEN": served.token,
        "WOLKVOX_BASE_URL": served.url,
        "WOLKVOX_LICENSES": "10",
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }


def test_all_ok_exits_0_with_a_mark_per_check(
    env: dict[str, str], served: FakeWolkvox, tmp_path: Path
) -> None:
    done = doctor(env, "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("✓") == 9 and "✗" not in done.stdout  # 8 checks and the summary
    assert "all checks passed" in done.stdout
    assert served.quota_used() == 1


def test_warnings_exit_1(env: dict[str, str], tmp_path: Path) -> None:
    # The operation has 10 licenses; this command says 3.
    done = doctor({**env, "WOLKVOX_LICENSES": "3"}, "--state-dir", str(tmp_path / "s"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "⚠" in done.stdout and "set licenses to 10" in done.stdout


def test_errors_exit_2_and_json_says_each_check(env: dict[str, str], tmp_path: Path) -> None:
    bad = {**env, "WOLKVOX_BASE_URL": env["WOLKVOX_BASE_URL"] + "/wrong"}
    done = doctor(bad, "--state-dir", str(tmp_path / "s"), "--json")
    assert done.returncode == 2, done.stderr
    report = json.loads(done.stdout)
    assert report["level"] == "error" and report["exit_code"] == 2
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["base_url"]["level"] == "error" and "404" in checks["base_url"]["seen"]
    assert checks["token"]["seen"] == "skipped: server unreachable"
    assert checks["ledger"]["level"] == "ok"
    table = doctor(bad, "--state-dir", str(tmp_path / "s"))
    assert table.returncode == 2 and "✗" in table.stdout


def test_an_invalid_token_and_an_unusable_folder_never_show_the_token(
    env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "blocker").write_text("a file where the state folder goes")
    wrong = {**env, "WOLKVOX_TOKEN": "feedface" * 7}
    for args in (["--state-dir", str(tmp_path / "s")], ["--state-dir", str(tmp_path / "blocker")]):
        for more in ([], ["--json"]):
            done = doctor(wrong, *args, *more)  # (asserts the token is in neither stream)
            assert done.returncode == 2, done.stdout + done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["ledger"]["level"] == "error" and checks["token"]["level"] == "error"


@pytest.mark.parametrize("given", ["option", "environment"])
def test_a_malformed_redis_url_is_a_usage_error_without_its_password(
    env: dict[str, str], given: str
) -> None:
    # An unclosed IPv6 bracket: urlsplit's ValueError was a traceback and exit 1, which
    # doctor documents as "works, with warnings".
    url = "redis://user:s3cretpw@[::1/0"
    if given == "option":
        done = doctor(env, "--redis-url", url)
    else:
        done = doctor({**env, "WOLKVOX_REDIS_URL": url})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "malformed" in done.stderr and "Traceback" not in done.stderr
    assert "s3cretpw" not in done.stdout + done.stderr


def test_twice_in_a_row_spends_one_unit_each_and_says_so(
    env: dict[str, str], served: FakeWolkvox, tmp_path: Path
) -> None:
    for run in (1, 2):
        done = doctor(env, "--state-dir", str(tmp_path / "s"), "--json")
        assert done.returncode == 0, done.stdout + done.stderr
        checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
        assert "cost 1 quota unit" in checks["token"]["seen"]
        assert f"Wolkvox {run} used today" in checks["quota"]["seen"]
        assert f"ledger {run} of 10,000" in checks["quota"]["seen"]
        assert served.quota_used() == run


def test_ctrl_c_while_the_base_url_does_not_answer_exits_130(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A host that takes the connection and never answers: doctor waits up to 15 s for
    # it; Ctrl-C must end it at once, exit 130, no report and no traceback.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        process = subprocess.Popen(
            [sys.executable, "-m", "wolkvox_async", "--state-dir", str(tmp_path / "s"), "doctor"],
            env={**os.environ, **env, "WOLKVOX_BASE_URL": f"http://127.0.0.1:{port}"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        silent.settimeout(60)
        held, _ = silent.accept()  # the look at the base URL is out, unanswered
        with held:
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
    assert process.returncode == 130, out + err
    assert "interrupted" in err and "Traceback" not in err and out == ""
    assert env["WOLKVOX_TOKEN"] not in out + err
