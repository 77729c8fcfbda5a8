"""What the endpoint groups share: :class:`Calls`, a client's caller and converter.

``Calls`` turns an answer of the one path of a request (``_call``) into rows, one result or
an action's message. Beside it, the client's assembly helpers: its telemetry, and its
methods taken from the groups."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._answers import MAX_ROWS, Rows, payload_rows, truncated
from ._convert import structure, structure_rows
from ._errors import ConfigError, shown
from .models import ActionResult

if TYPE_CHECKING:
    from cattrs import Converter

    from ._call import Caller
    from ._routes import Route
    from .otel import Telemetry
    from .scheduler import SchedulerStats

__all__ = ["Calls", "shown_as_method_of", "telemetry_of"]

T = TypeVar("T")


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
        request, envelope = await self.caller.call(
            route, params, cut=lambda answer: payload_rows(answer.payload) >= MAX_ROWS
        )
        count = payload_rows(envelope.payload)
        if count >= MAX_ROWS and not allow_truncated:
            # Its read kept no poll stamp (Outcome.CUT): the windowed read may start at once.
            raise truncated(request, params, count, advice=advice)
        rows = structure_rows(request, envelope, cls, self.converter)
        return Rows(rows, truncated=count >= MAX_ROWS)

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


def shown_as_method_of(cls: type, function: Any) -> Any:
    """``function`` (an endpoint group's method), as a function of ``cls`` (the client):
    the same code, defaults and docstring, named where it is shown, so that ``help()`` and
    ``inspect`` list it as the client's own method. Each client binds the group's method
    over it, which is what runs."""
    shown_copy = types.FunctionType(
        function.__code__,
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    shown_copy.__kwdefaults__ = function.__kwdefaults__
    shown_copy.__doc__ = function.__doc__
    shown_copy.__annotations__ = dict(function.__annotations__)
    shown_copy.__qualname__ = f"{cls.__qualname__}.{function.__name__}"
    shown_copy.__module__ = cls.__module__
    return shown_copy


def telemetry_of(spec: object) -> Telemetry | None:
    """The client's telemetry; the otel module is imported only when it is asked for."""
    if spec is False:
        return None
    try:
        from .otel import Telemetry
    except ImportError:
        raise ConfigError(
            "telemetry needs OpenTelemetry: pip install 'wolkvox-async[otel]'"
        ) from None
    if spec is True:
        return Telemetry()
    if isinstance(spec, Telemetry):
        return spec
    raise ConfigError(f"telemetry must be True, False or a Telemetry, got {shown(spec)}")
