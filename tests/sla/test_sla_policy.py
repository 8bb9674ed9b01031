"""Policies are data: the packaged file validates, lookups cascade, bad files are refused with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.sla import SlaMetric
from caseflow_kit.rules import RulesError, RulesFile, load_rules
from caseflow_sla.deps import packaged
from caseflow_sla.domain import Subject
from caseflow_sla.policy import Policies, PolicyBook, QaTable

BOOK = PolicyBook(load_rules(packaged("policies.yaml"), Policies))
TABLE = load_rules(packaged("qa_table.yaml"), QaTable)
H = 3600
D = 24 * H
SHANGHAI = ZoneInfo("Asia/Shanghai")


def seconds(
    metric: SlaMetric,
    *,
    kind: CaseKind = CaseKind.DELAY,
    priority: Priority = Priority.NORMAL,
    channel: Channel = Channel.PHONE,
    level: LadderLevel = LadderLevel.STATION,
    holder: str = "SH-PUDONG-01",
    complaint: bool = False,
    customer_contact: bool = True,
) -> int | None:
    subject = Subject(kind.value, priority.value, channel.value, complaint, customer_contact)
    target = BOOK.target(metric.value, subject, level.value, holder)
    return None if target is None else target.seconds


@pytest.mark.parametrize(
    ("metric", "overrides", "expected"),
    [
        (SlaMetric.CALLBACK, {}, 2 * H),
        (SlaMetric.RESOLUTION, {}, 48 * H),
        (SlaMetric.CALLBACK, {"priority": Priority.URGENT}, 1 * H),
        (SlaMetric.CALLBACK, {"customer_contact": False}, None),  # a system-detected exception: nobody to call
        (SlaMetric.CUSTOMER_UPDATE, {"customer_contact": False}, None),
        (SlaMetric.RESOLUTION, {"customer_contact": False}, 48 * H),
        (SlaMetric.EMAIL_ACKNOWLEDGEMENT, {}, None),
        (SlaMetric.EMAIL_ACKNOWLEDGEMENT, {"channel": Channel.EMAIL}, 4 * H),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.COMPLAINT}, 7 * D),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.DELAY, "complaint": True}, 7 * D),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.REGULATOR_APPEAL, "complaint": True}, 10 * D),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.REGULATOR_APPEAL}, 10 * D),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.DELAY}, None),
        (SlaMetric.CUSTOMER_UPDATE, {}, 24 * H),
        (SlaMetric.ESCALATION_FOLLOW_UP, {"level": LadderLevel.HUB}, 2 * H),
        (SlaMetric.ESCALATION_FOLLOW_UP, {"level": LadderLevel.HQ}, 1 * H),
    ],
)
def test_targets_cascade_metric_by_metric(
    metric: SlaMetric, overrides: dict[str, object], expected: int | None
) -> None:
    assert seconds(metric, **overrides) == expected  # type: ignore[arg-type]


def test_every_station_keeps_a_calendar_for_its_2_hour_callback() -> None:
    subject = Subject("delay", "normal", "phone", False, True)
    callback = BOOK.target("callback", subject, "station", "RURAL-XJ-07")
    resolution = BOOK.target("resolution", subject, "station", "RURAL-XJ-07")
    assert callback is not None
    assert resolution is not None
    assert callback.warning_seconds == int(0.8 * 2 * H)
    assert (callback.calendar, resolution.calendar) == ("rural", None)  # resolution counts wall-clock time
    assert BOOK.calendar_name("SH-PUDONG-01") == "station-city"  # its region's, by code prefix
    assert BOOK.calendar_name("HZ-XH-01") == "station-weekday"  # its own
    assert BOOK.calendar_name("GZ-TH-09") == "station-standard"  # everyone else: the default
    assert BOOK.region("SH-PUDONG-01") == "east"
    assert BOOK.region("GZ-TH-09") is None


def test_a_case_assigned_at_night_is_called_back_within_two_working_hours() -> None:
    """Issue 15: a case handed to a station at 22:00 is due by 10:00 the next morning, not at midnight."""
    subject = Subject("delay", "normal", "phone", False, True)
    target = BOOK.target("callback", subject, "station", "SH-PUDONG-01")
    assert target is not None
    hours = BOOK.working_time(target.calendar)
    tuesday_22h = datetime(2026, 11, 24, 22, tzinfo=SHANGHAI).timestamp()
    assert hours.add(tuesday_22h, target.seconds) == datetime(2026, 11, 25, 10, tzinfo=SHANGHAI).timestamp()
    # 19:00 the day before National Day: one hour that evening, three holidays, then Sunday from 09:00
    national_day = datetime(2026, 9, 30, 19, tzinfo=SHANGHAI).timestamp()
    assert hours.add(national_day, target.seconds) == datetime(2026, 10, 4, 10, tzinfo=SHANGHAI).timestamp()


def test_the_allowed_lateness_is_bounded_by_the_file_and_by_the_target() -> None:
    subject = Subject("delay", "normal", "phone", False, True)
    assert BOOK.target("callback", subject, "station", None).lateness_seconds == 120  # type: ignore[union-attr]
    short = BOOK.policies.model_copy(update={"allowed_lateness_share": 0.01})
    assert PolicyBook(short).target("callback", subject, "station", None).lateness_seconds == 72  # type: ignore[union-attr]


def test_the_qa_table_prices_the_seed_duties() -> None:
    assert {d.value: TABLE.price(d.value) for d in TABLE.points} == {
        "response_2h": 100,
        "resolution_48h": 100,
        "record": 100,
        "shirking": 50,
        "opening_line": 50,
        "closing_line": 50,
    }
    assert (TABLE.breach_duty("callback"), TABLE.breach_duty("resolution")) == ("response_2h", "resolution_48h")
    assert TABLE.breach_duty("escalation_follow_up") is None
    month_end = datetime(2026, 11, 30, 17, tzinfo=UTC).timestamp()  # 1 December 01:00 in Shanghai
    assert TABLE.period(month_end) == "2026-12"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("version: v1\nrules: []\n", "rules"),
        ("version: v1\nrules: [{targets: {callback: soon}}]\n", "not a duration"),
        ("version: v1\nrules: [{targets: {callbak: 2h}}]\n", "callbak"),
        ("version: v1\nwarning_fraction: 1.5\nrules: [{targets: {callback: 2h}}]\n", "warning_fraction"),
        (
            "version: v1\nrules: [{targets: {callback: 2h}}]\ncalendars: {c: {time_zone: Mars/Olympus, week: {mon: ['09:00-18:00']}}}\n",
            "time zone",
        ),
        (
            "version: v1\nrules: [{targets: {callback: 2h}}]\ncalendars: {c: {week: {mon: ['18:00-09:00']}}}\n",
            "ends before",
        ),
        ("version: v1\nrules: [{targets: {callback: 2h}}]\ncalendars: {c: {week: {mon: []}}}\n", "at least one"),
        ("version: v1\nrules: [{targets: {callback: 2h}}]\nstation_calendars: {X1: nope}\n", "unknown calendar"),
        ("version: v1\nallowed_lateness: 2h\nrules: [{targets: {callback: 2h}}]\n", "allowed_lateness"),
        ("version: v1\nrules: [{match: {complaint: maybe}, targets: {callback: 2h}}]\n", "complaint"),
    ],
)
def test_invalid_policies_are_refused_with_the_reason(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    with pytest.raises(RulesError, match=reason):
        load_rules(path, Policies)


def test_a_bad_reload_keeps_the_policies_in_force(tmp_path: Path) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text("version: v1\nrules: [{targets: {callback: 2h}}]\n")
    rules = RulesFile(path, Policies)
    path.write_text("version: v2\nrules: [{targets: {callback: later}}]\n")
    assert not rules.reload(force=True)
    assert rules.current.version == "v1"
    path.write_text("version: v3\nrules: [{targets: {callback: 30m}}]\n")
    assert rules.reload(force=True)
    assert PolicyBook(rules.current).policies.rules[0].targets[SlaMetric.CALLBACK] == 1800


def test_an_invalid_qa_table_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text("version: v1\npoints: {response_2h: 100, lunch: 5}\nbreaches: {}\n")
    with pytest.raises(RulesError, match="lunch"):
        load_rules(path, QaTable)
    path.write_text("version: v1\ntime_zone: Mars/Base\npoints: {}\nbreaches: {}\n")
    with pytest.raises(RulesError, match="time zone"):
        load_rules(path, QaTable)
