"""Every event type, and the one way to turn bytes into an event."""

from __future__ import annotations

from pydantic import BaseModel, ValidationError

from . import cases, claims, notify, policies, qa, sla, stations, upstream
from .envelope import Event
from .errors import Refusal

EVENT_MODELS: tuple[type[Event], ...] = (
    upstream.ParcelExceptionReported,
    upstream.CustomerContacted,
    upstream.SatisfactionAnswered,
    stations.StationAcknowledged,
    stations.StationCalledBack,
    stations.StationProgressNoted,
    stations.StationResolutionProposed,
    stations.StationResolved,
    stations.StationTransferRequested,
    stations.StationRejected,
    stations.EscalationRequested,
    stations.ArbitrationDeclared,
    stations.StationHqRuled,
    cases.CaseOpened,
    cases.CaseMerged,
    cases.CaseReopened,
    cases.CaseEscalated,
    cases.CaseTransferred,
    cases.CaseAcknowledged,
    cases.CaseCallbackLogged,
    cases.CaseProgressNoted,
    cases.CaseAwaitingCustomer,
    cases.CaseCustomerResponded,
    cases.CaseResolutionProposed,
    cases.CaseResolved,
    cases.CaseClosed,
    cases.CaseHqRuled,
    cases.CaseNoteRefused,
    cases.CaseContactAfterClosure,
    cases.CaseSatisfactionRecorded,
    sla.SlaWarning,
    sla.SlaBreached,
    sla.SlaMet,
    sla.SlaBreachWithdrawn,
    claims.ClaimOpened,
    claims.ClaimDecided,
    claims.ClaimAppealed,
    claims.ArbitrationDecided,
    claims.PayoutIssued,
    claims.ChargebackIssued,
    claims.ChargebackAppealed,
    claims.ChargebackReversed,
    claims.ClaimAudited,
    notify.NotificationSent,
    notify.NotificationFailed,
    qa.QaPointsCharged,
    qa.QaPointsReversed,
    policies.PolicyVersionLoaded,
)

EVENTS_BY_TYPE: dict[str, type[Event]] = {model.event_type(): model for model in EVENT_MODELS}

#: Larger messages are rejected before parsing: no event needs more.
MAX_EVENT_BYTES = 256 * 1024


class ContractError(Refusal, ValueError):
    """Bytes that are not a valid event. `code` is a short machine-readable reason."""


class _Head(BaseModel):
    type: str
    schema_version: str


def parse_event(raw: bytes, *, accept: frozenset[str] | None = None, announced: str | None = None) -> Event:
    """Validate raw bytes as one known event, or raise ContractError saying exactly why.

    Total: whatever the bytes, the answer is an event or a ContractError, never another exception
    (a consumer that got one would retry the record forever instead of dead-lettering it).
    `announced`: the type the record says it carries (its x-event-type header, an export line's event type), if
    any: the bytes are then parsed as that type at once, without reading their head first (see `_as_announced`).
    """
    try:
        if announced is not None and (event := _as_announced(raw, accept, announced)) is not None:
            return event
        return _parse(raw, accept)
    except ContractError:
        raise
    except Exception as exc:
        # Only the exception's type: its message may quote the input (personal data). The cause stays
        # chained for the caller's log, because reaching this line is a defect of the contracts.
        raise ContractError("unexpected_error", f"{type(exc).__name__} while validating") from exc


def _as_announced(raw: bytes, accept: frozenset[str] | None, announced: str) -> Event | None:
    """The event, parsed as the type announced, when that is what `_parse` would give; else None, and `_parse`
    says why not. The same answer: the model's `type` is a literal (another type does not validate as this
    one), the topic's types and the major version are checked as `_parse` checks them. Reading the head first
    is a second pass over the bytes, a sixth of the parse."""
    model = EVENTS_BY_TYPE.get(announced)
    if model is None or (accept is not None and announced not in accept) or len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        event = model.model_validate_json(raw)
    except ValidationError:
        return None
    return event if _readable(model, event.schema_version) else None


def _readable(model: type[Event], schema_version: str) -> bool:
    """Whether this consumer reads an event of `model` written at `schema_version`: the same major version."""
    return schema_version.split(".", 1)[0] == str(model.MAJOR)


def _parse(raw: bytes, accept: frozenset[str] | None) -> Event:
    if len(raw) > MAX_EVENT_BYTES:
        raise ContractError("oversized", f"{len(raw)} bytes, the limit is {MAX_EVENT_BYTES}")
    try:
        # pydantic's JSON parser reads the head without building the whole document in Python.
        head = _Head.model_validate_json(raw)
    except ValidationError as exc:
        kinds = {error["type"] for error in exc.errors(include_input=False, include_url=False)}
        if "json_invalid" in kinds:
            raise ContractError("malformed_json", _describe(exc)) from None
        if kinds & {"model_type", "model_attributes_type"}:
            raise ContractError("malformed_json", "an event is a JSON object") from None
        raise ContractError("missing_field" if kinds == {"missing"} else "invalid", _describe(exc)) from None
    model = EVENTS_BY_TYPE.get(head.type)
    if model is None:
        raise ContractError("unknown_type", f"unknown event type {head.type[:80]!r}")
    if accept is not None and head.type not in accept:
        raise ContractError("unexpected_type", f"{head.type} is not expected on this topic")
    if not _readable(model, head.schema_version):
        raise ContractError(
            "unknown_schema_version",
            f"{head.type} schema {head.schema_version[:20]!r}; this consumer reads {model.MAJOR}.x",
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ContractError("invalid", _describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    """Validation errors as one line, without echoing input values (they may be personal data)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:10]:
        where = ".".join(str(p) for p in error["loc"]) or "(root)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
