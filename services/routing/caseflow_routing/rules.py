"""routing's rules files: the station directory (with its units' working calendars) and HQ's rules.

Both are reloaded by the kit's one job (CASEFLOW_RULES_RELOAD_S) and, for the directory, at once by
`POST /admin/directory/reload`; a file that fails validation is refused and the rules in force stay.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from pydantic import Field, model_validator

from caseflow_kit.calendar import CalendarBook, Calendars
from caseflow_kit.rules import RulesFile

from .domain.directory import DirectoryRules, StationDirectory
from .domain.policy import HqRules

DATA = Path(__file__).parent / "data"
DEFAULT_DIRECTORY = DATA / "stations.yaml"
DEFAULT_HQ_RULES = DATA / "hq_rules.yaml"


class DirectoryFile(DirectoryRules):
    """The directory file: the directory and the calendar book its units keep (the notion sla uses too)."""

    #: Its name on policies.versions (see caseflow_kit.rules).
    RULES_KIND: ClassVar[str] = "directory"

    calendars: CalendarBook = Field(
        default_factory=CalendarBook, description="Working calendars and which unit keeps which; none: always open"
    )

    @model_validator(mode="after")
    def _calendars_of_known_units(self) -> DirectoryFile:
        codes = {s.code for s in self.stations}
        for unit in self.calendars.assignments:
            if not unit.endswith("*") and unit not in codes:
                raise ValueError(f"calendars: {unit} is not in the directory")
        return self


def index(rules: DirectoryFile) -> StationDirectory:
    return StationDirectory(rules, Calendars(rules.calendars))


class Directory(RulesFile[DirectoryFile]):
    """The directory file in force and its index, rebuilt whenever a valid edit takes effect."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, DirectoryFile)
        self.index = index(self.current)
        # The kit's job reloads on the event loop, the endpoint in a worker thread: one at a time.
        self._lock = threading.Lock()

    def reload(self, *, force: bool = False) -> bool:
        with self._lock:
            changed = super().reload(force=force)
            if changed:
                self.index = index(self.current)
            return changed


def hq_rules(path: Path) -> RulesFile[HqRules]:
    return RulesFile(path, HqRules)
