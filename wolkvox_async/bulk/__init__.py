"""Bulk work: uploads of any size with a resumable journal, downloads of any date span."""

from ._download import DownloadError as DownloadError
from ._download import DownloadProgress as DownloadProgress
from ._download import WindowedDownload as WindowedDownload
from ._journal import ChunkState as ChunkState
from ._methods import BulkMethods as BulkMethods
from ._upload import ChunkReport as ChunkReport
from ._upload import InsufficientQuota as InsufficientQuota
from ._upload import ReconcileError as ReconcileError
from ._upload import RowFailure as RowFailure
from ._upload import UploadProgress as UploadProgress
from ._upload import UploadReport as UploadReport

__all__ = [
    "BulkMethods",
    "ChunkReport",
    "ChunkState",
    "DownloadError",
    "DownloadProgress",
    "InsufficientQuota",
    "ReconcileError",
    "RowFailure",
    "UploadProgress",
    "UploadReport",
    "WindowedDownload",
]
