"""A real redis-server on a free 127.0.0.1 port, for the tests (no mocks)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wolkvox_async.scheduler import RedisBackend


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """Start, stop and restart one redis-server process (no persistence)."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:  # the README's test command installs it; never skip silently
            raise RuntimeError("redis-server is not installed: run `bash scripts/test.sh`")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


class TimeShifted:
    """Drives a Redis backend at the suite's wall times: before each step, shift Redis
    TIME (the only clock its scripts read) so that it reads ``now``."""

    cross_process = True

    def __init__(self, backend: RedisBackend) -> None:
        self.inner = backend

    async def _at(self, now: float) -> None:
        import redis.asyncio as aioredis

        async with aioredis.from_url(self.inner.url) as client:
            seconds, micros = await client.time()
        self.inner.time_offset = now - (seconds + micros / 1e6)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)
        if not callable(method) or name in ("quota", "set_quota", "close", "subscribe"):
            return method

        async def shifted(*args: Any, **kwargs: Any) -> Any:
            third = name in ("lower_cap", "pause", "in_flight")  # (token, operation, now, ...)
            await self._at(kwargs.get("now", args[2] if third else args[1]))
            return await method(*args, **kwargs)

        return shifted


def kill_clients(url: str) -> int:
    """Drop every client connection of the Redis at ``url`` (CLIENT KILL TYPE normal)."""
    import redis

    with redis.Redis.from_url(url) as admin:
        return int(admin.execute_command("CLIENT", "KILL", "TYPE", "normal"))
