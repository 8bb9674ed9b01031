"""Backward compatibility of JSON Schemas within a major version.

A new schema is compatible with a published one when every event valid under the
published schema is still valid under the new one, and the reverse holds for
every field the published schema names (so old consumers still understand new
events). In practice: nothing removed, nothing renamed, no type changed, no new
required field, no enum value removed, no constraint tightened, no rule added.

A correction is the one exception, recorded below one by one: a published schema that accepted
events `parse_event` has always refused is made to say so. No producer that worked can break, since
what the corrected schema now refuses was dead-lettered all along.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from .common import DATE_TIME_PATTERN

Schema = dict[str, Any]
#: Keywords that constrain an object as a whole (beside its properties) rather than list alternatives.
_RULES = ("anyOf", "oneOf", "allOf", "not", "if")


@dataclass(frozen=True)
class Correction:
    """One recorded difference from a published release that is a correction, not a change."""

    release: str
    schemas: str  # schema file names it applies to (fnmatch pattern)
    path: str  # where in the schema (fnmatch pattern over the `$.a.b` paths incompatibilities() reports)
    change: str  # exactly what incompatibilities() reports there
    why: str

    def covers(self, release: str, schema: str, line: str) -> bool:
        path, _, change = line.partition(": ")
        return (
            release == self.release
            and fnmatchcase(schema, self.schemas)
            and fnmatchcase(path, self.path)
            and change == self.change
        )


CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        "1.0.0",
        "*.json",
        "$.type",
        "field became required",
        "parse_event dead-letters an event without a type as missing_field",
    ),
    Correction(
        "1.0.0",
        "*.v1.json",
        "$.schema_version",
        r"pattern changed from '^[1-9][0-9]*\\.[0-9]+$' to '^1\\.[0-9]+$'",
        "parse_event dead-letters another major version as unknown_schema_version",
    ),
    Correction(
        "1.0.0",
        "*.json",
        "$*",
        f"pattern changed from None to {DATE_TIME_PATTERN!r}",
        "date-times without an offset were always refused; format alone is not asserted by most validators",
    ),
    Correction(
        "1.0.0",
        "customer.contacted.v1.json",
        "$.payload",
        "rule added: anyOf",
        "a contact without a waybill_no or a platform_order_id (other than a suggestion) was always refused",
    ),
)


def uncorrected(release: str, schema: str, found: list[str]) -> list[str]:
    """The incompatibilities no recorded correction accounts for."""
    return [line for line in found if not any(c.covers(release, schema, line) for c in CORRECTIONS)]


_TIGHTER_IF_SMALLER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems")
_TIGHTER_IF_LARGER = ("minLength", "minimum", "exclusiveMinimum", "minItems")


def incompatibilities(published: Schema, current: Schema) -> list[str]:
    """Every backward-incompatible difference, as readable lines (empty when compatible)."""
    return list(_compare(published, current, published, current, "$"))


def _resolve(node: Schema, root: Schema) -> Schema:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = root["$defs"][name]
    return node


def _variants(node: Schema, root: Schema) -> list[Schema]:
    node = _resolve(node, root)
    if "anyOf" in node and not _is_object(node):
        return [_resolve(v, root) for v in node["anyOf"]]
    return [node]


def _is_object(node: Schema) -> bool:
    """An object schema: an anyOf in it is a rule about its fields, not a choice between alternatives."""
    return node.get("type") == "object" or "properties" in node


def _types(node: Schema, root: Schema) -> set[str]:
    found: set[str] = set()
    for variant in _variants(node, root):
        if "type" in variant:
            kind = variant["type"]
            found.update(kind if isinstance(kind, list) else [kind])
        elif "const" in variant or "enum" in variant:
            found.add("enum")
        elif "properties" in variant:
            found.add("object")
    return found


def _compare(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> Iterator[str]:
    old_types, new_types = _types(old, old_root), _types(new, new_root)
    if not old_types <= new_types:
        yield f"{path}: type changed from {sorted(old_types)} to {sorted(new_types)}"
        return
    old_variants, new_variants = _variants(old, old_root), _variants(new, new_root)
    for old_v in old_variants:
        matches = [v for v in new_variants if _types(v, new_root) & _types(old_v, old_root)]
        if not matches:
            continue
        new_v = matches[0]
        yield from _compare_constraints(old_v, new_v, path)
        yield from _compare_enum(old_v, new_v, path)
        yield from _compare_object(old_v, new_v, old_root, new_root, path)
        if "items" in old_v and "items" in new_v:
            yield from _compare(old_v["items"], new_v["items"], old_root, new_root, path + "[]")


def _compare_constraints(old: Schema, new: Schema, path: str) -> Iterator[str]:
    for key in _TIGHTER_IF_SMALLER:
        if key in new and (key not in old or new[key] < old[key]):
            yield f"{path}: {key} tightened from {old.get(key, 'none')} to {new[key]}"
    for key in _TIGHTER_IF_LARGER:
        if key in new and (key not in old or new[key] > old[key]):
            yield f"{path}: {key} tightened from {old.get(key, 'none')} to {new[key]}"
    if "pattern" in new and new.get("pattern") != old.get("pattern"):
        yield f"{path}: pattern changed from {old.get('pattern')!r} to {new['pattern']!r}"


def _compare_enum(old: Schema, new: Schema, path: str) -> Iterator[str]:
    old_values = set(old.get("enum", [old["const"]] if "const" in old else []))
    new_values = set(new.get("enum", [new["const"]] if "const" in new else []))
    if old_values and new_values and not old_values <= new_values:
        yield f"{path}: enum values removed: {sorted(old_values - new_values)}"


def _compare_object(old: Schema, new: Schema, old_root: Schema, new_root: Schema, path: str) -> Iterator[str]:
    old_props: Schema = old.get("properties", {})
    new_props: Schema = new.get("properties", {})
    for name in old_props.keys() - new_props.keys():
        yield f"{path}.{name}: field removed"
    newly_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(newly_required):
        yield f"{path}.{name}: field became required"
    for rule in _RULES:
        if rule in new and new[rule] != old.get(rule):
            yield f"{path}: rule {'added' if rule not in old else 'changed'}: {rule}"
    for name in sorted(old_props.keys() & new_props.keys()):
        yield from _compare(old_props[name], new_props[name], old_root, new_root, f"{path}.{name}")
