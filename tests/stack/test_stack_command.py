"""`make run`'s stack: starts everything, stops cleanly on Ctrl-C, and a second start reuses the data."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from caseflow_contracts.topics import UPSTREAM_PARCEL_EXCEPTIONS
from caseflow_dev.broker import free_port
from caseflow_dev.stack import SERVICES
from caseflow_dev.testing import KafkaTestKit


async def start_stack(data: Path, broker_port: int, http_port: int, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "caseflow_dev.stack",
            "--data-dir",
            str(data),
            "--broker-port",
            str(broker_port),
            "--http-base-port",
            str(http_port),
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    for _ in range(1200):
        if "Ctrl-C stops everything" in log.read_text(errors="replace"):
            return process
        if process.poll() is not None:
            break
        await asyncio.sleep(0.1)
    # Never leave a stack (and its five services) behind: Ctrl-C it before failing.
    process.send_signal(signal.SIGINT)
    process.wait(60)
    raise AssertionError(log.read_text(errors="replace"))


def processed_rows(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT count(*) FROM _processed").fetchone()[0])


async def test_ctrl_c_stops_everything_and_a_second_start_reuses_the_data(tmp_path: Path) -> None:
    data, log = tmp_path / "data", tmp_path / "stack.log"
    broker_port, http_port = free_port(), free_port(count=len(SERVICES))
    stack = await start_stack(data, broker_port, http_port, log)
    try:
        kit = KafkaTestKit(f"127.0.0.1:{broker_port}", data, prefix="")
        await kit.publish_raw(UPSTREAM_PARCEL_EXCEPTIONS, b"garbage from upstream", key=b"BE-x")
        assert len(await kit.collect(UPSTREAM_PARCEL_EXCEPTIONS, 1, timeout_s=60, dlq=True)) == 1
        await kit.close()
    finally:
        stack.send_signal(signal.SIGINT)
        assert stack.wait(60) == 0
    assert "stopped" in log.read_text()
    intake_db = data / "intake.db"
    assert processed_rows(intake_db) == 1
    assert sorted(p.name for p in data.glob("*.db")) == [
        f"{s}.db" for s in sorted(("intake", "routing", "sla", "claims", "notify"))
    ]

    stack = await start_stack(data, broker_port, http_port, tmp_path / "second.log")
    stack.send_signal(signal.SIGINT)
    assert stack.wait(60) == 0
    assert processed_rows(intake_db) == 1
