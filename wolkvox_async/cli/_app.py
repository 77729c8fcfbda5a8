"""The ``wolkvox`` command group and its small commands (campaigns, find, recall, quota,
fake-server). Settings come from flags or environment; the token (``--token`` or
``WOLKVOX_TOKEN``) is never printed, nor repeated in the commands a stopped upload or
export prints (they repeat the other options given before the subcommand). The quota
ledger persists in the user's state directory (a SQLite backend), so every run counts
against the same day, unless ``WOLKVOX_REDIS_URL`` points at a shared Redis.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import click
from click.core import ParameterSource

from .. import QuotaExhausted, TokenLimitExceeded, WolkvoxClient
from .._version import __version__
from ..models import CampaignType
from ..scheduler._backends import default_state_dir
from ._common import Settings, emit, parse_when, pass_settings, run, show_hits
from ._demo import demo
from ._doctor import doctor
from ._export import export
from ._files import row_dict
from ._status import status
from ._upload import upload

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=__version__, prog_name="wolkvox")
@click.option(
    "--server",
    envvar="WOLKVOX_SERVER",
    help="Server number: 0016, wv0016 or https://wv0016.wolkvox.com (WOLKVOX_SERVER).",
)
@click.option("--token", envvar="WOLKVOX_TOKEN", help="Token (WOLKVOX_TOKEN); never printed.")
@click.option("--licenses", envvar="WOLKVOX_LICENSES", type=int, help="Licenses: quota = × 1000.")
@click.option("--redis-url", envvar="WOLKVOX_REDIS_URL", help="Share the ledger through Redis.")
@click.option(
    "--base-url", envvar="WOLKVOX_BASE_URL", help="Replace https://wv{server}.wolkvox.com."
)
@click.option(
    "--state-dir",
    type=click.Path(path_type=Path),
    default=default_state_dir,
    show_default=True,
    help="Where the quota ledger and upload journals live.",
)
@click.option(
    "--server-limit",
    envvar="WOLKVOX_SERVER_LIMIT",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds the server may run one call (Wolkvox: 60); lower only for a simulator.",
)
@click.option(
    "--quota-reserve",
    envvar="WOLKVOX_QUOTA_RESERVE",
    default="0",
    show_default=True,
    help="Today's quota kept for interactive calls: calls (300) or a fraction (0.3); "
    "uploads and exports stop short of it.",
)
@click.option(
    "--server-header/--no-server-header",
    envvar="WOLKVOX_SERVER_HEADER",
    default=True,
    show_default=True,
    help="Send the wolkvox_server header, as the docs' samples do; off only for a proxy "
    "that refuses header names holding an underscore.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--log-level",
    envvar="WOLKVOX_LOG_LEVEL",
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    default="WARNING",
    show_default=True,
    help="Log to stderr from this level (DEBUG shows every request; never the token).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    server: str | None,
    token: str | None,
    licenses: int | None,
    redis_url: str | None,
    base_url: str | None,
    state_dir: Path,
    server_limit: float,
    quota_reserve: str,
    server_header: bool,
    as_json: bool,
    log_level: str,
) -> None:
    """Wolkvox campaigns from the command line, within every API limit.

    Exit codes: 0 done, 2 usage error, 3 refused by a limit, 4 API or network error,
    130 interrupted (Ctrl-C), 143 stopped (SIGTERM).
    """
    logging.basicConfig(
        level=log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        reserve: int | float = float(quota_reserve) if "." in quota_reserve else int(quota_reserve)
    except ValueError:
        raise click.BadParameter(
            f"{quota_reserve!r} is neither a number of calls nor a fraction",
            param_hint="--quota-reserve",
        ) from None
    ctx.obj = Settings(
        server,
        token,
        licenses,
        redis_url,
        base_url,
        state_dir,
        as_json,
        server_limit,
        reserve,
        server_header=server_header,
        given=given_options(ctx),
    )


def given_options(ctx: click.Context) -> tuple[str, ...]:
    """The options of ``ctx``'s command given on its command line, as words to repeat
    them; never the token (it stays in the environment or is given again), and a Redis
    URL with its password shown as *** (the command then fails to log in, rather than
    printing a secret or silently using another ledger)."""
    words: list[str] = []
    for param in ctx.command.params:
        if not isinstance(param, click.Option) or param.name in (None, "token"):
            continue
        if ctx.get_parameter_source(param.name) is not ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[param.name]
        flag = max(param.opts, key=len)
        if param.is_flag:
            off = max(param.secondary_opts, key=len) if param.secondary_opts else None
            words += [flag] if value else [off] if off else []
        elif value is not None:
            text = str(value)
            words += [flag, _masked(text) if param.name == "redis_url" else text]
    return tuple(words)


def _masked(url: str) -> str:
    """A Redis URL with the password of its user part and of its Sentinel as ***."""
    try:
        parts = urlsplit(url)
    except ValueError:  # malformed: the client names it (a usage error), and it may hold
        return "***"  # a password where it cannot be told apart
    netloc = parts.netloc
    user, at, host = netloc.rpartition("@")
    if at and ":" in user:
        netloc = f"{user.partition(':')[0]}:***@{host}"
    query = "&".join(
        f"{key}=***" if key == "sentinel_password" else f"{key}={value}" if sep else key
        for key, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


@cli.group()
def campaigns() -> None:
    """List, create and control campaigns."""


@campaigns.command("list")
@click.option("--campaign", "campaign_id", help="Only this campaign.")
@pass_settings
def campaigns_list(settings: Settings, campaign_id: str | None) -> None:
    """Every campaign (information.php campaigns)."""

    async def work() -> None:
        async with settings.client() as wv:
            emit(settings, [row_dict(c) for c in await wv.campaigns(campaign_id)], "campaigns")

    run(work)


@campaigns.command("create")
@click.option("--name", required=True)
@click.option("--type", "kind", type=click.Choice(["predictive", "preview"]), default="predictive")
@click.option("--skill", "skill_id", required=True, help="Skill id.")
@click.option("--description", default="")
@pass_settings
def campaigns_create(
    settings: Settings, name: str, kind: str, skill_id: str, description: str
) -> None:
    """Create a campaign; prints its id."""

    async def work() -> None:
        async with settings.client() as wv:
            made = await wv.create_campaign(
                name=name,
                campaign_type=CampaignType(kind),
                skill_id=skill_id,
                description=description,
            )
        emit(settings, [{"id": made.id, "name": made.name}])

    run(work)


def _action(name: str, call: Callable[[WolkvoxClient], Awaitable[Any]], settings: Settings) -> None:
    async def work() -> None:
        async with settings.client() as wv:
            result = await call(wv)
        emit(settings, [{"action": name, "message": getattr(result, "message", str(result))}])

    run(work)


_TYPE = click.option(
    "--type",
    "kind",
    type=click.Choice(["predictive", "preview"]),
    help="The campaign's type, sent as type_campaign (the site's URL has it). Default: "
    "read from the campaign (1 call).",
)


@campaigns.command("start")
@click.argument("campaign_id")
@_TYPE
@pass_settings
def campaigns_start(settings: Settings, campaign_id: str, kind: str | None) -> None:
    """Start a campaign."""
    _action("start", lambda wv: wv.start_campaign(campaign_id, campaign_type=kind), settings)


@campaigns.command("stop")
@click.argument("campaign_id")
@_TYPE
@pass_settings
def campaigns_stop(settings: Settings, campaign_id: str, kind: str | None) -> None:
    """Stop (pause) a campaign."""
    _action("stop", lambda wv: wv.stop_campaign(campaign_id, campaign_type=kind), settings)


@campaigns.command("speed")
@click.argument("campaign_id")
@click.argument("speed", type=click.IntRange(0, 100))
@_TYPE
@pass_settings
def campaigns_speed(settings: Settings, campaign_id: str, speed: int, kind: str | None) -> None:
    """Set a campaign's dialing speed (0–100)."""
    _action("speed", lambda wv: wv.set_speed(campaign_id, speed, campaign_type=kind), settings)


@campaigns.command("clear")
@click.argument("campaign_id")
@click.option("--type", "kind", type=click.Choice(["predictive", "preview"]), default="predictive")
@click.option("--result", help="Only records with this result (e.g. no-answer).")
@pass_settings
def campaigns_clear(settings: Settings, campaign_id: str, kind: str, result: str | None) -> None:
    """Delete a campaign's records (all, or those with --result)."""
    _action(
        "clear",
        lambda wv: wv.clear_campaign(campaign_id, campaign_type=kind, result=result),
        settings,
    )


@campaigns.command("delete")
@click.argument("campaign_ids", nargs=-1, required=True)
@pass_settings
def campaigns_delete(settings: Settings, campaign_ids: tuple[str, ...]) -> None:
    """Delete campaigns (irreversible)."""
    _action("delete", lambda wv: wv.delete_campaigns(campaign_ids), settings)


@cli.command()
@click.option("--campaign", "campaign_id")
@click.option("--customer-id")
@click.option("--phone", "customer_phone")
@pass_settings
def find(
    settings: Settings, campaign_id: str | None, customer_id: str | None, customer_phone: str | None
) -> None:
    """Find a record by customer id or phone (in one campaign or all)."""

    async def work() -> None:
        async with settings.client() as wv:
            hits = await wv.find_record(
                campaign_id=campaign_id, customer_id=customer_id, customer_phone=customer_phone
            )
        rows = [row_dict(h) for h in hits]
        if settings.json or not rows:
            emit(settings, rows, "records")
        else:
            show_hits(rows)

    run(work)


@cli.command()
@click.argument("campaign_id")
@click.argument("customer_id")
@click.argument("phone")
@click.argument("when", metavar="AT")
@pass_settings
def recall(settings: Settings, campaign_id: str, customer_id: str, phone: str, when: str) -> None:
    """Call CUSTOMER_ID back on PHONE at AT (Wolkvox time, e.g. 2026-11-24T10:00)."""
    at = parse_when(when)
    _action(
        "recall",
        lambda wv: wv.recall(campaign_id, customer_id=customer_id, telephone=phone, at=at),
        settings,
    )


@cli.command()
@pass_settings
def quota(settings: Settings) -> None:
    """Today's consumption: the server's token_info (1 call) and the local ledger."""

    async def work() -> None:
        async with settings.client() as wv:
            source = "server"
            try:
                stats = await wv.sync_quota()
            except (QuotaExhausted, TokenLimitExceeded):
                # Spent: what the ledger knows is still worth showing (and costs no call).
                source = "ledger (spent)"
                stats = await wv.scheduler_stats()
        emit(
            settings,
            [
                {
                    "used": stats.quota_used,
                    "limit": stats.quota_limit,
                    "reserved": stats.quota_reserved,
                    "available_to_bulk": stats.quota_available_to_bulk,
                    "resets_at": stats.resets_at.isoformat(),
                    "in_flight": stats.in_flight,
                    "source": source,
                }
            ],
            "quota",
        )

    run(work)


@cli.command("fake-server")
@click.option("--port", type=int, default=8080, show_default=True)
@click.option("--latency-ms", type=float, default=0.0)
@click.option("--licenses", "fake_licenses", type=int, default=3)
def fake_server(port: int, latency_ms: float, fake_licenses: int) -> None:
    """Run FakeWolkvox, the simulator, on 127.0.0.1 for other tools."""
    from ..testing.__main__ import main as serve

    serve(["--port", str(port), "--latency", str(latency_ms), "--licenses", str(fake_licenses)])


cli.add_command(upload)
cli.add_command(export)
cli.add_command(demo)
cli.add_command(doctor)
cli.add_command(status)


def _json_after(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    settings = ctx.find_object(Settings)
    if value and settings is not None:
        settings.json = True


def _accept_json_everywhere(group: click.Group) -> None:
    """``--json`` after the subcommand too (``wolkvox quota --json``), as people type it."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _accept_json_everywhere(command)
        elif not any(param.name == "json_after" for param in command.params):
            command.params.append(
                click.Option(
                    ["--json", "json_after"],
                    is_flag=True,
                    is_eager=True,
                    expose_value=False,
                    callback=_json_after,
                    help="Machine-readable output, errors included.",
                )
            )


_accept_json_everywhere(cli)
