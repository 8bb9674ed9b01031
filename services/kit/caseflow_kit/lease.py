"""One sweeper at a time: a lease in the store gates the outbox sweep of replicas that share the store.

Each replica publishes what it commits itself; the sweep publishes what is left in
the store (a crashed replica's rows). Two replicas sweeping one store would both
publish the same rows; with this lease only the holder sweeps. The lease is taken and renewed by
compare-and-set on wall-clock time; a replica that stops releases it, one that
dies loses it after `ttl_s`. Published events keep their deterministic ids, so
the rare overlap (a holder paused past its lease) is still recognisable.
"""

from __future__ import annotations

import contextlib
import time
import uuid

from .store import Collection, ConflictError, DuplicateKeyError, Insert, Replace, Store

LEASES = "_leases"
LEASE_COLLECTION = Collection(LEASES)


class RelayLease:
    def __init__(self, store: Store, *, name: str = "outbox-sweep", ttl_s: float = 5.0) -> None:
        self.store = store
        self.name = name
        self.ttl_s = ttl_s
        self.owner = uuid.uuid4().hex
        self._valid_until = 0.0

    async def held(self) -> bool:
        """True when this replica holds the lease (taking or renewing it as needed)."""
        now = time.time()
        if now < self._valid_until - self.ttl_s / 2:
            return True
        doc = await self.store.get(LEASES, self.name)
        fresh = {"_id": self.name, "owner": self.owner, "expires_at": now + self.ttl_s}
        try:
            if doc is None:
                await self.store.commit([Insert(LEASES, fresh)])
            elif doc["owner"] == self.owner or float(doc["expires_at"]) < now:
                await self.store.commit([Replace(LEASES, fresh, int(doc["_v"]))])
            else:
                self._valid_until = 0.0
                return False
        except (ConflictError, DuplicateKeyError):
            self._valid_until = 0.0
            return False
        self._valid_until = now + self.ttl_s
        return True

    async def release(self) -> None:
        if self._valid_until <= time.time():
            return
        self._valid_until = 0.0
        doc = await self.store.get(LEASES, self.name)
        if doc is not None and doc["owner"] == self.owner:
            with contextlib.suppress(ConflictError):
                await self.store.commit([Replace(LEASES, {**doc, "expires_at": 0.0}, int(doc["_v"]))])
