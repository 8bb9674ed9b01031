"""Run services for tests and tools: in-process (uvicorn in this event loop) or as child processes."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from caseflow_kit import Runtime, ServiceSpec
from caseflow_kit.clock import Clock

from .broker import free_port

#: The keys intake and notify need, each its own secret (production takes them from Secrets).
KEY_VARIABLES = ("CASEFLOW_PII_KEY", "CASEFLOW_PSEUDONYM_KEY")


def fresh_keys() -> dict[str, str]:
    """New random keys for one run of the services (tests, drills, benchmarks): never a shared constant."""
    return {name: base64.b64encode(secrets.token_bytes(32)).decode() for name in KEY_VARIABLES}


async def wait_ready(url: str, timeout_s: float = 60) -> None:
    """Poll /readyz until it answers 200."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    async with httpx.AsyncClient(timeout=5) as client:
        while True:
            try:
                answer = await client.get(f"{url}/readyz")
                if answer.status_code == 200:
                    return
                last = f"{answer.status_code} {answer.text[:300]}"
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} not ready after {timeout_s}s (last answer: {last})")
            await asyncio.sleep(0.1)


class InProcessService:
    def __init__(self, runtime: Runtime[Any, Any], url: str) -> None:
        self.runtime = runtime
        self.url = url

    @property
    def deps(self) -> Any:
        return self.runtime.deps

    async def assigned(self, timeout_s: float = 60) -> None:
        """Until the broker gave this service's consumer its partitions (Tansu's group joins take seconds): a
        benchmark starts its clock after that, not after a guessed pause."""
        deadline = time.monotonic() + timeout_s
        while not self.runtime.ownership.owned:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.runtime.service} was given no partitions within {timeout_s}s")
            await asyncio.sleep(0.05)


@asynccontextmanager
async def run_in_process(
    spec: ServiceSpec[Any, Any], settings: Any, *, store: Any = None, clock: Clock | None = None
) -> AsyncIterator[InProcessService]:
    """Serve one service in this event loop, on a free port, through its real ASGI lifespan (on `clock`, e.g. a
    ManualClock a test advances, else the system clock)."""
    runtime = Runtime(spec, settings, store, clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(runtime.asgi(), host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url)
        yield InProcessService(runtime, url)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 60)


class ServiceProcess:
    """A service as a separate OS process (`python -m caseflow_<name>`), as in production."""

    def __init__(
        self, name: str, env: Mapping[str, str], *, http_port: int | None = None, log_file: Path | None = None
    ) -> None:
        self.name = name
        self.http_port = http_port or free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.env = {**os.environ, **env, "CASEFLOW_HTTP_PORT": str(self.http_port), "CASEFLOW_HTTP_HOST": "127.0.0.1"}
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServiceProcess:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", f"caseflow_{self.name}"],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    async def ready(self, timeout_s: float = 60) -> None:
        """Wait for /readyz; a process that exits meanwhile fails at once, with the end of its log."""
        waiting = asyncio.ensure_future(wait_ready(self.url, timeout_s))
        while not waiting.done():
            if self.process is not None and self.process.poll() is not None:
                waiting.cancel()
                raise RuntimeError(f"{self.name} exited with {self.process.returncode} before ready: {self.log_tail()}")
            await asyncio.wait({waiting}, timeout=0.2)
        waiting.result()

    def log_tail(self, lines: int = 8) -> str:
        if self.log_file is None or not self.log_file.exists():
            return "(no log file)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def terminate(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait: the graceful path."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        """SIGKILL: the crash path."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process so far (Linux /proc; 0 when it is gone): benchmarks report it."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError, TypeError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_meter(pids: Mapping[str, int | None]) -> Callable[[], dict[str, float]]:
    """Start counting now; the returned function gives each named process's CPU seconds since."""
    start = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return lambda: {name: cpu_seconds(pid) - start[name] for name, pid in pids.items()}
