"""The QA scorecard (seed 000, "未执行处罚"): points a station loses for a missed duty, with the cause.

Topic qa.scorecard, keyed by case id like every case event; finance and station managers sum it per
station and period. Parcel faults (loss, damage) are charged in money through claims, never here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from .common import CaseId, Contract, Identifier, ShortText, StationCode, Text, UtcDateTime, WholeNumber
from .envelope import Event
from .sla import SlaMetric


class QaDuty(StrEnum):
    RESPONSE_2H = "response_2h"  # 响应率: call back within 2 hours and tell the result
    RESOLUTION_48H = "resolution_48h"  # 解决率
    RECORD = "record"  # 信息记录: records kept without abusive words
    SHIRKING = "shirking"  # 推诿
    OPENING_LINE = "opening_line"
    CLOSING_LINE = "closing_line"


Period = Annotated[str, Field(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", description="Scorecard period, YYYY-MM")]


class QaPointsPayload(Contract):
    case_id: CaseId
    station: StationCode = Field(description="The station charged")
    duty: QaDuty
    points: Annotated[int, Field(ge=1, le=1000), WholeNumber] = Field(description="Points lost (the table's figure)")
    period: Period
    cause_event_id: Identifier = Field(description="The event that shows the duty was missed")
    metric: SlaMetric | None = Field(default=None, description="The clock, when a missed deadline is the cause")
    reason: Text = ""
    at: UtcDateTime = Field(description="When the duty was missed")
    policy_version: ShortText = Field(description="Version of the QA table that priced it")


class QaPointsCharged(Event):
    """A station missed a duty of the QA table and loses its points."""

    MINOR: ClassVar[int] = 2

    type: Literal["qa.points_charged"] = "qa.points_charged"
    payload: QaPointsPayload


class QaPointsReversed(Event):
    """Points charged earlier are given back: what caused them was disproved (e.g. a breach withdrawn)."""

    MINOR: ClassVar[int] = 2

    type: Literal["qa.points_reversed"] = "qa.points_reversed"
    payload: QaPointsPayload
