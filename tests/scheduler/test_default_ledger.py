"""One host, one token, default settings: a service on the library and the ``wolkvox``
command, run by the same user, share the per-user ledger, so the server never sees more
than 2 calls in flight on the token, and never refuses one."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import sys
from collections import Counter
from pathlib import Path

import pytest
from helpers import worker

from wolkvox_async.scheduler import BACKENDS
from wolkvox_async.scheduler._backend import default_backend_url
from wolkvox_async.testing import FakeWolkvox, reset_shared_state

BUSY = worker("busy_worker.py")


@pytest.fixture
def user_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The environment of a user who never set a backend."""
    monkeypatch.delenv("WOLKVOX_BACKEND")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(BACKENDS, "default", None)
    env = {k: v for k, v in os.environ.items() if k != "WOLKVOX_BACKEND"}
    return {**env, "XDG_STATE_HOME": str(tmp_path / "state")}


def test_the_default_is_the_per_user_ledger(user_env: dict[str, str], tmp_path: Path) -> None:
    assert (
        default_backend_url() == f"sqlite:///{tmp_path / 'state' / 'wolkvox-async' / 'ledger.db'}"
    )
    reset_shared_state()  # what a suite creating its clients without backend= may call
    assert default_backend_url() == "memory://"


def test_an_unwritable_state_folder_falls_back_to_memory_and_says_so(
    user_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "state" / "wolkvox-async"
    folder.mkdir(parents=True)
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.access(folder, os.W_OK):  # root ignores permissions: a file in the way instead
            folder.chmod(0o700)
            folder.rmdir()
            folder.write_text("not a folder")
        with caplog.at_level(logging.WARNING):
            assert default_backend_url() == "memory://"
        assert "not writable" in caplog.text
    finally:
        if folder.is_dir():
            folder.chmod(0o700)


def test_environment_overrides_the_default(
    user_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WOLKVOX_BACKEND", "redis://127.0.0.1:1/0")
    assert default_backend_url() == "redis://127.0.0.1:1/0"


@pytest.mark.slow
async def test_a_service_and_the_command_share_the_token_on_default_settings(
    user_env: dict[str, str], tmp_path: Path
) -> None:
    source = tmp_path / "leads.jsonl"
    source.write_text(
        "".join(json.dumps({"customer_id": f"d{i}", "tel1": "3"}) + "\n" for i in range(2_000))
    )
    async with FakeWolkvox(licenses=40, latency=0.03) as fake:
        camp, lookups = fake.create_campaign(), fake.create_campaign()
        env = {**user_env, "WOLKVOX_SERVER": fake.server, "WOLKVOX_TOKEN": fake.token}
        env["WOLKVOX_BASE_URL"] = fake.url
        service = await asyncio.create_subprocess_exec(
            sys.executable, BUSY, "client", fake.url, fake.token, lookups.id, "2.0",
            stdout=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
        try:
            while fake.stats.in_flight[fake.token] == 0:  # the service is at work
                await asyncio.sleep(0.005)
            upload = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "wolkvox_async", "upload", camp.id, str(source),
                "--chunk-size", "250", env=env, stderr=asyncio.subprocess.PIPE,
            )  # fmt: skip
            _, stderr = await asyncio.wait_for(upload.communicate(), 120)
        finally:
            out, _ = await asyncio.wait_for(service.communicate(), 60)
        assert upload.returncode == 0, stderr.decode()
        answered = json.loads(out)
        assert answered.get("answered", 0) > 10 and set(answered) == {"answered"}, answered
        assert fake.stats.peak_in_flight[fake.token] <= 2
        assert fake.stats.refusals["simultaneous"] == 0  # they took turns, via the ledger
        assert Counter(r["customer_id"] for r in camp.records) == Counter(
            f"d{i}" for i in range(2_000)
        )
    assert (tmp_path / "state" / "wolkvox-async" / "ledger.db").exists()
