"""The station directory as data: its schema (validated on load) and the index routing decides with.

A unit's working calendar is not part of this schema: the rules file pairs the directory with a calendar
book (`caseflow_routing.rules`), and the index takes it through `CalendarLookup`, a protocol of its own.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from caseflow_contracts.common import Area, CaseKind, LadderLevel, LanguageTag, StationCode

RANK: dict[LadderLevel, int] = {
    LadderLevel.STATION: 0,
    LadderLevel.HUB: 1,
    LadderLevel.REGIONAL_CENTRE: 2,
    LadderLevel.HQ: 3,
}
Name = Annotated[str, Field(min_length=1, max_length=200)]


class WorkingCalendar(Protocol):
    def is_open(self, instant: float) -> bool:
        """Whether `instant` (epoch seconds) is working time."""


class CalendarLookup(Protocol):
    def for_unit(self, unit: str | None) -> WorkingCalendar | None:
        """The calendar a unit keeps; None: around the clock."""


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coverage(_Rules):
    """An area a station delivers to; no district means the whole city."""

    province: Name
    city: Name
    district: Name | None = None


class Station(_Rules):
    """A station (网点), a platform service team, a hub (分拨中心), a regional customer-service centre or HQ."""

    code: StationCode
    name: Name
    kind: LadderLevel = LadderLevel.STATION
    parent: StationCode | None = Field(default=None, description="The next level up; only HQ has none")
    coverage: list[Coverage] = Field(default_factory=list)
    capacity: Annotated[int, Field(ge=0)] | None = Field(
        default=None, description="Open cases it can hold; none = no limit"
    )
    languages: list[LanguageTag] = Field(default_factory=lambda: ["zh-CN"])
    skills: list[Name] = Field(default_factory=list)
    active: bool = True

    @cached_property
    def language_codes(self) -> frozenset[str]:
        return frozenset(primary_language(tag) for tag in self.languages)


class PlatformTeams(_Rules):
    """Where platforms' pre-, in- and after-sale questions go (seed 001 §2.2): a service team, not a station."""

    kinds: list[CaseKind] = Field(
        default_factory=lambda: [CaseKind.PRE_SALE, CaseKind.IN_SALE, CaseKind.AFTER_SALE],
        description="Case kinds that go to a platform service team",
    )
    by_platform: dict[Name, StationCode] = Field(default_factory=dict, description="Platform name -> its team")
    default: StationCode | None = Field(default=None, description="The team of platforms not listed")

    def team_for(self, platform: str | None) -> str | None:
        if platform is not None:
            wanted = platform.strip().casefold()
            for name, team in self.by_platform.items():
                if name.strip().casefold() == wanted:
                    return team
        return self.default


class DirectoryRules(_Rules):
    """The directory file, calendars aside."""

    version: Name
    first_level: dict[CaseKind, LadderLevel] = Field(
        default_factory=dict, description="Kinds that start above station level, e.g. arbitration: hq"
    )
    delivering_station_kinds: list[CaseKind] = Field(
        default_factory=lambda: [CaseKind.SIGNED_NOT_RECEIVED],
        description="Kinds the delivering station answers for, wherever the address is (签收争议)",
    )
    platform_teams: PlatformTeams = Field(default_factory=PlatformTeams)
    cross_border_skill: Name | None = Field(default="cross_border", description="Skill a cross-border case needs")
    home_language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "zh"
    urgent_needs_open_station: bool = Field(
        default=True, description="Urgent cases skip a unit whose calendar says it is closed now (to its parent)"
    )
    stations: list[Station] = Field(min_length=1)

    @model_validator(mode="after")
    def _a_tree_rooted_at_hq(self) -> DirectoryRules:
        codes: dict[str, Station] = {}
        for s in self.stations:
            if s.code in codes:
                raise ValueError(f"station {s.code} listed twice")
            codes[s.code] = s
        hqs = [s.code for s in self.stations if s.kind is LadderLevel.HQ]
        if len(hqs) != 1:
            raise ValueError(f"exactly one hq entry needed, found {len(hqs)}")
        for s in self.stations:
            if s.kind is LadderLevel.HQ:
                if s.parent is not None:
                    raise ValueError(f"hq {s.code} cannot have a parent")
                continue
            if s.parent is None:
                raise ValueError(f"{s.code} has no parent")
            parent = codes.get(s.parent)
            if parent is None:
                raise ValueError(f"{s.code}: parent {s.parent} is not in the directory")
            if RANK[parent.kind] <= RANK[s.kind]:
                raise ValueError(f"{s.code} ({s.kind}): parent {s.parent} ({parent.kind}) must be higher up the ladder")
        teams = self.platform_teams
        for team in [*teams.by_platform.values(), *([teams.default] if teams.default else [])]:
            if team not in codes:
                raise ValueError(f"platform team {team} is not in the directory")
        return self


def primary_language(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def _area_key(province: str, city: str, district: str | None) -> tuple[str, str, str | None]:
    return (province.strip(), city.strip(), district.strip() if district else None)


class StationDirectory:
    """The directory in force, indexed for routing: by code, by coverage, each code's chain to HQ, calendars."""

    def __init__(self, rules: DirectoryRules, calendars: CalendarLookup) -> None:
        self.rules = rules
        self.version = rules.version
        self.by_code: dict[str, Station] = {s.code: s for s in rules.stations}
        self.hq = next(s.code for s in rules.stations if s.kind is LadderLevel.HQ)
        self._calendars = calendars
        self._calendar_of: dict[str, WorkingCalendar | None] = {}
        self._covering: dict[tuple[str, str, str | None], list[str]] = {}
        self._covered_by: dict[str, set[tuple[str, str, str | None]]] = {}
        for s in rules.stations:
            for c in s.coverage:
                key = _area_key(c.province, c.city, c.district)
                self._covering.setdefault(key, []).append(s.code)
                self._covered_by.setdefault(s.code, set()).add(key)
        self._chains: dict[str, tuple[str, ...]] = {}
        #: For each code, the codes on its chain that have a capacity (whose open-case counts matter).
        self.limited: dict[str, tuple[str, ...]] = {}
        for s in rules.stations:  # warm every lookup now, not on a case's time
            _ = s.language_codes
            self.limited[s.code] = tuple(c for c in self.chain(s.code) if self.by_code[c].capacity is not None)

    def __contains__(self, code: object) -> bool:
        return code in self.by_code

    def __len__(self) -> int:
        return len(self.by_code)

    def level(self, code: str) -> LadderLevel:
        return self.by_code[code].kind

    def chain(self, code: str) -> tuple[str, ...]:
        """The code and every level above it, up to HQ."""
        found = self._chains.get(code)
        if found is None:
            links = [code]
            parent = self.by_code[code].parent
            while parent is not None:
                links.append(parent)
                parent = self.by_code[parent].parent
            found = self._chains[code] = tuple(links)
        return found

    def calendar(self, code: str) -> WorkingCalendar | None:
        """The unit's working calendar (looked up once per directory in force)."""
        if code not in self._calendar_of:
            self._calendar_of[code] = self._calendars.for_unit(code)
        return self._calendar_of[code]

    def covering(self, area: Area) -> list[str]:
        """Stations covering the district, else the whole city; directory order."""
        if area.district:
            found = self._covering.get(_area_key(area.province, area.city, area.district))
            if found:
                return found
        return self._covering.get(_area_key(area.province, area.city, None), [])

    def covers(self, code: str, area: Area) -> bool:
        keys = self._covered_by.get(code, set())
        return _area_key(area.province, area.city, None) in keys or (
            area.district is not None and _area_key(area.province, area.city, area.district) in keys
        )

    def has_coverage(self, code: str) -> bool:
        return code in self._covered_by
