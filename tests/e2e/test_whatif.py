"""What if, end to end: a simulated period recorded through the real broker by the five services as processes,
exported with `caseflowctl export`, replayed with `caseflowctl whatif`: under the recorded policies the replay
agrees with the recording (0 differences). The same period shows in the live view (`make run`'s), and only the
simulator's deliberately bad inputs end as dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from rich.console import Console

from caseflow_contracts import Event
from caseflow_contracts.common import ClaimantRole
from caseflow_contracts.stations import (
    CallbackOutcome,
    CallbackPayload,
    StationAcknowledged,
    StationCalledBack,
    StationUpdatePayload,
)
from caseflow_contracts.upstream import ContactCategory, ExceptionKind
from caseflow_dev.broker import EmbeddedBroker
from caseflow_dev.live import Tally, follow
from caseflow_dev.simulator import simulate
from caseflow_dev.testing import KafkaTestKit, until
from caseflow_ops.cli import run as caseflowctl

from .suite import SPEED, Suite, claim_request, contact, exception, start_suite, waybill

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def recorded(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Suite, Path, Tally]]:
    """A simulated period through the suite, the suite left quiet, and the period exported; the live view's
    tally followed it from the start."""
    data = tmp_path_factory.mktemp("whatif")
    kit = KafkaTestKit(broker.bootstrap, data)
    await kit.create_topics()
    suite, follower = await start_suite(kit, data)
    tally, stop = Tally(), asyncio.Event()
    viewer = asyncio.create_task(follow(kit.bootstrap, kit.prefix, tally, stop))
    try:
        await called_back_in_three_of_four_seconds(suite)
        await simulate(kit.bootstrap, rate=4, speed=SPEED, duration=20, prefix=kit.prefix, bad_share=0.05)
        await quiet(suite, for_s=2.5, within_s=60)
        await caught_up(tally, suite, within_s=30)
        stop.set()
        await viewer
        export = data / "period.jsonl"
        out = io.StringIO()
        assert (
            await caseflowctl(
                ["export", "--bootstrap", kit.bootstrap, "--topic-prefix", kit.prefix, "--out", str(export)], out
            )
            == 0
        )
        yield suite, export, tally
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await viewer
        follower.cancel()
        for process in suite.processes.values():
            process.terminate()
        await suite.http.stop()
        suite.smtp.stop()
        await kit.close()


async def called_back_in_three_of_four_seconds(suite: Suite) -> None:
    """A complaint the station calls back about, telling the result, 3 s into its 4 s target (2 hours at SPEED):
    met under the recorded policies, late under half the target. The simulator's stations never tell a
    result, so this story is the one a halved target must turn. Its sender claims compensation too."""
    wb = waybill()
    await suite.kit.publish(exception(wb, ExceptionKind.DELAY))
    case_id = (await suite.log.case_opened_for(wb)).payload.case_id  # type: ignore[attr-defined]
    await suite.log.case_event(case_id, "case.escalated")
    complaint = contact(wb, ContactCategory.COMPLAINT, "快递延误三天了，我要投诉")
    await suite.kit.publish(complaint)
    await suite.log.case_event(case_id, "case.merged")
    # The sender asks for compensation: claims opens and decides a claim (the simulator's claims may come too late).
    await suite.kit.publish(claim_request(wb, "延误太久，要求赔偿运费", ClaimantRole.SENDER))
    await suite.log.case_event(case_id, "claim.decided")
    said = {"case_id": case_id, "station": "SH-PD-01", "agent_id": "A1024"}
    ack = StationUpdatePayload(**said, at=datetime.now(UTC))
    await suite.kit.publish(StationAcknowledged.create(ack, key=case_id, producer="SH-PD-01"))
    # The story's pace (the station takes 3 s of its 4), not a wait for the suite.
    await asyncio.sleep(
        max(0.0, (complaint.payload.received_at + timedelta(seconds=3) - datetime.now(UTC)).total_seconds())
    )
    told = CallbackPayload(**said, at=datetime.now(UTC), outcome=CallbackOutcome.REACHED, result="已告知客户：明日改派")
    await suite.kit.publish(StationCalledBack.create(told, key=case_id, producer="SH-PD-01"))
    await suite.log.case_event(case_id, "sla.met", metric="callback")


async def quiet(suite: Suite, *, for_s: float, within_s: float) -> None:
    """Until no event has reached the log for `for_s` (the clocks still armed are due later than that)."""
    deadline = time.monotonic() + within_s
    seen, since = len(suite.log.events), time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if len(suite.log.events) != seen:
            seen, since = len(suite.log.events), time.monotonic()
        elif time.monotonic() - since >= for_s:
            return
    raise AssertionError(f"the suite never went quiet for {for_s} s within {within_s} s")


@pytest.fixture
def recorded_policies(recorded: tuple[Suite, Path, Tally], monkeypatch: pytest.MonkeyPatch) -> None:
    """caseflowctl finds the rules files the suite ran on the way the services did: their settings."""
    suite, _, _ = recorded
    monkeypatch.setenv("CASEFLOW_POLICIES_FILE", str(suite.data / "demo-sla-policies.yaml"))


async def test_the_replay_under_the_recorded_policies_agrees_with_the_recording(
    recorded: tuple[Suite, Path, Tally], recorded_policies: None
) -> None:
    _, export, _ = recorded
    lines = export.read_text(encoding="utf-8").splitlines()
    types = {json.loads(line)["event"]["type"] for line in lines}
    assert {"case.opened", "case.escalated", "sla.breached", "qa.points_charged", "claim.decided"} <= types, types
    out = io.StringIO()
    code = await caseflowctl(["whatif", str(export), "--json"], out)
    answer = json.loads(out.getvalue())
    assert answer["differences"] == [], answer["differences"][:5]
    # The suite went quiet before the period was read: the live timer had decided everything due in it.
    assert answer["beyond_the_end"] == []
    assert answer["faithful"] is True
    assert code == 0


def halved_callback(policies: Path, to: Path) -> Path:
    """The recorded SLA policies with every callback target halved (a new version)."""
    data = yaml.safe_load(policies.read_text(encoding="utf-8"))
    for rule in data["rules"]:
        target = rule.get("targets", {}).get("callback")
        if target and target != "off":
            rule["targets"]["callback"] = f"{max(1, int(target.removesuffix('s')) // 2)}s"
    data["version"] += "-callback-halved"
    to.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return to


async def test_a_halved_callback_target_costs_more_callback_breaches_and_qa_points(
    recorded: tuple[Suite, Path, Tally], recorded_policies: None, tmp_path: Path
) -> None:
    suite, export, _ = recorded
    candidate = halved_callback(suite.data / "demo-sla-policies.yaml", tmp_path / "halved.yaml")
    report = tmp_path / "whatif.html"
    out = io.StringIO()
    args = ["whatif", str(export), "--sla-policies", str(candidate), "--json", "--report", str(report)]
    assert await caseflowctl(args, out) == 0
    answer = json.loads(out.getvalue())
    assert answer["faithful"] is True
    assert answer["policies"]["candidate"]["sla_policies"].endswith("-callback-halved")

    def callback_breaches(side: dict[str, Any]) -> int:
        return sum(row["count"] for row in side["breaches"] if row["metric"] == "callback")

    before, after = answer["baseline"], answer["candidate"]
    assert callback_breaches(after) > callback_breaches(before)
    assert after["qa_points_total"] > before["qa_points_total"]
    assert answer["changed_cases"], "no case changed"
    assert all(c["before"] != c["after"] for c in answer["changed_cases"])
    page = report.read_text(encoding="utf-8")
    assert "<svg" in page
    assert "QA points per station" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # readable offline


async def test_the_rules_versions_the_services_loaded_are_found_on_policies_versions(
    recorded: tuple[Suite, Path, Tally], monkeypatch: pytest.MonkeyPatch
) -> None:
    """sla ran on the demo policies; caseflowctl is told nothing about them (the packaged file is in force here):
    `policies` lists the version from the topic, the export carries it, and a replay from Kafka finds it."""
    suite, export, _ = recorded
    monkeypatch.delenv("CASEFLOW_POLICIES_FILE", raising=False)
    demo = yaml.safe_load((suite.data / "demo-sla-policies.yaml").read_text(encoding="utf-8"))["version"]
    broker = ["--bootstrap", suite.kit.bootstrap, "--topic-prefix", suite.kit.prefix, "--json"]

    out = io.StringIO()
    assert await caseflowctl(["policies", *broker], out) == 0
    kept = {(row["kind"], row["version"]): row for row in json.loads(out.getvalue())["versions"]}
    assert kept[("sla_policies", demo)]["source"].startswith("policies.versions:")
    assert {"intake_rules", "hq_rules", "directory", "qa_table", "compensation_rules"} <= {k for k, _ in kept}

    lines = [json.loads(line) for line in export.read_text(encoding="utf-8").splitlines()]
    carried = {line["event"]["key"] for line in lines if line["topic"] == "policies.versions"}
    assert f"sla_policies:{demo}" in carried

    # The period the export read after the suite went quiet, not what the suite did since: its clocks still run
    # (other tests of this module came first), and a period read while a breach's escalation is on its way ends
    # with outcomes the recording cannot hold yet (beyond_the_end, see the first test).
    period = [line for line in lines if line["topic"] != "policies.versions"]
    until = datetime.fromtimestamp((max(line["timestamp_ms"] for line in period) + 1) / 1000, UTC).isoformat()
    out = io.StringIO()
    code = await caseflowctl(["whatif", *broker, "--until", until], out)
    answer = json.loads(out.getvalue())
    assert answer["policies"]["baseline"]["sla_policies"] == demo
    assert answer["records"] == len(period)
    assert answer["differences"] == [], answer["differences"][:5]
    assert answer["beyond_the_end"] == []
    assert code == 0


async def test_a_period_split_across_processes_gives_the_answer_of_one(
    recorded: tuple[Suite, Path, Tally], recorded_policies: None, tmp_path: Path
) -> None:
    """--workers 2: the stories split by case across two processes, the results merged, the same answer."""
    suite, export, _ = recorded
    candidate = halved_callback(suite.data / "demo-sla-policies.yaml", tmp_path / "halved.yaml")
    answers = []
    for workers in ("1", "2"):
        out = io.StringIO()
        args = ["whatif", str(export), "--sla-policies", str(candidate), "--json", "--workers", workers]
        assert await caseflowctl(args, out) == 0
        answer = json.loads(out.getvalue())
        for measure in ("seconds", "events_per_second", "seconds_in_handlers", "memory"):  # of each process
            del answer[measure]
        answers.append(answer)
    assert answers[0]["changed_cases"]
    assert answers[1] == answers[0]


async def test_the_replay_forgets_the_cases_that_are_over(
    recorded: tuple[Suite, Path, Tally], recorded_policies: None
) -> None:
    """A story over (no recorded input left for it, no clock armed) is dropped: at the end the services' stores
    hold the documents of the stories still open only, and fewer stories were ever open at once than the period
    has."""
    from caseflow_kit.store import Query
    from caseflow_ops.whatif import engine, policies
    from caseflow_ops.whatif.period import in_order, read_file, split_versions
    from caseflow_ops.whatif.stories import SPANNING

    _, export, _ = recorded
    records, _ = split_versions(read_file(export))
    simulation = engine.Simulation(list(in_order(records)), policies.in_force())
    result = await simulation.run()
    memory = simulation.memory
    assert result.stories_closed > 0
    assert result.peak_open_stories < len(set(memory.story_of.values()))
    held = set()
    for name, service in simulation.services.items():
        for spec in engine.SPECS:
            if spec.name != name:
                continue
            for collection in spec.collections:
                if (name, collection.name) not in SPANNING:
                    held |= {
                        (name, collection.name, d["_id"]) for d in await service.store.find(collection.name, Query())
                    }
    assert held == set().union(*memory.docs.values())  # nothing of a forgotten story is left
    assert len(memory.docs) <= len(set(memory.story_of.values())) - result.stories_closed


#: What the simulator's deliberately bad upstream bytes are refused as (simulator.Upstream.bad).
BAD_INPUT_REASONS = {"malformed_json", "unknown_type", "invalid"}


async def test_every_dead_letter_of_the_period_is_one_of_the_deliberately_bad_inputs(
    recorded: tuple[Suite, Path, Tally],
) -> None:
    """Issue 15: stations, supervisors and HQ's desk acting on what they knew (a note that crossed the close, a
    ruling on a case already moved) are answered by the suite, never dead-lettered as bad input."""
    suite, _, _ = recorded
    reasons = [
        (topic.removeprefix(suite.kit.prefix), h.get("x-dlq-reason", b"?").decode()) for topic, h, _ in suite.log.dead
    ]
    assert reasons, "the simulator sent no bad input"
    assert {topic for topic, _ in reasons} == {"upstream.parcel-exceptions.dlq"}, reasons
    assert {reason for _, reason in reasons} <= BAD_INPUT_REASONS, reasons


Figures = tuple[dict[str, int], dict[str, int]]


def figures(events: list[Event]) -> Figures:
    """QA points per station and breaches per metric, net of reversals and withdrawals, as the events say."""
    sign = {"qa.points_charged": 1, "qa.points_reversed": -1, "sla.breached": 1, "sla.breach_withdrawn": -1}
    points: Counter[str] = Counter()
    breaches: Counter[str] = Counter()
    for event in events:
        p: Any = event.payload
        if event.type in ("qa.points_charged", "qa.points_reversed"):
            points[p.station] += sign[event.type] * p.points
        elif event.type in ("sla.breached", "sla.breach_withdrawn"):
            breaches[str(p.metric)] += sign[event.type]
    return {s: n for s, n in points.items() if n}, {m: n for m, n in breaches.items() if n}


def tallied(tally: Tally) -> Figures:
    return {s: n for s, n in tally.qa_points.items() if n}, {m: n for m, n in tally.breaches.items() if n}


async def caught_up(tally: Tally, suite: Suite, *, within_s: float) -> None:
    """Until the live view has read what the suite's event log holds (two consumers of the same topics)."""
    await until(
        lambda: tallied(tally) == figures([event for _, event in suite.log.events]),
        timeout_s=within_s,
        what="the live view catching up with the event log",
    )


async def test_the_live_view_shows_the_periods_scorecard_and_quality_from_the_events(
    recorded: tuple[Suite, Path, Tally],
) -> None:
    """The live view, fed off the broker while the period ran (the fixture waited until it had read what the
    event log holds), renders the QA scorecard and the quality figures those events carry."""
    suite, _, tally = recorded
    points, breaches = tallied(tally)
    assert points
    assert breaches.get("callback", 0) > 0
    assert sum(tally.dead.values()) == len(suite.log.dead)
    console = Console(record=True, width=240, color_system=None)
    console.print(tally.render())
    screen = console.export_text()
    lost = max(points.values())
    assert any(f"{s} {lost}" in screen for s, n in points.items() if n == lost)  # the most-charged station
    assert "breaches by metric" in screen
    assert f"callback {breaches['callback']}" in screen
    answers = tally.scores
    happy = answers[4] + answers[5]
    csat = f"{happy / sum(answers.values()):.1%}" if answers else "–"
    [csat_row] = [line for line in screen.splitlines() if line.split()[1:2] == ["csat"]]
    assert csat in csat_row, screen
