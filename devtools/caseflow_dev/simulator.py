"""A simulated day: the upstream order system, customers, and the stations, against any Kafka.

    python -m caseflow_dev.simulator --bootstrap 127.0.0.1:9092 --rate 20 --speed 600 --duration 120

Upstream: parcel exceptions (delay, damage, loss, shortage, out-of-area, problem
parcels) and customer contacts (inquiries, complaints, claim requests with their
claimant, signed-but-not-received disputes with evidence, regulator appeals,
platform pre-/in-/after-sale questions) in the customers' own languages, with
repeat contacts, duplicates and a share of deliberately bad events; customers
answer the satisfaction question now and then. Stations: each case handed to a
station is acknowledged, called back telling the result (on time, late or never),
kept informed and resolved, rarely rejected or sent on as out of area with a
reason code; supervisors an escalation adds follow up; HQ's desk rules on
requests; stations file arbitration declarations against the sending station.
How often each happens is data (`BEHAVIOUR`). `--speed` compresses the day: at
600, ten simulated minutes pass per second (pair it with SLA policies scaled the
same way, as `make run` does).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from caseflow_contracts import Event, Money, parse_event, topic_for
from caseflow_contracts.cases import (
    CaseClosed,
    CaseEscalated,
    CaseOpened,
    CaseResolved,
    CaseTransferred,
    EscalationTrigger,
)
from caseflow_contracts.common import Area, CaseKind, Channel, Claimant, ClaimantRole
from caseflow_contracts.stations import (
    ArbitrationDeclared,
    ArbitrationDeclaredPayload,
    CallbackOutcome,
    CallbackPayload,
    HqRuling,
    HqRulingPayload,
    ProgressPayload,
    RejectedPayload,
    ResolutionResult,
    ResolvedPayload,
    StationAcknowledged,
    StationCalledBack,
    StationHqRuled,
    StationProgressNoted,
    StationRejected,
    StationResolved,
    StationTransferRequested,
    StationUpdatePayload,
    TransferRequestedPayload,
)
from caseflow_contracts.topics import CASES_LIFECYCLE, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_contracts.upstream import (
    Address,
    ContactCategory,
    Customer,
    CustomerContacted,
    CustomerContactPayload,
    ExceptionKind,
    ParcelExceptionPayload,
    ParcelExceptionReported,
    SaleStage,
    SatisfactionAnswered,
    SatisfactionAnswerPayload,
)
from caseflow_kit.uow import event_headers

DIRECTORY = Path(__file__).resolve().parents[2] / "services/routing/caseflow_routing/data/stations.yaml"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高欧阳"
GIVEN = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "霞",
    "平",
]
STREETS = ["建国路", "中山路", "人民路", "解放路", "南京西路", "世纪大道", "文三路", "长安街", "滨江大道", "学院路"]
PROBLEM_CODES = ["地址不详", "联系不上收件人", "客户拒收", "面单破损", "超区件", "分拣差错"]
PLATFORMS = ["淘宝", "京东", "拼多多", "抖音电商"]
HQ_RULES = DIRECTORY.parent / "hq_rules.yaml"
HQ_DESK = "HQ-CS"

#: How the simulated day behaves: shares (0..1) and times in simulated seconds. Tuned so the demo looks like a
#: network on an ordinary day (README "A simulated day"): most stations call back on time and tell the result.
BEHAVIOUR: dict[str, Any] = {
    "station_profiles": {"on_time": 0.82, "late": 0.13, "never": 0.05},  # per case, stable per case id
    "acknowledge_s": (120, 600),
    "callback_s": {"on_time": (600, 5400), "late": (8000, 15000)},  # the target is 2 h
    "resolve_after_callback_s": {"on_time": (3000, 28000), "late": (50000, 140000)},  # the target is 48 h
    "progress_every_s": 72000,  # a late station keeps the customer informed (the update target is 24 h)
    "rejection_share": 0.02,  # stations reject a case rarely, with a reason code from HQ's list (hq_rules.yaml)
    "hq_ruling_s": (1200, 5400),  # HQ's desk rules on a rejection (overturns it: shirking) or a transfer request
    "supervisor_follow_up_s": (300, 3000),  # the hub or centre an escalation adds pushes the station
    "arbitration_s": 1800,
    "satisfaction_answer_share": 0.3,  # customers who answer the satisfaction question
    "satisfaction_answer_s": (600, 7200),
    "satisfaction_scores": {5: 50, 4: 25, 3: 12, 2: 7, 1: 6},
    "languages": {"zh-CN": 86, "en": 4, "zh-TW": 3, "ja": 2, "ko": 2, "ru": 1.5, "fr": 1.5},
    "contact_categories": {
        "inquiry": 42,
        "complaint": 26,
        "claim_request": 16,
        "signed_not_received": 6,
        "regulator_appeal": 4,
    },
    "platform_question_share": 0.12,  # pre-, in- and after-sale questions a platform forwards
}
TEXTS = {
    "zh-CN": ["我的快递怎么还没到？", "包裹破了，里面东西坏了", "请尽快联系我", "已经第二次打电话了", "要求赔偿"],
    "zh-TW": ["我的包裹怎麼還沒到？", "請盡快聯絡我"],
    "en": ["Where is my parcel?", "The box arrived broken, please call me"],
    "ja": ["荷物がまだ届きません", "箱が壊れていました。連絡をください"],
    "ko": ["택배가 아직 도착하지 않았어요", "빨리 연락 주세요"],
    "ru": ["Где моя посылка?", "Посылка пришла повреждённой"],
    "fr": ["Mon colis n'est toujours pas arrivé", "Le colis est arrivé abîmé"],
}


@dataclass(frozen=True)
class Place:
    station: str
    area: Area


def load_places(directory: Path = DIRECTORY) -> list[Place]:
    """Delivery areas and their covering stations, from the routing station directory."""
    data = yaml.safe_load(directory.read_text(encoding="utf-8"))
    places = []
    for station in data["stations"]:
        if station.get("active", True) is False:
            continue
        for cov in station.get("coverage", []):
            district = cov.get("district") or "西湖区"
            places.append(Place(station["code"], Area(province=cov["province"], city=cov["city"], district=district)))
    if not places:
        raise ValueError(f"no station with coverage in {directory}")
    return places


@dataclass
class Stats:
    sent: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return ", ".join(f"{k} {v}" for k, v in sorted(self.sent.items()))


class Upstream:
    """Parcel exceptions and customer contacts, with repeats, duplicates and bad events mixed in."""

    def __init__(self, rng: random.Random, places: Sequence[Place], speed: float) -> None:
        self.rng = rng
        self.places = places
        self.speed = speed
        self.waybills: list[tuple[str, Place]] = []
        self.covering: dict[str, str] = {}  # waybill -> the station covering the customer's address
        self.serial = 0

    def _customer(self, place: Place, language: str = "zh-CN") -> Customer:
        rng = self.rng
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        street = f"{rng.choice(STREETS)}{rng.randrange(1, 999)}号{rng.randrange(1, 20)}单元{rng.randrange(101, 2999)}"
        return Customer(
            customer_id=f"U{rng.randrange(10**7):07d}",
            name=name,
            phone=phone,
            email=f"user{rng.randrange(10**6)}@example.com" if rng.random() < 0.4 else None,
            address=Address(area=place.area, street=street),
            vip=rng.random() < 0.05,
            language=language,
        )

    def _waybill(self) -> tuple[str, Place]:
        self.serial += 1
        now = datetime.now(UTC)
        waybill = f"BE{now:%y%m%d}{self.serial:08d}{self.rng.randrange(100):02d}"
        place = self.rng.choice(self.places)
        self.waybills.append((waybill, place))
        self.covering[waybill] = place.station
        return waybill, place

    def exception(self) -> ParcelExceptionReported:
        rng = self.rng
        waybill, place = self._waybill()
        kind = rng.choices(
            [
                ExceptionKind.DELAY,
                ExceptionKind.DAMAGE,
                ExceptionKind.LOSS,
                ExceptionKind.SHORTAGE,
                ExceptionKind.OUT_OF_AREA,
                ExceptionKind.PROBLEM_PARCEL,
            ],
            weights=[45, 18, 10, 7, 12, 8],
        )[0]
        insured = rng.random() < 0.3
        freight = rng.choice([800, 1000, 1200, 1500, 2300])
        declared = rng.choice([5000, 12000, 30000, 80000, 150000, 600000])
        other = rng.choice(self.places)
        payload = ParcelExceptionPayload(
            source_system="oms",
            source_event_id=f"ex-{waybill}-{kind.value}",
            waybill_no=waybill,
            exception_kind=kind,
            problem_code=rng.choice(PROBLEM_CODES) if kind is ExceptionKind.PROBLEM_PARCEL else None,
            origin_station=other.station,
            current_station=place.station if kind is not ExceptionKind.OUT_OF_AREA else other.station,
            destination_station=place.station if kind is not ExceptionKind.OUT_OF_AREA else other.station,
            scanned_at=datetime.now(UTC),
            declared_value=Money(amount_minor=declared),
            insured=insured,
            freight=Money(amount_minor=freight),
            order_amount=Money(amount_minor=declared + rng.randrange(0, 5000)),
            platform=rng.choice(PLATFORMS),
            platform_order_id=f"PO{rng.randrange(10**12):012d}",
            customer=self._customer(place),
            shipping_address=None,
            cross_border=rng.random() < 0.03,
            description="包裹异常："
            + {"delay": "超时未送达", "damage": "外包装破损", "loss": "物流信息长时间未更新"}.get(kind.value, "需处理"),
        )
        return ParcelExceptionReported.create(payload, key=waybill, producer="oms")

    def contact(
        self, repeat: bool | None = None, *, about: str | None = None, category: ContactCategory | None = None
    ) -> CustomerContacted:
        """A contact about an earlier waybill (`repeat`, or the one named `about`), a new one, or either (35 %
        repeats) when not said. A claim request says who claims (the sender who paid, or the recipient)."""
        rng = self.rng
        if repeat is None:
            repeat = bool(self.waybills) and rng.random() < 0.35
        if about is not None:
            waybill, place = next((w, p) for w, p in reversed(self.waybills) if w == about)
        else:
            waybill, place = rng.choice(self.waybills[-500:]) if repeat else self._waybill()
        categories = BEHAVIOUR["contact_categories"]
        category = category or ContactCategory(rng.choices(list(categories), weights=list(categories.values()))[0])
        claimant = None
        if category is ContactCategory.CLAIM_REQUEST:
            claimant = Claimant(role=rng.choice([ClaimantRole.SENDER, ClaimantRole.RECIPIENT]))
        evidence = [f"sig-{waybill}", f"photo-{waybill}"] if category is ContactCategory.SIGNED_NOT_RECEIVED else []
        platform = rng.random() < BEHAVIOUR["platform_question_share"] and category is ContactCategory.INQUIRY
        languages = BEHAVIOUR["languages"]
        language = rng.choices(list(languages), weights=list(languages.values()))[0]
        payload = CustomerContactPayload(
            source_system="callcentre",
            source_id=f"ct-{time.time_ns()}-{rng.randrange(10**6)}",
            channel=rng.choice(
                [Channel.PHONE, Channel.PHONE, Channel.IM, Channel.EMAIL, Channel.APP, Channel.WEB_FORM]
            ),
            category=category,
            sale_stage=rng.choice(list(SaleStage)) if platform else None,
            customer=self._customer(place, language),
            waybill_no=waybill,
            platform=rng.choice(PLATFORMS) if platform else None,
            text=rng.choice(TEXTS[language]),
            language=language,
            received_at=datetime.now(UTC),
            claimant=claimant,
            evidence_refs=evidence,
        )
        return CustomerContacted.create(payload, key=waybill, producer="callcentre")

    def bad(self) -> tuple[str, bytes]:
        """Bytes a careless upstream might send: broken JSON, an unknown type, negative money."""
        choice = self.rng.randrange(3)
        if choice == 0:
            return UPSTREAM_PARCEL_EXCEPTIONS.name, b'{"type": "parcel.exception_reported", "payload": {'
        if choice == 1:
            body = {"event_id": "x1", "type": "parcel.vanished", "schema_version": "1.0"}
            return UPSTREAM_PARCEL_EXCEPTIONS.name, json.dumps(body).encode()
        event = json.loads(self.exception().to_bytes())
        event["payload"]["declared_value"] = {"amount_minor": -100, "currency": "CNY"}
        return UPSTREAM_PARCEL_EXCEPTIONS.name, json.dumps(event, ensure_ascii=False).encode()


def _profile(case_id: str) -> str:
    """How the holding station behaves with this case: stable per case, so a replay behaves the same."""
    roll = int(hashlib.sha256(case_id.encode()).hexdigest()[:8], 16) / 16**8
    for profile, share in BEHAVIOUR["station_profiles"].items():
        if roll < share:
            return str(profile)
        roll -= share
    return "never"


#: What makes a station start on a case: it was handed the case, HQ handed it over, or it came back reopened.
TAKES_ON = frozenset({EscalationTrigger.INITIAL_ASSIGNMENT, EscalationTrigger.REOPENED})


class Stations:
    """Reacts to cases the way real stations, supervisors, HQ's desk and customers do, on the simulated clock."""

    def __init__(self, send: Any, speed: float, rng: random.Random, covering: dict[str, str] | None = None) -> None:
        self.send = send
        self.speed = speed
        self.rng = rng
        self.covering = covering if covering is not None else {}  # waybill -> the station covering its address
        self.opened: dict[str, CaseOpened] = {}
        # What HQ's desk and the supervisors know of each case from cases.lifecycle: who holds it, and if it closed.
        self.holder: dict[str, str] = {}
        self.closed: set[str] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        reasons = yaml.safe_load(HQ_RULES.read_text(encoding="utf-8"))["rejection_reasons"]
        # Out of area is a transfer request's reason (HQ's rule decides it); the others are rejections.
        self.rejection_codes = sorted(code for code in reasons if code != "out_of_area")

    def later(self, sim_seconds: float, event: Event, still: Callable[[], bool] | None = None) -> None:
        """Send `event` after `sim_seconds`, if `still` (what the sender knows then) says it still applies."""

        async def fire() -> None:
            await asyncio.sleep(sim_seconds / self.speed)
            if still is None or still():
                await self.send(event)

        task = asyncio.create_task(fire())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _within(self, span: tuple[float, float]) -> float:
        return self.rng.uniform(*span)

    def on_event(self, event: Event) -> None:
        if isinstance(event, CaseOpened):
            self.opened[event.payload.case_id] = event
        elif isinstance(event, CaseEscalated):
            self.holder[event.payload.case_id] = event.payload.holder
            self.closed.discard(event.payload.case_id)  # a reopening comes back as an escalation
            self.on_escalated(event)
        elif isinstance(event, CaseClosed):
            self.closed.add(event.payload.case_id)
        elif isinstance(event, CaseTransferred):
            self.holder[event.payload.case_id] = event.payload.to_station
            self.take_on(event.payload.case_id, event.payload.to_station, event.payload.kind, fresh=True)
        elif isinstance(event, CaseResolved):
            self.on_resolved(event)

    def on_escalated(self, event: CaseEscalated) -> None:
        p = event.payload
        if p.trigger in TAKES_ON:
            self.take_on(p.case_id, p.holder, p.kind, fresh=p.trigger is EscalationTrigger.INITIAL_ASSIGNMENT)
        elif p.supervisor is not None:
            # The unit now supervising pushes the station and tells the customer where things stand.
            note = ProgressPayload(
                case_id=p.case_id, station=p.supervisor, agent_id=self._agent(), at=datetime.now(UTC),
                note="已督促网点处理，并告知客户处理进度",
            )  # fmt: skip
            # HQ's reassignment ends the oversight: the supervisor leaves a case that went to another station.
            self.later(
                self._within(BEHAVIOUR["supervisor_follow_up_s"]),
                StationProgressNoted.create(note, key=p.case_id, producer=p.supervisor),
                still=lambda: self.holder.get(p.case_id) == p.holder,
            )

    def _agent(self) -> str:
        return f"A{self.rng.randrange(1000, 9999)}"

    def take_on(self, case_id: str, station: str, kind: CaseKind, *, fresh: bool) -> None:
        """The station's duties with a case it was just handed (or got back reopened)."""
        base = {"case_id": case_id, "station": station, "agent_id": self._agent()}
        opened = self.opened.get(case_id)
        profile = _profile(case_id)
        if profile == "never":
            return
        now = datetime.now(UTC)
        rng = self.rng
        waybill = opened.payload.waybill_no if opened else None
        target = self.covering.get(waybill or "")
        unknown_area = opened is not None and opened.payload.area is None
        if fresh and kind is CaseKind.OUT_OF_AREA_TRANSFER and unknown_area and target not in (None, station):
            # Nobody knew the address: the station finds it is not its own and asks HQ, with a reason code.
            ask = TransferRequestedPayload(
                **base, at=now, to_station=target, reason="超区件，非本网点派送范围", reason_code="out_of_area"
            )
            self.later(600, StationTransferRequested.create(ask, key=case_id, producer=station))
            self.hq_rules(case_id, station, HqRuling.TRANSFER_APPROVED, 600)
            return
        if fresh and rng.random() < BEHAVIOUR["rejection_share"]:
            # A station shirking a case it should solve: HQ's desk overturns the rejection and it stays there.
            code = rng.choice(self.rejection_codes)
            rejection = RejectedPayload(**base, at=now, reason="非本网点件，申请退回", reason_code=code)
            self.later(300, StationRejected.create(rejection, key=case_id, producer=station))
            self.hq_rules(case_id, station, HqRuling.REJECTION_OVERTURNED, 300)
        self.later(
            self._within(BEHAVIOUR["acknowledge_s"]),
            StationAcknowledged.create(StationUpdatePayload(**base, at=now), key=case_id, producer=station),
        )
        result = "已告知客户：包裹正在处理，预计明日送达"
        callback_at = self._within(BEHAVIOUR["callback_s"][profile])
        self.later(
            callback_at,
            _stamped(StationCalledBack, CallbackPayload, base, case_id, outcome=CallbackOutcome.REACHED, result=result),
        )
        resolve_at = callback_at + self._within(BEHAVIOUR["resolve_after_callback_s"][profile])
        every = BEHAVIOUR["progress_every_s"]
        for n in range(1, int(resolve_at // every) + 1):
            self.later(
                n * every, _stamped(StationProgressNoted, ProgressPayload, base, case_id, note="已联系客户告知进度")
            )
        parcel = opened.payload.parcel if opened else None
        origin = parcel.origin_station if parcel else None
        # A station declares against the sending station, never against itself.
        if fresh and kind in (CaseKind.DAMAGE, CaseKind.LOSS) and waybill and parcel and origin not in (None, station):
            declaration = ArbitrationDeclaredPayload(
                **base, at=now, waybill_no=waybill, liable_station=origin,
                amount_claimed=parcel.declared_value or Money(amount_minor=10000),
            )  # fmt: skip
            self.later(
                BEHAVIOUR["arbitration_s"], ArbitrationDeclared.create(declaration, key=case_id, producer=station)
            )
        solution = "已与客户沟通并处理完毕"
        self.later(
            resolve_at,
            _stamped(
                StationResolved, ResolvedPayload, base, case_id, result=ResolutionResult.RESOLVED, solution=solution
            ),
        )

    def hq_rules(self, case_id: str, station: str, ruling: HqRuling, after_s: float) -> None:
        """HQ's desk rules on the station's request some time after it was made."""
        decision = HqRulingPayload(
            case_id=case_id, station=HQ_DESK, agent_id="A9001", at=datetime.now(UTC), ruling=ruling,
            about_station=station, reason="总部客服核实后裁定",
        )  # fmt: skip
        delay = after_s + self._within(BEHAVIOUR["hq_ruling_s"])
        # The desk rules on the case as it stands: not once it closed, nor after HQ (its rule) moved it.
        self.later(
            delay,
            StationHqRuled.create(decision, key=case_id, producer=HQ_DESK),
            still=lambda: case_id not in self.closed and self.holder.get(case_id) == station,
        )

    def on_resolved(self, event: CaseResolved) -> None:
        """Some customers answer the satisfaction question the resolution message asks."""
        rng = self.rng
        if rng.random() >= BEHAVIOUR["satisfaction_answer_share"]:
            return
        scores = BEHAVIOUR["satisfaction_scores"]
        case_id = event.payload.case_id
        answer = SatisfactionAnswerPayload(
            source_system="sms-gateway", source_id=f"pj-{event.event_id}", channel=Channel.PHONE,
            case_id=case_id, score=rng.choices(list(scores), weights=list(scores.values()))[0],
            answered_at=datetime.now(UTC),
        )  # fmt: skip
        self.later(
            self._within(BEHAVIOUR["satisfaction_answer_s"]),
            SatisfactionAnswered.create(answer, key=case_id, producer="sms-gateway"),
        )


def _stamped(model: Any, payload_type: Any, base: dict[str, Any], key: str, **extra: Any) -> Event:
    """An update whose `at` is when it is sent, not when it was planned."""
    payload = payload_type(**base, at=datetime.now(UTC), **extra)
    event: Event = model.create(payload, key=key, producer=base["station"])
    return event


async def simulate(
    bootstrap: str,
    *,
    rate: float,
    speed: float,
    duration: float,
    prefix: str = "",
    seed: int = 7,
    bad_share: float = 0.02,
    stats: Stats | None = None,
    stations: bool = True,
) -> Stats:
    stats = stats or Stats()
    rng = random.Random(seed)
    upstream = Upstream(rng, load_places(), speed)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()

    async def send(event: Event) -> None:
        headers = [(k, v.encode()) for k, v in event_headers(event).items()]
        await producer.send(
            prefix + topic_for(type(event)).name, event.to_bytes(), key=event.key.encode(), headers=headers
        )
        stats.sent[event.type] += 1

    actors = Stations(send, speed, rng, upstream.covering)
    watcher = asyncio.create_task(_watch_cases(bootstrap, prefix, actors)) if stations else None
    try:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < duration:
            n += 1
            roll = rng.random()
            if roll < bad_share:
                topic, raw = upstream.bad()
                await producer.send(prefix + topic, raw, key=b"bad")
                stats.sent["bad"] += 1
            elif roll < bad_share + 0.02 and upstream.waybills:
                event = upstream.exception()
                await send(event)
                await send(event)  # delivered twice
                stats.sent["duplicate"] += 1
            elif roll < 0.65:
                await send(upstream.exception())
            else:
                await send(upstream.contact())
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
    finally:
        await producer.flush()
        if watcher:
            watcher.cancel()
        for task in list(actors.tasks):
            task.cancel()
        await producer.stop()
    return stats


async def _watch_cases(bootstrap: str, prefix: str, actors: Stations) -> None:
    consumer = AIOKafkaConsumer(
        prefix + CASES_LIFECYCLE.name,
        bootstrap_servers=bootstrap,
        group_id=f"{prefix}caseflow-simulated-stations",
        auto_offset_reset="latest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        async for record in consumer:
            try:
                actors.on_event(parse_event(record.value or b""))
            except ValueError:
                continue
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic-prefix", default="")
    parser.add_argument("--rate", type=float, default=20, help="upstream events per second")
    parser.add_argument("--speed", type=float, default=600, help="simulated seconds per real second")
    parser.add_argument("--duration", type=float, default=60, help="real seconds to run")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--bad-share", type=float, default=0.02)
    args = parser.parse_args()
    stats = asyncio.run(
        simulate(
            args.bootstrap,
            rate=args.rate,
            speed=args.speed,
            duration=args.duration,
            prefix=args.topic_prefix,
            seed=args.seed,
            bad_share=args.bad_share,
        )
    )
    print(f"sent: {stats.line()}")


if __name__ == "__main__":
    main()
