"""Which locale answers a customer: theirs, else English, else Chinese (seed 003 §8)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def locale_chain(
    requested: str | None,
    available: Iterable[str],
    fallbacks: Sequence[str],
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """Locales to try, best first: the customer's (or its alias: zh-HK -> zh-TW), the same language
    (en-GB -> en), then the fallbacks in order (English, then Chinese), then anything there is."""
    have = sorted(available)
    chain: list[str] = []

    def add(candidate: str | None) -> None:
        if candidate and candidate in have and candidate not in chain:
            chain.append(candidate)

    if requested:
        add(requested)
        add((aliases or {}).get(requested))
        language = requested.split("-")[0].lower()
        for fallback in fallbacks:  # among the same language, the fallbacks' order first (zh -> zh-CN)
            if fallback.split("-")[0].lower() == language:
                add(fallback)
        for loc in have:
            if loc.split("-")[0].lower() == language:
                add(loc)
    for fallback in fallbacks:
        add(fallback)
    for loc in have:
        add(loc)
    return chain
