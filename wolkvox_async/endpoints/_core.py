"""What the endpoint groups share: :class:`Calls`, a client's caller and converter.

``Calls`` turns an answer of the one path of a request (``_call``) into rows, one result or
an action's message. Beside it, what the client is assembled with: its telemetry, and
the typed declaration of a group's method as its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from .._errors import ConfigError, shown
from ..calls._answers import Rows
from ..calls._convert import structure, structure_rows
from ..models import ActionResult

if TYPE_CHECKING:
    from cattrs import Converter

    from ..calls._call import Caller
    from ..calls._routes import Route
    from ..otel import Telemetry
    from ..scheduler import SchedulerStats

__all__ = ["Calls", "method_of", "telemetry_of"]

T = TypeVar("T")
P = ParamSpec("P")
R = TypeVar("R")
G = TypeVar("G")


class Calls:
    """A client's caller and converter, as the endpoint groups and bulk use them. A view
    of the client (``with_options``) has its own, over a view of the caller."""

    __slots__ = ("caller", "converter")

    def __init__(self, caller: Caller, converter: Converter) -> None:
        self.caller = caller
        self.converter = converter

    async def rows(
        self,
        route: Route,
        cls: type[T],
        params: Mapping[str, str | None],
        *,
        allow_truncated: bool = False,
        advice: str,
    ) -> Rows[T]:
        """The rows of a read; an answer at the 60,000-row cap raises TruncatedAnswer
        (naming the read, then ``advice``), or with ``allow_truncated`` comes marked."""
        # The caller reads the rows (Caller.call's rows=), the cap checked there.
        return await self.caller.call(
            route, params, rows=cls, allow_truncated=allow_truncated, advice=advice
        )

    async def first(
        self, route: Route, cls: type[T], params: Mapping[str, str | None], body: Any = None
    ) -> T:
        """The one result of a call: ``data[0]``, or all fields blank when it has none."""
        request, envelope = await self.caller.call(route, params, body)
        rows = structure_rows(request, envelope, cls, self.converter)
        return rows[0] if rows else structure(request, envelope, {}, cls, self.converter)

    async def action(
        self, route: Route, params: Mapping[str, str | None], body: Any = None
    ) -> ActionResult:
        """An action's answer: its message."""
        _, envelope = await self.caller.call(route, params, body)
        return ActionResult(message=envelope.message)

    async def stats(self) -> SchedulerStats:
        """The scheduler's figures for the caller's token."""
        caller = self.caller
        return await caller.scheduler.stats(caller.limits.token)


def method_of(function: Callable[Concatenate[G, P], R]) -> Callable[Concatenate[Any, P], R]:
    """A group's method, declared as the client's (``name = method_of(Group.name)`` in its
    class body): typed for any ``self``, so mypy and IDEs see the group's parameters on the
    client. The client replaces it with a forwarder, and each client binds the group's own
    method over that at construction, which is what runs."""
    return function


def telemetry_of(spec: object) -> Telemetry | None:
    """The client's telemetry; the otel module is imported only when it is asked for."""
    if spec is False:
        return None
    try:
        from ..otel import Telemetry
    except ImportError:
        raise ConfigError(
            "telemetry needs OpenTelemetry: pip install 'wolkvox-async[otel]'"
        ) from None
    if spec is True:
        return Telemetry()
    if isinstance(spec, Telemetry):
        return spec
    raise ConfigError(f"telemetry must be True, False or a Telemetry, got {shown(spec)}")
