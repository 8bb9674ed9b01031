"""Where a case goes, and why: pure functions over the station directory and the stations' current load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from caseflow_contracts.cases import CaseOpenedPayload
from caseflow_contracts.common import Area, CaseKind, LadderLevel, Priority

from .directory import RANK, Station, StationDirectory, primary_language


@dataclass(frozen=True)
class RoutingRequest:
    """What routing needs of a new case: no personal data."""

    kind: CaseKind
    priority: Priority
    language: str
    cross_border: bool
    area: Area | None
    hint: str | None
    at: datetime
    platform: str | None = None
    delivering_station: str | None = None

    @classmethod
    def of(cls, case: CaseOpenedPayload, at: datetime) -> RoutingRequest:
        parcel = case.parcel
        return cls(
            kind=case.kind,
            priority=case.priority,
            language=case.language,
            cross_border=case.cross_border,
            area=case.area,
            hint=case.station_hint.station,
            at=at,
            platform=case.platform,
            delivering_station=parcel.destination_station or parcel.current_station,
        )


@dataclass(frozen=True)
class Decision:
    holder: str
    level: LadderLevel
    reason: str
    transferred_from: str | None = None


def load_keys(request: RoutingRequest, directory: StationDirectory) -> set[str]:
    """Every code whose open-case count the decision may consult (so the caller can fetch them first)."""
    starts = [code for code in _named(request, directory) if code is not None and code in directory]
    if request.area is not None:
        starts.extend(directory.covering(request.area))
    keys: set[str] = set()
    for code in starts:
        keys.update(directory.limited[code])
    return keys


def unfit(
    station: Station, request: RoutingRequest, directory: StationDirectory, loads: Mapping[str, int]
) -> str | None:
    """Why this station cannot take the case now, or None when it can. HQ takes everything."""
    if station.kind is LadderLevel.HQ:
        return None
    if not station.active:
        return "is inactive"
    if station.capacity is not None:
        load = loads.get(station.code, 0)
        if load >= station.capacity:
            return f"is at capacity ({load}/{station.capacity} open cases)"
    rules = directory.rules
    language = primary_language(request.language)
    if (request.cross_border or language != rules.home_language) and language not in station.language_codes:
        return f"has no {request.language} speaker"
    if request.cross_border and rules.cross_border_skill and rules.cross_border_skill not in station.skills:
        return f"lacks the {rules.cross_border_skill} skill"
    if request.priority is Priority.URGENT and rules.urgent_needs_open_station:
        calendar = directory.calendar(station.code)
        if calendar is not None and not calendar.is_open(request.at.timestamp()):
            return "is closed now and the case is urgent"
    return None


def _named(request: RoutingRequest, directory: StationDirectory) -> list[str | None]:
    """The units a case names before coverage: its platform's service team, its delivering station, the hint."""
    rules = directory.rules
    team = rules.platform_teams.team_for(request.platform) if request.kind in rules.platform_teams.kinds else None
    delivering = request.delivering_station if request.kind in rules.delivering_station_kinds else None
    return [team, delivering, request.hint]


def decide(request: RoutingRequest, directory: StationDirectory, loads: Mapping[str, int]) -> Decision:
    """The holder of a new case: named station, else coverage; out-of-area moves to the covering station;
    kinds that start higher go up; unfit stations overflow to their parent. Every step is in the reason."""
    reasons: list[str] = []
    start, moved_from = _starting_point(request, directory, loads, reasons)
    if start is None:
        reasons.append("HQ assigns it")
        return Decision(directory.hq, LadderLevel.HQ, "; ".join(reasons))
    first = directory.rules.first_level.get(request.kind)
    if first is not None and RANK[directory.level(start)] < RANK[first]:
        above = next(c for c in directory.chain(start) if RANK[directory.level(c)] >= RANK[first])
        reasons.append(f"{request.kind} cases start at {first} level: {above}")
        start = above
    holder = _first_fit(start, request, directory, loads, reasons)
    return Decision(holder, directory.level(holder), "; ".join(reasons), moved_from)


def _starting_point(
    request: RoutingRequest, directory: StationDirectory, loads: Mapping[str, int], reasons: list[str]
) -> tuple[str | None, str | None]:
    team, delivering, _ = _named(request, directory)
    if team is not None:
        platform = (request.platform or "(none)").strip()
        reasons.append(f"{request.kind} question from platform {platform}: service team {team}")
        return team, None
    if delivering in directory:
        reasons.append(f"{request.kind}: the delivering station {delivering} answers for it, wherever the address is")
        return delivering, None
    area = request.area
    covering = directory.covering(area) if area is not None else []
    where = f"{area.province}/{area.city}/{area.district or '*'}" if area is not None else ""
    hint = request.hint
    if hint is not None and hint not in directory:
        reasons.append(f"named station {hint} is not in the directory")
        hint = None
    if hint is not None:
        if area is not None and covering and directory.has_coverage(hint) and not directory.covers(hint, area):
            target = _pick(covering, request, directory, loads)
            reasons.append(
                f"{hint} does not cover {where}: out of area (超区), transferred to covering station {target}"
            )
            return target, hint
        reasons.append(f"station named by the case: {hint}")
        return hint, None
    if covering:
        target = _pick(covering, request, directory, loads)
        reasons.append(f"no station named; {target} covers {where}")
        return target, None
    reasons.append("no station named and none covers " + (where or "an unknown area"))
    return None, None


def _pick(covering: list[str], request: RoutingRequest, directory: StationDirectory, loads: Mapping[str, int]) -> str:
    for code in covering:
        if unfit(directory.by_code[code], request, directory, loads) is None:
            return code
    return covering[0]


def _first_fit(
    start: str, request: RoutingRequest, directory: StationDirectory, loads: Mapping[str, int], reasons: list[str]
) -> str:
    for code in directory.chain(start):
        problem = unfit(directory.by_code[code], request, directory, loads)
        if problem is None:
            return code
        reasons.append(f"{code} {problem}: overflow to {directory.by_code[code].parent}")
    return directory.hq  # unreachable: the chain ends at HQ, which takes everything


def climb_target(directory: StationDirectory, holder: str) -> tuple[str | None, str]:
    """The next holder one level up (inactive levels skipped), or None at the top; with the reason."""
    if holder not in directory:
        return directory.hq, f"{holder} is no longer in the directory: to HQ {directory.hq}"
    skipped: list[str] = []
    for code in directory.chain(holder)[1:]:
        station = directory.by_code[code]
        if station.active or station.kind is LadderLevel.HQ:
            note = f" (skipping inactive {', '.join(skipped)})" if skipped else ""
            return code, f"one level up from {holder} to {code}{note}"
        skipped.append(code)
    return None, f"{holder} is at the top of the ladder"


def transfer_target(
    directory: StationDirectory, holder: str, area: Area | None, requested: str | None
) -> tuple[str, str] | None:
    """Where HQ sends a case sideways: the station asked for when that one is an active peer, else an active
    peer covering the delivery area; None when no peer is known. A peer is at the holder's level: a transfer
    never moves a case down the ladder."""
    level = directory.level(holder) if holder in directory else None
    if requested is not None and requested != holder and requested in directory:
        peer = directory.by_code[requested]
        if peer.active and peer.kind is level:
            return requested, f"transfer to {requested}, as requested by {holder}"
    covering = covering_peer(directory, holder, area, None)
    return (covering, f"{covering} covers the delivery area") if covering else None


def covering_peer(directory: StationDirectory, holder: str, area: Area | None, requested: str | None) -> str | None:
    """An active peer of the holder that covers the delivery area (the one asked for, if it does)."""
    if area is None:
        return None
    level = directory.level(holder) if holder in directory else None
    peers = [
        code
        for code in directory.covering(area)
        if code != holder and directory.by_code[code].active and directory.by_code[code].kind is level
    ]
    if requested in peers:
        return requested
    return peers[0] if peers else None
