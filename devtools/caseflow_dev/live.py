"""A live terminal view of the suite: what flows on every topic, as it happens.

It reads every catalog topic and dead-letter topic (no consumer group, from the
moment it starts) and shows counts, rates and the latest notable events. It
reads only what monitoring consumers may read: it prints case ids, kinds,
stations and amounts, never contact details.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from caseflow_contracts import TOPICS, ContractError, Event, parse_event

ROWS = [
    ("upstream exceptions", "parcel.exception_reported"),
    ("customer contacts", "customer.contacted"),
    ("cases opened", "case.opened"),
    ("merged (repeat contacts)", "case.merged"),
    ("reopened", "case.reopened"),
    ("escalated / assigned", "case.escalated"),
    ("transferred (超区)", "case.transferred"),
    ("callbacks logged", "case.callback_logged"),
    ("resolved", "case.resolved"),
    ("SLA warnings", "sla.warning"),
    ("SLA breaches", "sla.breached"),
    ("breaches withdrawn (suite's lag)", "sla.breach_withdrawn"),
    ("SLA met", "sla.met"),
    ("contacts after closure", "case.contact_after_closure"),
    ("customers' satisfaction answers", "case.satisfaction_recorded"),
    ("QA points charged (events)", "qa.points_charged"),
    ("claims opened", "claim.opened"),
    ("claims decided", "claim.decided"),
    ("payouts issued", "payout.issued"),
    ("chargebacks issued", "chargeback.issued"),
    ("notifications sent", "notification.sent"),
    ("notifications failed", "notification.failed"),
]


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=8))
    started: float = field(default_factory=time.monotonic)
    breaches: Counter[str] = field(default_factory=Counter)  # per metric, net of withdrawals
    qa_points: Counter[str] = field(default_factory=Counter)  # per station, net of reversals
    scores: Counter[int] = field(default_factory=Counter)  # the customers' own satisfaction answers
    follow_ups: int = 0  # contacts after closure that opened a linked case

    def _figures(self, event: Event) -> None:
        p: Any = event.payload
        match event.type:
            case "sla.breached":
                self.breaches[str(p.metric)] += 1
            case "sla.breach_withdrawn":
                self.breaches[str(p.metric)] -= 1
            case "qa.points_charged":
                self.qa_points[p.station] += p.points
            case "qa.points_reversed":
                self.qa_points[p.station] -= p.points
            case "case.satisfaction_recorded":
                self.scores[p.score] += 1
            case "case.opened" if p.linked_case_id:
                self.follow_ups += 1

    def kpis(self) -> dict[str, float | None]:
        """CSAT (share of 4-5 among the customers' answers) and reopen rate (reopened among closed cases)."""
        answers = sum(self.scores.values())
        closed = self.counts["case.closed"]
        return {
            "csat": (self.scores[4] + self.scores[5]) / answers if answers else None,
            "reopen_rate": self.counts["case.reopened"] / closed if closed else None,
        }

    def add(self, topic: str, value: bytes, headers: dict[str, bytes]) -> None:
        if topic.endswith(".dlq"):
            reason = headers.get("x-dlq-reason", b"?").decode()
            self.dead[f"{topic} {reason}"] += 1
            self.recent.appendleft(f"[red]dead letter[/] {topic} ({reason})")
            return
        try:
            event = parse_event(value)
        except ContractError:
            return
        self.counts[event.type] += 1
        self._figures(event)
        if line := _notable(event):
            self.recent.appendleft(line)

    def render(self) -> Group:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        table = Table(title=f"caseflow, live ({elapsed:.0f} s)", expand=False)
        table.add_column("what")
        table.add_column("count", justify="right")
        table.add_column("per s", justify="right")
        for label, kind in ROWS:
            n = self.counts[kind]
            table.add_row(label, str(n), f"{n / elapsed:.1f}")
        table.add_row("[red]dead-lettered[/]", str(sum(self.dead.values())), f"{sum(self.dead.values()) / elapsed:.1f}")
        recent = "\n".join(self.recent) or "waiting for events…"
        return Group(table, self._quality(), Panel(recent, title="latest"))

    def _quality(self) -> Table:
        kpis = self.kpis()
        table = Table(title="quality", expand=False)
        table.add_column("figure")
        table.add_column("value", justify="right")
        for name, value in kpis.items():
            table.add_row(name.replace("_", " "), "–" if value is None else f"{value:.1%}")
        table.add_row("reopens / follow-up cases", f"{self.counts['case.reopened']} / {self.follow_ups}")
        table.add_row("breaches by metric", ", ".join(f"{m} {n}" for m, n in sorted(self.breaches.items())) or "–")
        worst = ", ".join(f"{s} {n}" for s, n in self.qa_points.most_common(5) if n)
        table.add_row("QA points lost (most)", worst or "–")
        return table


def _notable(event: Event) -> str | None:
    p: object = event.payload
    kind = event.type
    if kind == "sla.breached":
        return (
            f"[yellow]breach[/] {getattr(p, 'case_id', '')} {getattr(p, 'metric', '')} at {getattr(p, 'station', '')}"
        )
    if kind == "case.escalated" and str(getattr(p, "trigger", "")) != "initial_assignment":
        return f"[magenta]escalated[/] {getattr(p, 'case_id', '')} → {getattr(p, 'holder', '')} ({getattr(p, 'trigger', '')})"
    if kind == "payout.issued":
        amount = getattr(p, "amount", None)
        return f"[green]payout[/] {getattr(p, 'case_id', '')} {getattr(amount, 'amount_minor', 0) / 100:.2f} {getattr(amount, 'currency', '')}"
    if kind == "case.transferred":
        return f"[cyan]transfer[/] {getattr(p, 'case_id', '')} {getattr(p, 'from_station', '')} → {getattr(p, 'to_station', '')}"
    return None


async def follow(bootstrap: str, prefix: str, tally: Tally, stop: asyncio.Event) -> None:
    """Read every topic and dead-letter topic from now on into `tally`."""
    names = [prefix + t.name for t in TOPICS] + [prefix + t.dlq for t in TOPICS]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(n, p) for n in names for p in (consumer.partitions_for_topic(n) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=200, max_records=2000)
            for tp, records in batch.items():
                for r in records:
                    tally.add(tp.topic, r.value or b"", dict(r.headers))
    finally:
        await consumer.stop()


async def show(
    bootstrap: str, prefix: str, stop: asyncio.Event, tally: Tally, extra: Callable[[], Text] | None = None
) -> None:
    """Render `tally` live while `follow` fills it, until `stop` is set."""
    reader = asyncio.create_task(follow(bootstrap, prefix, tally, stop))
    with Live(tally.render(), refresh_per_second=4) as live:
        while not stop.is_set() and not reader.done():
            view = tally.render()
            if extra:
                view = Group(view, extra())
            live.update(view)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
    stop.set()
    await reader
