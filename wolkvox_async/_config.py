"""ClientConfig: every client setting, validated once into one frozen object.

The server number becomes part of a host name (``wv{server}.wolkvox.com``, wolkvox-api.md
§1). Users write it as the docs do (``0016``), as a number (``16``), or as they see it in
the browser (``wv0016``, ``wv0016.wolkvox.com``, ``https://wv0016.wolkvox.com/...``):
:func:`server_number` reads each of these forms and keeps only its ASCII digits, so nothing
else of the value can ever reach a host name (anything else could point the token at
another host). The token is kept out of every repr.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

from ._errors import ConfigError, shown

__all__ = [
    "DEFAULT_LEASE_LIFE",
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "SERVER_LIMIT",
    "TRANSFER_MARGIN",
    "ClientConfig",
    "redact",
    "reserve_of",
    "server_number",
]

SERVER_LIMIT: Final = 60.0
"""Wolkvox stops a call after 60 s (wolkvox-api.md §3.1)."""
TRANSFER_MARGIN: Final = 0.5
"""The default timeout is the server's limit and half of it again (90 s at 60 s): a report
that runs 58 s still has to send a 60,000-row answer, and giving up on it at 60 s would
burn a quota unit per retry for an answer that was on its way. Public code uses 90 s."""
DEFAULT_TIMEOUT: Final = SERVER_LIMIT * (1 + TRANSFER_MARGIN)
"""90 s: Wolkvox's 60 s call limit plus the transfer margin."""
DEFAULT_LEASE_LIFE: Final = DEFAULT_TIMEOUT + SERVER_LIMIT / 12
"""95 s: :attr:`ClientConfig.lease_life` at the default settings — how long a lease lives,
and the lost-ledger pause (the docs state this figure; a test holds them to it)."""
MAX_ANSWER_BYTES: Final = 256 * 1024 * 1024
"""The documented result-size limit (256 MB, §3.1), counted after decompression. The
largest answer Wolkvox gives is 60,000 rows of its widest row, campaign_15's 51 fields:
784 bytes in the docs' sample (47 MB for 60,000), ~2.6 KB with every opt field full
(160 MB). More is not an answer but a fault or a compression bomb."""

_SERVER_FORMS: Final = tuple(
    re.compile(pattern, re.ASCII | re.IGNORECASE)  # ASCII: no Kelvin sign for a "k"
    for pattern in (
        r"([0-9]{1,8})",  # the docs' 0016 (4 digits in every public example, §1)
        r"wv([0-9]{1,8})(?:\.wolkvox\.com)?",  # wv0016, wv0016.wolkvox.com
        r"https?://wv([0-9]{1,8})\.wolkvox\.com(?:/[\x21-\x7e]*)?",  # a URL from the browser
    )
)
SERVER_FORMS: Final = (
    "'0016', 16, 'wv0016', 'wv0016.wolkvox.com' or 'https://wv0016.wolkvox.com' "
    "(ASCII digits, up to 8)"
)
"""The forms of a server number :func:`server_number` takes, for messages."""
_TOKEN: Final = re.compile(r"[\x21-\x7e]+", re.ASCII)  # visible ASCII: no header injection
REDACTED: Final = "***"


_FRAGMENT: Final = 8
"""A piece of the token this long at an edge of a text (a body cut short) is redacted too."""


_JSON_ESCAPED: Final = frozenset('/"\\')
"""Characters a JSON encoder may write with a backslash before them: PHP's json_encode
writes every ``/`` as ``\\/``, and any encoder escapes ``"`` and ``\\``."""


@functools.lru_cache(maxsize=64)
def _token_pattern(token: str) -> re.Pattern[str]:
    # Made once per token, not per answer (the cache keeps a few dozen, for processes
    # that drive many tokens).
    # Each character as itself (any case), JSON-escaped (\u0074, \/) or URL-encoded (%74).
    parts = []
    for char in token:
        code = ord(char)
        forms = [re.escape(char), f"\\\\u00{code:02x}", f"%{code:02x}"]
        if char in _JSON_ESCAPED:
            forms.append(re.escape("\\" + char))
        parts.append(f"(?:{'|'.join(forms)})")
    return re.compile("".join(parts), re.IGNORECASE)


token_pattern: Final = _token_pattern
"""The token in any of the forms :func:`redact` hides, any case (made once per token)."""


def redact(text: str, token: str) -> str:
    """``text`` without ``token``: as is, in any case, JSON-escaped or URL-encoded, and a
    piece of it of 8 or more characters at either edge (a body cut short mid-token)."""
    if not token:
        return text
    text = _token_pattern(token).sub(REDACTED, text)
    if len(text) < _FRAGMENT:
        return text
    secret = token.lower()
    if secret.find(text[-_FRAGMENT:].lower()) >= 0:  # (a cheap test first: most texts end
        lowered = text.lower()  # in words of their own)
        for size in range(len(secret) - 1, _FRAGMENT - 1, -1):
            if lowered.endswith(secret[:size]):
                text = text[:-size] + REDACTED
                break
    if secret.find(text[:_FRAGMENT].lower()) >= 0:
        lowered = text.lower()
        for size in range(len(secret) - 1, _FRAGMENT - 1, -1):
            if lowered.startswith(secret[-size:]):
                text = REDACTED + text[size:]
                break
    return text


def server_number(value: object) -> str:
    """The operation's server number, 4 digits or more, from any form users write it in
    (see :data:`SERVER_FORMS`): ``16``, ``"0016"``, ``"wv0016"`` and
    ``"https://wv0016.wolkvox.com/api/v2/..."`` all give ``"0016"``.

    Only the ASCII digits matched are kept, so no other part of the value can become part
    of a host name: ``"evil.com#"``, ``"0014.attacker"``, ``"https://wv0016.wolkvox.com.evil.com"``,
    Unicode digits and a URL to any other host are refused. Numbers shorter than 4 digits
    are padded as every documented host is (``wv0016``).

    Raises:
        ConfigError: any other value, naming the accepted forms.
    """
    digits = None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**8:
        digits = str(value)
    elif isinstance(value, str):
        digits = next((m[1] for form in _SERVER_FORMS if (m := form.fullmatch(value))), None)
    if digits is None:
        raise ConfigError(
            f"server must be the operation's server number: {SERVER_FORMS}; got {shown(value)}"
        )
    return digits.zfill(4)


def _check_token(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError("token must be a non-empty string")
    if not _TOKEN.fullmatch(value):
        # Never echo the token itself, even a malformed one.
        raise ConfigError("token holds whitespace or non-ASCII characters; check how it was read")


def _check_positive_int(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{attribute.name} must be a positive int, got {shown(value)}")


def _check_one_of(*allowed: object) -> Any:
    def check(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in allowed or isinstance(value, bool):
            choices = ", ".join(repr(a) for a in allowed)
            raise ConfigError(f"{attribute.name} must be one of {choices}, got {shown(value)}")

    return check


def _check_non_negative(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None and attribute.name == "max_wait":
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
        raise ConfigError(f"{attribute.name} must be a number >= 0, got {shown(value)}")  # NaN too
    try:
        float(value)  # an int past a float's range would fail every sum with the clock
    except OverflowError:
        raise ConfigError(f"{attribute.name} is too large, got {shown(value)}") from None


def _check_timeout(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e6:
        raise ConfigError(
            f"{attribute.name} must be a positive number of seconds, got {shown(value)}"
        )


def _check_flag(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{attribute.name} must be True or False, got {shown(value)}")


def _check_reserve(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(
            f"quota_reserve must be a number of calls or a fraction, got {shown(value)}"
        )
    if isinstance(value, int) and value < 0:
        raise ConfigError(f"quota_reserve must be >= 0 calls, got {value}")
    if isinstance(value, float) and not 0 <= value < 1:
        raise ConfigError(
            f"quota_reserve as a float is a fraction of the limit, 0 <= f < 1, got {shown(value)} "
            "(give a number of calls as an int)"
        )


def reserve_of(value: object) -> Any:
    """``quota_reserve`` as given to the client: a number, or ``{Priority.INTERACTIVE: n}``
    (the only priority a reserve can be for: BULK calls are the ones it holds back)."""
    if isinstance(value, Mapping):
        keys = {str(getattr(key, "name", key)).lower() for key in value}
        if not keys <= {"interactive"}:
            raise ConfigError(
                "quota_reserve reserves quota for Priority.INTERACTIVE (BULK calls are the "
                f"ones held back), got keys {', '.join(sorted(map(shown, value)))}"
            )
        return next(iter(value.values()), 0)
    return value


def _check_base_url(inst: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    if value == "":
        return  # the default: https://wv{server}.wolkvox.com
    parts = urlsplit(str(value))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base_url must be an http(s) URL with a host, got {shown(value)}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("base_url must not carry a query, fragment or credentials")


@attrs.frozen(kw_only=True)
class ClientConfig:
    """Every setting of a :class:`~wolkvox_async.WolkvoxClient`, each documented here and
    nowhere else; give them as its keyword arguments (``wv.config`` shows them, validated).

    The client's other arguments are objects it is given rather than settings: ``backend``,
    ``session``, ``priority``, ``clock``, ``transport`` and ``telemetry`` (see
    :class:`~wolkvox_async.WolkvoxClient`).

    Raises:
        ConfigError: a value is invalid; the message names it.
    """

    server: str = attrs.field(converter=server_number)
    """The operation's server number, as the docs write it (``"0014"``), as a number
    (``14``) or as the browser shows it (``"wv0014"``, ``"wv0014.wolkvox.com"``,
    ``"https://wv0014.wolkvox.com/..."``). Only its ASCII digits are kept (up to 8, padded
    to 4), so nothing else of the value reaches the host name ``wv{server}.wolkvox.com``;
    anything else (another host, a port, a user, Unicode digits) is a ConfigError listing
    the accepted forms (:func:`server_number`). The command reads ``WOLKVOX_SERVER`` or
    ``--server``."""
    token: str = attrs.field(validator=_check_token, repr=False)
    """The ``wolkvox-token``: never logged, never shown in a repr, an error or the
    command's output."""
    licenses: int | None = attrs.field(default=None, validator=_check_positive_int)
    """Licenses of the operation: the daily quota is licenses × 1000. Neither this nor
    ``daily_quota`` given, the quota is unknown until ``sync_quota()`` reads it."""
    daily_quota: int | None = attrs.field(default=None, validator=_check_positive_int)
    """An explicit daily quota, instead of licenses × 1000."""
    operation: str = attrs.field(default="")
    """The quota pool shared by the operation's tokens (the quota is the operation's, the
    2 slots in flight each token's); default: the server number."""
    base_url: str = attrs.field(default="", validator=_check_base_url)
    """Replaces ``https://wv{server}.wolkvox.com`` (tests, proxies): an http(s) URL with a
    host, without query, fragment or credentials."""
    server_header: bool = attrs.field(default=True, validator=_check_flag)
    """Send the ``wolkvox_server`` header (the server number) on every call, as the docs'
    samples and public clients do (wolkvox-api.md §2). Turn it off only for a proxy on the
    way that refuses header names holding an underscore (some WAFs and load balancers
    answer 400; nginx drops such headers unless ``underscores_in_headers on``); the
    command's ``--no-server-header``, ``WOLKVOX_SERVER_HEADER=0``."""
    timeout: float = attrs.field(default=DEFAULT_TIMEOUT, validator=_check_timeout)
    """Seconds a call may take, end to end, answer included. Default 90 s: the server's
    60 s and half again for a large answer to arrive (1.5 × ``server_limit`` when that is
    given). At most twice ``server_limit`` (a ConfigError says so); a lease lives as long as
    its holder may wait, plus 5 s (:attr:`lease_life`)."""
    server_limit: float = attrs.field(default=SERVER_LIMIT, validator=_check_timeout)
    """Seconds the server may run one call: Wolkvox stops a call at 60 s (§3.1). A call
    given up on, or held by a process that died, is over by its send + this, so it sets
    how long such a call holds its slot. Lower it only for a simulator that stops calls
    sooner."""
    verify_ssl: bool = True
    """TLS certificate verification; turning it off warns (anyone on the path could read
    the token)."""
    max_concurrency: int = attrs.field(default=2, validator=_check_one_of(1, 2))
    """Requests in flight per token: 2 as documented, or 1 for the stricter reading (§9.1)."""
    poll_interval: float = attrs.field(default=300.0, validator=_check_non_negative)
    """Seconds between identical report/information reads ("every 5 minutes")."""
    poll_policy: str = attrs.field(
        default="share", validator=_check_one_of("share", "wait", "raise")
    )
    """An identical read within ``poll_interval``: ``"share"`` the last result, ``"wait"``
    for the interval to pass, or ``"raise"`` WaitTooLong. Per call:
    ``wv.with_options(poll_policy=...)``."""
    max_wait: float | None = attrs.field(default=None, validator=_check_non_negative)
    """Longest wait for admission before WaitTooLong (nothing sent); None waits as long as
    needed. Per call: ``wv.with_options(max_wait=...)``."""
    max_attempts: int = attrs.field(default=5, validator=_check_positive_int)
    """Attempts per call, retries included; only what is safe to send again is retried
    (never a write that may have run)."""
    strict: bool = attrs.field(default=False, validator=_check_flag)
    """Raise ResponseDecodeError for an answer with unknown keys or a value that cannot be
    read. By default such a row is delivered, the value None, ``row.unread`` naming it,
    and a warning is logged (our tests against the simulator run strict)."""
    quota_reserve: int | float = attrs.field(default=0, validator=_check_reserve)
    """Today's quota kept for INTERACTIVE calls: BULK calls (uploads, downloads,
    ``with_options(priority=BULK)``) are refused with QuotaReserved once only this much is
    left. Units (an int), a fraction of the limit (a float, 0 <= f < 1), or
    ``{Priority.INTERACTIVE: either}`` (:func:`reserve_of`). Give every client of the
    operation the same reserve."""
    max_answer_bytes: int = attrs.field(default=MAX_ANSWER_BYTES, validator=_check_positive_int)
    """The largest answer read, counted decompressed as it streams in: 256 MB by default,
    the documented result limit (the largest real answer is far below it). A larger one (a
    compression bomb) is refused with ResponseDecodeError at the cap, never inflated
    whole."""

    def __attrs_post_init__(self) -> None:
        if self.timeout > 2 * self.server_limit:
            # A lease lives as long as the timeout (a crashed holder's slot comes back only
            # then); an answer that takes twice the server's limit is not coming.
            raise ConfigError(
                f"timeout ({self.timeout:g} s) is more than twice server_limit "
                f"({self.server_limit:g} s, the longest the server runs a call); lower "
                "timeout, or raise server_limit if the server really runs calls longer"
            )
        if not self.operation:
            object.__setattr__(self, "operation", self.server)
        if not self.base_url:
            object.__setattr__(self, "base_url", f"https://wv{self.server}.wolkvox.com")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if not self.verify_ssl:
            warnings.warn(
                "TLS verification is off: the token can be read by anyone on the path",
                UserWarning,
                stacklevel=4,
            )

    @property
    def call_over_after(self) -> float:
        """Seconds after sending by which the server is done with a call at the latest: its
        limit, plus 1/12 of it (5 s at 60 s) for transit and the clocks of other hosts."""
        return self.server_limit * (1 + 1 / 12)

    @property
    def held_after_send(self) -> float:
        """Seconds after sending that a call with no answer (a reset or broken connection,
        a timeout, a cancellation) keeps its slot: as long as its caller would have waited
        for the answer (the timeout, 90 s by default), and never less than
        ``call_over_after``. Wolkvox's 60 s run from when the request reached it, which is
        later than when it left us (the network, a proxy buffering the body), and an
        answer still on its way counts as taken (see ``lease_life``)."""
        return max(self.timeout, self.call_over_after)

    @property
    def lease_life(self) -> float:
        """Seconds a lease lives after it is granted (95 s at the default settings), which
        is also the lost-ledger pause: the longest a call admitted just before a ledger
        was lost may still hold its slot at Wolkvox.

        A granted call leaves within ``call_over_after - server_limit`` (5 s) of its grant,
        or its lease goes back unused (``Caller.send_within``). From leaving, it holds its
        slot while the server may run it (``server_limit``, 60 s, §3.1) and while its answer
        may still be on its way to us: up to the timeout (90 s), since an answer of 60,000
        rows the server finished at 59 s still has to cross the network, and Wolkvox does
        not say whether a slot is free while its answer is in transit — so it counts as
        taken. 5 + max(90, 60) = 95 s. A holder that dies frees its slot then; a live one
        releases sooner; a lost ledger admits nothing on the token for this long."""
        return max(self.timeout, self.server_limit) + self.call_over_after - self.server_limit

    @property
    def quota_limit(self) -> int | None:
        """The daily quota of the operation, if known."""
        if self.daily_quota is not None:
            return self.daily_quota
        return None if self.licenses is None else self.licenses * 1000
