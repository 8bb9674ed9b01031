"""Property: whatever is redelivered, reordered, retried or re-published, the ledger of a claim
balances and nothing is paid or charged back twice.

The handlers run here WITHOUT the kit's de-duplication (every delivery reaches them), on the
real SQLite store through the real unit of work; the outbox is relayed by a fake relay that
may "crash" after publishing and before forgetting, so events are published again.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from caseflow_claims import model, store
from caseflow_claims.model import LiableShare, Review, Stamp
from caseflow_contracts import Event
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import Actor, CaseKind
from caseflow_kit.store import Query
from caseflow_kit.store.sqlite import SqliteStore

from .factories import arbitration_declared, case_opened, case_resolved
from .rig import Rig

STATIONS = ["SH-001", "HZ-002", "BJ-003"]


scenario = st.fixed_dictionaries(
    {
        "kind": st.sampled_from([CaseKind.LOSS, CaseKind.DELAY, CaseKind.DAMAGE]),
        "insured": st.booleans(),
        "declared": st.integers(0, 200_000),
        "freight": st.integers(0, 20_000),
        "order_amount": st.one_of(st.integers(0, 20_000), st.integers(0, 200_000)),
        "fraud": st.booleans().filter(lambda b: b) | st.just(False) | st.just(False),
        "declare": st.booleans(),
        "arbitrate_when": st.sampled_from(["paid", "case_resolved"]),
    }
)
step = st.one_of(
    st.tuples(st.just("deliver"), st.integers(0, 2)),
    st.tuples(st.just("deliver"), st.integers(1, 2)),
    st.tuples(
        st.just("review"), st.sampled_from(["approve", "adjust", "reject"]), st.integers(0, 3), st.integers(0, 150_000)
    ),
    st.tuples(st.just("appeal")),
    st.tuples(
        st.just("hq"),
        st.lists(
            st.tuples(
                st.sampled_from(STATIONS), st.sampled_from([0, 2500, 3333, 5000, 10_000]) | st.integers(0, 10_000)
            ),
            max_size=3,
            unique_by=lambda x: x[0],
        ),
    ),
    st.tuples(st.just("review"), st.just("adjust"), st.integers(0, 3), st.integers(0, 150_000)),
    st.tuples(st.just("cb_appeal"), st.integers(0, 5)),
    st.tuples(st.just("flush"), st.booleans()),
    st.tuples(st.just("flush"), st.just(True)),
)


async def check(rig: Rig, claim_id: str) -> None:
    claim = store.parse(await rig.store.get(store.CLAIMS, claim_id))
    if claim is None:
        return
    assert claim.balances(), claim.ledger_summary()
    approved = [d.amount_minor for d in claim.decisions if d.decision == "approved"]
    assert claim.paid_minor == max(approved, default=0)
    payouts = await rig.store.find(store.PAYOUTS, Query(where={"claim_id": claim_id}))
    assert sorted((p["_id"], p["amount_minor"]) for p in payouts) == sorted(
        (p.payout_id, p.amount_minor) for p in claim.payouts
    )
    ids = [c.chargeback_id for c in claim.chargebacks]
    assert len(ids) == len(set(ids))
    active = sum(c.payout_share_minor for c in claim.chargebacks if c.status != "reversed")
    assert active == claim.ledger_total("chargeback") <= claim.paid_minor
    entries = await rig.store.find(store.STATION_ENTRIES, Query(where={"claim_id": claim_id}))
    assert sum(e["total_minor"] for e in entries) == claim.ledger_total("chargeback") + claim.ledger_total("penalty")
    # every event id is published for one payout / chargeback only, and each payout has one event id
    event_ids: dict[str, set[str]] = defaultdict(set)
    for e in rig.published:
        if e.type in ("payout.issued", "chargeback.issued"):
            ref = getattr(e.payload, "payout_id", None) or e.payload.chargeback_id  # type: ignore[attr-defined]
            event_ids[ref].add(e.event_id)
    assert all(len(v) == 1 for v in event_ids.values())
    issued = {e.payload.payout_id for e in rig.published if e.type == "payout.issued"}  # type: ignore[attr-defined]
    assert issued <= {p.payout_id for p in claim.payouts}


async def run(facts: dict[str, Any], steps: list[tuple[Any, ...]], open_at: int) -> None:
    db = SqliteStore(":memory:")
    await db.open(store.COLLECTIONS)
    rig = Rig(db)
    rules = rig.deps.rules_file
    rules.current = rules.current.model_copy(update={"arbitrate_when": facts["arbitrate_when"]})
    try:
        opened = case_opened(
            kind=facts["kind"],
            insured=facts["insured"],
            declared=facts["declared"],
            freight=facts["freight"],
            order_amount=facts["order_amount"],
            fraud_flags=(FraudFlag.HIGH_ORDER_AMOUNT,) if facts["fraud"] else (),
        )
        cid = opened.payload.case_id
        events: list[Event] = [opened, case_resolved(cid)]
        events.append(arbitration_declared(cid) if facts["declare"] else case_resolved(cid))
        claim_id = store.claim_id_for(cid)
        # the opening is delivered at least once, somewhere in the story; the rest of the story follows
        steps = [*steps[:open_at], ("deliver", 0), *steps[open_at:], ("deliver", 1), ("deliver", 2)]
        for i, s in enumerate(steps):
            now = datetime.now(UTC)
            if s[0] == "deliver":
                await rig.deliver(events[s[1]])
            elif s[0] == "review":
                action, req, amount = s[1], s[2], s[3]
                command = Review(
                    action,
                    Stamp(Actor(subject="reviewer-1"), f"http-{i}"),
                    reason_code=None if action == "approve" else "inspection_confirmed",
                    amount_minor=amount if action == "adjust" else None,
                    idempotency_key=f"req-{req}",
                )
                await rig.command(claim_id, lambda c, cmd=command, t=now: model.review(c, cmd, rig.deps.rules, t))
            elif s[0] == "appeal":
                await rig.command(claim_id, lambda c, t=now: model.appeal(c, "not enough", rig.deps.rules, t))
            elif s[0] == "hq":
                liable = [LiableShare(station=st_, share_bp=bp) for st_, bp in s[1]]
                await rig.command(claim_id, lambda c, li=liable, t=now: model.hq_decide(c, li, "HQ", rig.deps.rules, t))
            elif s[0] == "cb_appeal":
                found = store.parse(await db.get(store.CLAIMS, claim_id))
                cbs = found.chargebacks if found else []
                if cbs:
                    cb = cbs[s[1] % len(cbs)]
                    await rig.command(
                        claim_id,
                        lambda c, cb=cb, t=now: model.appeal_chargeback(
                            c, cb.chargeback_id, cb.station, "not us", rules=rig.deps.rules, now=t
                        ),
                    )
            elif s[0] == "flush":
                rig.crash_next_flush = s[1]
                await rig.flush()
            await check(rig, claim_id)
            assert i < 100
        await rig.flush()
        await check(rig, claim_id)
        claim = store.parse(await db.get(store.CLAIMS, claim_id))
        assert claim is not None
        # after a clean flush everything committed is published, exactly one event id each
        paid = {e.payload.payout_id for e in rig.published if e.type == "payout.issued"}  # type: ignore[attr-defined]
        assert paid == {p.payout_id for p in claim.payouts}
        charged = {e.payload.chargeback_id for e in rig.published if e.type == "chargeback.issued"}  # type: ignore[attr-defined]
        assert charged == {c.chargeback_id for c in claim.chargebacks}
        assert sum(1 for e in rig.published if e.type == "claim.opened") >= 1
        assert len({e.event_id for e in rig.published if e.type == "claim.opened"}) == 1
        event(f"payouts: {len(claim.payouts)}")
        event(f"chargebacks: {min(len(claim.chargebacks), 3)}")
        event(f"reversed: {any(c.status == 'reversed' for c in claim.chargebacks)}")
        event(f"republished: {len(rig.published) > len({e.event_id for e in rig.published})}")
    finally:
        await db.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(facts=scenario, steps=st.lists(step, max_size=30), open_at=st.integers(0, 10))
def test_ledger_balances_and_nothing_is_paid_twice(
    facts: dict[str, Any], steps: list[tuple[Any, ...]], open_at: int
) -> None:
    asyncio.run(run(facts, steps, open_at))
