"""Cases, station updates and breaches as intake, stations and sla would send them (no real people)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from caseflow_contracts.cases import CaseMerged, CaseMergedPayload, CaseOpened, CaseOpenedPayload, StationHint
from caseflow_contracts.common import Area, CaseKind, Channel, LadderLevel, MaskedContact, Priority, SealedContact
from caseflow_contracts.sla import SlaBreached, SlaClockPayload, SlaMetric
from caseflow_contracts.stations import StationUpdatePayload
from caseflow_routing.directory import DirectoryRules, StationDirectory

NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)  # 11:00 in Beijing, a Tuesday

CHAOYANG = Area(province="北京市", city="北京市", district="朝阳区")
HAIDIAN = Area(province="北京市", city="北京市", district="海淀区")
PUDONG = Area(province="上海市", city="上海市", district="浦东新区")
MINHANG = Area(province="上海市", city="上海市", district="闵行区")
HANGZHOU_ANY = Area(province="浙江省", city="杭州市", district="余杭区")
NOWHERE = Area(province="西藏自治区", city="阿里地区")


def directory_data(**overrides: Any) -> dict[str, Any]:
    """A small directory: HQ, two regional centres, three hubs, six stations (one inactive)."""
    data: dict[str, Any] = {
        "version": "test-1",
        "first_level": {"arbitration": "hq", "regulator_appeal": "hq"},
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
                "working_hours": {"start": "08:00", "end": "20:00"},
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
        ],
    }
    data.update(overrides)
    return data


def directory(**overrides: Any) -> StationDirectory:
    return StationDirectory(DirectoryRules.model_validate(directory_data(**overrides)))


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
    )
    return CaseOpened.create(payload, key=cid, producer="intake")


def merged(cid: str, *, repeat: bool = True) -> CaseMerged:
    payload = CaseMergedPayload(
        case_id=cid,
        source_event_id="contact-" + uuid.uuid4().hex[:8],
        channel=Channel.PHONE,
        repeat_contacts=1,
        priority=Priority.HIGH,
        priority_raised=True,
        repeat_contact=repeat,
        merged_at=NOW,
    )
    return CaseMerged.create(payload, key=cid, producer="intake")


def update(cid: str, station: str, **extra: Any) -> dict[str, Any]:
    return {"case_id": cid, "station": station, "agent_id": "A1001", "at": NOW + timedelta(minutes=5), **extra}


def base_update(cid: str, station: str) -> StationUpdatePayload:
    return StationUpdatePayload(**update(cid, station))


def breach(cid: str, level: LadderLevel, station: str | None, metric: SlaMetric = SlaMetric.CALLBACK) -> SlaBreached:
    payload = SlaClockPayload(
        case_id=cid,
        metric=metric,
        level=level,
        station=station,
        kind=CaseKind.DELAY,
        priority=Priority.NORMAL,
        target_seconds=7200,
        elapsed_seconds=7201,
        started_at=NOW,
        deadline_at=NOW + timedelta(hours=2),
        policy_version="test",
    )
    return SlaBreached.create(payload, key=cid, producer="sla")
