"""Cases' stories, and the replay's memory of them: a story's state is dropped once nothing can touch it again.

A case's story is every record of its case and every upstream record that opened it or merged into it: the
recording says which (an event names the record that caused it), so the stories are the groups of record keys
linked by causation (union-find). Two records with the same key are in one story: a later contact about a closed
case's waybill is part of that case's story, so a story is over only when none of its recorded inputs is left.

The replay counts each story's pending work (its recorded inputs not yet read, counted by the first pass, and
the records queued, parked or waiting). When the count falls to 0 and
none of its sla clocks is armed, the story is over: no recorded input and no timer is left that could reopen or
change it. Its
documents in the services' stores, its handled-event ids and its partition positions are dropped, so the replay
holds the open cases only. Documents that span cases (routing's open-case count per station, intake's claim
history per customer) are kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from caseflow_intake.store import CLAIMANTS
from caseflow_kit.store.port import Delete, Insert, Put, Replace, Write
from caseflow_routing.store import LOADS

from .period import Recorded

#: (service, collection) whose documents belong to no one case.
SPANNING = frozenset({("intake", CLAIMANTS), ("routing", LOADS)})


class Stories:
    """The stories, found in one pass over the records (union-find on their keys). A record may come before the
    record that caused it (partitions are merged by broker time): its link waits for its cause."""

    def __init__(self) -> None:
        self._parent: dict[str, str] = {}
        self._key_of: dict[str, str] = {}  # event id -> its record's key
        self._waiting: dict[str, list[str]] = defaultdict(list)  # cause's event id -> keys of what it caused

    def _root(self, key: str) -> str:
        parent = self._parent
        key = parent.setdefault(key, key)
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def _link(self, one: str, other: str) -> None:
        a, b = self._root(one), self._root(other)
        if a != b:
            self._parent[max(a, b)] = min(a, b)  # the smaller key names the story: the same in every run

    def add(self, record: Recorded) -> None:
        event = record.event
        key = self._parent.setdefault(event.key, event.key)  # one string per key, however many records name it
        self._key_of[event.event_id] = key
        for effect in self._waiting.pop(event.event_id, ()):
            self._link(key, effect)
        cause = event.causation_id
        if cause is None:
            return
        found = self._key_of.get(cause)
        if found is None:
            self._waiting[cause].append(key)
        else:
            self._link(key, found)

    def resolved(self) -> dict[str, str]:
        """Each record key -> the key that names its story."""
        return {key: self._root(key) for key in list(self._parent)}


def stories(records: Iterable[Recorded]) -> dict[str, str]:
    """Each record key -> the key that names its story."""
    found = Stories()
    for r in records:
        found.add(r)
    return found.resolved()


class Memory:
    """What the replay holds for each open story, and what it lets go of when the story is over."""

    def __init__(self, story_of: dict[str, str], inputs: Mapping[str, int]) -> None:
        """`story_of`: each record key's story; `inputs`: each story's recorded inputs (see `opening`)."""
        self.story_of = story_of
        self.inputs = inputs
        self.pending: dict[str, int] = defaultdict(int)
        self.docs: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        #: story -> (service, record id) -> the record's (topic, key), for each record a service handled
        self.seen: dict[str, dict[tuple[str, str], tuple[str, str]]] = defaultdict(dict)
        self.positions: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self.closed = 0
        self.peak_open = 0

    def story(self, key: str) -> str:
        return self.story_of.get(key, key)

    def opening(self, story: str) -> None:
        """A recorded input of the story is fed: the first one opens the story with all of its inputs pending, so
        that it is not over before the last of them (a later contact about its waybill) has been fed."""
        if story not in self.pending:
            self.pending[story] = self.inputs.get(story, 0)

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

    def forget(
        self, story: str
    ) -> tuple[dict[str, list[Delete]], Iterable[tuple[str, str]], set[tuple[str, str, str]]]:
        """The story's documents to delete, by service; its handled (service, event id)s; its positions."""
        deletes: dict[str, list[Delete]] = defaultdict(list)
        if story in self.docs:
            self.closed += 1
        for service, collection, key in self.docs.pop(story, ()):
            deletes[service].append(Delete(collection, key))
        return deletes, self.seen.pop(story, {}).keys(), self.positions.pop(story, set())
