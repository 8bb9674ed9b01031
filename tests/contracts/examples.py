"""One valid event of every type in the registry, as the JSON a producer sends (optional fields filled in,
so that tests which mutate a field reach every nested model)."""

from __future__ import annotations

import copy
import json
from typing import Any

CASE = "CF-20261124K3ZQ5M7WQA"
WAYBILL = "BE1234567890"
AT = "2026-11-24T08:00:00+08:00"


def money(amount: int) -> dict[str, Any]:
    return {"amount_minor": amount, "currency": "CNY"}


def area() -> dict[str, Any]:
    return {"province": "北京市", "city": "北京市", "district": "朝阳区", "country": "CN"}


def parcel_facts() -> dict[str, Any]:
    """What an exception says about the parcel, and a case carries on for claims."""
    return {
        "origin_station": "SH-PD-01",
        "current_station": "HUB-NJ",
        "destination_station": "BJ-CY-07",
        "scanned_at": AT,
        "declared_value": money(30000),
        "insured": True,
        "freight": money(1200),
        "order_amount": money(29900),
    }


def customer() -> dict[str, Any]:
    return {
        "customer_id": "C-42",
        "name": "王小明",
        "phone": "13812345678",
        "email": "xiaoming.wang@example.com",
        "address": {"area": area(), "street": "建国路88号"},
        "id_number": "110101199003071234",
        "vip": False,
        "language": "zh-CN",
        "time_zone": "Asia/Shanghai",
    }


def station_action(**extra: Any) -> dict[str, Any]:
    return {"case_id": CASE, "station": "BJ-CY-07", "agent_id": "A-1001", "at": AT, "note": "已联系", **extra}


def case_action(**extra: Any) -> dict[str, Any]:
    return station_action(level="station", **extra)


def clock(**extra: Any) -> dict[str, Any]:
    return {
        **extra,
        "case_id": CASE,
        "metric": "callback",
        "level": "station",
        "station": "BJ-CY-07",
        "kind": "delay",
        "priority": "normal",
        "channel": "phone",
        "target_seconds": 7200,
        "elapsed_seconds": 7300,
        "started_at": AT,
        "deadline_at": "2026-11-24T10:00:00+08:00",
        "business_hours": False,
        "policy_version": "2026-11",
    }


def notification(**extra: Any) -> dict[str, Any]:
    return {
        "notification_id": "N-1",
        "case_id": CASE,
        "channel": "sms",
        "template": "case-opened",
        "locale": "zh-CN",
        "recipient": "138****5678",
        "trigger_event_id": "ev-0",
        "trigger_type": "case.opened",
        "attempts": 1,
        "at": AT,
        **extra,
    }


def chargeback(**extra: Any) -> dict[str, Any]:
    return {
        "chargeback_id": "CL-1-BJ-CY-07-P1-L1",
        "claim_id": "CL-1",
        "case_id": CASE,
        "station": "BJ-CY-07",
        "payout_share": money(1200),
        "penalty": money(0),
        "total": money(1200),
        **extra,
    }


PAYLOADS: dict[str, dict[str, Any]] = {
    "parcel.exception_reported": {
        "source_system": "tms",
        "source_event_id": "EX-1",
        "waybill_no": WAYBILL,
        "exception_kind": "damage",
        "problem_code": "快件破损",
        **parcel_facts(),
        "platform": "天猫",
        "platform_order_id": "PO-77",
        "customer": customer(),
        "shipping_address": {"area": area(), "street": "建国路88号"},
        "billing_address": {"area": area(), "street": "建国路88号"},
        "cross_border": False,
        "description": "外箱破损",
    },
    "customer.contacted": {
        "source_system": "callcentre",
        "source_id": "CALL-9",
        "channel": "phone",
        "category": "complaint",
        "sale_stage": "after_sale",
        "after_sale_type": "refund",
        "customer": customer(),
        "waybill_no": WAYBILL,
        "platform": "天猫",
        "platform_order_id": "PO-77",
        "text": "包裹三天没有更新",
        "language": "zh-CN",
        "received_at": AT,
        "claimant": {"role": "recipient", "payout_method": "platform_refund"},
        "evidence_refs": ["SIG-1", "PHOTO-2"],
    },
    "customer.satisfaction_answered": {
        "source_system": "sms-gateway",
        "source_id": "MO-77",
        "channel": "app",
        "case_id": CASE,
        "score": 4,
        "comment": "谢谢",
        "answered_at": AT,
    },
    "station.acknowledged": station_action(),
    "station.called_back": station_action(outcome="reached", result="已告知客户明天补发"),
    "station.progress_noted": station_action(awaiting_customer=True),
    "station.resolution_proposed": station_action(solution="补发"),
    "station.resolved": station_action(
        result="resolved",
        reason="",
        solution="补发",
        satisfaction=5,
        record={
            "solution_owner": "BJ-CY-07",
            "solution_due_at": AT,
            "fault_type": "派送延误",
            "agent_name": "李*",
            "evaluation": "处理及时",
        },
    ),
    "station.transfer_requested": station_action(to_station="BJ-HD-02", reason="超区", reason_code="out_of_area"),
    "station.rejected": station_action(reason="不是本站件", reason_code="not_our_area"),
    "station.escalation_requested": station_action(reason="客户要求"),
    "station.arbitration_declared": station_action(
        waybill_no=WAYBILL, liable_station="SH-PD-01", amount_claimed=money(30000), proof_refs=["P-1"]
    ),
    "station.hq_ruled": station_action(
        station="HQ-CS", ruling="rejection_overturned", about_station="BJ-CY-07", to_station=None, reason="本站件"
    ),
    "case.opened": {
        "case_id": CASE,
        "kind": "delay",
        "priority": "high",
        "priority_reasons": ["repeat contact"],
        "channel": "phone",
        "category": "complaint",
        "sale_stage": "after_sale",
        "waybill_no": WAYBILL,
        "platform": "天猫",
        "platform_order_id": "PO-77",
        "language": "zh-CN",
        "cross_border": False,
        "area": area(),
        "station_hint": {"station": "BJ-CY-07", "reason": "destination station"},
        "customer": {
            "masked": {"name": "王*", "phone": "138****5678", "email": "x***@example.com"},
            "sealed": "c2VhbGVkLXRva2VuLWZvci10ZXN0cw",
            "key_id": "k1",
            "language": "zh-CN",
            "time_zone": "Asia/Shanghai",
            "email_present": True,
            "phone_present": True,
        },
        "customer_ref": "cust-0123456789abcdef",
        "vip": False,
        "fraud_flags": ["high_order_amount"],
        "parcel": {
            "exception_kind": "delay",
            "problem_code": "应到未到",
            **parcel_facts(),
        },
        "summary": "包裹三天没有更新",
        "linked_case_id": "CF-20261101AB12CD34EF",
        "opened_at": AT,
        "rules_version": "2026-11",
        "complaint": True,
        "claimant": {"role": "sender", "payout_method": "bank_transfer"},
        "evidence_refs": ["SIG-1"],
    },
    "case.merged": {
        "case_id": CASE,
        "source_event_id": "CALL-10",
        "channel": "phone",
        "repeat_contacts": 1,
        "priority": "high",
        "priority_raised": True,
        "repeat_contact": True,
        "summary": "又来电",
        "merged_at": AT,
        "complaint": True,
        "claimant": {"role": "recipient", "payout_method": "original_payment"},
        "contact_at": AT,
    },
    "case.reopened": {
        "case_id": CASE,
        "source_event_id": "CALL-11",
        "reopen_count": 1,
        "priority": "high",
        "summary": "仍未收到",
        "reopened_at": AT,
    },
    "case.escalated": {
        "case_id": CASE,
        "holder": "HUB-BJ",
        "level": "hub",
        "previous_holder": "BJ-CY-07",
        "previous_level": "station",
        "trigger": "sla_breach",
        "trigger_ref": "ev-7",
        "reason": "callback breached",
        "kind": "delay",
        "priority": "high",
        "channel": "phone",
        "escalated_at": AT,
        "supervisor": "HUB-BJ",
    },
    "case.transferred": {
        "case_id": CASE,
        "from_station": "BJ-CY-07",
        "to_station": "BJ-HD-02",
        "level": "station",
        "reason": "超区",
        "kind": "delay",
        "priority": "normal",
        "channel": "phone",
        "transferred_at": AT,
        "decided_by": "hq-rules",
    },
    "case.acknowledged": case_action(),
    "case.callback_logged": case_action(outcome="reached", result="已告知", counts_as_response=True),
    "case.progress_noted": case_action(),
    "case.awaiting_customer": case_action(),
    "case.customer_responded": case_action(),
    "case.resolution_proposed": case_action(),
    "case.resolved": case_action(
        result="resolved",
        reason="",
        solution="补发",
        satisfaction=4,
        kind="delay",
        opened_at=AT,
        record={"solution_owner": "BJ-CY-07", "fault_type": "派送延误", "agent_name": "李*", "evaluation": "好"},
    ),
    "case.closed": {"case_id": CASE, "closed_at": AT, "reason": "resolved"},
    "case.hq_ruled": {
        "case_id": CASE,
        "station": "BJ-CY-07",
        "ruling": "transfer_approved",
        "to_station": "BJ-HD-02",
        "decided_by": "hq-rules",
        "reason": "超区",
        "at": AT,
    },
    "case.note_refused": {
        "case_id": CASE,
        "station": "BJ-CY-07",
        "agent_id": "A-1001",
        "field": "note",
        "words": ["不知道"],
        "refused_event_id": "ev-9",
        "at": AT,
    },
    "case.contact_after_closure": {
        "case_id": CASE,
        "source_event_id": "CALL-12",
        "station": "BJ-CY-07",
        "closed_at": AT,
        "contact_at": AT,
        "at": AT,
    },
    "case.satisfaction_recorded": {
        "case_id": CASE,
        "score": 5,
        "channel": "app",
        "comment": "满意",
        "answered_at": AT,
        "source_event_id": "MO-77",
    },
    "sla.warning": clock(),
    "sla.breached": clock(),
    "sla.met": clock(),
    "sla.breach_withdrawn": clock(
        breach_event_id="ev-b1", stopped_at=AT, reason="the callback reached the suite in time", withdrawn_at=AT
    ),
    "qa.points_charged": {
        "case_id": CASE,
        "station": "BJ-CY-07",
        "duty": "response_2h",
        "points": 100,
        "period": "2026-11",
        "cause_event_id": "ev-b1",
        "metric": "callback",
        "reason": "callback breached",
        "at": AT,
        "policy_version": "2026-11",
    },
    "qa.points_reversed": {
        "case_id": CASE,
        "station": "BJ-CY-07",
        "duty": "response_2h",
        "points": 100,
        "period": "2026-11",
        "cause_event_id": "ev-w1",
        "metric": "callback",
        "reason": "breach withdrawn",
        "at": AT,
        "policy_version": "2026-11",
    },
    "policy.version_loaded": {
        "policy_id": "sla_policies:2026-11",
        "kind": "sla_policies",
        "version": "2026-11",
        "content": "version: '2026-11'\nrules: []\n",
        "file_format": "yaml",
        "service": "sla",
        "loaded_at": AT,
    },
    "claim.opened": {
        "claim_id": "CL-1",
        "case_id": CASE,
        "claim_kind": "loss",
        "case_kind": "loss",
        "waybill_no": WAYBILL,
        "insured": True,
        "declared_value": money(30000),
        "freight": money(1200),
        "evidence": [{"kind": "photo", "ref": "E-1"}],
        "opened_at": AT,
        "facts": {
            "actual_value": money(29900),
            "loss_share_bp": 10000,
            "days_late": 0,
            "service_scope": "domestic",
            "outer_box_intact": True,
            "origin_station": "SH-PD-01",
            "last_scan_station": "HUB-NJ",
            "destination_station": "BJ-CY-07",
        },
        "fraud_flags": ["signed_for"],
        "claimant": {"role": "sender", "payout_method": "bank_transfer"},
    },
    "claim.decided": {
        "claim_id": "CL-1",
        "case_id": CASE,
        "decision": "approved",
        "amount": money(31100),
        "lines": [{"label": "Insured value", "amount": money(29900), "basis": "art. 27"}],
        "automatic": True,
        "reviewer_id": "R-1",
        "reason": "",
        "rules_version": "2026-11",
        "decided_at": AT,
        "appeal_until": AT,
    },
    "claim.appealed": {"claim_id": "CL-1", "case_id": CASE, "reason": "too little", "appealed_at": AT},
    "arbitration.decided": {
        "claim_id": "CL-1",
        "case_id": CASE,
        "liable": [{"station": "HUB-NJ", "share_basis_points": 10000, "reason": "last scan"}],
        "decided_by": "scan_trail",
        "reason": "custody",
        "decided_at": AT,
    },
    "payout.issued": {
        "payout_id": "PO-CL-1-1",
        "claim_id": "CL-1",
        "case_id": CASE,
        "amount": money(31100),
        "issued_at": AT,
    },
    "chargeback.issued": chargeback(issued_at=AT),
    "chargeback.appealed": {
        "chargeback_id": "CL-1-BJ-CY-07-P1-L1",
        "claim_id": "CL-1",
        "case_id": CASE,
        "station": "BJ-CY-07",
        "reason": "not us",
        "appealed_at": AT,
    },
    "chargeback.reversed": chargeback(reason="appeal upheld", reversed_at=AT),
    "claim.audited": {
        "audit_id": "AU-1",
        "claim_id": "CL-1",
        "case_id": CASE,
        "action": "approved",
        "actor": {"subject": "u-2", "roles": ["claims.approver"]},
        "before": money(0),
        "after": money(31100),
        "reason_code": "goodwill",
        "request_id": "req-1",
        "at": AT,
    },
    "notification.sent": notification(),
    "notification.failed": notification(reason="gateway refused"),
}

#: The partition key each example's payload implies (the catalog's key of its topic).
KEYS: dict[str, str] = {
    event_type: WAYBILL if event_type in ("parcel.exception_reported", "customer.contacted") else CASE
    for event_type in PAYLOADS
} | {"policy.version_loaded": "sla_policies:2026-11"}


def example(event_type: str) -> dict[str, Any]:
    """A fresh, valid event of this type as a JSON-ready dict."""
    return {
        "event_id": f"ev-{event_type}",
        "type": event_type,
        "schema_version": "1.1",
        "occurred_at": "2026-11-24T00:00:00Z",
        "producer": "tests",
        "key": KEYS[event_type],
        "correlation_id": "corr-1",
        "causation_id": "ev-0",
        "actor": {"subject": "u-1", "roles": ["claims.reviewer"]},
        "payload": copy.deepcopy(PAYLOADS[event_type]),
    }


def encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False).encode()
