"""What an error means, as values its class carries (see :mod:`~wolkvox_async._errors`).

Each error class says, once, whether the call path sends its call again (:class:`Retry`),
what a server's refusal tells the token's scheduler (:class:`Refusal`), and whether a
patient job waits and tries again (:class:`Pause`). The retries (``_retry``), the call
path's feedback to the scheduler (``_call``), the bulk loads (``bulk/_load.py``) and the
telemetry (``otel.py``) read these, and decide nothing of their own about the classes.
How an error is made again elsewhere (pickled, copied) is :class:`Rebuilt`.
"""

from __future__ import annotations

import enum
import functools
from typing import Any

import attrs

__all__ = ["Pause", "Rebuilt", "Refusal", "Retry", "pausing"]


class Retry(enum.Enum):
    """Whether the call path sends a call again after this error (§3.3, §4)."""

    NEVER = "never"
    """The same answer would come again, or the call may have changed something."""
    ALWAYS = "always"
    """Refused before the server did anything: safe on every route."""
    IF_IDEMPOTENT = "if idempotent"
    """It may have run (a 5xx, an answer lost): sent again on idempotent routes only."""


class Refusal(enum.Enum):
    """What the server's refusal says about the token, for everyone using it (§3.3)."""

    BUSY = "busy"
    """Someone else holds the token's slots: its cap is lowered for a while."""
    SPENT = "spent"
    """The server counts today's quota spent."""
    MAINTENANCE = "maintenance"
    """The server is in maintenance: the token rests, longer each time."""


class Pause(enum.Enum):
    """Why a patient job (a bulk load) may wait and try again after this error."""

    REFUSED = "refused"
    """Nothing was done: wait, then send again."""
    UNANSWERED = "unanswered"
    """No answer, or a broken one: wait, then find out (by reading) what was done."""


def pausing(root: type[Any], *why: Pause) -> tuple[type[Any], ...]:
    """The classes under ``root`` (itself included) whose ``pause`` is one of ``why``: a
    tuple for ``except``, made from the classes' own attributes."""
    found, todo = [], [root]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        if cls.pause in why:
            found.append(cls)
    return tuple(found)


class Rebuilt:
    """Makes an attrs error pickle and copy: an exception is rebuilt as ``cls(*args)``,
    and the attrs errors take keywords only (a process pool returning one, ``copy.copy``
    of one, raised TypeError). It is rebuilt from its fields, then its own attributes
    (``retry`` set after init, ``upload_report``) restored."""

    def __reduce__(self) -> str | tuple[Any, ...]:
        if not attrs.has(cls := type(self)):
            return super().__reduce__()
        given = {a.name: getattr(self, a.name) for a in attrs.fields(cls) if a.init}
        return functools.partial(cls, **given), (), dict(self.__dict__)
