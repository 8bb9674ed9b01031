"""claims' handlers and commands on the shared rig (real consumer and SQLite store, manual clock, no broker):
who asks for compensation, which cases open claims, what the events say, commands and their actor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from caseflow_claims import commands, store
from caseflow_claims.domain import CaseCopy, Claim, ClaimRefused, ClaimRequest, FactsUpdate, Review, Stamp, Status
from caseflow_contracts import Event
from caseflow_contracts.cases import FraudFlag
from caseflow_contracts.claims import ClaimKind
from caseflow_contracts.common import Actor, CaseKind, Claimant, ClaimantRole, PayoutMethod
from caseflow_contracts.topics import STATIONS_UPDATES
from caseflow_kit.store import Query

from .conftest import Claims
from .factories import NOW, SENDER, arbitration_declared, case_merged, case_opened

REVIEWER = Actor(subject="reviewer-1", roles=["claims.reviewer"])


async def stored(claims: Claims, case_id: str) -> Claim | CaseCopy | None:
    doc = await claims.runtime.store.get(store.CLAIMS, store.claim_id_for(case_id))
    return None if doc is None else store.from_doc(doc)


async def claim_of(claims: Claims, case_id: str) -> Claim:
    found = await stored(claims, case_id)
    assert isinstance(found, Claim), found
    return found


def types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize(
    ("kind", "category", "exception_kind", "claim_kind"),
    [
        (CaseKind.LOSS, None, None, "loss"),
        (CaseKind.DAMAGE, None, None, "damage"),
        (CaseKind.SHORTAGE, None, None, "shortage"),
        (CaseKind.DELAY, None, None, "delay"),
        (CaseKind.DAMAGE, None, "wrong_contents", "wrong_contents"),
        (CaseKind.COMPLAINT, "claim_request", "loss", "loss"),
        (CaseKind.AFTER_SALE, None, None, "loss"),  # a platform's refund request: a reviewer sets the kind
    ],
)
async def test_a_claimant_opens_a_claim_on_any_case(
    claims: Claims, kind: CaseKind, category: str | None, exception_kind: str | None, claim_kind: str
) -> None:
    event = case_opened(kind=kind, category=category, exception_kind=exception_kind)
    assert await claims.deliver(event) == ["handled"]
    claim = await claim_of(claims, event.payload.case_id)
    assert claim.claim_kind.value == claim_kind
    assert (claim.claimant, claim.source) == (SENDER, "case_opened")
    published = await claims.events()
    expected = ["claim.opened", "claim.decided"] + ["payout.issued"] * len(claim.payouts)
    expected += ["arbitration.decided"] * (claim.liability is not None)
    expected += ["chargeback.issued"] * len(claim.chargebacks)
    assert types(published) == expected
    assert published[0].payload.claimant == SENDER  # type: ignore[attr-defined]
    assert all(e.occurred_at == NOW and e.actor is None for e in published)  # the handler's clock; no person
    assert claim.balances()


@pytest.mark.parametrize("kind", [CaseKind.LOSS, CaseKind.DAMAGE, CaseKind.DELAY, CaseKind.INQUIRY])
async def test_a_bare_exception_opens_no_claim_and_pays_nothing(claims: Claims, kind: CaseKind) -> None:
    """Issue 15: a delay exception, 12 CNY freight, days late unknown, nobody asking, was paid 12 CNY and the
    last scanning station charged 12 + 100 CNY. Now claims only keeps its copy of the case."""
    event = case_opened(kind=kind, freight=1200, claimant=None)
    assert await claims.deliver(event) == ["handled"]
    copy = await stored(claims, event.payload.case_id)
    assert isinstance(copy, CaseCopy)
    assert copy.opened is not None
    assert copy.opened.parcel.freight == event.payload.parcel.freight
    assert await claims.events() == []
    assert await claims.runtime.store.count(store.PAYOUTS, Query()) == 0


async def test_a_contact_asking_later_opens_the_claim_on_the_case_facts(claims: Claims) -> None:
    opened = case_opened(order_amount=1000, claimant=None)
    cid = opened.payload.case_id
    recipient = Claimant(role=ClaimantRole.RECIPIENT, payout_method=PayoutMethod.PLATFORM_REFUND)
    assert await claims.deliver(opened, case_merged(cid, claimant=None)) == ["handled", "handled"]
    assert await claims.events() == []
    later = NOW + timedelta(hours=3)
    assert await claims.deliver(case_merged(cid, claimant=recipient, at=later)) == ["handled"]
    claim = await claim_of(claims, cid)
    assert (claim.claimant, claim.source, claim.opened_at) == (recipient, "case_merged", later.isoformat())
    assert claim.paid_minor == 2000  # the case's own facts: 1,000 lost + 1,000 freight back
    assert claim.customer_ref == opened.payload.customer_ref
    again = case_merged(cid, claimant=SENDER, at=later)  # the sender asks too: one claim per case
    assert await claims.deliver(again) == ["handled"]
    published = await claims.events()
    assert types(published).count("claim.opened") == 1
    assert published[0].payload.claimant == recipient  # type: ignore[attr-defined]


async def test_a_contact_asking_for_a_case_claims_never_saw_is_dead_lettered(claims: Claims) -> None:
    merged = case_merged("CF-NEVERSEEN0001")
    assert await claims.deliver(merged) == ["dead_lettered"]
    [dead] = await claims.dead_letters()
    assert dead.headers["x-dlq-reason"] == "case_not_known_yet"
    assert await stored(claims, "CF-NEVERSEEN0001") is None


async def test_the_rules_may_open_claims_for_bare_exceptions_of_a_kind(claims: Claims) -> None:
    rules = claims.deps.rules_file
    rules.current = rules.current.model_copy(
        update={"open_without_claimant": {ClaimKind.DELAY: ClaimantRole.SENDER, ClaimKind.LOSS: ClaimantRole.SENDER}}
    )
    delay = case_opened(kind=CaseKind.DELAY, freight=1200, claimant=None)
    loss = case_opened(kind=CaseKind.LOSS, order_amount=1000, claimant=None)
    damage = case_opened(kind=CaseKind.DAMAGE, claimant=None)
    assert await claims.deliver(delay, loss, damage) == ["handled"] * 3
    late = await claim_of(claims, delay.payload.case_id)
    assert (late.source, late.claimant, late.status) == ("rules", SENDER, Status.PENDING_REVIEW)
    assert late.paid_minor == 0  # never with days late unknown
    assert (await claim_of(claims, loss.payload.case_id)).paid_minor == 2000
    assert isinstance(await stored(claims, damage.payload.case_id), CaseCopy)


async def test_a_decision_tells_the_customer_the_appeal_window_claims_enforces(claims: Claims) -> None:
    event = case_opened(order_amount=1000)
    await claims.deliver(event)
    [decided] = await claims.events("claim.decided")
    days = claims.deps.rules.customer_appeal_days
    assert decided.payload.appeal_until == NOW + timedelta(days=days)  # type: ignore[attr-defined]
    claim_id = store.claim_id_for(event.payload.case_id)
    stamp = Stamp(REVIEWER, "req-1")
    rules = claims.deps.rules
    claims.clock.set(NOW + timedelta(days=days, seconds=1))
    with pytest.raises(ClaimRefused, match="appeal_window_closed"):
        await commands.command(claims.runtime, claim_id, REVIEWER, lambda c, now: c.appeal("late", stamp, rules, now))


async def test_fraud_flag_sends_a_small_claim_to_review(claims: Claims) -> None:
    event = case_opened(order_amount=1000, fraud_flags=(FraudFlag.SIGNED_FOR,))
    await claims.deliver(event)
    claim = await claim_of(claims, event.payload.case_id)
    assert claim.status is Status.PENDING_REVIEW
    assert claim.assessed_amount_minor == 2000
    assert claim.payouts == []
    assert "signed_for" in claim.decisions[0].reason


async def test_opening_twice_under_new_event_ids_opens_one_claim(claims: Claims) -> None:
    opened = case_opened(order_amount=1000)
    assert await claims.deliver(opened, opened.model_copy(update={"event_id": "another-id"}), opened) == [
        "handled",
        "handled",  # the case opened again under a new event id: the handler finds the claim
        "duplicate",  # redelivered: the kit knows the event id
    ]
    assert types(await claims.events()) == [
        "claim.opened",
        "claim.decided",
        "payout.issued",
        "arbitration.decided",
        "chargeback.issued",
    ]


async def test_a_self_declaration_is_dead_lettered(claims: Claims) -> None:
    opened = case_opened(order_amount=1000)
    await claims.deliver(opened)
    bad = arbitration_declared(opened.payload.case_id, station="HZ-002", liable="HZ-002")
    assert await claims.deliver(bad) == ["dead_lettered"]
    [dead] = await claims.dead_letters()
    assert (dead.topic, dead.headers["x-dlq-reason"]) == (STATIONS_UPDATES.name + ".dlq", "self_declaration")


# -- commands: the kit's command runner, the actor on every event -------------------------------------


async def test_a_command_is_committed_once_with_its_actor_on_every_event(claims: Claims) -> None:
    big = case_opened(order_amount=100_000, freight=20_000, insured=True, declared=90_000)  # review
    await claims.deliver(big)
    await claims.emitted()
    claim_id = store.claim_id_for(big.payload.case_id)
    rules = claims.deps.rules
    review = Review("approve", Stamp(REVIEWER, "http-1"), idempotency_key="rq-1")
    claims.clock.advance(60)

    async def approve() -> Claim:
        return await commands.command(claims.runtime, claim_id, REVIEWER, lambda c, now: c.review(review, rules, now))

    assert (await approve()).paid_minor == 110_000
    assert (await approve()).paid_minor == 110_000  # a retried request: nothing new
    emitted = [event for _, event in await claims.emitted()]
    assert types(emitted) == [
        "claim.decided",
        "payout.issued",
        "arbitration.decided",
        "chargeback.issued",
        "claim.audited",
    ]
    assert all(e.actor == REVIEWER and e.occurred_at == NOW + timedelta(seconds=60) for e in emitted)
    other = Review("approve", review.stamp)  # a different request on a decided claim
    with pytest.raises(ClaimRefused, match="not_reviewable"):
        await commands.command(claims.runtime, claim_id, REVIEWER, lambda c, now: c.review(other, rules, now))
    with pytest.raises(ClaimRefused, match="not_found"):
        await commands.command(claims.runtime, "CL-NOSUCH", REVIEWER, lambda c, now: [])
    assert await claims.emitted() == []  # refusals write nothing


async def test_a_claim_opened_through_the_api(claims: Claims) -> None:
    opened = case_opened(kind=CaseKind.DELAY, freight=1200, claimant=None)
    cid = opened.payload.case_id
    stamp = Stamp(REVIEWER, "http-9")

    def asked(key: str | None = "open-1", days_late: int | None = None) -> ClaimRequest:
        facts = FactsUpdate(days_late=days_late)
        return ClaimRequest(SENDER, "api", stamp, ClaimKind.DELAY, facts, idempotency_key=key)

    with pytest.raises(ClaimRefused, match="case_not_known_yet"):  # claims' copy lags behind intake
        await commands.open_claim(claims.runtime, cid, asked(days_late=2))
    assert await stored(claims, cid) is None
    await claims.deliver(opened)
    claim, created = await commands.open_claim(claims.runtime, cid, asked(days_late=2))
    assert created
    assert (claim.opened_by, claim.source, claim.paid_minor) == (REVIEWER, "api", 1200)
    assert (await commands.open_claim(claims.runtime, cid, asked(days_late=2)))[1] is False  # the same request
    with pytest.raises(ClaimRefused, match="claim_exists"):
        await commands.open_claim(claims.runtime, cid, asked("open-2"))
    emitted = [event for _, event in await claims.emitted()]
    assert types(emitted)[:3] == ["claim.opened", "claim.decided", "payout.issued"]
    assert all(e.actor == REVIEWER for e in emitted)


async def test_the_rules_file_is_reloaded_by_the_kits_one_job(claims: Claims) -> None:
    assert claims.runtime.spec.rules_files(claims.deps) == [claims.deps.rules_file]
    assert "claims_rules_reload_s" not in type(claims.runtime.settings).model_fields
