"""systemd notify: real AF_UNIX datagram sockets, by path and in the abstract namespace."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from quantum_trader.core.watchdog import notify, watchdog_interval_s

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs AF_UNIX sockets")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path


def test_sends_state_to_a_path_socket(listener: tuple[socket.socket, str]) -> None:
    sock, path = listener
    assert notify("READY=1", env={"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1"
    assert notify("WATCHDOG=1\nSTATUS=ok", env={"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"WATCHDOG=1\nSTATUS=ok"


@pytest.mark.skipif(sys.platform != "linux", reason="abstract sockets are Linux only")
def test_sends_to_an_abstract_socket() -> None:
    name = f"qt-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert notify("STOPPING=1", env={"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"STOPPING=1"


def test_reads_os_environ_by_default(listener: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch) -> None:
    sock, path = listener
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify("READY=1")
    assert sock.recv(4096) == b"READY=1"


def test_no_op_without_socket() -> None:
    assert notify("READY=1", env={}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": ""}) is False
    assert notify("READY=1", env={"NOTIFY_SOCKET": "vsock:2:1234"}) is False


def test_missing_socket_is_reported_not_raised(tmp_path: Path) -> None:
    assert notify("WATCHDOG=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False


@pytest.mark.parametrize(("env", "expected"), [
    ({"WATCHDOG_USEC": "30000000"}, 15.0),
    ({"WATCHDOG_USEC": "1000"}, 0.0005),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
    ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid() + 1)}, None),
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "-5"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_watchdog_interval_is_half_of_watchdog_usec(env: dict[str, str], expected: float | None) -> None:
    assert watchdog_interval_s(env) == expected
