"""Policies are data: the packaged file validates, lookups cascade, bad files are refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from caseflow_contracts.common import CaseKind, Channel, LadderLevel, Priority
from caseflow_contracts.sla import SlaMetric
from caseflow_kit.rules import RulesError, RulesFile, load_rules
from caseflow_sla.app import policies_path
from caseflow_sla.policy import Policies, PolicyBook
from caseflow_sla.settings import SlaSettings

BOOK = PolicyBook(load_rules(policies_path(SlaSettings()), Policies))
H = 3600


def seconds(
    metric: SlaMetric,
    *,
    kind: CaseKind = CaseKind.DELAY,
    priority: Priority = Priority.NORMAL,
    channel: Channel = Channel.PHONE,
    level: LadderLevel = LadderLevel.STATION,
    holder: str = "SH-PUDONG-01",
) -> int | None:
    target = BOOK.resolve(metric, kind=kind, priority=priority, channel=channel, level=level, holder=holder)
    return None if target is None else target.seconds


@pytest.mark.parametrize(
    ("metric", "overrides", "expected"),
    [
        (SlaMetric.CALLBACK, {}, 2 * H),
        (SlaMetric.RESOLUTION, {}, 48 * H),
        (SlaMetric.CALLBACK, {"priority": Priority.URGENT}, 1 * H),
        (SlaMetric.RESOLUTION, {"level": LadderLevel.HUB}, 24 * H),
        (SlaMetric.CALLBACK, {"level": LadderLevel.HQ}, 1 * H),
        (SlaMetric.EMAIL_ACKNOWLEDGEMENT, {}, None),
        (SlaMetric.EMAIL_ACKNOWLEDGEMENT, {"channel": Channel.EMAIL}, 4 * H),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.COMPLAINT}, 7 * 24 * H),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.REGULATOR_APPEAL}, 10 * 24 * H),
        (SlaMetric.COMPLAINT_ANSWER, {"kind": CaseKind.DELAY}, None),
        (SlaMetric.CUSTOMER_UPDATE, {}, 24 * H),
        (SlaMetric.ESCALATION_FOLLOW_UP, {}, 2 * H),
    ],
)
def test_targets_cascade_metric_by_metric(
    metric: SlaMetric, overrides: dict[str, object], expected: int | None
) -> None:
    assert seconds(metric, **overrides) == expected  # type: ignore[arg-type]


def test_warning_at_the_configured_fraction_and_calendars_by_station_prefix() -> None:
    target = BOOK.resolve(
        SlaMetric.CALLBACK,
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        channel=None,
        level=LadderLevel.STATION,
        holder="RURAL-07",
    )
    assert target is not None
    assert target.warning_seconds == int(0.8 * 2 * H)
    assert target.business_hours
    assert BOOK.calendar_name("SH-PUDONG-01") is None
    resolution = BOOK.resolve(
        SlaMetric.RESOLUTION,
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        channel=None,
        level=LadderLevel.STATION,
        holder="RURAL-07",
    )
    assert resolution is not None
    assert not resolution.business_hours  # resolution counts wall-clock time in the packaged policy


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
