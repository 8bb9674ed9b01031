"""Hostile variations of valid events: values at the edges, wrong types, deep nesting, lone surrogates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from .examples import PAYLOADS, example

Path = tuple[str | int, ...]

#: RFC 3339-shaped date-times at and past the ends of the range: some have no UTC instant a datetime can hold.
EDGE_DATES = [
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z",
    "2026-11-24T24:00:00Z",
    "2026-11-24T08:00:60+08:00",
    "2026-11-24T08:00:00+24:00",
    "2026-11-24T08:00:00",
    "1700000000",
]
HUGE_INTEGERS = [2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1, 10**100, -(10**100), 10**4000]
#: Replaced by deep nesting once the document is encoded (json.dumps itself would recurse too deep).
DEEP = "\x00deep\x00"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
surrogate_text = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1, max_size=3)
hostile_values = st.one_of(
    st.sampled_from(EDGE_DATES),
    st.sampled_from(HUGE_INTEGERS),
    st.integers(),
    st.floats(),
    st.just(DEEP),
    surrogate_text,
    st.tuples(st.text(max_size=5), surrogate_text).map("".join),
    st.text(max_size=300),
    st.just("x" * 5000),
    json_values,
)


def paths(node: Any, here: Path = ()) -> Iterator[Path]:
    yield here
    if isinstance(node, dict):
        for name, value in node.items():
            yield from paths(value, (*here, name))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths(value, (*here, index))


def at(document: Any, path: Path) -> Any:
    for step in path:
        document = document[step]
    return document


def replace(document: Any, path: Path, value: Any) -> Any:
    if not path:
        return value
    at(document, path[:-1])[path[-1]] = value
    return document


def delete(document: Any, path: Path) -> Any:
    if path:
        del at(document, path[:-1])[path[-1]]
    return document


@st.composite
def mutated_documents(draw: st.DrawFn) -> Any:
    """A valid event of any type with one to three values replaced, removed or added."""
    document: Any = example(draw(st.sampled_from(sorted(PAYLOADS))))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(list(paths(document))))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            document = replace(document, path, draw(hostile_values))
        elif action == "delete":
            document = delete(document, path)
        elif isinstance(target := at(document, path), dict):
            target[draw(st.text(max_size=10))] = draw(hostile_values)
    return document


def render(document: Any, *, ascii_only: bool = True) -> bytes:
    """JSON bytes; lone surrogates as \\ud800 escapes (ascii_only) or as the invalid UTF-8 they would be."""
    text = json.dumps(document, ensure_ascii=ascii_only)
    text = text.replace(json.dumps(DEEP, ensure_ascii=ascii_only), "[" * 5000 + "{}" + "]" * 5000)
    return text.encode("utf-8", "surrogatepass")
