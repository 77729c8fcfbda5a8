"""``await wv.doctor()`` against FakeWolkvox over loopback, one fault at a time.

Each test injects one fault (a wrong path, a proxy's page, a refused connection, DNS, TLS,
an unknown token, a wrong server, another operation's token, a clock minutes off, an
evicting Redis, an unusable ledger folder) and reads the report: the check it names, the
fix, and that every other check still ran. The token never shows in a report.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from redis_server import RedisServer, evicting, free_port, running

from wolkvox_async import ClientClosed, QuotaExhausted, WolkvoxClient
from wolkvox_async.endpoints import _doctor, _doctor_ledger
from wolkvox_async.models import CheckLevel, DoctorReport
from wolkvox_async.testing import FakeWolkvox, Fault, VirtualClock

NAMES = [
    "base_url",
    "token",
    "quota",
    "ledger",
    "ledger_disk",
    "ledger_fence",
    "clock",
    "server",
]
OK, WARNING, ERROR = CheckLevel.OK, CheckLevel.WARNING, CheckLevel.ERROR


def client(fake: FakeWolkvox, tmp_path: Path, **settings: Any) -> WolkvoxClient:
    options: dict[str, Any] = {
        "server": fake.server,
        "token": fake.token,
        "base_url": fake.url,
        "licenses": 3,
        "backend": f"sqlite:///{tmp_path / 'state' / 'ledger.db'}",
    }
    return WolkvoxClient(**{**options, **settings})


async def doctor(wv: WolkvoxClient) -> DoctorReport:
    async with wv:
        report = await wv.doctor()
    token = wv.config.token
    assert token not in repr(report) and token not in json.dumps(report.to_dict())
    return report


def levels(report: DoctorReport) -> dict[str, CheckLevel]:
    return {check.name: check.level for check in report.checks}


async def test_a_right_set_up_is_all_ok_for_one_quota_unit(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    report = await doctor(client(fake, tmp_path))
    assert [c.name for c in report.checks] == NAMES
    assert report.ok and report.exit_code == 0, report.to_dict()
    assert "3,000 calls a day (3 licenses)" in report.check("token").seen
    assert "1 quota unit" in report.check("token").seen
    assert fake.quota_used() == 1  # the token_info; the look at the base URL costs nothing
    assert [r.api for r in fake.requests] == ["token_info", "token_info"]
    assert [r.status for r in fake.requests] == [401, 200]  # without the token, then with
    assert all(r.wolkvox_server == fake.server for r in fake.requests)
    assert "Wolkvox 1 used today" in report.check("quota").seen


async def test_the_token_is_asked_once_even_when_the_answer_fails(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Each attempt costs a unit: doctor never retries (calls would, 5 times).
    fake.inject(Fault.HTTP_500, api="token_info", times=5)
    report = await doctor(client(fake, tmp_path))
    assert report.check("token").level is ERROR and "500" in report.check("token").seen
    assert fake.stats.requests == 2


@pytest.mark.parametrize("fault", [Fault.HTTP_500, Fault.RESET, Fault.HTML, Fault.RESET_MID_BODY])
async def test_a_failed_token_info_after_a_good_base_url_is_not_blamed_on_it(
    fake: FakeWolkvox, tmp_path: Path, fault: Fault
) -> None:
    # The base URL answered as Wolkvox (its check is ok); token_info then failed. The
    # token line's fix said "fix base_url (above) first": a fix for a check that passed.
    fake.inject(fault, api="token_info", times=5)
    report = await doctor(client(fake, tmp_path))
    assert report.check("base_url").level is OK
    token = report.check("token")
    assert token.level is ERROR and "base_url" not in token.fix, token
    assert "run doctor again" in token.fix and "may have cost 1 quota unit" in token.seen
    assert fake.stats.requests == 2  # once without the token, once with: never retried


async def test_a_closed_client_raises_client_closed_and_sends_nothing(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # Every other method raises ClientClosed; doctor sent its look at the base URL on a
    # session of its own, then reported "token_info failed ... the call was not sent".
    wv = client(fake, tmp_path)
    async with wv:
        pass
    with pytest.raises(ClientClosed, match="closed"):
        await wv.doctor()
    assert fake.stats.requests == 0


async def test_a_wrong_path_is_named_and_nothing_is_spent(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    report = await doctor(client(fake, tmp_path, base_url=f"{fake.url}/wolkvox"))
    base = report.check("base_url")
    assert base.level is ERROR and "HTTP 404" in base.seen and "root" in base.fix
    for name in ("token", "clock"):
        assert report.check(name).seen == "skipped: server unreachable"
    # The ledger and the server header are still looked at.
    assert [c.name for c in report.checks] == NAMES
    assert report.check("ledger").level is OK
    assert report.exit_code == 2 and fake.quota_used() == 0


@pytest.fixture
async def proxy_page() -> AsyncIterator[str]:
    """A proxy answering every path with its own HTML page, as a captive portal does."""

    async def page(_request: web.Request) -> web.Response:
        html = "<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
        return web.Response(text=html, status=502, content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_a_proxy_page_is_not_taken_for_wolkvox(
    fake: FakeWolkvox, tmp_path: Path, proxy_page: str
) -> None:
    report = await doctor(client(fake, tmp_path, base_url=proxy_page))
    base = report.check("base_url")
    assert base.level is ERROR and "HTTP 502" in base.seen and "text/html" in base.seen
    assert "Bad Gateway" in base.seen
    assert report.check("token").seen == "skipped: server unreachable"


async def test_a_redirect_says_where_it_goes(tmp_path: Path) -> None:
    # http:// of a host that redirects to https:// (or a moved server): the 301 was named
    # without its Location, so the user could not see where the base URL points.
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently(f"https://wv0014.wolkvox.com{request.rel_url}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.SockSite(runner, socket.create_server(("127.0.0.1", 0)))
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        wv = WolkvoxClient(
            server="0014",
            token="feedface" * 7,
            licenses=3,
            base_url=f"http://127.0.0.1:{port}",
            backend="memory://",
        )
        report = await doctor(wv)
    finally:
        await runner.cleanup()
    base = report.check("base_url")
    assert base.level is ERROR and "301" in base.seen
    assert "redirects to https://wv0014.wolkvox.com/api/v2/" in base.seen
    assert "set base_url to that" in base.fix and "https://wv0014.wolkvox.com:" in base.fix


async def test_a_refused_connection_is_named(fake: FakeWolkvox, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    report = await doctor(client(fake, tmp_path, base_url=url))
    base = report.check("base_url")
    assert base.level is ERROR and "refused the connection" in base.seen
    assert "host and port" in base.fix
    assert report.check("ledger").level is OK  # the rest still ran


async def test_an_unknown_host_is_named_as_dns(fake: FakeWolkvox, tmp_path: Path) -> None:
    # .invalid never resolves (RFC 2606).
    report = await doctor(client(fake, tmp_path, base_url="http://wv0014.invalid"))
    base = report.check("base_url")
    assert base.level is ERROR and "is not known (DNS)" in base.seen, base
    assert "server number" in base.fix


async def test_an_untrusted_certificate_is_named_as_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async with FakeWolkvox(ssl_context=context) as fake:
        report = await doctor(client(fake, tmp_path))
    base = report.check("base_url")
    assert base.level is ERROR and "TLS" in base.seen and "certificate" in base.seen.lower()
    assert fake.stats.requests == 0


async def test_an_unknown_token_is_an_error_with_the_fix(fake: FakeWolkvox, tmp_path: Path) -> None:
    report = await doctor(client(fake, tmp_path, token="0123456789abcdef" * 3))
    token = report.check("token")
    assert token.level is ERROR and "PLEASE VALIDATE TOKEN" in token.seen
    assert "Tokens" in token.fix and fake.server in token.fix
    assert report.check("base_url").level is OK
    assert report.check("quota").level is WARNING  # Wolkvox's count could not be read


async def test_a_wrong_server_does_not_know_the_token(fake: FakeWolkvox, tmp_path: Path) -> None:
    fake.answers_as = "0016"  # the client reaches the host of another server
    report = await doctor(client(fake, tmp_path))
    assert report.check("token").level is ERROR
    assert "another server or operation" in report.check("token").seen


async def test_a_token_of_another_operation(fake: FakeWolkvox, tmp_path: Path) -> None:
    other = "ab" * 28
    fake.add_operation("0020", licenses=5, tokens=[other])
    # Where Wolkvox knows it (another operation on a shared host), its limit gives it away.
    report = await doctor(client(fake, tmp_path, token=other))
    token = report.check("token")
    assert token.level is WARNING and "5,000 calls a day" in token.seen
    assert "3,000 a day (licenses)" in token.seen and "set licenses to 5" in token.fix
    # Where it does not (this operation's host), it is unknown.
    fake.answers_as = fake.server
    report = await doctor(client(fake, tmp_path, token=other))
    assert report.check("token").level is ERROR


@pytest.mark.parametrize(("offset", "level"), [(0, OK), (4, OK), (180, WARNING), (-600, WARNING)])
async def test_the_clock_offset_against_the_servers_date(
    tmp_path: Path, offset: int, level: CheckLevel
) -> None:
    start = datetime(2026, 3, 2, 15, 0, 0, tzinfo=UTC)
    async with FakeWolkvox(clock=lambda: start + timedelta(seconds=offset)) as fake:
        report = await doctor(client(fake, tmp_path, clock=VirtualClock(start)))
    clock = report.check("clock")
    assert clock.level is level, clock
    assert f"{abs(offset)} s" in clock.seen
    if level is WARNING:
        assert ("behind" if offset > 0 else "ahead of") in clock.seen
        assert "NTP" in clock.fix


async def test_an_evicting_redis_is_an_error_and_no_call_is_sent(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    with running(evicting(tmp_path, "allkeys-lru")) as server:
        report = await doctor(client(fake, tmp_path, backend=server.url))
    redis_names = [*NAMES[:4], "ledger_fence", "redis_eviction", "clock", "server"]
    assert [c.name for c in report.checks] == redis_names
    eviction = report.check("redis_eviction")
    assert eviction.level is ERROR and "maxmemory-policy is allkeys-lru" in eviction.seen
    assert "noeviction" in eviction.fix
    assert report.check("ledger").level is OK and "redis at redis://" in report.check("ledger").seen
    token = report.check("token")
    assert token.level is ERROR and "nothing sent" in token.seen
    assert fake.quota_used() == 0


async def test_a_redis_with_noeviction_passes(
    fake: FakeWolkvox, tmp_path: Path, redis_url: str
) -> None:
    report = await doctor(client(fake, tmp_path, backend=redis_url))
    assert report.check("redis_eviction").level is OK
    assert report.ok, report.to_dict()


@pytest.mark.parametrize("where", ["a file", "under a file"])
async def test_an_unusable_ledger_folder_is_an_error_and_the_rest_runs(
    fake: FakeWolkvox, tmp_path: Path, where: str
) -> None:
    # A file where the folder should be (root ignores a folder's permissions).
    blocker = tmp_path / "state"
    blocker.write_text("not a folder")
    folder = blocker if where == "a file" else blocker / "deeper"
    report = await doctor(client(fake, tmp_path, backend=f"sqlite:///{folder / 'ledger.db'}"))
    ledger = report.check("ledger")
    assert ledger.level is ERROR and "unusable" in ledger.seen and "--state-dir" in ledger.fix
    assert report.check("base_url").level is OK and report.check("clock").level is OK
    assert report.check("token").level is ERROR and "nothing sent" in report.check("token").seen
    assert fake.quota_used() == 0


async def test_a_disk_nearly_full_is_a_warning(
    fake: FakeWolkvox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Usage:
        free = 5 * 1024 * 1024

    monkeypatch.setattr(_doctor_ledger.shutil, "disk_usage", lambda _path: Usage)
    report = await doctor(client(fake, tmp_path))
    disk = report.check("ledger_disk")
    assert disk.level is WARNING and "5 MB free" in disk.seen and report.exit_code == 1


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A folder on a 1 MB tmpfs: room for a new ledger, its WAL and its heartbeats (a
    real full disk needs a mount: root, and a kernel that lets this container mount;
    elsewhere the test says it cannot run)."""
    folder = tmp_path / "full"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here: {mounted.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=False)


async def test_a_full_disk_is_no_writable_ledger(fake: FakeWolkvox, full_disk: Path) -> None:
    # The ledger is made while there is room; then a file fills the disk. The step took
    # the write lock and wrote nothing: "writable" on the ledger line while the token and
    # quota lines said the ledger was unusable (database or disk is full).
    wv = client(fake, full_disk, backend=f"sqlite:///{full_disk / 'ledger.db'}")
    async with wv:
        await wv.token_info()
    with contextlib.suppress(OSError), (full_disk / "filler").open("wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 4096)
    report = await doctor(client(fake, full_disk, backend=f"sqlite:///{full_disk / 'ledger.db'}"))
    ledger = report.check("ledger")
    assert ledger.level is ERROR and "disk is full" in ledger.seen, ledger
    assert report.check("ledger_disk").level is WARNING


async def test_a_ledger_file_that_is_no_database_gets_a_fix_that_fixes_it(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # The folder is writable; the file is garbage. The fix said "make <folder> a writable
    # folder": followed literally, nothing changes.
    (tmp_path / "state").mkdir()
    path = tmp_path / "state" / "ledger.db"
    path.write_bytes(bytes(range(256)) * 20)
    report = await doctor(client(fake, tmp_path))
    ledger = report.check("ledger")
    assert ledger.level is ERROR and "corrupt" in ledger.seen
    assert f"move {path} aside" in ledger.fix, ledger
    path.rename(path.with_suffix(".old"))  # the fix, followed
    again = await doctor(client(fake, tmp_path))
    assert again.check("ledger").level is OK, again.to_dict()


async def test_a_memory_ledger_is_a_warning(fake: FakeWolkvox, tmp_path: Path) -> None:
    report = await doctor(client(fake, tmp_path, backend="memory://"))
    assert (
        report.check("ledger").level is WARNING
        and "this process only" in report.check("ledger").seen
    )
    assert "ledger_disk" not in levels(report)


def test_the_server_number_against_the_base_urls_host() -> None:
    mismatch = _doctor._server("https://wv0016.wolkvox.com", "0014", True)
    assert mismatch.level is ERROR and "wv0016.wolkvox.com" in mismatch.seen
    assert "set the server to 0016" in mismatch.fix
    assert _doctor._server("https://WV0014.wolkvox.com", "0014", True).level is OK
    assert "no wolkvox_server header" in _doctor._server("http://127.0.0.1:1", "0014", False).seen


def test_a_backend_location_never_shows_a_password() -> None:
    shown = _doctor_ledger.location("redis://user:s3cret@h:6379/0?sentinel_password=s3cret")
    assert "s3cret" not in shown and "***@h:6379" in shown


async def test_a_fenced_ledger_is_shown_and_the_token_not_waited_for(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    # A Redis up for less than a second may have restarted under running calls: the ledger
    # admits nothing for a lease lifetime (95 s), which doctor shows rather than waits out.
    server = RedisServer(tmp_path)
    server.start()
    try:
        report = await doctor(client(fake, tmp_path, backend=server.plain_url))
    finally:
        server.stop()
    fence = report.check("ledger_fence")
    assert fence.level is WARNING and "fenced until" in fence.seen, fence
    token = report.check("token")
    assert token.level is WARNING and "lost ledger" in token.seen, token
    assert fake.quota_used() == 0


async def test_the_quota_at_wolkvox_against_the_ledger(fake: FakeWolkvox, tmp_path: Path) -> None:
    # Another tool spent 6 units the ledger never saw.
    async with WolkvoxClient(
        server=fake.server, token=fake.add_token(), base_url=fake.url, backend="memory://"
    ) as other:
        for _ in range(6):
            await other.token_info()
    report = await doctor(client(fake, tmp_path))
    quota = report.check("quota")
    assert quota.level is WARNING and "Wolkvox 7 used today" in quota.seen, quota
    assert "ledger 1 of 3,000" in quota.seen and "wolkvox quota" in quota.fix
    # No licenses given: the ledger cannot stop short of a limit it does not know.
    report = await doctor(client(fake, tmp_path / "2", licenses=None))
    quota = report.check("quota")
    assert "knows no daily limit" in quota.seen and "counts fewer" in quota.seen
    assert "set licenses" in quota.fix


async def test_a_spent_quota_is_an_error(tmp_path: Path) -> None:
    async with FakeWolkvox(daily_quota=3) as fake:
        async with WolkvoxClient(
            server=fake.server, token=fake.token, base_url=fake.url, backend="memory://"
        ) as other:
            for _ in range(3):
                await other.token_info()
        report = await doctor(client(fake, tmp_path, licenses=None, daily_quota=3))
    token = report.check("token")
    assert token.level is ERROR and "TOKEN LIMIT EXCEEDED" in token.seen


async def test_a_ledger_spent_at_its_own_limit_is_an_error(tmp_path: Path) -> None:
    # The operation has 10 licenses; this client is set for 3 calls a day and made them.
    # Wolkvox is far from spent, but this client's ledger refuses every call: the quota
    # line said ok ("ledger 3 of 3") while each call raised QuotaExhausted.
    async with FakeWolkvox(licenses=10) as fake:
        wv = client(fake, tmp_path, licenses=None, daily_quota=3)
        async with wv:
            for _ in range(3):
                await wv.token_info()
            report = await wv.doctor()
            with pytest.raises(QuotaExhausted):
                await wv.campaign_status(1)
    quota = report.check("quota")
    assert quota.level is ERROR and "refused" in quota.seen, quota
    assert "--licenses" in quota.fix
    assert report.exit_code == 2


async def test_a_redis_that_is_down_is_named_and_nothing_is_sent(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    report = await doctor(client(fake, tmp_path, backend=url))
    ledger = report.check("ledger")
    assert ledger.level is ERROR and "unusable" in ledger.seen and "start Redis" in ledger.fix
    assert "s3cret" not in json.dumps(report.to_dict())
    assert report.check("redis_eviction").level is ERROR
    assert report.check("token").level is ERROR and fake.quota_used() == 0
    assert report.check("base_url").level is OK and report.check("clock").level is OK


class Hosts(AbstractResolver):
    """Every host at 127.0.0.1: Wolkvox's host names, reached through a session's own
    resolver as through a proxy or a hosts file the client's session knows."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host="127.0.0.1",
                port=port,
                family=socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(("server", "level"), [("0014", OK), ("0016", ERROR)])
async def test_a_session_given_to_the_client_is_the_way_doctor_goes(
    fake: FakeWolkvox, tmp_path: Path, server: str, level: CheckLevel
) -> None:
    port = fake.url.rpartition(":")[2]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=Hosts())) as session:
        wv = client(
            fake,
            tmp_path,
            server=server,
            base_url=f"http://wv0014.wolkvox.com:{port}",
            session=session,
        )
        report = await doctor(wv)
        assert not session.closed  # the client's to close (it was given, never closed)
    assert report.check("base_url").level is OK, report.check("base_url")
    host = report.check("server")
    assert host.level is level, host
    if level is ERROR:
        assert "wv0014.wolkvox.com" in host.seen and "set the server to 0014" in host.fix
    else:
        assert "the host wv0014.wolkvox.com matches" in host.seen


async def test_a_ledger_falling_back_to_memory_is_a_warning_not_ok(
    fake: FakeWolkvox, tmp_path: Path
) -> None:
    (tmp_path / "state").write_text("not a folder")
    url = f"sqlite:///{tmp_path / 'state' / 'ledger.db'}?fallback=memory"
    report = await doctor(client(fake, tmp_path, backend=url))
    ledger = report.check("ledger")
    assert ledger.level is WARNING and "unusable" in ledger.seen, ledger
    assert "fall back to this process's memory" in ledger.seen
