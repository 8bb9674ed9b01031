"""Cases, station updates and breaches as intake, stations, HQ's desk and sla would send them (no real people)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from caseflow_contracts.cases import (
    CaseMerged,
    CaseMergedPayload,
    CaseOpened,
    CaseOpenedPayload,
    CaseReopened,
    CaseReopenedPayload,
    ParcelFacts,
    StationHint,
)
from caseflow_contracts.common import Area, CaseKind, Channel, LadderLevel, MaskedContact, Priority, SealedContact
from caseflow_contracts.sla import (
    SlaBreached,
    SlaBreachWithdrawn,
    SlaBreachWithdrawnPayload,
    SlaClockPayload,
    SlaMetric,
)
from caseflow_contracts.stations import HqRuling, HqRulingPayload, StationHqRuled, StationUpdatePayload
from caseflow_kit.rules import load_rules
from caseflow_routing.domain.case import CaseFile, Facts, Outcome
from caseflow_routing.domain.decision import RoutingRequest, decide
from caseflow_routing.domain.directory import StationDirectory
from caseflow_routing.domain.ladder import open_case
from caseflow_routing.domain.policy import HqRules
from caseflow_routing.rules import DEFAULT_HQ_RULES, DirectoryFile, index

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 11:00 in Beijing, a Tuesday

CHAOYANG = Area(province="北京市", city="北京市", district="朝阳区")
HAIDIAN = Area(province="北京市", city="北京市", district="海淀区")
PUDONG = Area(province="上海市", city="上海市", district="浦东新区")
MINHANG = Area(province="上海市", city="上海市", district="闵行区")
HANGZHOU_ANY = Area(province="浙江省", city="杭州市", district="余杭区")
NOWHERE = Area(province="西藏自治区", city="阿里地区")
EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def directory_data(**overrides: Any) -> dict[str, Any]:
    """A small directory: HQ, two regional centres, three hubs, six stations (one inactive), a platform team."""
    data: dict[str, Any] = {
        "version": "test-1",
        "first_level": {"arbitration": "hq", "regulator_appeal": "hq"},
        "platform_teams": {"by_platform": {"淘宝": "PST-TAOBAO"}, "default": "PST-OTHER"},
        "calendars": {
            "calendars": {"day": {"time_zone": "Asia/Shanghai", "week": {day: ["08:00-20:00"] for day in EVERY_DAY}}},
            "assignments": {"BJ-CY-01": "day"},
        },
        "stations": [
            {"code": "HQ-CS", "name": "HQ", "kind": "hq", "languages": ["zh-CN", "en", "ja"]},
            {"code": "RC-NORTH", "name": "North", "kind": "regional_centre", "parent": "HQ-CS"},
            {
                "code": "RC-EAST",
                "name": "East",
                "kind": "regional_centre",
                "parent": "HQ-CS",
                "languages": ["zh-CN", "en", "ja"],
                "skills": ["cross_border"],
            },
            {"code": "HUB-BJ", "name": "Beijing hub", "kind": "hub", "parent": "RC-NORTH"},
            {
                "code": "HUB-SH",
                "name": "Shanghai hub",
                "kind": "hub",
                "parent": "RC-EAST",
                "languages": ["zh-CN", "en"],
            },
            {"code": "HUB-HZ", "name": "Hangzhou hub", "kind": "hub", "parent": "RC-EAST", "active": False},
            {
                "code": "BJ-CY-01",
                "name": "Chaoyang",
                "parent": "HUB-BJ",
                "capacity": 2,
                "coverage": [{"province": "北京市", "city": "北京市", "district": "朝阳区"}],
            },
            {
                "code": "BJ-HD-01",
                "name": "Haidian",
                "parent": "HUB-BJ",
                "coverage": [{"province": "北京市", "city": "北京市", "district": "海淀区"}],
            },
            {
                "code": "SH-PD-01",
                "name": "Pudong",
                "parent": "HUB-SH",
                "languages": ["zh-CN", "en"],
                "skills": ["cross_border"],
                "coverage": [{"province": "上海市", "city": "上海市", "district": "浦东新区"}],
            },
            {
                "code": "SH-PD-02",
                "name": "Pudong 2",
                "parent": "HUB-SH",
                "coverage": [{"province": "上海市", "city": "上海市", "district": "浦东新区"}],
            },
            {
                "code": "SH-MH-01",
                "name": "Minhang",
                "parent": "HUB-SH",
                "active": False,
                "coverage": [{"province": "上海市", "city": "上海市", "district": "闵行区"}],
            },
            {
                "code": "HZ-01",
                "name": "Hangzhou",
                "parent": "HUB-HZ",
                "coverage": [{"province": "浙江省", "city": "杭州市"}],
            },
            {"code": "PST-TAOBAO", "name": "Taobao team", "parent": "RC-EAST"},
            {"code": "PST-OTHER", "name": "Platforms team", "parent": "RC-EAST"},
        ],
    }
    data.update(overrides)
    return data


def directory(**overrides: Any) -> StationDirectory:
    return index(DirectoryFile.model_validate(directory_data(**overrides)))


D = directory()  # the test directory, built once


POLICY: HqRules = load_rules(DEFAULT_HQ_RULES, HqRules)  # the shipped rules: what operations get


def facts(
    event_id: str = "evt-1",
    received_at: datetime = NOW,
    now: datetime | None = None,
    d: StationDirectory | None = None,
    policy: HqRules = POLICY,
) -> Facts:
    return Facts(d or D, policy, event_id, received_at, now or received_at)


def case_id() -> str:
    return "CF-" + uuid.uuid4().hex[:16].upper()


def opened(
    cid: str | None = None,
    *,
    hint: str | None = "BJ-CY-01",
    area: Area | None = CHAOYANG,
    kind: CaseKind = CaseKind.DELAY,
    priority: Priority = Priority.NORMAL,
    language: str = "zh-CN",
    cross_border: bool = False,
    platform: str | None = None,
    parcel: ParcelFacts | None = None,
) -> CaseOpened:
    cid = cid or case_id()
    payload = CaseOpenedPayload(
        case_id=cid,
        kind=kind,
        priority=priority,
        channel=Channel.PHONE,
        language=language,
        cross_border=cross_border,
        area=area,
        station_hint=StationHint(station=hint, reason="destination station"),
        customer=SealedContact(
            masked=MaskedContact(name="王*", phone="138****5678"), sealed="x" * 32, key_id="k1", phone_present=True
        ),
        customer_ref="cust-" + uuid.uuid4().hex[:8],
        opened_at=NOW,
        rules_version="test",
        platform=platform,
        parcel=parcel or ParcelFacts(),
    )
    return CaseOpened.create(payload, key=cid, producer="intake", occurred_at=NOW)


def merged(
    cid: str, *, repeat: bool = True, channel: Channel = Channel.PHONE, at: datetime = NOW, source: str | None = None
) -> CaseMerged:
    payload = CaseMergedPayload(
        case_id=cid,
        source_event_id=source or "contact-" + uuid.uuid4().hex[:8],
        channel=channel,
        repeat_contacts=1,
        priority=Priority.HIGH,
        priority_raised=True,
        repeat_contact=repeat,
        merged_at=at,
        contact_at=at,
    )
    return CaseMerged.create(payload, key=cid, producer="intake", occurred_at=at)


def reopened(cid: str, count: int = 1, at: datetime = NOW) -> CaseReopened:
    payload = CaseReopenedPayload(
        case_id=cid, source_event_id=f"c-{count}", reopen_count=count, priority=Priority.URGENT, reopened_at=at
    )
    return CaseReopened.create(payload, key=cid, producer="intake", occurred_at=at)


def update(cid: str, station: str, **extra: Any) -> dict[str, Any]:
    return {"case_id": cid, "station": station, "agent_id": "A1001", "at": NOW + timedelta(minutes=5), **extra}


def base_update(cid: str, station: str) -> StationUpdatePayload:
    return StationUpdatePayload(**update(cid, station))


def station_event(
    model: Any, payload_type: Any, cid: str, station: str, *, at: datetime | None = None, **extra: Any
) -> Any:
    """A station's update as its system sends it; `at` is when it reached the broker (default: now-ish)."""
    return model.create(
        payload_type(**update(cid, station, **extra)), key=cid, producer="station-system", occurred_at=at
    )


def ruling(
    cid: str, about: str, ruling_: HqRuling, *, to: str | None = None, desk: str = "HQ-CS", at: datetime | None = None
) -> StationHqRuled:
    payload = HqRulingPayload(
        **update(cid, desk), ruling=ruling_, about_station=about, to_station=to, reason="HQ reviewed the case"
    )
    return StationHqRuled.create(payload, key=cid, producer="hq-desk", occurred_at=at)


def clock_payload(
    cid: str,
    level: LadderLevel,
    station: str | None,
    metric: SlaMetric = SlaMetric.CALLBACK,
    *,
    started_at: datetime = NOW,
    deadline_at: datetime | None = None,
) -> SlaClockPayload:
    return SlaClockPayload(
        case_id=cid,
        metric=metric,
        level=level,
        station=station,
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        target_seconds=7200,
        elapsed_seconds=7201,
        started_at=started_at,
        deadline_at=deadline_at or started_at + timedelta(hours=2),
        policy_version="test",
    )


def breach(
    cid: str,
    level: LadderLevel,
    station: str | None,
    metric: SlaMetric = SlaMetric.CALLBACK,
    *,
    started_at: datetime = NOW,
    at: datetime | None = None,
) -> SlaBreached:
    payload = clock_payload(cid, level, station, metric, started_at=started_at)
    return SlaBreached.create(payload, key=cid, producer="sla", occurred_at=at or payload.deadline_at)


def withdrawal(breached: SlaBreached, *, stopped_at: datetime, at: datetime | None = None) -> SlaBreachWithdrawn:
    payload = SlaBreachWithdrawnPayload(
        **breached.payload.model_dump(),
        breach_event_id=breached.event_id,
        stopped_at=stopped_at,
        reason="the callback reached the suite before the deadline",
        withdrawn_at=at or breached.payload.deadline_at + timedelta(minutes=3),
    )
    return SlaBreachWithdrawn.create(payload, key=breached.key, producer="sla", occurred_at=payload.withdrawn_at)


def new_case(hint: str = "BJ-HD-01", area: Area | None = None, **kw: Any) -> CaseFile:
    """A case as routing opened it, on the test directory."""
    payload = opened(hint=hint, area=area, **kw).payload
    return open_case(payload, decide(RoutingRequest.of(payload, NOW), D, {}), NOW).case


def types(outcome: Outcome) -> list[str]:
    return [model.event_type() for model, _ in outcome.emits]
