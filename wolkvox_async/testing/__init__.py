"""Test support: FakeWolkvox, a faithful Wolkvox simulator, for our tests and yours.

Start it on loopback and point a client at ``fake.url``; or use the ``fake_wolkvox``
pytest fixture (installed with the ``testing`` extra); or run it as a process with
``python -m wolkvox_async.testing --port 8080``. Scheduler state made from a backend URL
(the default ``memory://``) is process-wide, like the real quota; call
:func:`reset_shared_state` between test cases (the fixture does) to start each afresh.
:class:`VirtualClock` lets a test move time by hand.
"""

from ..scheduler import VirtualClock as VirtualClock
from ..scheduler._backend import forget_shared_backends as reset_shared_state
from ._faults import Fault as Fault
from ._replies import Knobs as Knobs
from ._server import FakeWolkvox as FakeWolkvox
from ._server import LoggedRequest as LoggedRequest
from ._state import Attempt as Attempt
from ._state import Campaign as Campaign
from ._state import FakeStats as FakeStats
from ._state import Operation as Operation

__all__ = [
    "Attempt",
    "Campaign",
    "FakeStats",
    "FakeWolkvox",
    "Fault",
    "Knobs",
    "LoggedRequest",
    "Operation",
    "VirtualClock",
    "reset_shared_state",
]
