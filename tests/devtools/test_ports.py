"""Ports for the processes a test starts: outside the range the kernel gives outgoing connections."""

from __future__ import annotations

import socket

import pytest

from caseflow_dev import broker
from caseflow_dev.broker import LOWEST, ephemeral_ports, free_port


def test_free_ports_lie_below_the_range_outgoing_connections_take_their_ports_from() -> None:
    low, high = ephemeral_ports()
    assert LOWEST < low <= high
    for _ in range(20):
        first = free_port(count=5)
        assert first >= LOWEST
        assert first + 5 <= low
        for port in range(first, first + 5):  # every one of the block can be listened on
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", port))


def test_a_port_someone_listens_on_is_passed_over(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        port, other = taken.getsockname()[1], free_port()
        picks = iter([port, other])
        monkeypatch.setattr(broker.random, "randrange", lambda *_: next(picks))
        assert free_port() == other
