"""Test support: FakeWolkvox, a faithful Wolkvox simulator, for our tests and yours.

Start it on loopback and point a client at ``fake.url``; or use the ``fake_wolkvox``
pytest fixture (installed with the ``testing`` extra); or run it as a process with
``python -m wolkvox_async.testing --port 8080``. A FakeWolkvox changes nothing outside
itself: a client's default backend stays the per-user ledger, so give the clients of a
test ``backend=`` (a ``MemoryBackend()`` of the test's own, or the ``wolkvox_backend``
fixture). :class:`VirtualClock` lets a test move time by hand.
"""

from ..scheduler import BACKENDS as _BACKENDS
from ..scheduler import VirtualClock as VirtualClock
from ._faults import Fault as Fault
from ._replies import Knobs as Knobs
from ._server import FakeWolkvox as FakeWolkvox
from ._server import LoggedRequest as LoggedRequest
from ._server import serving_in_thread as serving_in_thread
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
    "serving_in_thread",
]


def reset_shared_state() -> None:
    """Forget the backends :data:`~wolkvox_async.scheduler.BACKENDS` made from URLs and
    make ``memory://`` its default: for a suite whose clients are created without
    ``backend=``, called by the suite's own fixture before each case. Prefer giving
    ``backend=`` (the ``wolkvox_backend`` fixture): nothing process-wide is then changed."""
    _BACKENDS.clear()
    _BACKENDS.default = "memory://"
