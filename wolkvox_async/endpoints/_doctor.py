"""``doctor``: is the set-up right? Every check of a client's settings, in one report.

In order: the base URL (a request without the token, which costs nothing: ``_probe``),
the token (one ``token_info``, the only call that spends a quota unit), today's quota
(Wolkvox's figure and the ledger's), the ledger (``_doctor_ledger``), the clock against
the server's ``Date`` header and the ``wolkvox_server`` header. Each check stands alone:
one that fails never hides the others, and those that need the server, when it did not
answer as Wolkvox, say ``skipped: server unreachable``. Nothing a check shows holds the
token (each line is redacted as it is made).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

import attrs

from .._config import redact
from .._errors import (
    ClientClosed,
    InvalidToken,
    Maintenance,
    SchedulerUnavailable,
    TokenLimitExceeded,
    TooManySimultaneous,
    Unauthorized,
    WaitTooLong,
    WolkvoxError,
)
from .._time import WOLKVOX_TZ
from ..calls import _routes as routes
from ..calls._convert import quota_counts, structure_rows
from ..calls._probe import Probe, probe
from ..calls._retry import RetryPolicy
from ..calls._transport import AiohttpTransport
from ..models import Check, CheckLevel, DoctorReport, TokenInfo
from ..scheduler import Priority
from ._doctor_ledger import ledger_checks

if TYPE_CHECKING:
    from ._core import Calls

__all__ = ["CLOCK_TOLERANCE", "Doctor"]

CLOCK_TOLERANCE: Final = 5.0
"""Seconds of clock offset against the server beyond which doctor warns: the quota day
(midnight GMT-5) and the leases' ends are reckoned on this host's clock."""
TOKEN_PATIENCE: Final = 30.0
"""Seconds token_info waits for one of the token's 2 slots (others may hold them)."""
_WOLKVOX_HOST: Final = re.compile(r"wv([0-9]+)\.wolkvox\.com", re.IGNORECASE | re.ASCII)
_SKIPPED: Final = "skipped: server unreachable"
_FIRST: Final = "fix base_url (above) first, then run doctor again"


@attrs.frozen
class _Token:
    """What the token check learned for the quota check."""

    check: Check
    info: TokenInfo | None = None
    used: int | None = None
    limit: int | None = None


class Doctor:
    """``doctor()`` over the client's calls."""

    def __init__(self, calls: Calls) -> None:
        self._calls = calls

    async def doctor(self) -> DoctorReport:
        """Check the set-up: base URL, token, quota, ledger, clock, server header.

        Costs ONE quota unit: the token is checked with one ``token_info`` call, sent
        once (never retried) and counted by the ledger like any call; nothing else spends
        quota (the base URL is tried without the token, which Wolkvox answers with 401 and
        counts against nobody). Each check has a level (ok, warning, error), what was
        seen and the fix; a failing check never hides the others. Never raises for what
        it finds (``report.exit_code`` is 0 all ok, 1 warnings, 2 errors).

        Raises:
            ClientClosed: the client was closed; nothing is sent, as with any call.
        """
        caller = self._calls.caller
        config = caller.config
        if caller.life.closed:  # (the look at the base URL goes on a session of its own)
            raise ClientClosed(f"the client was closed: doctor sent nothing ({config.base_url})")
        token = config.token
        transport = caller.transport  # (a session given to the client: its proxy, its CAs)
        given = transport.given_session if isinstance(transport, AiohttpTransport) else None
        seen = await probe(config, caller.clock, session=given)
        reached = seen.wolkvox
        checks = [_base_url(seen, config.base_url, config.server_header)]
        got = await self._token(reached)
        checks.append(got.check)
        checks.append(await self._quota(got, reached))
        checks.extend(await ledger_checks(self._calls))
        checks.append(_clock(seen) if reached else _skipped("clock"))
        checks.append(_server(config.base_url, config.server, config.server_header))
        return DoctorReport(
            checks=tuple(
                attrs.evolve(c, seen=redact(c.seen, token), fix=redact(c.fix, token))
                for c in checks
            )
        )

    async def _token(self, reached: bool) -> _Token:
        """One token_info, sent once, at most ``TOKEN_PATIENCE`` s waiting for a slot."""
        if not reached:
            return _Token(_skipped("token"))
        caller = self._calls.caller
        config = caller.config
        once = caller.view(attrs.evolve(config, max_wait=TOKEN_PATIENCE), Priority.INTERACTIVE)
        once.retry = RetryPolicy(max_attempts=1)  # each attempt would cost a unit
        host = urlsplit(config.base_url).netloc
        try:
            request, envelope = await once.call(routes.TOKEN_INFO, {}, corrects_quota=True)
            rows = structure_rows(request, envelope, TokenInfo, caller.converter)
            used, limit = quota_counts(request, envelope)
        except InvalidToken:
            return _Token(
                _token_error(
                    f"{host} does not know this token (403 PLEASE VALIDATE TOKEN): it is of "
                    "another server or operation, expired or mistyped",
                    f"copy the token again from wolkvox Manager (Configuration → Integrations → "
                    f"Tokens) of the operation on server {config.server}; a token works only on "
                    "its operation's server",
                )
            )
        except Unauthorized:
            return _Token(
                _token_error(
                    "401 PLEASE ENTER THE WOLKVOX-TOKEN: the token header did not arrive",
                    "a proxy on the way drops the wolkvox-token header: let it through",
                )
            )
        except TokenLimitExceeded:
            return _Token(
                _token_error(
                    "valid, but today's quota is spent (403 TOKEN LIMIT EXCEEDED)",
                    "wait for the reset at midnight GMT-5, or add licenses to the operation",
                )
            )
        except (Maintenance, TooManySimultaneous, WaitTooLong) as exc:
            why = (
                "the server is in maintenance (403)"
                if isinstance(exc, Maintenance)
                else "the token's 2 slots are busy (other processes' calls)"
                if isinstance(exc, TooManySimultaneous)
                else str(exc)  # (it says why: slots held past the patience, a lost ledger)
            )
            return _Token(
                Check(
                    name="token",
                    level=CheckLevel.WARNING,
                    seen=f"not checked: {why}",
                    fix="run doctor again in a few minutes",
                )
            )
        except SchedulerUnavailable as exc:
            return _Token(
                _token_error(
                    f"not checked, nothing sent: the ledger is unusable ({exc.reason})",
                    "fix the ledger (below), then run doctor again",
                )
            )
        except WolkvoxError as exc:
            # The base URL answered as Wolkvox (else this is skipped): its fix is no fix
            # here. Sent, the attempt may have been counted: a unit, never retried.
            return _Token(
                _token_error(
                    f"token_info failed (it may have cost 1 quota unit): {exc}",
                    "the base URL answers as Wolkvox, but this call failed on the way or at "
                    "the server: run doctor again in a few minutes; if it fails again, check "
                    "any proxy between this host and Wolkvox",
                )
            )
        info = rows[0] if rows else TokenInfo()
        described = f"{info.description!r}, " if info.description else ""
        limit_text = (
            "no daily limit given"
            if limit is None
            else f"{limit:,} calls a day"
            + (f" ({limit // 1000} licenses)" if limit and limit % 1000 == 0 else "")
        )
        seen = f"valid: {described}{limit_text}; this check cost 1 quota unit"
        mine = config.quota_limit
        if limit is not None and mine is not None and mine != limit:
            setting = "licenses" if config.daily_quota is None else "daily_quota"
            check = Check(
                name="token",
                level=CheckLevel.WARNING,
                seen=f"{seen}; this client is set for {mine:,} a day ({setting})",
                fix=f"set licenses to {limit // 1000} (--licenses or WOLKVOX_LICENSES) if "
                "the token is of this operation; otherwise use this operation's token",
            )
        else:
            check = Check(name="token", level=CheckLevel.OK, seen=seen)
        return _Token(check, info, used, limit)

    async def _quota(self, got: _Token, reached: bool) -> Check:
        """Wolkvox's and the ledger's count of today, the limit and the reserve."""
        caller = self._calls.caller
        try:
            stats = await self._calls.stats()
        except WolkvoxError as exc:
            return Check(
                name="quota",
                level=CheckLevel.ERROR,
                seen=f"the ledger cannot be read: {exc}",
                fix="fix the ledger (below), then run doctor again",
            )
        resets = stats.resets_at.astimezone(WOLKVOX_TZ)
        ledger = (
            f"ledger {stats.quota_used:,} of "
            f"{'no known limit' if stats.quota_limit is None else f'{stats.quota_limit:,}'}"
            f", {stats.quota_reserved:,} kept for interactive calls, resets {resets:%H:%M %Z}"
        )
        # The ledger's own limit (licenses, daily_quota) refuses every call once reached,
        # whatever Wolkvox counts: it is this client's quota, and what it will meet.
        spent = stats.quota_limit is not None and stats.quota_used >= stats.quota_limit
        if got.used is None:
            if spent:
                return _ledger_spent(ledger)
            why = _SKIPPED if not reached else "Wolkvox's count not read (token above)"
            return Check(
                name="quota",
                level=CheckLevel.WARNING,
                seen=f"{ledger}; {why}",
                fix=_FIRST if not reached else "fix the token (above) first",
            )
        server = f"Wolkvox {got.used:,} used today by the operation"
        if got.info is not None and got.info.token_use_today is not None:
            server += f" ({got.info.token_use_today:,} by this token)"
        seen = f"{server}; {ledger}"
        limit = got.limit if got.limit is not None else stats.quota_limit
        if limit is not None and got.used >= limit:
            return Check(
                name="quota",
                level=CheckLevel.ERROR,
                seen=f"{seen}: spent",
                fix="wait for the reset, or add licenses to the operation",
            )
        if spent:
            return _ledger_spent(seen)
        found, fixes = [], []
        # More than the calls that may be in flight: counted by tools beside this ledger.
        if got.used - stats.quota_used > caller.config.max_concurrency:
            found.append("the ledger counts fewer (other tools use the operation's quota)")
            fixes.append("run `wolkvox quota` (await wv.sync_quota()) to take Wolkvox's count")
        if stats.quota_limit is None:
            found.append("the ledger knows no daily limit and cannot stop short of it")
            fixes.append("set licenses (--licenses or WOLKVOX_LICENSES)")
        if found:
            return Check(
                name="quota",
                level=CheckLevel.WARNING,
                seen=f"{seen}: {'; '.join(found)}",
                fix="; ".join(fixes),
            )
        return Check(name="quota", level=CheckLevel.OK, seen=seen)


def _ledger_spent(seen: str) -> Check:
    return Check(
        name="quota",
        level=CheckLevel.ERROR,
        seen=f"{seen}: the ledger's count has reached its limit, every call of this client "
        "is refused (QuotaExhausted) until the reset",
        fix="if the operation has more licenses, set them (--licenses or WOLKVOX_LICENSES); "
        "otherwise wait for the reset",
    )


def _skipped(name: str) -> Check:
    return Check(name=name, level=CheckLevel.WARNING, seen=_SKIPPED, fix=_FIRST)


def _token_error(seen: str, fix: str) -> Check:
    return Check(name="token", level=CheckLevel.ERROR, seen=seen, fix=fix)


def _base_url(seen: Probe, base_url: str, header: bool) -> Check:
    """Reachable and answering as Wolkvox (its JSON envelope), or what answered instead."""
    if seen.wolkvox:
        return Check(
            name="base_url",
            level=CheckLevel.OK,
            seen=f"{base_url} answers as Wolkvox ({seen.status}: {seen.message or 'no msg'})",
        )
    host = urlsplit(base_url).netloc
    if seen.status is None:
        what, fix = {
            "dns": (
                f"the host {host} is not known (DNS)",
                "check the server number: it is the NNNN of wvNNNN.wolkvox.com in the "
                "Manager's address",
            ),
            "tls": (
                f"TLS with {host} failed (its certificate is not trusted here)",
                "fix the CA bundle (SSL_CERT_FILE), or the proxy that intercepts TLS",
            ),
            "refused": (
                f"{host} refused the connection",
                "check the host and port of base_url; is the proxy or simulator up?",
            ),
            "timeout": (
                f"{host} did not answer",
                "check the network path (firewall, proxy) to the host",
            ),
        }.get(
            seen.failure,
            (
                f"the connection to {host} broke",
                "check the network path (firewall, proxy) to the host",
            ),
        )
        return Check(
            name="base_url", level=CheckLevel.ERROR, seen=f"{what}: {seen.reason}", fix=fix
        )
    page = f"{seen.content_type or 'no content type'}: {seen.message[:120]!r}"
    fix = (
        "base_url must be the server's root, e.g. https://wv0014.wolkvox.com (the client "
        "adds /api/v2/...); unset it to use https://wv<server>.wolkvox.com"
    )
    if seen.location:  # (a redirect is not followed: a call's POST would not be either)
        page += f"; it redirects to {seen.location}"
        moved = urlsplit(seen.location)
        if moved.scheme and moved.netloc:
            fix += f"; it sends callers to {moved.scheme}://{moved.netloc}: set base_url to that"
    if seen.status == 400 and header:
        fix += "; a proxy refusing header names with _ needs --no-server-header"
    return Check(
        name="base_url",
        level=CheckLevel.ERROR,
        seen=f"{base_url} answers HTTP {seen.status}, not Wolkvox's JSON ({page})",
        fix=fix,
    )


def _clock(seen: Probe) -> Check:
    """This host's clock against the server's ``Date`` (whole seconds: ±1 s)."""
    if seen.date is None:
        return Check(
            name="clock",
            level=CheckLevel.WARNING,
            seen="the server's answer had no Date header: the offset is unknown",
            fix="check this host's clock is synchronised (NTP)",
        )
    # Date is the server's second, cut: its middle, against the middle of the exchange.
    offset = seen.date.timestamp() + 0.5 - (seen.sent_at + seen.answered_at) / 2
    way = "ahead of" if offset < 0 else "behind"
    text = f"this host's clock is {abs(offset):.0f} s {way} the server's (±1 s)"
    if abs(offset) > CLOCK_TOLERANCE:
        return Check(
            name="clock",
            level=CheckLevel.WARNING,
            seen=f"{text}: the quota day and the leases are reckoned on it",
            fix="synchronise this host's clock (NTP: timedatectl set-ntp true, or chrony)",
        )
    return Check(name="clock", level=CheckLevel.OK, seen=text)


def _server(base_url: str, server: str, header: bool) -> Check:
    """The ``wolkvox_server`` header as sent, and the base URL's host against it."""
    sent = f"wolkvox_server: {server} sent" if header else "no wolkvox_server header (off)"
    host = urlsplit(base_url).hostname or ""
    named = _WOLKVOX_HOST.fullmatch(host)
    if named is None:
        return Check(
            name="server",
            level=CheckLevel.OK,
            seen=f"{sent}; {host} is no wvNNNN.wolkvox.com host (a proxy or a "
            "simulator): the server number is not checked against it",
        )
    if int(named.group(1)) != int(server):
        return Check(
            name="server",
            level=CheckLevel.ERROR,
            seen=f"{sent}, but base_url's host is {host}: calls go to another server",
            fix=f"unset base_url (it is https://wv{server}.wolkvox.com), or set the server "
            f"to {named.group(1)}",
        )
    return Check(name="server", level=CheckLevel.OK, seen=f"{sent}; the host {host} matches")
