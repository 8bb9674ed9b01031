"""The station directory file: validated on load, a bad file refused with the reason, reload without restart;
units' calendars from its calendar book; HQ's rules file."""

from __future__ import annotations

import copy
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from caseflow_contracts.common import Area, LadderLevel
from caseflow_kit.rules import RulesError, load_rules
from caseflow_routing.domain.policy import HqRules
from caseflow_routing.rules import DEFAULT_DIRECTORY, DEFAULT_HQ_RULES, Directory, DirectoryFile

from .factories import CHAOYANG, HANGZHOU_ANY, NOW, NOWHERE, POLICY, PUDONG, directory, directory_data


def test_the_shipped_directory_is_valid_and_names_its_platform_teams_and_calendars() -> None:
    shipped = Directory(DEFAULT_DIRECTORY)
    d = shipped.index
    assert len(d) > 5
    assert d.level(d.hq) is LadderLevel.HQ
    teams = d.rules.platform_teams
    assert teams.default in d
    assert teams.by_platform
    assert all(team in d for team in teams.by_platform.values())
    assert d.calendar("BJ-CY-01") is not None  # a station keeps working hours
    assert d.calendar("SH-PD-01") is None  # one no assignment names works around the clock


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
        (lambda d: d["stations"][6].update(colour="red"), "Extra inputs"),
        (lambda d: d["stations"][6].update(working_hours={"start": "08:00", "end": "20:00"}), "Extra inputs"),
        (lambda d: d.update(first_level={"arbitration": "moon"}), "first_level"),
        (lambda d: d["platform_teams"].update(default="PST-NONE"), "platform team PST-NONE is not in"),
        (lambda d: d["calendars"]["calendars"]["day"].update(time_zone="Mars/Olympus"), "unknown time zone"),
        (lambda d: d["calendars"]["calendars"]["day"].update(week={"mon": ["20:00-08:00"]}), "ends before it starts"),
        (lambda d: d["calendars"]["assignments"].update({"BJ-HD-01": "night"}), "unknown calendar 'night'"),
        (lambda d: d["calendars"]["assignments"].update({"XX-99": "day"}), "XX-99 is not in the directory"),
    ],
)
def test_invalid_directories_are_refused_with_a_reason(mutation: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DirectoryFile.model_validate(_mutate(mutation))


def test_a_prefix_gives_a_calendar_to_every_unit_it_matches() -> None:
    data = directory_data()
    data["calendars"]["assignments"] = {"BJ-*": "day"}
    d = directory(calendars=data["calendars"])
    assert d.calendar("BJ-HD-01") is d.calendar("BJ-CY-01") is not None
    assert d.calendar("SH-PD-01") is None


@pytest.mark.parametrize(
    ("hour_utc", "open_"),
    [(0, True), (11, True), (12, False), (23, False)],  # Beijing 08:00, 19:00, 20:00, 07:00
)
def test_working_hours_in_the_units_time_zone(hour_utc: int, open_: bool) -> None:
    calendar = directory().calendar("BJ-CY-01")
    assert calendar is not None
    assert calendar.is_open(NOW.replace(hour=hour_utc).timestamp()) is open_


def test_a_public_holiday_closes_the_unit() -> None:
    data = directory_data()
    data["calendars"]["calendars"]["day"]["holidays"] = [(NOW + timedelta(hours=8)).date().isoformat()]
    calendar = directory(calendars=data["calendars"]).calendar("BJ-CY-01")
    assert calendar is not None
    assert calendar.is_open(NOW.timestamp()) is False


def _write(path: Path, data: dict[str, Any], mtime_step: int) -> None:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + mtime_step * 1_000_000_000))


def test_reload_swaps_a_valid_file_and_its_index_and_keeps_both_when_the_new_one_is_bad(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    _write(path, directory_data(), 0)
    held = Directory(path)
    assert held.reload() is False  # unchanged file: nothing to do

    bigger = directory_data(version="test-2")
    bigger["stations"].append({"code": "BJ-CY-02", "name": "Chaoyang 2", "parent": "HUB-BJ"})
    _write(path, bigger, 1)
    assert held.reload() is True
    assert "BJ-CY-02" in held.index
    assert held.index.version == "test-2"

    broken = directory_data(version="test-3")
    broken["stations"][6]["parent"] = "NOPE"
    _write(path, broken, 2)
    assert held.reload() is False
    assert held.index.version == "test-2"

    path.write_text("stations: [unclosed", encoding="utf-8")
    assert held.reload(force=True) is False
    assert held.index.version == "test-2"


def test_a_bad_file_at_startup_fails_loudly(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    _write(path, directory_data(stations=[]), 0)
    with pytest.raises(RulesError, match="stations"):
        Directory(path)


# -- HQ's rules ------------------------------------------------------------------------------------------------


def test_the_shipped_hq_rules_hold_the_seeds_whole_forbidden_word_list() -> None:
    rules = load_rules(DEFAULT_HQ_RULES, HqRules)
    seed_000 = ["喂", "不清楚", "不知道", "啊", "哎呦", "啧", "咦", "呀", "脑残", "你姓什么"]
    assert set(seed_000) <= set(rules.forbidden_words)
    assert rules.auto_rule("transfer", "out_of_area") is not None
    assert rules.auto_rule("transfer", "address_changed") is None


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("已联系客户，约明天上午派送", []),
        ("喂，你的快件到了", ["喂"]),
        ("这个我不清楚，也不知道", ["不清楚", "不知道"]),
        ("好呀", ["呀"]),
        ("哎呦，又是你", ["哎呦"]),
        ("你想好了在打来把", ["你想好了在打来把"]),
        ("客户太傻啊", ["啊", "傻啊"]),
        ("", []),
    ],
)
def test_forbidden_words_in_station_text(text: str, found: list[str]) -> None:
    assert POLICY.forbidden_in(text) == found


def test_an_allowed_phrase_hides_the_forbidden_word_inside_it() -> None:
    rules = POLICY.model_copy(update={"allowed_phrases": ["客户不知道单号"]})
    assert rules.forbidden_in("客户不知道单号，已查到") == []
    assert rules.forbidden_in("客户不知道单号，我也不知道") == ["不知道"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rejection_reasons": {}}, "rejection_reasons"),
        ({"forbidden_words": []}, "forbidden_words"),
        (
            {"auto_reassign": [{"reason_codes": ["teleported"], "decided_by": "hq-rule"}]},
            "unknown transfer reason codes",
        ),
        ({"auto_reassign": [{"reason_codes": ["out_of_area"], "requests": ["appeal"], "decided_by": "x"}]}, "pattern"),
    ],
)
def test_invalid_hq_rules_are_refused_with_a_reason(change: dict[str, Any], message: str) -> None:
    data = {**POLICY.model_dump(), **change}
    with pytest.raises(ValueError, match=message):
        HqRules.model_validate(data)
