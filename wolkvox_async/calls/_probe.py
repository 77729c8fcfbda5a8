"""The doctor's free look at a base URL: one request without the token, read as it comes.

Wolkvox answers a request without the ``wolkvox-token`` header with its JSON envelope,
401 "PLEASE ENTER THE WOLKVOX-TOKEN" (wolkvox-api.md §2, §4): no token, so no quota unit
is spent and no slot taken, and the answer shows whether the base URL reaches Wolkvox (the
envelope), something else (a page: a wrong path, a proxy, a login), or nothing (refused,
DNS, TLS, no answer in time), and the server's ``Date`` header. It goes by the client's
settings (TLS verification, the ``wolkvox_server`` header) on a session of its own, never
through the scheduler: nothing here touches the call path.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Final

import aiohttp
import attrs

from .._config import redact
from ._protocol import SERVER_HEADER
from ._routes import TOKEN_INFO

if TYPE_CHECKING:
    from .._config import ClientConfig
    from ..scheduler import Clock

__all__ = ["PROBE_TIMEOUT", "Probe", "probe"]

PROBE_TIMEOUT: Final = 15.0
"""Seconds the look waits for an answer (an unanswered URL is named, not waited on)."""
_HEAD: Final = 64 * 1024
"""Bytes of an answer read: an envelope without rows is far smaller."""


@attrs.frozen(kw_only=True)
class Probe:
    """What the base URL answered to a request without the token."""

    url: str
    """The URL asked (it never holds the token)."""
    status: int | None = None
    """The HTTP status; None when nothing answered (``failure`` says why)."""
    content_type: str = ""
    envelope: bool = False
    """The body is Wolkvox's JSON envelope (an object with ``code`` and ``msg``)."""
    message: str = ""
    """The envelope's ``msg``, or the start of a body that is no envelope (redacted)."""
    location: str = ""
    """A redirect's ``Location`` (redacted): where the base URL sends its callers."""
    date: datetime | None = None
    """The answer's ``Date`` header (the server's clock, to the second)."""
    failure: str = ""
    """Why nothing answered: ``refused``, ``dns``, ``tls``, ``timeout`` or ``broken``."""
    reason: str = ""
    """The network's own words for ``failure`` (redacted)."""
    sent_at: float = 0.0
    answered_at: float = 0.0
    """When the request left and its answer came, on the client's clock (epoch s)."""

    @property
    def wolkvox(self) -> bool:
        """The base URL answered as Wolkvox does."""
        return self.envelope


async def probe(
    config: ClientConfig,
    clock: Clock,
    *,
    session: aiohttp.ClientSession | None = None,
    patience: float = PROBE_TIMEOUT,
) -> Probe:
    """Ask ``config.base_url`` token_info without the token; never raises for the network.

    ``session``: the client's own, when it was given one (a proxy, a CA of its own: the
    look must go the way the calls go); it is not closed. Otherwise one is made for the
    look, as the client's transport makes its own (``verify_ssl``)."""
    url = f"{config.base_url}{TOKEN_INFO.path}?api={TOKEN_INFO.api}"
    headers = {"Accept": "application/json"}
    if config.server_header:
        headers[SERVER_HEADER] = config.server
    sent = clock.time()
    failure, reason = "", ""
    try:
        async with contextlib.AsyncExitStack() as stack:
            if session is None or session.closed:
                connector = aiohttp.TCPConnector(ssl=config.verify_ssl)
                session = await stack.enter_async_context(
                    aiohttp.ClientSession(connector=connector)
                )
            resp = await stack.enter_async_context(
                session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=aiohttp.ClientTimeout(total=patience),
                )
            )
            body = await _head(resp)
            answered = clock.time()
            envelope, message = _read(body, config.token)
            return Probe(
                url=url,
                status=resp.status,
                content_type=resp.content_type,
                envelope=envelope,
                message=message,
                location=redact(resp.headers.get("Location", ""), config.token),
                date=_date(resp.headers.get("Date")),
                sent_at=sent,
                answered_at=answered,
            )
    except aiohttp.ClientConnectorDNSError as exc:
        failure, reason = "dns", str(exc)
    except (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError) as exc:
        failure, reason = "tls", str(exc)
    except aiohttp.ClientConnectorError as exc:
        failure, reason = "refused", str(exc)
    except TimeoutError:
        failure, reason = "timeout", f"no answer within {patience:g} s"
    except aiohttp.ClientError as exc:
        failure, reason = "broken", f"{type(exc).__name__}: {exc}"
    return Probe(
        url=url,
        failure=failure,
        reason=redact(reason, config.token),
        sent_at=sent,
        answered_at=clock.time(),
    )


async def _head(resp: aiohttp.ClientResponse) -> bytes:
    """The answer's first ``_HEAD`` bytes (all of it when shorter), as they arrive."""
    chunks, size = [], 0
    while size < _HEAD:
        chunk = await resp.content.read(_HEAD - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _read(body: bytes, token: str) -> tuple[bool, str]:
    """Whether ``body`` is Wolkvox's envelope, and its msg (else the start of the body)."""
    try:
        value = json.loads(body)
    except ValueError:
        value = None
    if isinstance(value, dict) and "code" in value and "msg" in value:
        return True, redact(str(value.get("msg") or "").strip(), token)
    text = body[:200].decode("utf-8", "replace")
    return False, redact(" ".join(text.split()), token)


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
