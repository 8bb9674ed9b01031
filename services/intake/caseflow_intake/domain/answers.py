"""Customers' answers to the satisfaction question, landed on their case (CSAT counts them downstream)."""

from __future__ import annotations

from datetime import datetime

from caseflow_contracts.cases import CaseSatisfactionRecordedPayload
from caseflow_contracts.errors import Refusal
from caseflow_contracts.upstream import SatisfactionAnswerPayload

from .case import SUMMARY_LIMIT, Change, Emit, HistoryEntry, IntakeCase
from .inputs import happened_at
from .privacy import Privacy


def answer_key(answer: SatisfactionAnswerPayload) -> str:
    """The answer's identity in its channel system: a re-sent answer is the same answer."""
    return f"answer:{answer.source_system}:{answer.source_id}"


def record_answer(
    case: IntakeCase | None,
    answer: SatisfactionAnswerPayload,
    *,
    privacy: Privacy,
    now: datetime,
    arrived: datetime,
) -> Change:
    """The answer on its case, once, its comment without personal data; an answer about no known case is refused."""
    if case is None:
        raise Refusal("unknown_case", f"a satisfaction answer about {answer.case_id}, a case intake never opened")
    key = answer_key(answer)
    if key in case.answers:
        return Change()
    comment = privacy.scrub_for(answer.comment, case.opening.customer, SUMMARY_LIMIT)
    at = happened_at(answer.answered_at, arrived)
    case.answers.append(key)
    case.history.append(
        HistoryEntry(
            "satisfaction", now, "answer", answer.source_id, answer.channel, None, comment, at, score=answer.score
        )
    )
    payload = CaseSatisfactionRecordedPayload(
        case_id=case.case_id,
        score=answer.score,
        channel=answer.channel,
        comment=comment,
        answered_at=at,
        source_event_id=answer.source_id,
    )
    return Change(emits=[Emit(payload, (case.case_id, key))], cases=[case])
