"""The station directory file: validated on load, a bad file refused with the reason, reload without restart."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow_contracts.common import Area, LadderLevel
from caseflow_kit.rules import RulesError
from caseflow_routing.directory import DirectoryHolder, DirectoryRules, StationDirectory
from caseflow_routing.settings import DEFAULT_DIRECTORY

from .factories import CHAOYANG, HANGZHOU_ANY, NOW, NOWHERE, PUDONG, directory, directory_data


def test_the_shipped_directory_is_valid() -> None:
    holder = DirectoryHolder(DEFAULT_DIRECTORY)
    assert len(holder.current) > 5
    assert holder.current.level(holder.current.hq) is LadderLevel.HQ


def test_chain_runs_from_station_to_hq() -> None:
    d = directory()
    assert d.chain("BJ-CY-01") == ("BJ-CY-01", "HUB-BJ", "RC-NORTH", "HQ-CS")
    assert d.chain("HQ-CS") == ("HQ-CS",)


@pytest.mark.parametrize(
    ("area", "expected"),
    [
        (CHAOYANG, ["BJ-CY-01"]),
        (PUDONG, ["SH-PD-01", "SH-PD-02"]),
        (HANGZHOU_ANY, ["HZ-01"]),  # city-wide coverage when no district entry matches
        (NOWHERE, []),
        (Area(province=" 北京市", city="北京市 ", district="朝阳区"), ["BJ-CY-01"]),
    ],
)
def test_coverage_lookup(area: Area, expected: list[str]) -> None:
    assert directory().covering(area) == expected


def _mutate(fn: Any) -> dict[str, Any]:
    data = copy.deepcopy(directory_data())
    fn(data)
    return data


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d["stations"].append(dict(d["stations"][-1])), "listed twice"),
        (lambda d: d["stations"][6].update(parent="HUB-XX"), "not in the directory"),
        (lambda d: d["stations"][3].update(parent="BJ-CY-01"), "higher up the ladder"),
        (lambda d: d["stations"][1].update(parent=None), "has no parent"),
        (lambda d: d["stations"].pop(0), "exactly one hq"),
        (lambda d: d["stations"][6].update(capacity=-1), "greater than or equal to 0"),
        (lambda d: d["stations"][6].update(time_zone="Mars/Olympus"), "unknown time zone"),
        (lambda d: d["stations"][6].update(working_hours={"start": "20:00", "end": "08:00"}), "end must be after"),
        (lambda d: d["stations"][6].update(colour="red"), "Extra inputs"),
        (lambda d: d.update(first_level={"arbitration": "moon"}), "first_level"),
    ],
)
def test_invalid_directories_are_refused_with_a_reason(mutation: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DirectoryRules.model_validate(_mutate(mutation))


def _write(path: Path, data: dict[str, Any], mtime_step: int) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + mtime_step * 1_000_000_000))


def test_reload_swaps_a_valid_file_and_keeps_the_directory_when_the_new_one_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    _write(path, directory_data(), 0)
    holder = DirectoryHolder(path)
    assert holder.reload().changed is False  # unchanged file: nothing to do

    bigger = directory_data(version="test-2")
    bigger["stations"].append({"code": "BJ-CY-02", "name": "Chaoyang 2", "parent": "HUB-BJ"})
    _write(path, bigger, 1)
    result = holder.reload()
    assert (result.changed, result.version, result.error) == (True, "test-2", None)
    assert "BJ-CY-02" in holder.current

    broken = directory_data(version="test-3")
    broken["stations"][6]["parent"] = "NOPE"
    _write(path, broken, 2)
    result = holder.reload()
    assert result.changed is False
    assert result.error is not None
    assert "NOPE is not in the directory" in result.error
    assert holder.current.version == "test-2"

    path.write_text("stations: [unclosed", encoding="utf-8")
    result = holder.reload(force=True)
    assert result.error is not None
    assert "cannot read" in result.error
    assert holder.current.version == "test-2"


def test_a_bad_file_at_startup_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    _write(path, directory_data(stations=[]), 0)
    with pytest.raises(RulesError, match="stations"):
        DirectoryHolder(path)


@pytest.mark.parametrize(
    ("hour_utc", "open_"),
    [(0, True), (11, True), (12, False), (23, False)],  # Beijing 08:00, 19:00, 20:00, 07:00
)
def test_working_hours_in_the_station_time_zone(hour_utc: int, open_: bool) -> None:
    station = StationDirectory(DirectoryRules.model_validate(directory_data())).by_code["BJ-CY-01"]
    assert station.is_open(NOW.replace(hour=hour_utc)) is open_
