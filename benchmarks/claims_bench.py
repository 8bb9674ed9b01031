"""Claim decisions per second, with same-run baselines (the machine is shared: compare ratios).

Every figure is one claim at a time on the same prebuilt case.opened events, each with a claimant
(a bare parcel exception opens no claim since issue 15: it would measure nothing):
  rules      the pure rules alone (facts -> assessment -> decision): the ceiling;
  handler    the real handler as the kit runs it (unit of work, idempotency marker, claim
             document with its ledger, outbox events) on the kit's in-memory store: claims' own cost;
  sqlite     the same on the real SQLite store, one commit per claim (what one consumer does
             per record, minus the broker round trip);
  floor      the store alone: one get and one commit of a claim-sized document per record,
             the most any handler on this store can do on this machine right now.

Run: .venv/bin/python benchmarks/claims_bench.py [--claims 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from caseflow_claims import store
from caseflow_claims.deps import ClaimsDeps
from caseflow_claims.domain.compensation import ClaimInput, assess, claim_kind_of, decide, facts_from_parcel
from caseflow_claims.handlers import on_case_opened
from caseflow_claims.rules import CompensationRules
from caseflow_claims.settings import DEFAULT_RULES
from caseflow_contracts.cases import CaseOpened, FraudFlag
from caseflow_contracts.claims import ClaimKind
from caseflow_contracts.common import CaseKind
from caseflow_kit import Context
from caseflow_kit.consumer import PROCESSED
from caseflow_kit.rules import RulesFile
from caseflow_kit.store import Collection, Insert, Query, Store
from caseflow_kit.store.memory import MemoryStore
from caseflow_kit.store.sqlite import SqliteStore
from caseflow_kit.uow import UnitOfWork
from tests.claims.factories import case_opened

TARGET = 2000


def make_events(n: int, seed: int = 7) -> list[CaseOpened]:
    rng = random.Random(seed)
    kinds = [CaseKind.LOSS, CaseKind.DAMAGE, CaseKind.SHORTAGE, CaseKind.DELAY]
    return [
        case_opened(
            kind=rng.choice(kinds),
            insured=rng.random() < 0.3,
            declared=rng.randrange(1000, 200_000),
            freight=rng.randrange(500, 5000),
            order_amount=rng.randrange(500, 150_000),
            fraud_flags=(FraudFlag.ADDRESS_MISMATCH,) if rng.random() < 0.1 else (),
        )
        for _ in range(n)
    ]


def baseline(events: list[CaseOpened], rules: CompensationRules) -> tuple[float, int]:
    started = time.perf_counter()
    approved = 0
    for event in events:
        p = event.payload
        kind = claim_kind_of(p.kind, p.parcel) or ClaimKind.LOSS
        claim = ClaimInput(
            kind, p.parcel.insured, p.parcel.declared_value, p.parcel.freight, facts_from_parcel(kind, p.parcel)
        )
        verdict = decide(assess(claim, rules), list(p.fraud_flags), rules)
        approved += verdict.decision == "approved"
    return time.perf_counter() - started, approved


async def handler(events: list[CaseOpened], deps: ClaimsDeps, db: Store) -> float:
    await db.open([*store.COLLECTIONS, Collection(PROCESSED, indexes=("at",))])
    try:
        started = time.perf_counter()
        for event in events:
            uow = UnitOfWork(db, lambda topic: topic.name, slot=0)
            uow.add(PROCESSED, {"_id": f"bench|{event.event_id}", "at": time.time()})
            await on_case_opened(
                event, Context(uow=uow, deps=deps, event=event, producer="claims", now=event.occurred_at)
            )
            await uow.commit()
        elapsed = time.perf_counter() - started
        assert await db.count(store.CLAIMS, Query()) == len(events)
    finally:
        await db.close()
    return elapsed


async def document_size(events: list[CaseOpened]) -> int:
    """Bytes of a stored claim document, on average (the floor tier writes documents this size)."""
    db = MemoryStore()
    await handler(events[:200], ClaimsDeps(RulesFile(DEFAULT_RULES, CompensationRules)), db)
    await db.open(store.COLLECTIONS)
    docs = await db.find(store.CLAIMS, Query())
    return sum(len(orjson.dumps(d)) for d in docs) // len(docs)


async def floor(n: int, folder: Path, size: int) -> float:
    db = SqliteStore(folder / "floor.db")
    await db.open([Collection("docs")])
    try:
        started = time.perf_counter()
        for i in range(n):
            await db.get("docs", f"d{i}")
            await db.commit([Insert("docs", {"_id": f"d{i}", "body": "x" * size})])
        return time.perf_counter() - started
    finally:
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="best of N rounds per tier (the machine is shared)")
    args = parser.parse_args()
    events = make_events(args.claims)
    n = len(events)
    rules_file = RulesFile(DEFAULT_RULES, CompensationRules)
    deps = ClaimsDeps(rules_file)

    best: dict[str, float] = {}

    def keep(tier: str, seconds: float) -> None:
        best[tier] = min(best.get(tier, seconds), seconds)

    approved, size = 0, 0
    for _ in range(args.rounds):
        rules_s, approved = baseline(events, rules_file.current)
        keep("rules", rules_s)
        memory = MemoryStore()
        keep("handler", asyncio.run(handler(events, deps, memory)))
        size = asyncio.run(document_size(events))
        with tempfile.TemporaryDirectory() as folder:
            keep("sqlite", asyncio.run(handler(events, deps, SqliteStore(Path(folder) / "claims.db"))))
            keep("floor", asyncio.run(floor(n, Path(folder), size)))
    rate = {tier: n / seconds for tier, seconds in best.items()}
    print(f"claims: {n} ({approved} approved by the rules, the rest to review; ~{size} bytes per claim document)")
    print(f"best of {args.rounds} rounds per tier")
    print(f"rules     pure rules (assess + decide):           {rate['rules']:10,.0f} decisions/s")
    print(f"handler   claims handler, in-memory store:        {rate['handler']:10,.0f} decisions/s")
    print(f"sqlite    claims handler, SQLite, 1 commit/claim: {rate['sqlite']:10,.0f} decisions/s")
    print(f"floor     SQLite get + commit alone (baseline):   {rate['floor']:10,.0f} records/s")
    print(
        f"sqlite / floor: {rate['sqlite'] / rate['floor']:.0%}   handler / rules: {rate['handler'] / rate['rules']:.0%}"
    )
    for tier in ("handler", "sqlite"):
        verdict = "PASS" if rate[tier] >= TARGET else "FAIL"
        print(f"target >= {TARGET:,} decisions/s ({tier}): {verdict}")


if __name__ == "__main__":
    main()
