"""`quantum-trader sim-server` option handling (the serving itself is covered by the other server tests)."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from quantum_trader.cli.main import app
from quantum_trader.cli.sim_server_cmd import select_universe


def test_unknown_symbol_exits_2() -> None:
    result = CliRunner().invoke(app, ["sim-server", "--symbols", "BTCUSDT,NOPEUSDT"])
    assert result.exit_code == 2
    assert "NOPEUSDT" in result.output


def test_symbols_count_or_list() -> None:
    assert len(select_universe("222")) == 222
    assert select_universe("5").symbols[0] == "BTCUSDT"
    assert set(select_universe("bnbusdt, BTCUSDT").symbols) == {"BNBUSDT", "BTCUSDT"}
    with pytest.raises(typer.BadParameter):
        select_universe("0")


BIN = Path(sys.executable).parent / "quantum-trader"


def test_a_busy_port_is_one_line_and_exit_2_before_the_simulator_is_announced() -> None:
    """It printed its URL first, then uvicorn's `[Errno 98]`, and exited 3."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([str(BIN), "sim-server", "--port", str(port), "--symbols", "2"], capture_output=True,
                              text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (f"error: --port {port}: 127.0.0.1:{port} is already in use (another bot, sim-server or "
                           "program listens there); stop it, or choose a free port with --port (0 picks one)\n")


def test_port_0_announces_the_port_it_serves_on_and_sigterm_stops_it() -> None:
    proc = subprocess.Popen([str(BIN), "sim-server", "--port", "0", "--symbols", "2"], stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stderr is not None
        banner = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/fapi$", banner.strip())
        assert found and found.group(1) != "0", banner
        assert httpx.get(f"http://127.0.0.1:{found.group(1)}/fapi/v1/ping", timeout=10).json() == {}
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught once it has shut down
