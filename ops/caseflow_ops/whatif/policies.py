"""The rules a replay runs under: the recorded ones (found by the versions stamped on the events) and candidates.

Every rules file is validated with the service's own model, so a candidate that the service would refuse is
refused here too, with the same message.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from caseflow_claims.rules import CompensationRules
from caseflow_claims.settings import ClaimsSettings
from caseflow_contracts.policies import PolicyVersionLoaded
from caseflow_intake.rules import IntakeRules
from caseflow_intake.settings import DEFAULT_RULES as INTAKE_RULES
from caseflow_kit.calendar import CalendarBook
from caseflow_kit.rules import RulesError, load_rules, rules_from_text
from caseflow_routing.domain.policy import HqRules
from caseflow_routing.rules import DirectoryFile
from caseflow_routing.settings import RoutingSettings
from caseflow_sla.deps import packaged
from caseflow_sla.policy import Policies, QaTable
from caseflow_sla.settings import SlaSettings

from .period import Recorded

M = TypeVar("M", bound=BaseModel)


class PolicyError(ValueError):
    """A rules file that cannot be used, or a recorded version that cannot be found (exit status 2)."""


def load(path: Path, model: type[M], kind: str) -> M:
    try:
        return load_rules(path, model)
    except RulesError as exc:
        raise PolicyError(f"{kind}: {exc}") from None


@dataclass(frozen=True)
class PolicySet:
    """One complete set of the rules intake, routing, sla and claims load, and where each came from."""

    intake: IntakeRules
    hq: HqRules
    directory: DirectoryFile
    sla: Policies
    qa: QaTable
    compensation: CompensationRules
    sources: dict[str, str] = field(default_factory=dict)

    def versions(self) -> dict[str, str]:
        return {
            "intake_rules": self.intake.version,
            "hq_rules": self.hq.version,
            "directory": self.directory.version,
            "sla_policies": self.sla.version,
            "qa_table": self.qa.version,
            "compensation_rules": self.compensation.version,
        }


def in_force() -> PolicySet:
    """The files the services load in this environment (their CASEFLOW_* variables, else the packaged ones)."""
    routing, sla = RoutingSettings(), SlaSettings()
    paths = {
        # intake's settings also need its keys, which a replay has no business reading: only the path is taken.
        "intake_rules": Path(os.environ.get("CASEFLOW_INTAKE_RULES_PATH") or INTAKE_RULES),
        "hq_rules": routing.hq_rules_path,
        "directory": routing.directory_path,
        "sla_policies": sla.policies_file or packaged("policies.yaml"),
        "qa_table": sla.qa_table_file or packaged("qa_table.yaml"),
        "compensation_rules": ClaimsSettings().claims_rules_path,
    }
    return PolicySet(
        intake=load(paths["intake_rules"], IntakeRules, "intake rules"),
        hq=load(paths["hq_rules"], HqRules, "HQ rules"),
        directory=load(paths["directory"], DirectoryFile, "station directory"),
        sla=load(paths["sla_policies"], Policies, "SLA policies"),
        qa=load(paths["qa_table"], QaTable, "QA table"),
        compensation=load(paths["compensation_rules"], CompensationRules, "compensation rules"),
        sources={kind: str(path) for kind, path in paths.items()},
    )


def with_candidates(
    base: PolicySet,
    *,
    sla_policies: Path | None = None,
    compensation_rules: Path | None = None,
    calendars: Path | None = None,
    directory: Path | None = None,
) -> PolicySet:
    """`base` with the given files in place of its own; `calendars` replaces the SLA policies' calendars."""
    changes: dict[str, Any] = {}
    sources = dict(base.sources)
    if sla_policies is not None:
        changes["sla"] = load(sla_policies, Policies, "SLA policies")
        sources["sla_policies"] = str(sla_policies)
    if compensation_rules is not None:
        changes["compensation"] = load(compensation_rules, CompensationRules, "compensation rules")
        sources["compensation_rules"] = str(compensation_rules)
    if directory is not None:
        changes["directory"] = load(directory, DirectoryFile, "station directory")
        sources["directory"] = str(directory)
    if calendars is not None:
        book = load(calendars, CalendarBook, "calendars")
        sla = changes.get("sla", base.sla)
        kept = book.model_dump()
        data = {
            **sla.model_dump(),
            "calendars": kept["calendars"],
            "station_calendars": kept["assignments"],
            "default_calendar": kept["default"],
        }
        try:
            changes["sla"] = Policies.model_validate(data)
        except ValueError as exc:
            raise PolicyError(f"calendars: {calendars}: do not fit the SLA policies: {exc}") from None
        sources["calendars"] = str(calendars)
    return replace(base, **changes, sources=sources)


def recorded_versions(records: Iterable[Recorded]) -> dict[str, set[str]]:
    """The versions of each kind of rules the recorded events say decided them."""
    found: dict[str, set[str]] = defaultdict(set)
    for r in records:
        note_version(found, r)
    return found


def note_version(found: dict[str, set[str]], record: Recorded) -> None:
    """Add the version of the rules the record says decided it, if it says."""
    p: Any = record.event.payload
    kind = record.event.type
    if kind.startswith("sla."):
        found["sla_policies"].add(p.policy_version)
    elif kind.startswith("qa."):
        found["qa_table"].add(p.policy_version)
    elif kind == "claim.decided":
        found["compensation_rules"].add(p.rules_version)
    elif kind == "case.opened":
        found["intake_rules"].add(p.rules_version)


#: kind -> (the PolicySet field, the service's model, what an operator calls it)
KINDS: dict[str, tuple[str, type[BaseModel], str]] = {
    "intake_rules": ("intake", IntakeRules, "intake rules"),
    "hq_rules": ("hq", HqRules, "HQ rules"),
    "directory": ("directory", DirectoryFile, "station directory"),
    "sla_policies": ("sla", Policies, "SLA policies"),
    "qa_table": ("qa", QaTable, "QA table"),
    "compensation_rules": ("compensation", CompensationRules, "compensation rules"),
}


@dataclass(frozen=True)
class Kept:
    """A rules file kept for replays: its kind, its version, where it is (a file, or a record of
    policies.versions)."""

    kind: str
    version: str
    source: str
    rules: BaseModel


def kept_in(folder: Path | None) -> list[Kept]:
    """Every rules file in `folder` (YAML or JSON), each recognised by the service model it validates against."""
    if folder is None:
        return []
    if not folder.is_dir():
        raise PolicyError(f"--kept {folder}: not a folder")
    found = []
    for path in sorted(folder.iterdir()):
        if path.suffix not in (".yaml", ".yml", ".json"):
            continue
        for kind, (_, model, _) in KINDS.items():
            try:
                rules = load_rules(path, model)
            except RulesError:
                continue
            found.append(Kept(kind, str(getattr(rules, "version", "")), str(path), rules))
            break
        else:
            raise PolicyError(f"{path}: not a rules file of any kind the services load ({', '.join(KINDS)})")
    return found


def kept_recorded(versions: Iterable[Recorded]) -> list[Kept]:
    """The rules versions published on policies.versions (read from the topic, or from an export), validated by
    the service's model as the files are; the last record of a version wins, as compaction keeps it. Kinds a
    replay does not run (notify's policy) are left out."""
    latest: dict[str, Kept] = {}
    for r in versions:
        event = r.event
        if not isinstance(event, PolicyVersionLoaded) or event.payload.kind not in KINDS:
            continue
        p = event.payload
        source = f"{r.topic}:{r.partition}:{r.offset} ({p.service}, {p.loaded_at:%Y-%m-%dT%H:%M:%SZ})"
        try:
            rules = rules_from_text(p.content, KINDS[p.kind][1], Path(f"{p.policy_id}.{p.file_format}"))
        except RulesError as exc:
            raise PolicyError(f"{source}: {exc}") from None
        latest[p.policy_id] = Kept(p.kind, p.version, source, rules)
    return list(latest.values())


def versions_needed(
    records: Iterable[Recorded], versions: Iterable[Recorded]
) -> tuple[list[Recorded], list[tuple[str, str]]]:
    """The records of policies.versions that decided the period (one per kind and version), and the versions
    the period names that none of them holds."""
    on_topic: dict[tuple[str, str], Recorded] = {}
    for r in versions:
        if isinstance(r.event, PolicyVersionLoaded):
            on_topic[(r.event.payload.kind, r.event.payload.version)] = r
    wanted = sorted((kind, v) for kind, found in recorded_versions(records).items() for v in found)
    return [on_topic[w] for w in wanted if w in on_topic], [w for w in wanted if w not in on_topic]


def recorded(records: Iterable[Recorded], in_force: PolicySet, kept: list[Kept]) -> PolicySet:
    """The rules that decided the period, by the versions its events name: the files in force, else kept ones."""
    return recorded_from(recorded_versions(records), in_force, kept)


def recorded_from(found: Mapping[str, set[str]], in_force: PolicySet, kept: list[Kept]) -> PolicySet:
    """The rules of the versions found (see `recorded_versions`): the files in force, else kept ones."""
    changes: dict[str, Any] = {}
    sources = dict(in_force.sources)
    have = in_force.versions()
    for kind, versions in sorted(found.items()):
        if len(versions) > 1:
            raise PolicyError(
                f"the period was decided under {len(versions)} versions of {kind} ({', '.join(sorted(versions))}):"
                " replay each part separately (--since/--until)"
            )
        (version,) = versions
        if version == have[kind]:
            continue
        match = next((k for k in kept if k.kind == kind and k.version == version), None)
        if match is None:
            where = f"{in_force.sources.get(kind)} is version {have[kind]!r}"
            others = sorted(k.version for k in kept if k.kind == kind)
            raise PolicyError(
                f"{kind} version {version!r} decided the period, but {where}, and version {version!r} is not kept"
                + (
                    f" (kept: {', '.join(others)})"
                    if others
                    else " (not on policies.versions either; give a folder of kept versions: --kept)"
                )
            )
        changes[KINDS[kind][0]] = match.rules
        sources[kind] = match.source
    return replace(in_force, **changes, sources=sources)
