"""Issue 20: claims decides from copies of facts other services own; late or early, the outcome is the same.

Through the shared rig (real consumer, SQLite, manual clock): intake's case (case.opened, case.merged) and
routing's resolution (case.resolved) come in order on one partition of cases.lifecycle; a station's
arbitration declaration comes on stations.updates, in no order with them. The README lists each decision.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from caseflow_claims import commands, store
from caseflow_claims.domain import CaseCopy, Claim, DeclarationRecord, LiableShare, Stamp
from caseflow_contracts import Event
from caseflow_contracts.common import Actor
from caseflow_kit.store import Insert

from .conftest import Claims
from .factories import SENDER, arbitration_declared, case_merged, case_opened, case_resolved

ARBITER = Actor(subject="hq-arb-1", roles=["claims.arbiter"])


async def slot(claims: Claims, case_id: str) -> Claim | CaseCopy | None:
    doc = await claims.runtime.store.get(store.CLAIMS, store.claim_id_for(case_id))
    return None if doc is None else store.from_doc(doc)


async def test_a_declaration_before_the_claim_is_parked_as_a_typed_record_and_taken_over(claims: Claims) -> None:
    opened = case_opened(order_amount=1000)
    cid = opened.payload.case_id
    declared = arbitration_declared(cid, station="BJ-003", liable="SH-001")
    assert await claims.deliver(declared, declared) == ["handled", "duplicate"]
    parked = await slot(claims, cid)
    assert isinstance(parked, CaseCopy)
    assert parked.opened is None  # the station's topic ran ahead of intake's
    assert [type(d) for d in parked.declarations] == [DeclarationRecord]
    assert (parked.declarations[0].event_id, parked.declarations[0].liable_station) == (declared.event_id, "SH-001")
    assert await claims.deliver(opened, case_resolved(cid)) == ["handled", "handled"]
    claim = await slot(claims, cid)
    assert isinstance(claim, Claim)
    assert [d.liable_station for d in claim.declarations] == ["SH-001"]
    assert claim.paid_minor == 2000
    assert claim.liability is None  # the trail names HZ-002: disputed, HQ decides, not the scan trail
    assert claim.disputed
    assert claim.ledger_summary()["absorbed_minor"] == 2000
    assert any(e.kind == "declaration" and e.ref == "proof-1" for e in claim.evidence)
    assert claim.balances()
    queue = await store.queue(claims.runtime.store, status=None, disputed=True, limit=10)
    assert [c.claim_id for c in queue] == [claim.claim_id]  # HQ's queue


async def test_a_legacy_placeholder_reads_as_the_case_copy(claims: Claims) -> None:
    """Before 1.2 early declarations were parked as raw dicts marked `placeholder`: they still count."""
    opened = case_opened(order_amount=1000)
    cid = opened.payload.case_id
    declared = arbitration_declared(cid, station="BJ-003", liable="SH-001")
    legacy = {
        "_id": store.claim_id_for(cid),
        "case_id": cid,
        "placeholder": True,
        "declarations": [DeclarationRecord.of(declared).model_dump(mode="json")],
    }
    await claims.runtime.store.commit([Insert(store.CLAIMS, legacy)])
    await claims.deliver(opened)
    claim = await slot(claims, cid)
    assert isinstance(claim, Claim)
    assert [d.event_id for d in claim.declarations] == [declared.event_id]
    assert claim.liability is None


def story(named: str) -> tuple[str, dict[str, Event]]:
    """A lost parcel whose sender asks for compensation; its case resolved; a station declares `named`."""
    opened = case_opened(order_amount=1000, claimant=None)
    cid = opened.payload.case_id
    events: dict[str, Event] = {
        "opened": opened,
        "asked": case_merged(cid, claimant=SENDER),
        "resolved": case_resolved(cid),
        "declared": arbitration_declared(cid, station="BJ-003", liable=named),
    }
    return cid, events


#: Every order they can reach claims in: the case opens first (one partition of cases.lifecycle keeps its
#: story in order), the sender may ask before or after routing resolves it, and the station's declaration
#: (stations.updates) falls anywhere among them.
ORDERS = [
    order
    for order in itertools.permutations(["opened", "asked", "resolved", "declared"])
    if order.index("opened") < min(order.index("asked"), order.index("resolved"))
]


async def outcome(claims: Claims, order: tuple[str, ...], arbitrate_when: str, named: str) -> tuple[Any, ...]:
    rules = claims.deps.rules_file
    rules.current = rules.current.model_copy(update={"arbitrate_when": arbitrate_when})
    cid, events = story(named)
    for name in order:
        assert await claims.deliver(events[name]) == ["handled"], name
    claim = await slot(claims, cid)
    assert isinstance(claim, Claim)
    assert claim.balances()
    if claim.disputed:  # HQ has the last word where the trail and a station disagree
        decision = [LiableShare(station="SH-001", share_bp=10_000)]
        stamp = Stamp(ARBITER, "http-1")

        def arbitrate(c: Claim, now: Any) -> Any:
            return c.arbitrate(decision, "packed badly at origin", stamp, claims.deps.rules, now)

        claim = await commands.command(claims.runtime, claim.claim_id, ARBITER, arbitrate)
    net = {c.station: c.payout_share_minor + c.penalty_minor for c in claim.chargebacks if c.status != "reversed"}
    return net, claim.ledger_summary(), claim.disputed, sorted((e.kind, e.ref.split(":")[0]) for e in claim.evidence)


@pytest.mark.parametrize("arbitrate_when", ["paid", "case_resolved"])
@pytest.mark.parametrize("named", ["HZ-002", "SH-001"], ids=["trail agrees", "trail disputed"])
async def test_the_order_facts_arrive_in_does_not_change_the_outcome(
    claims: Claims, arbitrate_when: str, named: str
) -> None:
    assert len(ORDERS) == 8
    outcomes = {order: await outcome(claims, order, arbitrate_when, named) for order in ORDERS}
    first = next(iter(outcomes.values()))
    assert all(o == first for o in outcomes.values()), outcomes
    net, ledger, disputed, _ = first
    assert not disputed
    assert net == ({"HZ-002": 2000 + 10_000} if named == "HZ-002" else {"SH-001": 2000 + 10_000})
    assert (ledger["paid_minor"], ledger["charged_back_minor"], ledger["absorbed_minor"]) == (2000, 2000, 0)


async def test_a_resolution_the_claim_missed_still_settles_liability_when_rules_wait_for_it(claims: Claims) -> None:
    """With `arbitrate_when: case_resolved` a claim asked for after the case was resolved used to wait forever:
    the resolution had reached claims before there was a claim to record it on."""
    rules = claims.deps.rules_file
    rules.current = rules.current.model_copy(update={"arbitrate_when": "case_resolved"})
    _, events = story("HZ-002")
    await claims.deliver(events["opened"], events["resolved"], events["asked"])
    types = [e.type for e in await claims.events()]
    assert types == ["claim.opened", "claim.decided", "payout.issued", "arbitration.decided", "chargeback.issued"]
