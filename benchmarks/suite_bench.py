"""N cases through the whole suite: sustained cases/s and latency from upstream event to customer notification.

    .venv/bin/python benchmarks/suite_bench.py [-n 5000] [--rate 1000] [--profile [HZ]] [--against REV] [--whatif]
        [--period FILE]

Starts Tansu, the five services as processes (SQLite), a local SMTP server and
HTTP receiver, then publishes N parcel exceptions at --rate per second and
follows notify.deliveries: a case is through when its first notification.sent
(the acknowledgement) is published. Prints the sustained rate, p50/p99 latency,
and, measured in the same run on the same broker, the raw produce→consume rate
and round trip, so the figures can be compared across machines as ratios.
Notify's channel rate limits are raised for the run (the receivers are local).

--whatif then exports the period the cases made from the same broker (to benchmarks/profiles/whatif-period.jsonl, or
--period)
and replays it with `caseflowctl whatif` under the recorded policies, in a process of its own: recorded events/s
replayed (one process, one core), next to the suite's cases/s of the same run, its peak memory (maxrss), and
whether the replay agreed with the recording.
--profile records every process with py-spy while the cases flow (flame graphs under benchmarks/profiles/), at HZ
samples a second (200 unless given; at 50 a 4,000-case run gave notify 130 samples, too few to rank its frames)
and prints, per process, the frames with the most self time and the share of CPU by library.
--against REV first runs the same benchmark from commit REV (its own checkout and virtual environment under
benchmarks/baseline/, both git-ignored), then this one: the two sets of figures are measured back to back
on the same machine. --rounds K alternates the two K times and ends with each round's ratios and their
medians: the machine's other tenants move a single pair by a third either way. Cases per core are given twice:
over every process the run measured, and over the suite alone (the five services and the broker), without this
process's clients and receivers, which stand in for upstream systems, SMS gateways and merchants.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import profiles
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from caseflow_contracts import parse_event
from caseflow_contracts.topics import CASES_LIFECYCLE, NOTIFY_DELIVERIES, UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_dev.broker import free_port
from caseflow_dev.demo import demo_env
from caseflow_dev.harness import cpu_meter
from caseflow_dev.simulator import Upstream, load_places
from caseflow_dev.sinks import HttpSink, SmtpSink
from caseflow_dev.stack import SERVICES, Stack
from caseflow_kit.runtime import tune_gc
from caseflow_ops.status import suite_status

NOTIFY_POLICY = Path(__file__).resolve().parents[1] / "services/notify/caseflow_notify/data/policy.yaml"


def fast_policy(target: Path) -> Path:
    policy: dict[str, Any] = yaml.safe_load(NOTIFY_POLICY.read_text(encoding="utf-8"))
    for channel in policy["channels"].values():
        channel["rate_per_s"] = 100_000
        channel["burst"] = 100_000
    policy.pop("sending_hours", None)
    target.write_text(yaml.safe_dump(policy, allow_unicode=True), encoding="utf-8")
    return target


#: This process: the upstream producer, the follower and the SMTP and HTTP receivers, which stand in for the
#: systems around the suite. Both checkouts print it under this name.
BENCH = "bench (clients, sinks)"


def processes(stack: Stack) -> dict[str, int | None]:
    named = {s.name: (s.process.pid if s.process else None) for s in stack.services}
    return {**named, "tansu": stack.broker.pid, BENCH: os.getpid()}


def python_processes(pids: dict[str, int | None]) -> dict[str, int | None]:
    """What py-spy can sample: everything but the broker (Tansu is not a Python process)."""
    return {name: pid for name, pid in pids.items() if name != "tansu"}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def raw_broker(bootstrap: str, n: int) -> tuple[float, float]:
    """Produce n messages and consume them back, no processing: messages/s; then p99 of one round trip."""
    topic = f"bench-raw-{uuid.uuid4().hex[:6]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=50, enable_auto_commit=False)
    await consumer.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, 1)])
    await admin.close()
    parts = [TopicPartition(topic, 0)]
    consumer.assign(parts)
    await consumer.seek_to_end(*parts)
    body = b"x" * 900
    started = time.perf_counter()
    futures = [await producer.send(topic, body, key=str(i).encode()) for i in range(n)]
    await asyncio.gather(*futures)
    seen = 0
    while seen < n:
        seen += sum(len(v) for v in (await consumer.getmany(timeout_ms=200, max_records=5000)).values())
    rate = n / (time.perf_counter() - started)
    trips = []
    for _ in range(200):
        sent = time.perf_counter()
        await producer.send_and_wait(topic, body)
        while not sum(len(v) for v in (await consumer.getmany(timeout_ms=200)).values()):
            pass
        trips.append(time.perf_counter() - sent)
    await consumer.stop()
    await producer.stop()
    return rate, percentile(trips, 0.99)


class Follower:
    """Reads cases.lifecycle and notify.deliveries: which waybill became which case, and when it was first notified."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=20, enable_auto_commit=False)
        self.case_of: dict[str, str] = {}
        self.notified: dict[str, float] = {}

    async def start(self) -> None:
        await self.consumer.start()
        await self.consumer.topics()
        names = (CASES_LIFECYCLE.name, NOTIFY_DELIVERIES.name)
        parts = [TopicPartition(t, p) for t in names for p in self.consumer.partitions_for_topic(t) or ()]
        self.consumer.assign(parts)
        await self.consumer.seek_to_end(*parts)

    async def run(self, n: int) -> None:
        while len(self.notified) < n or len(self.case_of) < n:
            for records in (await self.consumer.getmany(timeout_ms=100, max_records=5000)).values():
                now = time.perf_counter()
                for r in records:
                    e = parse_event(r.value or b"")
                    if e.type == "case.opened":
                        self.case_of[e.payload.case_id] = e.payload.waybill_no  # type: ignore[attr-defined]
                    elif e.type == "notification.sent":
                        self.notified.setdefault(e.payload.case_id, now)  # type: ignore[attr-defined]


async def publish(bootstrap: str, events: list[Any], rate: float) -> dict[str, float]:
    """Publish at `rate` per second; return when each waybill's event was sent."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for i, event in enumerate(events):
        sent[event.payload.waybill_no] = time.perf_counter()
        await producer.send(UPSTREAM_PARCEL_EXCEPTIONS.name, event.to_bytes(), key=event.key.encode())
        ahead = started + (i + 1) / rate - time.perf_counter()
        if ahead > 0:
            await asyncio.sleep(ahead)
    await producer.flush()
    await producer.stop()
    return sent


#: The period the benchmark exports for the replay: kept after the run (git-ignored), to replay again by hand.
PERIOD = Path(__file__).parent / "profiles" / "whatif-period.jsonl"


def caseflowctl(env: dict[str, str]) -> tuple[str, dict[str, str]]:
    """This environment's caseflowctl, and the environment to run it in: the SLA policies the suite ran on
    (named by `env`), so that their versions are found."""
    ctl = str(Path(sys.executable).with_name("caseflowctl"))
    return ctl, {**os.environ, "CASEFLOW_POLICIES_FILE": env["CASEFLOW_POLICIES_FILE"]}


def replayed(period: Path, env: dict[str, str]) -> tuple[dict[str, Any], float, float]:
    """`caseflowctl whatif PERIOD --json` under the recorded policies, in a process of its own: its answer, the
    process's CPU seconds and its peak memory in MB. `env` names the SLA policies the suite ran on."""
    ctl, run_env = caseflowctl(env)
    with tempfile.TemporaryFile() as out:
        child = subprocess.Popen([ctl, "whatif", str(period), "--json"], stdout=out, env=run_env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        answer = json.load(out)
    return answer, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def print_replay(answer: dict[str, Any], seconds: float, peak_mb: float) -> None:
    print(
        f"whatif replay               {answer['records'] / seconds:10.0f} recorded events/s per core "
        f"({answer['records']} records, {seconds:.2f} CPU s, the process's start and both reads of the file included)"
    )
    print(
        f"whatif replay alone         {answer['events_per_second']:10.0f} recorded events/s (the replay's own wall time,"
        f" after the first read, {answer['replays']} run(s) over the period: what a long period tends to)"
    )
    in_handlers = answer["seconds_in_handlers"]
    floor = answer["records"] * answer["replays"] / in_handlers if in_handlers else float("inf")
    print(
        f"whatif handlers alone       {floor:10.0f} recorded events/s "
        f"(the same runs over the seconds spent in the services' own handlers, {in_handlers / answer['seconds']:.0%} of"
        " the replay's: no replay through the same code is faster)"
    )
    print(f"whatif peak memory          {peak_mb:10.1f} MB (maxrss of the caseflowctl whatif process)")
    print(f"replay faithful             {answer['faithful']} ({len(answer['differences'])} cases differ)")


def export(bootstrap: str, env: dict[str, str], period: Path) -> None:
    """The suite's topics, as `caseflowctl export` writes them, into `period`."""
    period.parent.mkdir(parents=True, exist_ok=True)
    ctl, run_env = caseflowctl(env)
    subprocess.run([ctl, "--bootstrap", bootstrap, "export", "--out", str(period)], check=True, env=run_env)


def whatif(bootstrap: str, env: dict[str, str], cases_per_s: float, period: Path) -> None:
    """Export the period just recorded and replay it with `caseflowctl whatif`, in a process of its own: recorded
    events/s per CPU second (reading the file twice included), the process's peak memory, and whether the replay
    agreed with the recording."""
    export(bootstrap, env, period)
    answer, seconds, peak_mb = replayed(period, env)
    print_replay(answer, seconds, peak_mb)
    print(
        f"ratio replay / suite        {answer['records'] / seconds / cases_per_s:10.1f} recorded events replayed per"
        " second per case/s of the suite"
    )


async def main(n: int, rate: float, *, profile: int | None = None, replay: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        smtp = SmtpSink().start()
        http = await HttpSink().start()
        env = demo_env(data, 1, smtp, http)
        env["CASEFLOW_NOTIFY_POLICY_PATH"] = str(fast_policy(data / "notify-policy.yaml"))
        stack = Stack(data, free_port(), free_port(count=len(SERVICES)), env)
        try:
            await stack.start()
            raw_rate, raw_p99 = await raw_broker(stack.broker.bootstrap, n)
            upstream = Upstream(random.Random(1), load_places(), speed=1)
            events = [upstream.exception() for _ in range(n)]
            tune_gc(50_000)  # the clients share the two cores with the suite: no rescanning of the workload
            follower = Follower(stack.broker.bootstrap)
            await follower.start()
            following = asyncio.create_task(follower.run(n))
            urls = {svc.name: svc.url for svc in stack.services}
            events_before = await event_totals(urls)
            pids = processes(stack)
            cpu_spent = cpu_meter(pids)
            started = time.perf_counter()
            profiling = (
                asyncio.create_task(
                    profiles.record(python_processes(pids), max(5.0, min(30.0, n / rate)), rate=profile)
                )
                if profile is not None
                else None
            )
            sent = await publish(stack.broker.bootstrap, events, rate)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(following, timeout=max(120, n / 50))
            cpu = cpu_spent()
            events = {k: v - events_before.get(k, 0.0) for k, v in (await event_totals(urls)).items()}
            await follower.consumer.stop()
            sustained = report(n, rate, started, sent=sent, follower=follower, raw_rate=raw_rate, raw_p99=raw_p99)
            report_cpu(cpu, len(follower.notified), rate)
            if profiling is not None:
                print(profiles.report(await profiling))
            cases = max(len(follower.notified), 1)
            print(
                f"per case, all services       {events['published'] / cases:.1f} events published, "
                f"{events['handled'] / cases:.1f} handled, {events['skipped'] / cases:.1f} read and skipped "
                "(types a service does not handle)"
            )
            if replay is not None:
                await asyncio.to_thread(whatif, stack.broker.bootstrap, env, sustained, replay)
        finally:
            stack.stop()
            await http.stop()
            smtp.stop()


def report(
    n: int, rate: float, started: float, *, sent: dict[str, float], follower: Follower, raw_rate: float, raw_p99: float
) -> float:
    latencies = [
        follower.notified[c] - sent[w] for c, w in follower.case_of.items() if c in follower.notified and w in sent
    ]
    finished = max(follower.notified.values(), default=time.perf_counter())
    sustained = len(latencies) / (finished - started)
    print(f"cases published             {n} at a target of {rate:.0f}/s")
    print(f"cases opened and notified   {len(latencies)}")
    print(f"sustained                   {sustained:10.0f} cases/s  (first publish to last first-notification)")
    if latencies:
        p50, p99 = statistics.median(latencies) * 1000, percentile(latencies, 0.99) * 1000
        print(f"latency upstream->notified  p50 {p50:7.0f} ms   p99 {p99:7.0f} ms")
    print(
        f"raw broker, same run        {raw_rate:10.0f} msgs/s (produce+consume, no processing); round trip p99 {raw_p99 * 1000:.1f} ms"
    )
    print(f"ratio suite / raw           {sustained / raw_rate:10.3f}")
    return sustained


async def event_totals(urls: dict[str, str]) -> dict[str, float]:
    """Events published, handled and skipped so far, summed over the services' /metrics."""
    totals = {"published": 0.0, "handled": 0.0, "skipped": 0.0}
    for status in await suite_status(urls, timeout_s=10):
        totals["published"] += status.metrics.get("caseflow_events_published_total", 0.0)
        totals["handled"] += status.outcomes.get("handled", 0.0)
        totals["skipped"] += status.outcomes.get("ignored", 0.0)
    return totals


def report_cpu(cpu: dict[str, float], cases: int, rate: float) -> None:
    """Where the machine's time went, per case: what the target leaves per case is cores / rate."""
    if not cases:
        return
    cores = os.cpu_count() or 1
    print(f"CPU per case, by process     (budget at {rate:.0f} cases/s on {cores} cores: {cores / rate * 1000:.2f} ms)")
    for name, seconds in sorted(cpu.items(), key=lambda item: -item[1]):
        print(f"    {name:24} {seconds / cases * 1000:8.2f} ms")
    total = sum(cpu.values()) / cases
    print(f"    {'all':24} {total * 1000:8.2f} ms  -> at most {cores / total:.0f} cases/s with every core busy")
    suite = total - cpu.get(BENCH, 0.0) / cases
    print(
        f"    {'the suite':24} {suite * 1000:8.2f} ms  (the five services and the broker: {1 / suite:.0f} cases/s a core)"
    )


def baseline_checkout(rev: str) -> Path:
    """Commit `rev`'s own checkout and environment, made once."""
    root = Path(__file__).resolve().parents[1]
    folder = root / "benchmarks" / "baseline" / rev
    if not folder.exists():
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(folder), rev], check=True)
    subprocess.run(["make", "-C", str(folder), "venv"], check=True)
    same_receivers(folder)
    return folder


def same_receivers(folder: Path) -> None:
    """The receivers standing in for SMS gateways and merchants run on uvicorn, which parses HTTP with httptools
    when it is installed (h11, pure Python, otherwise: about 160 against 50 us of CPU a request here). Installed
    into the baseline's environment too, at the version this checkout locks, so that both runs' receivers cost
    alike on the cores they share with the suites compared."""
    version = importlib.metadata.version("httptools")
    uv, python = folder / ".uv" / "bin" / "uv", folder / ".venv" / "bin" / "python"
    subprocess.run([str(uv), "pip", "install", "--quiet", "--python", str(python), f"httptools=={version}"], check=True)


_FIGURES = {
    "cases/s": re.compile(r"^sustained\s+(\d+) cases/s", re.M),
    "ms per case": re.compile(r"^\s+all\s+([\d.]+) ms", re.M),
    "bench ms per case": re.compile(rf"^\s+{re.escape(BENCH)}\s+([\d.]+) ms", re.M),
    "raw broker msgs/s": re.compile(r"^raw broker, same run\s+(\d+) msgs/s", re.M),
}


def run_and_read(label: str, command: list[str]) -> dict[str, float]:
    """One benchmark run in its own process, its output printed when it ends; its headline figures."""
    print(f"=== {label} ===", flush=True)
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    print(out, end="", flush=True)
    figures = {name: float(m.group(1)) for name, pattern in _FIGURES.items() if (m := pattern.search(out))}
    missing = [name for name in ("cases/s", "ms per case") if name not in figures]
    if missing:
        raise RuntimeError(f"{label}: its output has no {' and no '.join(missing)} figure")
    return figures


def compare(rev: str, argv: list[str], rounds: int, *, own_flags: list[str]) -> None:
    """The benchmark at `rev` and here, alternating `rounds` times, then each round's ratios and their medians.
    `own_flags` (--profile, --whatif) go to this checkout's last run only: they add their own work to a run."""
    folder = baseline_checkout(rev)
    pairs = []
    for k in range(1, rounds + 1):
        old = run_and_read(
            f"round {k}/{rounds}, baseline {rev}",
            [str(folder / ".venv/bin/python"), str(folder / "benchmarks/suite_bench.py"), *argv],
        )
        flags = own_flags if k == rounds else []
        new = run_and_read(f"round {k}/{rounds}, this checkout", [sys.executable, __file__, *argv, *flags])
        pairs.append((old, new))
    print(summary(rev, pairs))


def suite_ms(figures: dict[str, float]) -> float | None:
    """CPU per case of the suite alone (the five services and the broker), without the benchmark's own process."""
    bench = figures.get("bench ms per case")
    return figures["ms per case"] - bench if bench is not None else None


def summary(rev: str, pairs: list[tuple[dict[str, float], dict[str, float]]]) -> str:
    """Each round's ratios (this checkout against `rev`) and their medians: cases/s, cases per core of every process
    the run measured, and of the suite alone (the benchmark's clients and receivers stand in for the systems around
    it; they are the first figure's, not the second's)."""
    lines = [
        f"=== {rev} -> this checkout, {len(pairs)} alternating rounds ===",
        "round   cases/s (ratio)        ms per case (cases per core)   the suite alone             raw broker msgs/s",
    ]
    rate_ratios, core_ratios, suite_ratios = [], [], []
    for k, (old, new) in enumerate(pairs, 1):
        rate_ratios.append(new["cases/s"] / old["cases/s"])
        core_ratios.append(old["ms per case"] / new["ms per case"])
        old_suite, new_suite = suite_ms(old), suite_ms(new)
        alone = "       -       "
        if old_suite is not None and new_suite is not None:
            suite_ratios.append(old_suite / new_suite)
            alone = f"{old_suite:5.2f} -> {new_suite:5.2f} ({suite_ratios[-1]:.2f} x)"
        lines.append(
            f"{k:5}   {old['cases/s']:4.0f} -> {new['cases/s']:4.0f} ({rate_ratios[-1]:.2f} x)"
            f"   {old['ms per case']:5.2f} -> {new['ms per case']:5.2f} ({core_ratios[-1]:.2f} x)"
            f"   {alone}"
            f"       {old.get('raw broker msgs/s', 0):6.0f} / {new.get('raw broker msgs/s', 0):6.0f}"
        )
    medians = (
        f"median  cases/s {statistics.median(rate_ratios):.2f} x, cases per core {statistics.median(core_ratios):.2f} x"
    )
    if len(suite_ratios) == len(pairs):
        medians += f", the suite's alone {statistics.median(suite_ratios):.2f} x"
    lines.append(medians)
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument(
        "--profile",
        nargs="?",
        const=200,
        type=int,
        metavar="HZ",
        help="py-spy every process while the cases flow, HZ samples/s (default 200)",
    )
    parser.add_argument("--against", metavar="REV", help="run the benchmark at commit REV first, back to back")
    parser.add_argument("--rounds", type=int, default=1, help="with --against: alternate the two this many times")
    parser.add_argument("--whatif", action="store_true", help="then replay the recorded period (caseflowctl whatif)")
    parser.add_argument("--period", type=Path, default=PERIOD, help="with --whatif: where to keep the period")
    args = parser.parse_args()
    if args.against:
        own_flags = [
            *(["--profile", str(args.profile)] if args.profile is not None else []),
            *(["--whatif", "--period", str(args.period)] if args.whatif else []),
        ]
        compare(args.against, ["-n", str(args.n), "--rate", str(args.rate)], max(1, args.rounds), own_flags=own_flags)
    else:
        asyncio.run(main(args.n, args.rate, profile=args.profile, replay=args.period if args.whatif else None))
