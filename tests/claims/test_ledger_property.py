"""Property: whatever is redelivered, reordered, retried or re-published, the ledger of a claim
balances and nothing is paid or charged back twice.

claims runs on the shared rig (its real consumer, SQLite store and unit of work, a manual clock). An event
is delivered again either as it was (the kit recognises its id) or re-sent under a new id (the handler
itself must change nothing); commands go through the kit's command runner; the broker stand-in may lose
the acknowledgement of a publish (the relay died between publishing and forgetting), so events are
published again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st

from caseflow_claims import commands, store
from caseflow_claims.app import SPEC
from caseflow_claims.domain import Claim, Effect, LiableShare, Review, Stamp
from caseflow_claims.settings import ClaimsSettings
from caseflow_contracts import Event, parse_event
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import Actor, CaseKind
from caseflow_dev.rig import service_under_test
from caseflow_kit.clock import ManualClock
from caseflow_kit.store import Query

from .conftest import Claims
from .factories import NOW, arbitration_declared, case_opened, case_resolved

STATIONS = ["SH-001", "HZ-002", "BJ-003"]
REVIEWER = Actor(subject="reviewer-1")

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
    st.tuples(st.just("deliver"), st.integers(0, 2), st.booleans()),
    st.tuples(st.just("deliver"), st.integers(1, 2), st.booleans()),
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


async def published(claims: Claims) -> list[Event]:
    """Everything the broker got so far, copies included (a lost acknowledgement fails the flush)."""
    with contextlib.suppress(ConnectionError):
        await claims.runtime.relay.flush()
    return [parse_event(m.value) for m in claims.broker.published if not m.topic.endswith(".dlq")]


async def load(claims: Claims, claim_id: str) -> Claim | None:
    return await store.claim(claims.runtime.store, claim_id)


async def check(claims: Claims, claim_id: str) -> None:
    claim = await load(claims, claim_id)
    if claim is None:
        return
    assert claim.balances(), claim.ledger_summary()
    approved = [d.amount_minor for d in claim.decisions if d.decision == "approved"]
    assert claim.paid_minor == max(approved, default=0)
    db = claims.runtime.store
    payouts = await db.find(store.PAYOUTS, Query(where={"claim_id": claim_id}))
    assert sorted((p["_id"], p["amount_minor"]) for p in payouts) == sorted(
        (p.payout_id, p.amount_minor) for p in claim.payouts
    )
    ids = [c.chargeback_id for c in claim.chargebacks]
    assert len(ids) == len(set(ids))
    active = sum(c.payout_share_minor for c in claim.chargebacks if c.status != "reversed")
    assert active == claim.ledger_total("chargeback") <= claim.paid_minor
    entries = await db.find(store.STATION_ENTRIES, Query(where={"claim_id": claim_id}))
    assert sum(e["total_minor"] for e in entries) == claim.ledger_total("chargeback") + claim.ledger_total("penalty")
    # every event id is published for one payout / chargeback only, and each payout has one event id
    event_ids: dict[str, set[str]] = defaultdict(set)
    sent = await published(claims)
    for e in sent:
        if e.type in ("payout.issued", "chargeback.issued"):
            ref = getattr(e.payload, "payout_id", None) or e.payload.chargeback_id  # type: ignore[attr-defined]
            event_ids[ref].add(e.event_id)
    assert set(event_ids) == {p.payout_id for p in claim.payouts} | {c.chargeback_id for c in claim.chargebacks}
    assert all(len(v) == 1 for v in event_ids.values())
    issued = {e.payload.payout_id for e in sent if e.type == "payout.issued"}  # type: ignore[attr-defined]
    assert issued <= {p.payout_id for p in claim.payouts}


async def command(claims: Claims, claim_id: str, change: Any) -> None:
    # not applicable in the claim's present state: refused, nothing written
    with contextlib.suppress(Exception):
        await commands.command(claims.runtime, claim_id, REVIEWER, change)


async def run(facts: dict[str, Any], steps: list[tuple[Any, ...]], open_at: int, folder: Path) -> None:
    settings_ = ClaimsSettings(data_dir=folder, retry_backoff_ms=0, log_format="console")
    async with service_under_test(SPEC, settings_, clock=ManualClock(NOW)) as claims:
        await story(claims, facts, steps, open_at)


async def story(claims: Claims, facts: dict[str, Any], steps: list[tuple[Any, ...]], open_at: int) -> None:
    rules_file = claims.deps.rules_file
    rules_file.current = rules_file.current.model_copy(update={"arbitrate_when": facts["arbitrate_when"]})
    rules = rules_file.current
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
    steps = [*steps[:open_at], ("deliver", 0, False), *steps[open_at:], ("deliver", 1, False), ("deliver", 2, True)]
    for i, s in enumerate(steps):
        claims.clock.advance(60)
        if s[0] == "deliver":
            again = events[s[1]]
            resent = again.model_copy(update={"event_id": f"resent-{i}-{again.event_id[:20]}"}) if s[2] else again
            await claims.deliver(resent)
        elif s[0] == "review":
            action, req, amount = s[1], s[2], s[3]
            review = Review(
                action,
                Stamp(REVIEWER, f"http-{i}"),
                reason_code=None if action == "approve" else "inspection_confirmed",
                amount_minor=amount if action == "adjust" else None,
                idempotency_key=f"req-{req}",
            )
            await command(claims, claim_id, lambda c, now, r=review: c.review(r, rules, now))
        elif s[0] == "appeal":
            stamp = Stamp(REVIEWER, f"http-{i}")
            await command(claims, claim_id, lambda c, now, st_=stamp: c.appeal("not enough", st_, rules, now))
        elif s[0] == "hq":
            liable = [LiableShare(station=st_, share_bp=bp) for st_, bp in s[1]]
            stamp = Stamp(REVIEWER, f"http-{i}")

            def arbitrate(c: Claim, now: datetime, li: list[LiableShare] = liable, by: Stamp = stamp) -> list[Effect]:
                return c.arbitrate(li, "HQ", by, rules, now)

            await command(claims, claim_id, arbitrate)
        elif s[0] == "cb_appeal":
            found = await load(claims, claim_id)
            cbs = found.chargebacks if found else []
            if cbs:
                cb = cbs[s[1] % len(cbs)]
                stamp = Stamp(Actor(subject="agent"), f"http-{i}")

                def appeal_cb(c: Claim, now: datetime, cb: Any = cb, by: Stamp = stamp) -> list[Effect]:
                    return c.appeal_chargeback(cb.chargeback_id, cb.station, "not us", by, rules=rules, now=now)

                await command(claims, claim_id, appeal_cb)
        elif s[0] == "flush":
            claims.broker.lose_acks = int(s[1])
            await published(claims)
        await check(claims, claim_id)
        assert i < 100
    claims.broker.lose_acks = 0
    sent = await published(claims)
    await check(claims, claim_id)
    claim = await load(claims, claim_id)
    assert claim is not None
    # after a clean flush everything committed is published, exactly one event id each
    paid = {e.payload.payout_id for e in sent if e.type == "payout.issued"}  # type: ignore[attr-defined]
    assert paid == {p.payout_id for p in claim.payouts}
    charged = {e.payload.chargeback_id for e in sent if e.type == "chargeback.issued"}  # type: ignore[attr-defined]
    assert charged == {c.chargeback_id for c in claim.chargebacks}
    assert sum(1 for e in sent if e.type == "claim.opened") >= 1
    assert len({e.event_id for e in sent if e.type == "claim.opened"}) == 1
    event(f"payouts: {len(claim.payouts)}")
    event(f"chargebacks: {min(len(claim.chargebacks), 3)}")
    event(f"reversed: {any(c.status == 'reversed' for c in claim.chargebacks)}")
    event(f"republished: {len(sent) > len({e.event_id for e in sent})}")


@settings(max_examples=300)
@given(facts=scenario, steps=st.lists(step, max_size=30), open_at=st.integers(0, 10))
def test_ledger_balances_and_nothing_is_paid_twice(
    facts: dict[str, Any], steps: list[tuple[Any, ...]], open_at: int
) -> None:
    with TemporaryDirectory() as folder:
        asyncio.run(run(facts, steps, open_at, Path(folder)))
