"""Rules as data: a YAML or JSON file validated into a pydantic model, reloadable without a restart.

A file that fails validation is rejected with a clear error and the rules in
force stay in force.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from . import logs

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("caseflow.rules")
#: libyaml's safe loader when available: ten times faster on a 5,000-station directory.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class RulesError(ValueError):
    """A rules file that cannot be used, and why."""


def load_rules(path: Path, model: type[M]) -> M:
    try:
        text = path.read_text(encoding="utf-8")
        data: Any = json.loads(text) if path.suffix == ".json" else yaml.load(text, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise RulesError(f"{path}: cannot read: {exc}") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors(include_url=False)[:10]
        )
        raise RulesError(f"{path}: invalid: {details}") from None


class RulesFile(Generic[M]):
    """The rules in force from one file; `reload()` swaps them only when the new file is valid."""

    def __init__(self, path: Path, model: type[M]) -> None:
        self.path = path
        self.model = model
        self.current: M = load_rules(path, model)
        self._mtime = path.stat().st_mtime_ns

    def reload(self, *, force: bool = False) -> bool:
        """Re-read the file if it changed; return True when new rules took effect."""
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            log.error(
                "rules file unreadable; keeping the rules in force",
                extra=logs.log_fields(path=str(self.path), error=str(exc)),
            )
            return False
        if mtime == self._mtime and not force:
            return False
        self._mtime = mtime
        try:
            self.current = load_rules(self.path, self.model)
        except RulesError as exc:
            log.error("rules file rejected; keeping the rules in force", extra=logs.log_fields(error=str(exc)))
            return False
        log.info("rules reloaded", extra=logs.log_fields(path=str(self.path)))
        return True
