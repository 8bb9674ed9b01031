"""intake's handlers on a real SQLite store, records fed to the kit's guarded consumer (no broker)."""

from __future__ import annotations

import asyncio
import base64
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from caseflow_contracts.cases import (
    CaseClosed,
    CaseClosedPayload,
    CaseMerged,
    CaseOpened,
    CaseReopened,
    FraudFlag,
)
from caseflow_contracts.common import CaseKind, Channel, Money, Priority
from caseflow_contracts.stations import ResolutionResult
from caseflow_contracts.topics import UPSTREAM_CUSTOMER_CONTACTS, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import ContactCategory, ExceptionKind, SaleStage
from caseflow_intake.domain.case import Status
from caseflow_intake.http import present
from caseflow_intake.settings import DEFAULT_RULES
from caseflow_kit.privacy import Sealer, SealError

from .factories import NOW, RULES, TEST_KEY, address, contact, customer, exception, resolved, waybill
from .service import IntakeUnderTest, intake


async def test_an_exception_opens_one_case_with_what_downstream_needs(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        event = exception(
            kind=ExceptionKind.DAMAGE,
            declared_value=Money(amount_minor=300000),
            insured=True,
            order_amount=Money(amount_minor=800000),
            shipping_address=address(),
            billing_address=address("浦东新区世纪大道100号", city="上海市", province="上海市"),
            customer=customer(vip=True),
            description="客户王小明(13812345678)反映外箱破损",
        )
        assert await svc.deliver(event) == "handled"
        [(topic, opened)] = await svc.emitted()
        assert topic == "cases.lifecycle"
        assert isinstance(opened, CaseOpened)
        p = opened.payload
        assert opened.key == p.case_id
        assert opened.causation_id == event.event_id
        assert opened.correlation_id == event.correlation_id
        assert p.kind is CaseKind.DAMAGE
        assert p.channel is Channel.UPSTREAM
        assert p.priority is Priority.HIGH
        assert "VIP customer" in p.priority_reasons
        assert p.station_hint.station == "BJ-CY-07"
        assert set(p.fraud_flags) == {FraudFlag.HIGH_ORDER_AMOUNT, FraudFlag.ADDRESS_MISMATCH}
        assert p.parcel.insured
        assert p.parcel.declared_value == Money(amount_minor=300000)
        assert p.area is not None
        assert p.area.city == "北京市"
        assert p.vip
        assert p.rules_version == RULES.version
        raw = opened.model_dump_json()
        for secret in ("13812345678", "王小明", "建国路", "110101199003071234", "xiaoming.wang@"):
            assert secret not in raw
        assert p.customer.masked.phone == "138****5678"
        plain = Sealer("k1", base64.b64decode(TEST_KEY)).open(p.customer.sealed, p.customer.key_id)
        assert plain["phone"] == "13812345678"
        record = present(await svc.case(p.case_id))
        assert "sealed" not in record["case"]["customer"]
        assert "13812345678" not in str(record)
        assert "王小明" not in str(record)
        assert record["contact_history"][0]["action"] == "opened"


async def test_duplicates_by_envelope_or_by_source_change_nothing(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        first = exception(source_event_id="EX-DUP-1")
        assert await svc.deliver(first) == "handled"
        assert await svc.deliver(first) == "duplicate"  # same envelope: the kit's marker
        resent = exception(first.payload.waybill_no, source_event_id="EX-DUP-1")  # new envelope, same source
        assert resent.event_id != first.event_id
        assert await svc.deliver(resent) == "handled"
        emitted = await svc.emitted()
        assert [type(e).__name__ for _, e in emitted] == ["CaseOpened"]


async def test_concurrent_duplicates_and_racing_topics_make_one_case(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        for _ in range(5):
            wb = waybill()
            a = exception(wb, source_event_id=f"EX-RACE-{wb}")
            b = exception(wb, source_event_id=f"EX-RACE-{wb}")
            c = contact(wb, ContactCategory.COMPLAINT, text="快递员态度差")
            # Three batches at once: the same source twice, and a contact on the other topic, all new to intake.
            await asyncio.gather(
                svc.consumer(UPSTREAM_PARCEL_EXCEPTIONS).handle_batch([svc.record(a)]),
                svc.consumer(UPSTREAM_PARCEL_EXCEPTIONS).handle_batch([svc.record(b)]),
                svc.consumer(UPSTREAM_CUSTOMER_CONTACTS).handle_batch([svc.record(c)]),
            )
            emitted = await svc.emitted()
            assert not [t for t, _ in emitted if t.endswith(".dlq")]
            events = [e for _, e in emitted]
            opened = [e for e in events if isinstance(e, CaseOpened)]
            merged = [e for e in events if isinstance(e, CaseMerged)]
            assert len(opened) == 1
            assert len(merged) == 1
            assert merged[0].payload.case_id == opened[0].payload.case_id


async def test_one_batch_sees_its_own_cases(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        first = exception(wb, source_event_id="EX-BATCH")
        batch = [first, exception(wb, source_event_id="EX-BATCH"), exception(wb), exception(wb, ExceptionKind.LOSS)]
        outcomes = await svc.deliver_batch(UPSTREAM_PARCEL_EXCEPTIONS, [svc.record(e) for e in batch])
        assert outcomes == ["handled"] * 4
        assert [e.type for _, e in await svc.emitted()] == ["case.opened", "case.merged", "case.opened"]


async def test_merge_repeat_contacts_reopen_and_linked_case(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        await svc.deliver(exception(wb, ExceptionKind.DELAY))
        [(_, opened)] = await svc.emitted()
        case_id = opened.payload.case_id
        assert opened.payload.priority is Priority.NORMAL

        # Another exception about the same problem merges quietly.
        await svc.deliver(exception(wb, ExceptionKind.DELAY, at=NOW + timedelta(hours=5)))
        [(_, m0)] = await svc.emitted()
        assert isinstance(m0, CaseMerged)
        assert not m0.payload.repeat_contact
        assert not m0.payload.priority_raised

        # A different problem on the same waybill is another case.
        await svc.deliver(exception(wb, ExceptionKind.DAMAGE))
        [(_, other)] = await svc.emitted()
        assert isinstance(other, CaseOpened)
        assert other.payload.case_id != case_id

        # The customer calls (first contact: no repeat), then calls again (repeat: priority up).
        await svc.deliver(contact(wb, ContactCategory.INQUIRY, text="我的快递还没到", at=NOW + timedelta(hours=1)))
        await svc.deliver(contact(wb, ContactCategory.COMPLAINT, text="快递延误太久了", at=NOW + timedelta(hours=2)))
        events = [e for _, e in await svc.emitted()]
        assert [type(e) for e in events] == [CaseMerged, CaseMerged]
        first, second = events
        # Generic contacts join the newest open case of the waybill; the delay complaint names its problem.
        assert first.payload.case_id == other.payload.case_id
        assert second.payload.case_id == case_id
        assert first.payload.repeat_contacts == 0
        assert not first.payload.repeat_contact

        await svc.deliver(
            contact(wb, ContactCategory.COMPLAINT, text="还没到！延误", channel=Channel.IM, at=NOW + timedelta(hours=3))
        )
        [(_, repeat)] = await svc.emitted()
        assert repeat.payload.case_id == case_id
        assert repeat.payload.repeat_contact
        assert repeat.payload.repeat_contacts == 1
        assert repeat.payload.priority_raised
        assert repeat.payload.priority is Priority.HIGH

        # Routing resolves it; a contact within the window reopens it, higher again.
        assert await svc.deliver(resolved(case_id, NOW + timedelta(hours=10))) == "handled"
        assert await svc.deliver(resolved(other.payload.case_id, NOW + timedelta(hours=10))) == "handled"
        assert (await svc.case(case_id)).status is Status.CLOSED
        await svc.deliver(contact(wb, ContactCategory.COMPLAINT, text="还是延误，没收到", at=NOW + timedelta(days=2)))
        [(_, reopened)] = await svc.emitted()
        assert isinstance(reopened, CaseReopened)
        assert reopened.payload.case_id == case_id
        assert reopened.payload.reopen_count == 1
        assert reopened.payload.priority is Priority.URGENT

        # The close event of the earlier episode, arriving late, does not close the reopened case.
        late = CaseClosed.create(
            CaseClosedPayload(case_id=case_id, closed_at=NOW + timedelta(hours=11), reason="done"),
            key=case_id,
            producer="routing",
            occurred_at=NOW + timedelta(hours=11),
        )
        await svc.deliver(late)
        assert (await svc.case(case_id)).status is Status.OPEN

        # Closed again; a contact after the window opens a new case linked to the old one.
        await svc.deliver(resolved(case_id, NOW + timedelta(days=3)))
        await svc.deliver(contact(wb, ContactCategory.COMPLAINT, text="延误", at=NOW + timedelta(days=30)))
        [(_, linked)] = await svc.emitted()
        assert isinstance(linked, CaseOpened)
        assert linked.payload.linked_case_id == case_id
        assert linked.payload.case_id != case_id

        record = present(await svc.case(case_id))
        actions = [h["action"] for h in record["contact_history"]]
        assert actions == ["opened", "merged", "merged", "merged", "reopened"]
        assert record["case"]["repeat_contacts"] == 2
        assert record["case"]["reopen_count"] == 1


async def test_pending_resolution_keeps_the_case_open(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        await svc.deliver(exception(wb))
        [(_, opened)] = await svc.emitted()
        await svc.deliver(resolved(opened.payload.case_id, result=ResolutionResult.PENDING))
        await svc.deliver(contact(wb, text="怎么样了"))
        [(_, merged)] = await svc.emitted()
        assert isinstance(merged, CaseMerged)


async def test_frequent_claimant_is_flagged(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        who = customer(customer_id="C-FREQUENT")
        flags = []
        for i in range(5):
            await svc.deliver(exception(kind=ExceptionKind.LOSS, customer=who, at=NOW + timedelta(days=i)))
            [(_, opened)] = await svc.emitted()
            flags.append(FraudFlag.FREQUENT_CLAIMANT in opened.payload.fraud_flags)
        assert flags == [False, False, False, True, True]
        # Another customer is not affected; delays are not claims.
        await svc.deliver(exception(kind=ExceptionKind.DELAY, customer=who))
        [(_, delay)] = await svc.emitted()
        assert FraudFlag.FREQUENT_CLAIMANT not in delay.payload.fraud_flags


async def test_a_pii_key_rotation_keeps_customer_refs_and_the_frequent_claimant_flag(tmp_path: Path) -> None:
    """customer_ref was an HMAC under the sealing key: each rotation gave every customer a new reference,
    reset their claim history and silenced the frequent-claimant flag."""
    who = customer(customer_id="C-ROTATED")
    refs, flags = [], []

    async def claim(svc: IntakeUnderTest, day: int) -> None:
        await svc.deliver(exception(kind=ExceptionKind.LOSS, customer=who, at=NOW + timedelta(days=day)))
        [(_, opened)] = await svc.emitted()
        refs.append(opened.payload.customer_ref)
        flags.append(FraudFlag.FREQUENT_CLAIMANT in opened.payload.fraud_flags)

    async with intake(tmp_path) as svc:  # sealing key k1
        for day in range(2):
            await claim(svc, day)
    rotated_key = base64.b64encode(bytes(range(100, 132))).decode()
    async with intake(tmp_path, pii_key=rotated_key, pii_key_id="k2", pii_old_keys={"k1": TEST_KEY}) as svc:
        for day in range(2, 4):
            await claim(svc, day)
    assert len(set(refs)) == 1
    assert flags == [False, False, False, True]


async def test_intake_refuses_a_pseudonym_key_that_is_a_sealing_key(tmp_path: Path) -> None:
    with pytest.raises(SealError, match="its own secret"):
        async with intake(tmp_path, pseudonym_key=TEST_KEY):
            pass


async def test_inapplicable_and_invalid_input_is_dead_lettered(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        rekeyed = exception().model_copy(update={"key": "NOT-THE-WAYBILL"})
        assert await svc.deliver(rekeyed) == "dead_lettered"
        assert await svc.deliver_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"{not json") == "dead_lettered"
        [(t1, m1), (t2, m2)] = await svc.emitted()
        assert t1 == t2 == "upstream.parcel-exceptions.dlq"
        assert m1.headers["x-dlq-reason"] == "key_mismatch"
        assert m2.headers["x-dlq-reason"] == "malformed_json"


async def test_reopen_window_and_keywords_come_from_the_rules_file(tmp_path: Path) -> None:
    data = yaml.safe_load(DEFAULT_RULES.read_text(encoding="utf-8"))
    data.update(version="test-no-reopen", reopen_window_hours=0)
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    async with intake(tmp_path, intake_rules_path=rules_path) as svc:
        wb = waybill()
        await svc.deliver(exception(wb))
        [(_, opened)] = await svc.emitted()
        assert opened.payload.rules_version == "test-no-reopen"
        await svc.deliver(resolved(opened.payload.case_id, NOW + timedelta(hours=1)))
        await svc.deliver(contact(wb, text="还没到", at=NOW + timedelta(hours=2)))
        [(_, linked)] = await svc.emitted()
        assert isinstance(linked, CaseOpened)
        assert linked.payload.linked_case_id == opened.payload.case_id
        # Operations edit the file; the kit's one reload job picks it up without a restart.
        assert svc.runtime.spec.rules_files(svc.runtime.deps) == [svc.runtime.deps.rules]
        data.update(version="test-reload", reopen_window_hours=48)
        rules_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        assert svc.runtime.deps.rules.reload(force=True)
        await svc.deliver(resolved(linked.payload.case_id, NOW + timedelta(hours=3)))
        await svc.deliver(contact(wb, text="还是没到", at=NOW + timedelta(hours=4)))
        [(_, reopened)] = await svc.emitted()
        assert isinstance(reopened, CaseReopened)


async def test_platform_contacts_merge_by_order_and_classify_by_sale_stage(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        order = "TM" + waybill()
        first = contact(
            None,
            ContactCategory.INQUIRY,
            platform="天猫",
            platform_order_id=order,
            sale_stage=SaleStage.IN_SALE,
            text="付款后一直没发货",
        )
        assert first.key == order
        await svc.deliver(first)
        [(_, opened)] = await svc.emitted()
        assert opened.payload.kind is CaseKind.IN_SALE
        assert opened.payload.station_hint.station is None
        again = contact(
            None,
            ContactCategory.COMPLAINT,
            platform="天猫",
            platform_order_id=order,
            text="还没发货！",
            channel=Channel.APP,
        )
        await svc.deliver(again)
        [(_, merged)] = await svc.emitted()
        assert isinstance(merged, CaseMerged)
        assert merged.payload.case_id == opened.payload.case_id
        assert merged.payload.repeat_contact


async def test_logs_carry_no_personal_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with intake(tmp_path) as svc:
        wb = waybill()
        await svc.deliver(exception(wb, description="收件人王小明 13812345678 地址朝阳区建国路88号"))
        await svc.deliver(
            contact(wb, ContactCategory.COMPLAINT, text="我是王小明，电话13812345678，身份证110101199003071234")
        )
        await svc.deliver(contact(wb).model_copy(update={"key": "WRONG-KEY"}))
    assert caplog.records
    text = "\n".join(f"{r.getMessage()} {getattr(r, 'fields', '')}" for r in caplog.records)
    for secret in ("王小明", "13812345678", "建国路", "110101199003071234", "xiaoming.wang"):
        assert secret not in text


async def test_language_follows_the_customer_not_the_upstream_system(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        english = customer(language="en", name="John Smith")
        await svc.deliver(exception(customer=english, description="派送延误，网点已登记"))
        await svc.deliver(
            contact(waybill(), customer=customer(language="zh-CN"), text="Where is my parcel? It is very late.")
        )
        [(_, by_exception), (_, by_contact)] = await svc.emitted()
        assert by_exception.payload.language == "en"
        assert by_exception.payload.customer.language == "en"
        assert by_contact.payload.language == "en"


async def test_a_reopened_case_keeps_its_problem(tmp_path: Path) -> None:
    async with intake(tmp_path) as svc:
        wb = waybill()
        await svc.deliver(exception(wb, ExceptionKind.DELAY))
        [(_, opened)] = await svc.emitted()
        await svc.deliver(resolved(opened.payload.case_id, NOW + timedelta(hours=1)))
        await svc.deliver(contact(wb, ContactCategory.INQUIRY, text="查询一下", at=NOW + timedelta(hours=2)))
        [(_, reopened)] = await svc.emitted()
        assert isinstance(reopened, CaseReopened)
        # A further delay scan is the same problem as the reopened case: it merges, no new case.
        await svc.deliver(exception(wb, ExceptionKind.DELAY, at=NOW + timedelta(hours=3)))
        [(_, merged)] = await svc.emitted()
        assert isinstance(merged, CaseMerged)
        assert merged.payload.case_id == opened.payload.case_id
