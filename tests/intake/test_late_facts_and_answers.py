"""intake's handlers for the rules of issues 15 and 20, on the shared rig (real consumer, SQLite, manual clock)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

from caseflow_contracts.cases import (
    CaseContactAfterClosure,
    CaseContactAfterClosurePayload,
    CaseMerged,
    CaseOpened,
    CaseReopened,
    CaseSatisfactionRecorded,
)
from caseflow_contracts.common import Channel, Claimant, ClaimantRole, PayoutMethod
from caseflow_contracts.upstream import (
    ContactCategory,
    ExceptionKind,
    SaleStage,
    SatisfactionAnswered,
    SatisfactionAnswerPayload,
)
from caseflow_intake.domain.case import Status

from .factories import NOW, contact, exception, resolved, waybill
from .service import IntakeUnderTest, intake

H = timedelta(hours=1)


def answered(
    case_id: str, source_id: str, *, score: int = 5, comment: str = "", at: datetime = NOW
) -> SatisfactionAnswered:
    payload = SatisfactionAnswerPayload(
        source_system="sms-gw",
        source_id=source_id,
        channel=Channel.PHONE,
        case_id=case_id,
        score=score,
        comment=comment,
        answered_at=at,
    )
    return SatisfactionAnswered.create(payload, key=case_id, producer="sms-gw", occurred_at=at)


def after_closure(
    case_id: str, source_id: str, *, closed_at: datetime, contact_at: datetime
) -> CaseContactAfterClosure:
    """What routing says when it applies intake's merge of `source_id` to a case it had closed."""
    payload = CaseContactAfterClosurePayload(
        case_id=case_id,
        source_event_id=source_id,
        station="BJ-CY-07",
        closed_at=closed_at,
        contact_at=contact_at,
        at=contact_at + H,
    )
    return CaseContactAfterClosure.create(payload, key=case_id, producer="routing", occurred_at=payload.at)


async def opened_case(svc: IntakeUnderTest, wb: str, kind: ExceptionKind = ExceptionKind.DELAY) -> str:
    await svc.deliver(exception(wb, kind, platform="天猫"))
    [(_, opened)] = await svc.emitted()
    assert isinstance(opened, CaseOpened)
    return opened.payload.case_id


async def test_a_contact_that_crossed_routings_close_reopens_the_case_once(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        case_id = await opened_case(svc, wb)
        # routing closes the case at 2 h; before intake hears of it, the customer's contact (1 h 30) is merged.
        crossing = contact(wb, ContactCategory.COMPLAINT, source_id="CT-CROSS", text="还没到，延误", at=NOW + 1.5 * H)
        assert await svc.deliver(crossing) == "handled"
        [(_, merged)] = await svc.emitted()
        assert isinstance(merged, CaseMerged)
        assert merged.payload.contact_at == NOW + 1.5 * H
        assert merged.payload.complaint
        kept = json.dumps(await svc.runtime.store.get("followups", f"{case_id}|CT-CROSS"), ensure_ascii=False)
        for secret in ("13812345678", "王小明", "建国路", "还没到"):  # the contact is kept sealed
            assert secret not in kept
        await svc.deliver(resolved(case_id, NOW + 2 * H))  # the close reaches intake
        assert (await svc.case(case_id)).status is Status.CLOSED
        notice = after_closure(case_id, "CT-CROSS", closed_at=NOW + H, contact_at=NOW + 1.5 * H)
        assert await svc.deliver(notice) == "handled"
        [(_, reopened)] = await svc.emitted()
        assert isinstance(reopened, CaseReopened)
        assert reopened.payload.case_id == case_id
        assert reopened.payload.source_event_id == "CT-CROSS"
        assert reopened.causation_id == notice.event_id
        assert (await svc.case(case_id)).status is Status.OPEN
        # Redelivered: nothing more.
        assert await svc.deliver(notice) == "duplicate"
        assert await svc.emitted() == []
        samples = {
            tuple(sorted(s.labels.items())): s.value
            for m in svc.runtime.registry.collect()
            for s in m.samples
            if s.name == "caseflow_intake_contacts_after_closure_total"
        }
        assert samples == {(("outcome", "reopened"), ("platform", "天猫"), ("station", "BJ-CY-07")): 1.0}
        # A further contact now merges into the reopened case.
        await svc.deliver(contact(wb, source_id="CT-AFTER", at=NOW + 5 * H))
        [(_, again)] = await svc.emitted()
        assert isinstance(again, CaseMerged)
        assert again.payload.case_id == case_id


async def test_a_contact_after_closure_past_the_window_opens_a_linked_case(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        case_id = await opened_case(svc, wb, ExceptionKind.LOSS)
        late = NOW + 9 * 24 * H  # intake has not heard of a close routing made a week before
        await svc.deliver(contact(wb, ContactCategory.CLAIM_REQUEST, source_id="CT-LATE", text="包裹丢失了", at=late))
        [(_, merged)] = await svc.emitted()
        assert isinstance(merged, CaseMerged)
        assert merged.payload.claimant == Claimant(role=ClaimantRole.RECIPIENT)
        assert await svc.deliver(after_closure(case_id, "CT-LATE", closed_at=NOW + H, contact_at=late)) == "handled"
        [(_, follow_up)] = await svc.emitted()
        assert isinstance(follow_up, CaseOpened)
        assert follow_up.payload.linked_case_id == case_id
        assert follow_up.payload.claimant == Claimant(role=ClaimantRole.RECIPIENT)
        assert (await svc.case(case_id)).status is Status.CLOSED  # routing's view is final
        assert (await svc.case(follow_up.payload.case_id)).status is Status.OPEN


async def test_a_notice_about_an_unknown_case_or_contact_is_dead_lettered(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        case_id = await opened_case(svc, waybill())
        unknown_case = after_closure("CF-20260110NOSUCH0000", "CT-1", closed_at=NOW, contact_at=NOW)
        unknown_contact = after_closure(case_id, "CT-NEVER-MERGED", closed_at=NOW, contact_at=NOW)
        assert await svc.deliver(unknown_case) == "dead_lettered"
        assert await svc.deliver(unknown_contact) == "dead_lettered"
        reasons = [m.headers["x-dlq-reason"] for _, m in await svc.emitted()]
        assert reasons == ["unknown_case", "unknown_contact"]


async def test_claimants_complaints_and_evidence_travel_on_the_case(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        refund = contact(
            None,
            ContactCategory.INQUIRY,
            platform="京东",
            platform_order_id="JD-REFUND-1",
            sale_stage=SaleStage.AFTER_SALE,
            after_sale_type="refund",
            text="要求退款，我要投诉",
        )
        await svc.deliver(refund)
        signed = contact(
            waybill(), ContactCategory.SIGNED_NOT_RECEIVED, text="显示签收但没收到", evidence_refs=["sig-0001"]
        )
        await svc.deliver(signed)
        [(_, by_refund), (_, by_signed)] = await svc.emitted()
        assert by_refund.payload.claimant == Claimant(
            role=ClaimantRole.RECIPIENT, payout_method=PayoutMethod.PLATFORM_REFUND
        )
        assert by_refund.payload.complaint
        assert "platform service team" in by_refund.payload.station_hint.reason
        assert by_signed.payload.kind.value == "signed_not_received"
        assert by_signed.payload.evidence_refs == ["sig-0001"]
        assert by_signed.payload.claimant is None
        assert not by_signed.payload.complaint


async def test_an_unknown_problem_code_is_dead_lettered_with_its_reason(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        assert await svc.deliver(exception(kind=ExceptionKind.PROBLEM_PARCEL, problem_code="外星件")) == "dead_lettered"
        assert await svc.deliver(exception(kind=ExceptionKind.PROBLEM_PARCEL, problem_code="地址不详")) == "handled"
        [(topic, letter), (_, opened)] = await svc.emitted()
        assert topic == "upstream.parcel-exceptions.dlq"
        assert letter.headers["x-dlq-reason"] == "unknown_problem_code"
        assert "problem-parcel types" in letter.headers["x-dlq-detail"]
        assert opened.payload.parcel.problem_code == "地址不详"


async def test_satisfaction_answers_land_on_their_case_once_scrubbed(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        case_id = await opened_case(svc, waybill())
        first = answered(case_id, "SV-1", score=2, comment="王小明不满意，回电13812345678", at=NOW + H)
        assert await svc.deliver(first) == "handled"
        resent = answered(case_id, "SV-1", score=2, comment="王小明不满意，回电13812345678", at=NOW + H)
        assert resent.event_id != first.event_id
        assert await svc.deliver(resent) == "handled"  # a new envelope for the same answer: recognised
        assert await svc.deliver(answered("CF-20260110NOSUCH0000", "SV-2")) == "dead_lettered"
        [(_, recorded), (dlq, letter)] = await svc.emitted()
        assert isinstance(recorded, CaseSatisfactionRecorded)
        assert recorded.key == case_id
        assert recorded.payload.score == 2
        assert "13812345678" not in recorded.payload.comment
        assert "王小明" not in recorded.payload.comment
        assert dlq == "upstream.customer-contacts.dlq"
        assert letter.headers["x-dlq-reason"] == "unknown_case"
        history = (await svc.case(case_id)).history
        assert [(h.action, h.score) for h in history] == [("opened", None), ("satisfaction", 2)]
