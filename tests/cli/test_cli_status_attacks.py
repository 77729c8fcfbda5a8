"""``wolkvox status`` attacked as a user meets it: a holder SIGKILLed while holding a
slot, a Redis restarted under ``status --watch``, a password in the Redis URL (issue 35,
item 2: the attacks of helper X3)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from helpers import worker
from redis_server import RedisServer, running, wait_until

from wolkvox_async import WolkvoxClient
from wolkvox_async.cli._app import cli
from wolkvox_async.scheduler import SQLiteBackend, ledger_status
from wolkvox_async.testing import FakeWolkvox

WORKER = worker("status_worker.py")
PASSWORD = "pw-x3-never-printed"
STATUS_WATCH = (sys.executable, "-m", "wolkvox_async", "--json", "status", "--watch")


def ctrl_c_reaches_it() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def slots(backend: SQLiteBackend) -> list[Any]:
    """The slots held now, as the library's reader finds them."""

    async def read() -> list[Any]:
        found = await ledger_status(backend, operations=["0014"])
        return [s for op in found.operations for t in op.tokens for s in t.held]

    return asyncio.run(read())


@pytest.mark.slow
def test_a_holder_killed_with_a_slot_shows_unknown_until_its_lease_ends_and_says_when(
    served: FakeWolkvox, tmp_path: Path
) -> None:
    """A service SIGKILLed during a call keeps its slot in the ledger until the lease
    runs out (the server may still be running the call). Once its heartbeat has lapsed,
    status shows ``holder unknown (pid N)`` and says when the slot frees; once the
    lease has run out, nothing is held: no dead holder forever."""
    served.latency = 3.0  # (a call outlives a heartbeat's TTL: the kill lands in one)
    ledger = tmp_path / "ledger.db"
    backend_url = f"sqlite:///{ledger}"
    stop = tmp_path / "stop"
    service = subprocess.Popen(
        [sys.executable, WORKER, "service", served.url, served.token, backend_url, str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert service.stdout is not None
        assert service.stdout.readline() == "ready\n"
        backend = SQLiteBackend(ledger)
        wait_until(
            lambda: any(s.pid == service.pid and s.route for s in slots(backend)),
            "the service never showed holding a slot",
        )
        service.kill()
        service.wait(10)
        killed_at = time.monotonic()
        wait_until(
            lambda: any(s.pid == service.pid and not s.known for s in slots(backend)),
            "the killed holder's slot never showed as unknown",
            seconds=30,
        )
        (slot,) = [s for s in slots(backend) if s.pid == service.pid]
        shown = CliRunner().invoke(
            cli, ["status", "--backend", backend_url], env={"COLUMNS": "250"}
        )  # (wide: the holder column stays on one line)
        assert shown.exit_code == 0, shown.output
        assert f"holder unknown (pid {service.pid})" in shown.output
        free_at = slot.expires.astimezone().strftime("%H:%M:%S")
        assert f"free at {free_at}" in shown.output, shown.output
        wait_until(lambda: not slots(backend), "a dead holder's slot is shown forever", seconds=30)
        # (bounded by the lease lifetime of a 5 s server limit, with its margin)
        assert time.monotonic() - killed_at < 20
    finally:
        if service.poll() is None:
            service.kill()
        service.communicate()


def watch_lines(watch: subprocess.Popen[str], count: int) -> list[dict[str, Any]]:
    assert watch.stdout is not None
    lines = []
    for _ in range(count):
        line = watch.stdout.readline()
        assert line, f"the watch ended: {watch.stderr.read() if watch.stderr else ''}"
        lines.append(json.loads(line))
    return lines


@pytest.mark.slow
def test_a_watch_goes_on_through_a_redis_restart_and_never_prints_the_password(
    tmp_path: Path,
) -> None:
    """``status --watch`` is what one runs while the ledger is in trouble: a Redis
    restarted under it is shown as unreachable, then read again once it answers; the
    password of the URL is in no line (stdout or stderr); Ctrl-C ends it with exit 0."""
    with running(RedisServer(tmp_path / "redis", args=["--requirepass", PASSWORD])) as redis:
        url = f"redis://:{PASSWORD}@127.0.0.1:{redis.port}/0"
        watch = subprocess.Popen(
            [*STATUS_WATCH, "--backend", url, "--operation", "0014"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=ctrl_c_reaches_it,
        )
        try:
            (before,) = watch_lines(watch, 1)
            assert before["backend"] == f"redis://127.0.0.1:{redis.port}"
            redis.stop()
            (during,) = watch_lines(watch, 1)
            assert "unreachable" in during["unreachable"]
            datetime.fromisoformat(during["read_at"])
            redis.start()
            for reading in watch_lines(watch, 10):
                if "operations" in reading:
                    break
            else:
                pytest.fail("the watch never read the restarted Redis")
            assert [op["operation"] for op in reading["operations"]] == ["0014"]
            watch.send_signal(signal.SIGINT)
            out, err = watch.communicate(timeout=30)
            assert watch.returncode == 0, err
            assert "Traceback" not in err
            assert PASSWORD not in out + err
        finally:
            if watch.poll() is None:
                watch.kill()
            watch.communicate()


def test_a_watch_whose_first_reading_fails_exits_3_at_once(tmp_path: Path) -> None:
    """A wrong password or a Redis that is not there is told at once (exit 3), not
    retried for ever, and the password is not in it."""
    with running(RedisServer(tmp_path / "redis", args=["--requirepass", PASSWORD])) as redis:
        url = f"redis://:wrong-{PASSWORD}@127.0.0.1:{redis.port}/0"
        done = subprocess.run(
            [*STATUS_WATCH, "--backend", url],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 3, done.stderr
    assert "AuthenticationError" in json.loads(done.stdout)["error"]["message"]
    assert PASSWORD not in done.stdout + done.stderr


def test_a_redis_ledger_no_heartbeat_names_is_not_said_empty(
    served: FakeWolkvox, redis_url: str
) -> None:
    """A Redis ledger is found by operation (its keys are hashed): once the last process
    has closed (or been killed), no heartbeat names the operation. ``status`` without
    ``--operation`` said "nothing recorded today" although today's count was there; it
    says to name the operation, and with ``--operation`` shows the count."""

    async def one_call() -> None:
        async with WolkvoxClient(
            server=served.server, token=served.token, base_url=served.url, backend=redis_url
        ) as wv:
            await wv.find_record(customer_id="1")

    asyncio.run(one_call())
    runner = CliRunner()
    shown = runner.invoke(cli, ["status", "--backend", redis_url], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "nothing recorded today" not in shown.output
    assert "--operation" in shown.output
    named = runner.invoke(
        cli, ["--json", "status", "--backend", redis_url, "--operation", served.server]
    )
    (op,) = json.loads(named.output)["operations"]
    assert op["quota_used"] == 1


def test_an_operation_is_read_in_every_form_the_server_number_takes(
    served: FakeWolkvox, redis_url: str
) -> None:
    """``--operation wv0014`` (a form ``--server`` takes) read a ledger of an operation
    named "wv0014": quota used 0, a false "idle" beside the real count. Each form names
    the operation (and ``--server`` is shown as one); a value that is no server number
    is a usage error (exit 2), not an empty reading."""

    async def one_call() -> None:
        async with WolkvoxClient(
            server=served.server, token=served.token, base_url=served.url, backend=redis_url
        ) as wv:
            await wv.find_record(customer_id="1")

    asyncio.run(one_call())
    runner = CliRunner()
    number = served.server
    for given in (
        ["--operation", f"wv{number}"],
        ["--operation", f"https://wv{number}.wolkvox.com"],
        ["--operation", number, "--operation", str(int(number))],
    ):
        shown = runner.invoke(cli, ["--json", "status", "--backend", redis_url, *given])
        assert shown.exit_code == 0, shown.output
        ops = json.loads(shown.output)["operations"]
        assert [(op["operation"], op["quota_used"]) for op in ops] == [(number, 1)], given
    by_server = runner.invoke(
        cli, ["--server", f"wv{number}", "--json", "status", "--backend", redis_url]
    )
    assert [op["operation"] for op in json.loads(by_server.output)["operations"]] == [number]
    bad = runner.invoke(cli, ["status", "--backend", redis_url, "--operation", "x y"])
    assert bad.exit_code == 2 and "server number" in bad.output
