"""Public models: enums, records to send, and the typed answers of every endpoint.

All models are frozen, keyword-only attrs classes; ``wolkvox_async.calls._convert`` is the
one place that turns them into wire JSON and back.
"""

from ._doctor import Check as Check
from ._doctor import CheckLevel as CheckLevel
from ._doctor import DoctorReport as DoctorReport
from ._enums import CallResult as CallResult
from ._enums import CampaignStatus as CampaignStatus
from ._enums import CampaignType as CampaignType
from ._operation import ActivityCode as ActivityCode
from ._operation import AgentInfo as AgentInfo
from ._operation import IpResult as IpResult
from ._operation import ReportRow as ReportRow
from ._operation import ScheduledRecall as ScheduledRecall
from ._reports import AmdDetail as AmdDetail
from ._reports import AmdTotal as AmdTotal
from ._reports import CampaignInfo as CampaignInfo
from ._reports import CodeShare as CodeShare
from ._reports import DncListing as DncListing
from ._reports import MachineCodesByPhone as MachineCodesByPhone
from ._reports import PhoneResult as PhoneResult
from ._reports import PreviewCallRow as PreviewCallRow
from ._reports import RealTimeCampaign as RealTimeCampaign
from ._reports import ResultCount as ResultCount
from ._reports import ResultShare as ResultShare
from ._reports import TokenInfo as TokenInfo
from ._reports import TurboDialCount as TurboDialCount
from ._reports import UnconnectedCall as UnconnectedCall
from ._reports import WhatsAppStatus as WhatsAppStatus
from ._requests import DncEntry as DncEntry
from ._requests import FilterRule as FilterRule
from ._requests import Record as Record
from ._responses import ActionResult as ActionResult
from ._responses import AddRecordResult as AddRecordResult
from ._responses import CampaignCreated as CampaignCreated
from ._responses import CampaignSettings as CampaignSettings
from ._responses import DeleteCampaignsResult as DeleteCampaignsResult
from ._responses import DetailRow as DetailRow
from ._responses import DncResult as DncResult
from ._responses import Export as Export
from ._responses import ExportRecord as ExportRecord
from ._responses import FilterResult as FilterResult
from ._responses import FoundRecord as FoundRecord
from ._responses import RecallRecordsResult as RecallRecordsResult
from ._responses import Unread as Unread

__all__ = [
    "ActionResult",
    "ActivityCode",
    "AddRecordResult",
    "AgentInfo",
    "AmdDetail",
    "AmdTotal",
    "CallResult",
    "CampaignCreated",
    "CampaignInfo",
    "CampaignSettings",
    "CampaignStatus",
    "CampaignType",
    "Check",
    "CheckLevel",
    "CodeShare",
    "DeleteCampaignsResult",
    "DetailRow",
    "DncEntry",
    "DncListing",
    "DncResult",
    "DoctorReport",
    "Export",
    "ExportRecord",
    "FilterResult",
    "FilterRule",
    "FoundRecord",
    "IpResult",
    "MachineCodesByPhone",
    "PhoneResult",
    "PreviewCallRow",
    "RealTimeCampaign",
    "RecallRecordsResult",
    "Record",
    "ReportRow",
    "ResultCount",
    "ResultShare",
    "ScheduledRecall",
    "TokenInfo",
    "TurboDialCount",
    "UnconnectedCall",
    "Unread",
    "WhatsAppStatus",
]
