"""The station directory as data: the schema of `data/stations.yaml`, validated on load, plus its lookup index.

Operations edit the file; `DirectoryHolder.reload()` swaps in a new directory only
when the new file is valid, so a bad edit never takes routing down.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, time
from functools import cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from caseflow_contracts.common import Area, CaseKind, LadderLevel, LanguageTag, StationCode
from caseflow_kit import logs
from caseflow_kit.rules import RulesError

log = logging.getLogger("caseflow.routing.directory")

RANK: dict[LadderLevel, int] = {
    LadderLevel.STATION: 0,
    LadderLevel.HUB: 1,
    LadderLevel.REGIONAL_CENTRE: 2,
    LadderLevel.HQ: 3,
}
Name = Annotated[str, Field(min_length=1, max_length=200)]


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Coverage(_Rules):
    """An area a station delivers to; no district means the whole city."""

    province: Name
    city: Name
    district: Name | None = None


class WorkingHours(_Rules):
    """Local opening hours; `days` are ISO weekdays (1 = Monday)."""

    start: time
    end: time
    days: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7])

    @model_validator(mode="after")
    def _ordered(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class Station(_Rules):
    """A station (网点), hub (分拨中心), regional customer-service centre or the HQ desk."""

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
    working_hours: WorkingHours | None = Field(default=None, description="None: always open")
    time_zone: Name = "Asia/Shanghai"
    active: bool = True

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @cached_property
    def language_codes(self) -> frozenset[str]:
        return frozenset(primary_language(tag) for tag in self.languages)

    def is_open(self, at: datetime) -> bool:
        if self.working_hours is None:
            return True
        local = at.astimezone(ZoneInfo(self.time_zone))
        hours = self.working_hours
        return local.isoweekday() in hours.days and hours.start <= local.time() < hours.end


class DirectoryRules(_Rules):
    """The whole directory file."""

    version: Name
    first_level: dict[CaseKind, LadderLevel] = Field(
        default_factory=dict, description="Kinds that start above station level, e.g. arbitration: hq"
    )
    cross_border_skill: Name | None = Field(default="cross_border", description="Skill a cross-border case needs")
    home_language: Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] = "zh"
    urgent_needs_open_station: bool = Field(
        default=True, description="Urgent cases skip a station that is closed now (to its parent)"
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
        return self


def primary_language(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


def _area_key(province: str, city: str, district: str | None) -> tuple[str, str, str | None]:
    return (province.strip(), city.strip(), district.strip() if district else None)


class StationDirectory:
    """The directory in force, indexed for routing: by code, by coverage, and each code's chain to HQ."""

    def __init__(self, rules: DirectoryRules) -> None:
        self.rules = rules
        self.version = rules.version
        self.by_code: dict[str, Station] = {s.code: s for s in rules.stations}
        self.hq = next(s.code for s in rules.stations if s.kind is LadderLevel.HQ)
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


_YamlLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_directory(path: Path) -> DirectoryRules:
    """Read and validate the directory file (as caseflow_kit.rules.load_rules does, with libyaml's C parser:
    a 5,000-station file loads in about a second instead of ten)."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_YamlLoader)  # noqa: S506
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None
    try:
        return DirectoryRules.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors(include_url=False)[:10]
        )
        raise RulesError(f"{path}: invalid: {details}") from None


@dataclass(frozen=True)
class ReloadResult:
    changed: bool
    version: str
    stations: int
    error: str | None = None


class DirectoryHolder:
    """The directory in force from one file; a reload swaps it only when the new file is valid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.current = StationDirectory(load_directory(path))
        self._mtime = path.stat().st_mtime_ns
        self._lock = threading.Lock()

    def reload(self, *, force: bool = False) -> ReloadResult:
        """Re-read the file if it changed (or when forced); safe to call from several threads."""
        with self._lock:
            return self._reload(force=force)

    def _reload(self, *, force: bool) -> ReloadResult:
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            return self._kept(f"{self.path}: cannot read: {exc}")
        if mtime == self._mtime and not force:
            return ReloadResult(False, self.current.version, len(self.current))
        self._mtime = mtime
        try:
            directory = StationDirectory(load_directory(self.path))
        except RulesError as exc:
            return self._kept(str(exc))
        self.current = directory
        log.info(
            "station directory reloaded", extra=logs.log_fields(version=directory.version, stations=len(directory))
        )
        return ReloadResult(True, directory.version, len(directory))

    def _kept(self, error: str) -> ReloadResult:
        log.error("station directory rejected; keeping the one in force", extra=logs.log_fields(error=error))
        return ReloadResult(False, self.current.version, len(self.current), error)
