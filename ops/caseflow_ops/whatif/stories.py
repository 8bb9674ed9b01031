"""Cases' stories, and the replay's memory of them: a story's state is dropped once nothing can touch it again.

A case's story is every record of its case and every upstream record that opened it or merged into it: the
recording says which (an event names the record that caused it), so the stories are the groups of record keys
linked by causation (union-find). Two records with the same key are in one story: a later contact about a closed
case's waybill is part of that case's story, so a story is over only when none of its recorded inputs is left.

The replay counts each story's pending work (records queued, parked or waiting). When the count falls to 0 and
none of its sla clocks is armed, the story is over: no recorded input and no timer is left that could reopen or
change it. Its
documents in the services' stores, its handled-event ids and its partition positions are dropped, so the replay
holds the open cases only. Documents that span cases (routing's open-case count per station, intake's claim
history per customer) are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from caseflow_intake.store import CLAIMANTS
from caseflow_kit.store.port import Delete, Insert, Put, Replace, Write
from caseflow_routing.store import LOADS

from .period import Recorded

#: (service, collection) whose documents belong to no one case.
SPANNING = frozenset({("intake", CLAIMANTS), ("routing", LOADS)})


def stories(records: Sequence[Recorded]) -> dict[str, str]:
    """Each record key -> the key that names its story."""
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    key_of = {r.event.event_id: r.event.key for r in records}
    for r in records:
        cause = key_of.get(r.event.causation_id or "")
        a = root(r.event.key)
        if cause is not None:
            b = root(cause)
            if a != b:
                parent[max(a, b)] = min(a, b)  # the smaller key names the story: the same in every run
    return {key: root(key) for key in list(parent)}


class Memory:
    """What the replay holds for each open story, and what it lets go of when the story is over."""

    def __init__(self, records: Sequence[Recorded]) -> None:
        self.story_of = stories(records)
        self.pending: dict[str, int] = defaultdict(int)
        self.docs: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self.seen: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.positions: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self.closed = 0
        self.peak_open = 0

    def story(self, key: str) -> str:
        return self.story_of.get(key, key)

    def more(self, story: str) -> None:
        self.pending[story] += 1

    def done(self, story: str) -> bool:
        """One piece of the story's work is done; True when none is left."""
        left = self.pending[story] - 1
        if left:
            self.pending[story] = left
            return False
        del self.pending[story]
        return True

    def wrote(self, story: str, service: str, writes: Iterable[Write]) -> None:
        for w in writes:
            if isinstance(w, Insert | Replace | Put) and (service, w.collection) not in SPANNING:
                self.docs[story].add((service, w.collection, str(w.doc["_id"])))
        self.peak_open = max(self.peak_open, len(self.docs))

    def held(self, story: str, service: str, collection: str) -> list[str]:
        return [key for s, c, key in self.docs.get(story, ()) if (s, c) == (service, collection)]

    def forget(self, story: str) -> tuple[dict[str, list[Delete]], set[tuple[str, str]], set[tuple[str, str, str]]]:
        """The story's documents to delete, by service; its handled (service, event id)s; its positions."""
        deletes: dict[str, list[Delete]] = defaultdict(list)
        if story in self.docs:
            self.closed += 1
        for service, collection, key in self.docs.pop(story, ()):
            deletes[service].append(Delete(collection, key))
        return deletes, self.seen.pop(story, set()), self.positions.pop(story, set())
