"""`sweep --address`: a Ray cluster started apart from the sweep (`ray start --head`, token authentication
as Ray 2.60 clusters have it), reached at 127.0.0.1. Its runs equal the same backtests run here; a wrong
token is one line saying the token is wrong and what to set, never Ray's twenty lines of retries.

The head and the sweep run in Ray's one-machine mode (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, as README says
for a cluster on this machine): without it Ray replaces 127.0.0.1 by the machine's own interface address
for its node and listens on every interface; with it on the head alone, the sweep did not connect within
300 s. The head's sockets are checked to be on loopback only.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
from proc_sockets import process_tree, sockets_of
from test_run_session import BIN
from test_sweep import LINK, cli

from quantum_trader.research.backtest_job import BacktestJob, comparable, run_job
from quantum_trader.research.ray_local import LOOPBACK_ONLY

RAY = BIN.with_name("ray")
pytestmark = pytest.mark.skipif(not LINK.exists(), reason=f"real data not found at {LINK}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _reachable(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, str, int]]:
    """A head node in the foreground (`--block`), so that ending its process group ends this cluster only
    (`ray stop` would stop every Ray on the machine, the other tests' included)."""
    token, port = secrets.token_hex(16), _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, **LOOPBACK_ONLY}
    with tempfile.TemporaryDirectory(prefix="qtray-", dir="/tmp") as temp:  # Ray's socket paths must stay short
        head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
                                 "--include-dashboard=false", "--disable-usage-stats", "--temp-dir", temp],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            deadline = time.monotonic() + 60
            while not _reachable(port):
                assert head.poll() is None, "ray start --head exited"
                assert time.monotonic() < deadline, "the Ray head did not listen within 60 s"
                time.sleep(0.5)
            yield f"127.0.0.1:{port}", token, head.pid
        finally:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()


def _sweep(address: str, token: str, *grid: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, **LOOPBACK_ONLY}
    return subprocess.run([str(BIN), "sweep", "--data", str(LINK), *grid, "--address", address, "--json"],
                          capture_output=True, text=True, timeout=300, env=env)


def test_a_grid_on_a_cluster_gives_each_backtest_exactly(cluster: tuple[str, str, int]) -> None:
    address, token, head = cluster
    done = _sweep(address, token, "--grid", "fast=5,10", "--grid", "slow=30,40")
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["engine"] == {"name": "ray", "version": doc["engine"]["version"], "address": address, "cpus": 2}
    assert len(doc["runs"]) == 4 and doc["failed"] == 0
    for run in doc["runs"]:
        here = run_job(BacktestJob(LINK, "sma-cross", params=run["params"]))
        assert comparable(run["result"]) == comparable(here.to_json()), run["params"]
    assert token not in done.stdout + done.stderr
    head_sockets = sockets_of(process_tree(head))
    assert any(s.listening for s in head_sockets) and [str(s) for s in head_sockets if s.off_loopback()] == []


def test_a_wrong_token_is_one_line_saying_so(cluster: tuple[str, str, int]) -> None:
    address, token, _ = cluster
    wrong = secrets.token_hex(16)
    done = _sweep(address, wrong, "--grid", "fast=5", "--grid", "slow=30")
    assert done.returncode == 2, (done.stdout, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith(f"error: --address {address}: could not start or reach Ray")
    assert "Authentication token is missing or incorrect" in lines[0] and "RAY_AUTH_TOKEN" in lines[0]
    assert wrong not in done.stderr and token not in done.stderr and done.stdout == ""


@pytest.mark.parametrize(("kind", "said"), [("free port", "nothing answers at"), ("no port", "is not HOST:PORT")])
def test_a_cluster_that_is_not_there_is_one_line_at_once(kind: str, said: str) -> None:
    """Ray itself would retry an address where nothing listens for more than ten minutes, silently."""
    address = f"127.0.0.1:{_free_port()}" if kind == "free port" else "127.0.0.1"
    started = time.monotonic()
    done = cli("sweep", "--data", str(LINK), "--grid", "fast=5", "--grid", "slow=30", "--address", address)
    assert done.returncode == 2 and time.monotonic() - started < 60
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: --address {address}: could not start or reach Ray")
    assert said in lines[0]
