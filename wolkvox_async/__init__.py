"""wolkvox-async: an asyncio client for the Wolkvox contact-center API.

The public names are re-exported here; everything in an underscore module is private.
"""

from ._config import ClientConfig as ClientConfig
from ._errors import ApiError as ApiError
from ._errors import BadRequest as BadRequest
from ._errors import CampaignFull as CampaignFull
from ._errors import ClientClosed as ClientClosed
from ._errors import ConfigError as ConfigError
from ._errors import Forbidden as Forbidden
from ._errors import InvalidToken as InvalidToken
from ._errors import Maintenance as Maintenance
from ._errors import NotFound as NotFound
from ._errors import NotWolkvox as NotWolkvox
from ._errors import QuotaExhausted as QuotaExhausted
from ._errors import QuotaReserved as QuotaReserved
from ._errors import QuotaSpent as QuotaSpent
from ._errors import RequestTimeout as RequestTimeout
from ._errors import ResponseDecodeError as ResponseDecodeError
from ._errors import SchedulerRefusal as SchedulerRefusal
from ._errors import SchedulerUnavailable as SchedulerUnavailable
from ._errors import ServerError as ServerError
from ._errors import TokenLimitExceeded as TokenLimitExceeded
from ._errors import TooManySimultaneous as TooManySimultaneous
from ._errors import TransportError as TransportError
from ._errors import TruncatedAnswer as TruncatedAnswer
from ._errors import Unauthorized as Unauthorized
from ._errors import WaitTooLong as WaitTooLong
from ._errors import WolkvoxError as WolkvoxError
from ._time import WOLKVOX_TZ as WOLKVOX_TZ
from ._version import __version__ as __version__
from .bulk import AlreadyLoaded as AlreadyLoaded
from .bulk import DownloadError as DownloadError
from .bulk import InsufficientQuota as InsufficientQuota
from .bulk import JournalError as JournalError
from .bulk import LoadRunning as LoadRunning
from .bulk import ReconcileError as ReconcileError
from .bulk import UploadReport as UploadReport
from .bulk import report_schema as report_schema
from .bulk import rows_to_arrow as rows_to_arrow
from .calls._answers import Rows as Rows
from .client import WolkvoxClient as WolkvoxClient
from .endpoints._records import MAX_RECORDS_PER_UPLOAD as MAX_RECORDS_PER_UPLOAD
from .models import CallResult as CallResult
from .models import CampaignStatus as CampaignStatus
from .models import CampaignType as CampaignType
from .models import DncEntry as DncEntry
from .models import FilterRule as FilterRule
from .models import Record as Record
from .scheduler import LedgerStatus as LedgerStatus
from .scheduler import MemoryBackend as MemoryBackend
from .scheduler import Priority as Priority
from .scheduler import SchedulerStats as SchedulerStats
from .scheduler import SQLiteBackend as SQLiteBackend

__all__ = [
    "MAX_RECORDS_PER_UPLOAD",
    "WOLKVOX_TZ",
    "AlreadyLoaded",
    "ApiError",
    "BadRequest",
    "CallResult",
    "CampaignFull",
    "CampaignStatus",
    "CampaignType",
    "ClientClosed",
    "ClientConfig",
    "ConfigError",
    "DncEntry",
    "DownloadError",
    "FilterRule",
    "Forbidden",
    "InsufficientQuota",
    "InvalidToken",
    "JournalError",
    "LedgerStatus",
    "LoadRunning",
    "Maintenance",
    "MemoryBackend",
    "NotFound",
    "NotWolkvox",
    "Priority",
    "QuotaExhausted",
    "QuotaReserved",
    "QuotaSpent",
    "ReconcileError",
    "Record",
    "RequestTimeout",
    "ResponseDecodeError",
    "Rows",
    "SQLiteBackend",
    "SchedulerRefusal",
    "SchedulerStats",
    "SchedulerUnavailable",
    "ServerError",
    "TokenLimitExceeded",
    "TooManySimultaneous",
    "TransportError",
    "TruncatedAnswer",
    "Unauthorized",
    "UploadReport",
    "WaitTooLong",
    "WolkvoxClient",
    "WolkvoxError",
    "report_schema",
    "rows_to_arrow",
]
