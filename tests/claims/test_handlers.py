"""Handlers on the real SQLite store (no broker): which cases open claims, declarations that come early."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from caseflow_claims import store
from caseflow_claims.model import ClaimRecord, Status
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.common import CaseKind
from caseflow_kit.store.sqlite import SqliteStore

from .factories import arbitration_declared, case_opened, case_resolved
from .rig import Rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    db = SqliteStore(":memory:")
    await db.open(store.COLLECTIONS)
    yield Rig(db)
    await db.close()


async def claim_of(rig: Rig, case_id: str) -> ClaimRecord | None:
    return store.parse(await rig.store.get(store.CLAIMS, store.claim_id_for(case_id)))


@pytest.mark.parametrize(
    ("kind", "category", "exception_kind", "claim_kind"),
    [
        (CaseKind.LOSS, None, None, "loss"),
        (CaseKind.DAMAGE, None, None, "damage"),
        (CaseKind.SHORTAGE, None, None, "shortage"),
        (CaseKind.DELAY, None, None, "delay"),
        (CaseKind.DAMAGE, None, "wrong_contents", "wrong_contents"),
        (CaseKind.COMPLAINT, "claim_request", "loss", "loss"),
        (CaseKind.INQUIRY, None, None, None),
        (CaseKind.OUT_OF_AREA_TRANSFER, None, None, None),
        (CaseKind.COMPLAINT, "complaint", None, None),
    ],
)
async def test_which_cases_open_a_claim(
    rig: Rig, kind: CaseKind, category: str | None, exception_kind: str | None, claim_kind: str | None
) -> None:
    event = case_opened(kind=kind, category=category, exception_kind=exception_kind)
    await rig.deliver(event)
    claim = await claim_of(rig, event.payload.case_id)
    assert (claim.claim_kind.value if claim else None) == claim_kind
    await rig.flush()
    if claim is None:
        assert rig.published == []
    else:
        expected = ["claim.opened", "claim.decided"] + ["payout.issued"] * len(claim.payouts)
        expected += ["arbitration.decided"] * (claim.liability is not None)
        expected += ["chargeback.issued"] * len(claim.chargebacks)
        assert [e.type for e in rig.published] == expected
        assert claim.balances()


async def test_fraud_flag_sends_a_small_claim_to_review(rig: Rig) -> None:
    event = case_opened(order_amount=1000, fraud_flags=(FraudFlag.SIGNED_FOR,))
    await rig.deliver(event)
    claim = await claim_of(rig, event.payload.case_id)
    assert claim is not None
    assert claim.status is Status.PENDING_REVIEW
    assert claim.assessed_amount_minor == 2000
    assert claim.payouts == []
    assert "signed_for" in claim.decisions[0].reason


async def test_a_declaration_before_the_claim_waits_for_it_and_stops_custody_arbitration(rig: Rig) -> None:
    opened = case_opened(order_amount=1000)
    cid = opened.payload.case_id
    declared = arbitration_declared(cid, station="BJ-003", liable="SH-001")
    await rig.deliver(declared)
    await rig.deliver(declared)  # redelivered
    await rig.deliver(case_resolved(cid))  # nothing to resolve yet
    assert await claim_of(rig, cid) is None
    await rig.deliver(opened)
    await rig.deliver(case_resolved(cid))
    claim = await claim_of(rig, cid)
    assert claim is not None
    assert [d.liable_station for d in claim.declarations] == ["SH-001"]
    assert claim.paid_minor == 2000
    assert claim.liability is None  # HQ decides, not the scan trail
    assert claim.ledger_summary()["absorbed_minor"] == 2000
    assert claim.balances()


async def test_opening_twice_under_new_event_ids_opens_one_claim(rig: Rig) -> None:
    opened = case_opened(order_amount=1000)
    await rig.deliver(opened)
    await rig.deliver(opened.model_copy(update={"event_id": "another-id"}))
    await rig.flush()
    assert [e.type for e in rig.published] == [
        "claim.opened",
        "claim.decided",
        "payout.issued",
        "arbitration.decided",
        "chargeback.issued",
    ]
