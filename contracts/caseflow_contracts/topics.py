"""The topic catalog: the single source of truth for code, docs and deploy manifests."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from . import cases, claims, notify, policies, qa, sla, stations, upstream
from .envelope import Event

DAY_MS = 24 * 3600 * 1000
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class Topic:
    name: str
    key: str  # the payload fields of Event.KEY_FIELDS, as readers see them: "a, else b"
    partitions: int
    retention_days: int
    producers: tuple[str, ...]
    consumers: tuple[str, ...]
    events: tuple[type[Event], ...]
    description: str
    #: Written by systems outside caseflow: a consumer parses every record (an `x-event-type` header is a
    #: hint, never a reason to skip bytes) and checks the record key against Event.partition_key().
    external: bool = False
    replication_factor: int = 3
    #: Compacted on the key: the last record of every key is kept for good (`retention_days` does not apply).
    compacted: bool = False

    @property
    def retention_ms(self) -> int:
        return -1 if self.compacted else self.retention_days * DAY_MS

    @property
    def cleanup_policy(self) -> str:
        return "compact" if self.compacted else "delete"

    @property
    def dlq(self) -> str:
        return self.name + DLQ_SUFFIX

    @cached_property
    def event_types(self) -> frozenset[str]:
        return frozenset(model.event_type() for model in self.events)


UPSTREAM_PARCEL_EXCEPTIONS = Topic(
    name="upstream.parcel-exceptions",
    key="waybill_no",
    partitions=12,
    retention_days=7,
    producers=("order and logistics systems",),
    consumers=("intake",),
    events=(upstream.ParcelExceptionReported,),
    description="Parcel exceptions seen by upstream order and logistics systems",
    external=True,
)
UPSTREAM_CUSTOMER_CONTACTS = Topic(
    name="upstream.customer-contacts",
    key="waybill_no, else platform_order_id, else source_id; case_id for satisfaction answers",
    partitions=12,
    retention_days=7,
    producers=("call centre", "IM", "e-mail", "web forms", "apps"),
    consumers=("intake",),
    events=(upstream.CustomerContacted, upstream.SatisfactionAnswered),
    description="Customer contacts from every channel",
    external=True,
)
STATIONS_UPDATES = Topic(
    name="stations.updates",
    key="case_id",
    partitions=12,
    retention_days=7,
    producers=("station systems",),
    consumers=("routing", "claims"),
    events=(
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
    ),
    description="What stations (and HQ's desk ruling on them) report about the cases they hold",
    external=True,
)
CASES_LIFECYCLE = Topic(
    name="cases.lifecycle",
    key="case_id",
    partitions=12,
    retention_days=30,
    producers=("intake", "routing"),
    consumers=("routing", "sla", "claims", "notify", "intake"),
    events=(
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
    ),
    description="A case's whole story, in order per case",
)
SLA_BREACHES = Topic(
    name="sla.breaches",
    key="case_id",
    partitions=6,
    retention_days=30,
    producers=("sla",),
    consumers=("routing", "notify", "monitoring"),
    events=(sla.SlaBreached, sla.SlaBreachWithdrawn),
    description="SLA breaches (and breaches withdrawn when disproved) for monitoring consumers:"
    " versioned schema, no personal data",
)
SLA_EVENTS = Topic(
    name="sla.events",
    key="case_id",
    partitions=6,
    retention_days=7,
    producers=("sla",),
    consumers=("monitoring",),
    events=(sla.SlaWarning, sla.SlaMet),
    description="SLA warnings and met targets",
)
CLAIMS_EVENTS = Topic(
    name="claims.events",
    key="case_id",
    partitions=6,
    retention_days=90,
    producers=("claims",),
    consumers=("notify", "sla", "finance"),
    events=(
        claims.ClaimOpened,
        claims.ClaimDecided,
        claims.ClaimAppealed,
        claims.ArbitrationDecided,
        claims.PayoutIssued,
        claims.ChargebackIssued,
        claims.ChargebackAppealed,
        claims.ChargebackReversed,
        claims.ClaimAudited,
    ),
    description="Claims, arbitration decisions, payouts, chargebacks and the audit trail of decisions by people",
)
NOTIFY_DELIVERIES = Topic(
    name="notify.deliveries",
    key="case_id",
    partitions=6,
    retention_days=30,
    producers=("notify",),
    consumers=("sla", "monitoring"),
    events=(notify.NotificationSent, notify.NotificationFailed),
    description="What was sent to customers and merchants, and what failed",
)
QA_SCORECARD = Topic(
    name="qa.scorecard",
    key="case_id",
    partitions=6,
    retention_days=400,
    producers=("sla",),
    consumers=("finance", "station managers", "monitoring"),
    events=(qa.QaPointsCharged, qa.QaPointsReversed),
    description="QA points stations lose for missed duties, with the cause (seed 000 QA table); a year and more",
)

POLICIES_VERSIONS = Topic(
    name="policies.versions",
    key="policy_id",
    partitions=1,
    retention_days=0,
    producers=("intake", "routing", "sla", "claims", "notify"),
    consumers=("caseflowctl whatif", "caseflowctl policies", "caseflowctl export"),
    events=(policies.PolicyVersionLoaded,),
    description="Every version of every rules file the services loaded, kept for good (compacted on kind:version)"
    " so that a replay finds the rules that decided a period",
    compacted=True,
)

TOPICS: tuple[Topic, ...] = (
    UPSTREAM_PARCEL_EXCEPTIONS,
    UPSTREAM_CUSTOMER_CONTACTS,
    STATIONS_UPDATES,
    CASES_LIFECYCLE,
    SLA_BREACHES,
    SLA_EVENTS,
    CLAIMS_EVENTS,
    NOTIFY_DELIVERIES,
    QA_SCORECARD,
    POLICIES_VERSIONS,
)

#: Dead letters keep the original bytes and headers for 30 days, long enough to fix and replay.
DLQ_RETENTION_DAYS = 30


#: Looked up for every event a service emits: a dict, not a scan of the catalog.
_TOPIC_OF: dict[type[Event], Topic] = {model: topic for topic in reversed(TOPICS) for model in topic.events}


def topic_for(event: type[Event]) -> Topic:
    """The one topic an event type is published to."""
    topic = _TOPIC_OF.get(event)
    if topic is None:
        raise KeyError(f"{event.event_type()} is on no topic")
    return topic
