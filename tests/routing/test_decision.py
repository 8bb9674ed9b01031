"""Where a case goes: named station, coverage, out of area, first level by kind, overflow, languages; with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from caseflow_contracts.cases import ParcelFacts
from caseflow_contracts.common import Area, CaseKind, LadderLevel, Priority
from caseflow_routing.domain.decision import (
    RoutingRequest,
    climb_target,
    covering_peer,
    decide,
    load_keys,
    transfer_target,
)

from .factories import CHAOYANG, HAIDIAN, MINHANG, NOW, NOWHERE, PUDONG, directory, opened


@dataclass(frozen=True)
class Case:
    name: str
    hint: str | None
    area: Area | None
    holder: str
    level: LadderLevel
    reason: str
    moved_from: str | None = None
    kind: CaseKind = CaseKind.DELAY
    priority: Priority = Priority.NORMAL
    language: str = "zh-CN"
    cross_border: bool = False
    loads: dict[str, int] = field(default_factory=dict)
    hour_utc: int = 3
    platform: str | None = None
    delivering: str | None = None


CASES = [
    Case("named station", "BJ-CY-01", CHAOYANG, "BJ-CY-01", LadderLevel.STATION, "station named by the case"),
    Case("named, no area", "BJ-HD-01", None, "BJ-HD-01", LadderLevel.STATION, "station named by the case"),
    Case("coverage when no hint", None, HAIDIAN, "BJ-HD-01", LadderLevel.STATION, "covers 北京市/北京市/海淀区"),
    Case("unknown hint falls to coverage", "XX-99", HAIDIAN, "BJ-HD-01", LadderLevel.STATION, "XX-99 is not in"),
    Case("out of area (超区)", "BJ-CY-01", PUDONG, "SH-PD-01", LadderLevel.STATION, "超区", moved_from="BJ-CY-01"),
    Case("hub hint has no coverage: trusted", "HUB-SH", PUDONG, "HUB-SH", LadderLevel.HUB, "station named"),
    Case("nobody covers: HQ", None, NOWHERE, "HQ-CS", LadderLevel.HQ, "none covers"),
    Case("no hint, no area: HQ", None, None, "HQ-CS", LadderLevel.HQ, "an unknown area"),
    Case("inactive station overflows", "SH-MH-01", MINHANG, "HUB-SH", LadderLevel.HUB, "SH-MH-01 is inactive"),
    Case(
        "over capacity overflows",
        "BJ-CY-01",
        CHAOYANG,
        "HUB-BJ",
        LadderLevel.HUB,
        "at capacity (2/2",
        loads={"BJ-CY-01": 2},
    ),
    Case("under capacity stays", "BJ-CY-01", CHAOYANG, "BJ-CY-01", LadderLevel.STATION, "named", loads={"BJ-CY-01": 1}),
    Case(
        "arbitration starts at HQ",
        "BJ-CY-01",
        CHAOYANG,
        "HQ-CS",
        LadderLevel.HQ,
        "arbitration cases start at hq",
        kind=CaseKind.ARBITRATION,
    ),
    Case(
        "cross-border goes to a station with the language and skill",
        None,
        PUDONG,
        "SH-PD-01",
        LadderLevel.STATION,
        "covers",
        language="en",
        cross_border=True,
    ),
    Case(
        "cross-border without a speaker climbs",
        "SH-PD-02",
        PUDONG,
        "RC-EAST",
        LadderLevel.REGIONAL_CENTRE,
        "SH-PD-02 has no en speaker: overflow to HUB-SH; HUB-SH lacks the cross_border skill",
        language="en",
        cross_border=True,
    ),
    Case(
        "Japanese only at the regional centre",
        "SH-PD-01",
        PUDONG,
        "RC-EAST",
        LadderLevel.REGIONAL_CENTRE,
        "has no ja speaker",
        language="ja",
    ),
    Case(
        "urgent after hours skips the closed station",
        "BJ-CY-01",
        CHAOYANG,
        "HUB-BJ",
        LadderLevel.HUB,
        "closed now and the case is urgent",
        priority=Priority.URGENT,
        hour_utc=14,
    ),
    Case("normal after hours stays", "BJ-CY-01", CHAOYANG, "BJ-CY-01", LadderLevel.STATION, "named", hour_utc=14),
    Case(
        "urgent at night: a unit without a calendar works around the clock",
        "BJ-HD-01",
        HAIDIAN,
        "BJ-HD-01",
        LadderLevel.STATION,
        "named",
        priority=Priority.URGENT,
        hour_utc=14,
    ),
    Case(
        "a platform's pre-sale question goes to its service team",
        "BJ-CY-01",
        CHAOYANG,
        "PST-TAOBAO",
        LadderLevel.STATION,
        "pre_sale question from platform 淘宝: service team PST-TAOBAO",
        kind=CaseKind.PRE_SALE,
        platform=" 淘宝",
    ),
    Case(
        "a platform without a team of its own: the default team",
        None,
        None,
        "PST-OTHER",
        LadderLevel.STATION,
        "after_sale question from platform 京东: service team PST-OTHER",
        kind=CaseKind.AFTER_SALE,
        platform="京东",
    ),
    Case(
        "a platform's name on a delivery case changes nothing",
        "BJ-CY-01",
        CHAOYANG,
        "BJ-CY-01",
        LadderLevel.STATION,
        "named",
        platform="淘宝",
    ),
    Case(
        "signed but not received: the delivering station, even outside its coverage",
        "BJ-CY-01",
        PUDONG,
        "BJ-HD-01",
        LadderLevel.STATION,
        "signed_not_received: the delivering station BJ-HD-01 answers for it",
        kind=CaseKind.SIGNED_NOT_RECEIVED,
        delivering="BJ-HD-01",
    ),
    Case(
        "signed but not received, delivering station unknown: routed as any case",
        "BJ-CY-01",
        PUDONG,
        "SH-PD-01",
        LadderLevel.STATION,
        "超区",
        moved_from="BJ-CY-01",
        kind=CaseKind.SIGNED_NOT_RECEIVED,
        delivering="XX-GONE",
    ),
    Case(
        "inactive hub is skipped on overflow",
        "HZ-01",
        None,
        "RC-EAST",
        LadderLevel.REGIONAL_CENTRE,
        "HUB-HZ is inactive",
        language="en",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    d = directory()
    request = RoutingRequest(
        kind=case.kind,
        priority=case.priority,
        language=case.language,
        cross_border=case.cross_border,
        area=case.area,
        hint=case.hint,
        at=NOW.replace(hour=case.hour_utc),
        platform=case.platform,
        delivering_station=case.delivering,
    )
    decision = decide(request, d, case.loads)
    assert (decision.holder, decision.level) == (case.holder, case.level), decision.reason
    assert case.reason in decision.reason
    assert decision.transferred_from == case.moved_from


def test_a_request_takes_the_delivering_station_from_the_parcel() -> None:
    case = opened(kind=CaseKind.SIGNED_NOT_RECEIVED, parcel=ParcelFacts(destination_station="BJ-HD-01")).payload
    request = RoutingRequest.of(case, NOW)
    assert (request.delivering_station, request.hint, request.platform) == ("BJ-HD-01", "BJ-CY-01", None)
    decision = decide(request, directory(), {})
    assert decision.holder == "BJ-HD-01"
    assert decision.transferred_from is None  # no out-of-area move: the delivering station answers


def test_load_keys_are_the_capacity_limited_codes_on_the_candidate_chains() -> None:
    request = RoutingRequest(CaseKind.DELAY, Priority.NORMAL, "zh-CN", False, CHAOYANG, "SH-PD-01", NOW)
    assert load_keys(request, directory()) == {"BJ-CY-01"}


@pytest.mark.parametrize(
    ("holder", "target", "reason"),
    [
        ("BJ-CY-01", "HUB-BJ", "one level up from BJ-CY-01 to HUB-BJ"),
        ("HUB-BJ", "RC-NORTH", "to RC-NORTH"),
        ("RC-NORTH", "HQ-CS", "to HQ-CS"),
        ("HQ-CS", None, "top of the ladder"),
        ("HZ-01", "RC-EAST", "skipping inactive HUB-HZ"),
        ("GONE-01", "HQ-CS", "no longer in the directory"),
    ],
)
def test_climb_target(holder: str, target: str | None, reason: str) -> None:
    found, why = climb_target(directory(), holder)
    assert found == target
    assert reason in why


@pytest.mark.parametrize(
    ("holder", "area", "requested", "expected"),
    [
        ("SH-PD-01", PUDONG, "SH-PD-02", "SH-PD-02"),  # named active peer
        ("SH-PD-01", CHAOYANG, "HUB-SH", "BJ-CY-01"),  # a hub is no peer: coverage decides
        ("SH-PD-01", CHAOYANG, None, "BJ-CY-01"),
        ("SH-PD-01", PUDONG, None, "SH-PD-02"),  # another covering station
        ("SH-PD-01", None, "SH-MH-01", None),  # inactive peer, no area: climb instead
        ("SH-PD-01", NOWHERE, None, None),
    ],
)
def test_transfer_target(holder: str, area: Area | None, requested: str | None, expected: str | None) -> None:
    found = transfer_target(directory(), holder, area, requested)
    assert (found[0] if found else None) == expected


@pytest.mark.parametrize(
    ("area", "requested", "expected"),
    [
        (PUDONG, "SH-PD-02", "SH-PD-02"),
        (PUDONG, "BJ-HD-01", "SH-PD-02"),  # asked for a peer that does not cover the area: coverage decides
        (PUDONG, None, "SH-PD-02"),
        (CHAOYANG, None, "BJ-CY-01"),
        (MINHANG, None, None),  # its one station is inactive
        (None, "SH-PD-02", None),  # no area: nothing is known to cover it
    ],
)
def test_covering_peer(area: Area | None, requested: str | None, expected: str | None) -> None:
    assert covering_peer(directory(), "SH-PD-01", area, requested) == expected
