"""Bulk work: uploads of any size with a resumable journal, downloads of any date span."""

from ._arrow import report_schema as report_schema
from ._arrow import rows_to_arrow as rows_to_arrow
from ._download import DownloadError as DownloadError
from ._download import DownloadProgress as DownloadProgress
from ._download import WindowedDownload as WindowedDownload
from ._journal import ChunkState as ChunkState
from ._methods import BulkMethods as BulkMethods
from ._outcomes import AlreadyLoaded as AlreadyLoaded
from ._outcomes import InsufficientQuota as InsufficientQuota
from ._outcomes import JournalError as JournalError
from ._outcomes import LoadRunning as LoadRunning
from ._outcomes import ReconcileError as ReconcileError
from ._owner import JournalLock as JournalLock
from ._results import ChunkReport as ChunkReport
from ._results import RowFailure as RowFailure
from ._results import StopReason as StopReason
from ._results import UploadProgress as UploadProgress
from ._results import UploadReport as UploadReport
from ._results import WindowRows as WindowRows
from ._windows import Deferred as Deferred

__all__ = [
    "AlreadyLoaded",
    "BulkMethods",
    "ChunkReport",
    "ChunkState",
    "Deferred",
    "DownloadError",
    "DownloadProgress",
    "InsufficientQuota",
    "JournalError",
    "JournalLock",
    "LoadRunning",
    "ReconcileError",
    "RowFailure",
    "StopReason",
    "UploadProgress",
    "UploadReport",
    "WindowRows",
    "WindowedDownload",
    "report_schema",
    "rows_to_arrow",
]
