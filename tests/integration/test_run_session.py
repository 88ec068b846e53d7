"""`quantum-trader run` end to end: a real process, its real API, a real SQLite journal.

Each test starts the bot as a user would (the console script, `QT_` environment, flags), talks to it
over HTTP on 127.0.0.1, and reads the journal file it wrote. Paper against the in-process simulator
and against `sim-server`; staging sending nothing; paper refusing a URL that is not a simulator;
live refused without keys (2) and without readiness (3); SIGTERM stopping cleanly (0).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_simserver_support import API_KEY, API_SECRET, running_server

BIN = Path(sys.executable).parent / "quantum-trader"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QT_") and k != "STAGING_MODE"}
    env.update({"QT_DB_URL": f"sqlite:///{tmp_path / 'journal.db'}", "QT_API_PORT": str(free_port()),
                "QT_SYMBOLS": "BTCUSDT,ETHUSDT,BNBUSDT", "QT_STRATEGY": "manual", "QT_SPEED": "max",
                "QT_MONITOR_INTERVAL": "0.5"})
    env.update(extra)
    return env


@contextmanager
def running_bot(env: dict[str, str], *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen([str(BIN), "run", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    url = f"http://127.0.0.1:{env['QT_API_PORT']}"
    try:
        _wait_healthy(proc, url)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def _wait_healthy(proc: subprocess.Popen[str], url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bot exited {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(f"{url}/health", timeout=2).json().get("monitor", {}).get("sweeps", 0) > 0:
                return
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(0.1)
    raise AssertionError("bot did not become healthy")


def journal_rows(tmp_path: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "journal.db") as conn:
        return conn.execute(query).fetchall()


def long_with_resting_stop(url: str, tmp_path: Path, server: Any, symbol: str = "BNBUSDT") -> Decimal:
    """A forced long through the running bot, once its stop-loss rests on the simulator server: the planned stop."""
    opened = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": symbol, "side": "long"}, timeout=30)
    assert opened.status_code == 200, opened.text
    [(stop,)] = wait_for(lambda: journal_rows(tmp_path, f"select planned_stop from positions where symbol = "
                                                        f"'{symbol}'") or None, timeout=30)
    wait_for(lambda: server.sim.open_algo_orders(symbol) or None)  # the stop rests on the exchange
    return Decimal(stop)


def wait_for(predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_paper_in_process_force_entry_is_protected_and_sigterm_stops_cleanly(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path)) as (proc, url):
        health = httpx.get(f"{url}/health").json()
        assert (health["mode"], health["event_driven"]) == ("paper", True)
        answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "short"}).json()
        assert answer["accepted"] is True, answer
        positions = wait_for(lambda: httpx.get(f"{url}/api/v1/positions").json()["positions"])
        [position] = positions
        assert position["symbol"] == "BTCUSDT" and position["side"] == "short"
        assert position["stop_loss"]["type"] == "STOP_MARKET" and position["take_profit"] is not None
        assert httpx.get(f"{url}/api/v1/orders").json()["unprotected"] == 0
        metrics = httpx.get(f"{url}/metrics").text
        assert "qt_open_positions" in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    purposes = {row[0] for row in journal_rows(tmp_path, "select purpose from orders")}
    assert {"entry", "sl", "tp"} <= purposes
    verified = journal_rows(tmp_path, "select order_type from protection_actions where action = 'verified'")
    assert {"STOP_MARKET", "TAKE_PROFIT_MARKET"} <= {row[0] for row in verified}


def test_kill_switch_flattens_and_halts_until_resumed(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, QT_SPEED="1")) as (_proc, url):
        assert httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BTCUSDT", "side": "long"}).json()["accepted"]
        killed = httpx.post(f"{url}/api/v1/kill-switch").json()
        assert killed["closed_positions"] == 1 and killed["cancelled_orders"] >= 2 and killed["entries_halted"]
        assert httpx.get(f"{url}/api/v1/positions").json()["positions"] == []
        refused = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"})
        assert refused.status_code == 409 and "halted" in refused.json()["reason"]
        assert httpx.post(f"{url}/api/v1/resume").json() == {"trading": "ACTIVE"}
        again = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"}).json()
        assert again["accepted"] is True, again
    closed = "select exit_reason from positions where closed_ms is not null"
    reasons = {row[0] for row in journal_rows(tmp_path, closed)}
    assert reasons == {"kill_switch"}


def test_staging_sends_nothing_but_journals_what_it_would_send(tmp_path: Path) -> None:
    with running_bot(bot_env(tmp_path, STAGING_MODE="true")) as (_proc, url):
        assert httpx.get(f"{url}/health").json()["mode"] == "staging"
        httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"})
        wait_for(lambda: journal_rows(tmp_path, "select count(*) from orders")[0][0] > 0)
        assert httpx.get(f"{url}/api/v1/positions").json()["positions"] == []
    rows = journal_rows(tmp_path, "select dry_run, status from orders")
    assert rows and all(dry_run for dry_run, _ in rows)


def test_duration_stops_with_exit_0_and_sma_cross_trades(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_STRATEGY="sma-cross", QT_SYMBOLS="10", QT_MAX_POSITIONS="10")
    done = subprocess.run([str(BIN), "run", "--duration", "6"], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert journal_rows(tmp_path, "select count(*) from signals")[0][0] > 0
    assert journal_rows(tmp_path, "select count(*) from sessions")[0][0] == 1


def test_paper_against_sim_server(tmp_path: Path) -> None:
    with running_server() as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_FEED="exchange", QT_API_KEY=API_KEY,
                      QT_API_SECRET=API_SECRET, QT_SYMBOLS="BNBUSDT,BTCUSDT")
        with running_bot(env) as (_proc, url):
            answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"},
                                timeout=60).json()
            assert answer["accepted"] is True, answer
            position = server.sim.position("BNBUSDT")
            assert position.amount > 0
            algos = {a.order_type.value for a in server.sim.open_algo_orders("BNBUSDT")}
            assert algos == {"STOP_MARKET", "TAKE_PROFIT_MARKET"}


def test_paper_refuses_a_url_that_is_not_a_simulator(tmp_path: Path) -> None:
    port = free_port()
    plain = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                             cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/"))
        env = bot_env(tmp_path, QT_EXCHANGE=f"http://127.0.0.1:{port}")
        done = subprocess.run([str(BIN), "run", "--duration", "5"], env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        plain.terminate()
        plain.wait(timeout=10)
    assert done.returncode == 2
    assert "is not a simulator" in done.stderr


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.TransportError:
        return False


@pytest.mark.parametrize(("extra", "code", "message"), [
    ({"QT_PAPER_TRADING": "false"}, 2, "QT_API_KEY"),
    ({"QT_STOP_LOSS_PCT": "-1"}, 2, "QT_STOP_LOSS_PCT=-1"),
    ({"QT_STRATEGY": "moon"}, 2, "QT_STRATEGY=moon"),
    ({"QT_PAPER_TRADING": "false", "QT_API_KEY": "canary-key-123", "QT_API_SECRET": "canary-secret-456",
      "QT_EXCHANGE": "http://127.0.0.1:9"}, 3, "closed_trades"),
])
def test_refusals_exit_codes(tmp_path: Path, extra: dict[str, str], code: int, message: str) -> None:
    done = subprocess.run([str(BIN), "run", "--duration", "3"], env=bot_env(tmp_path, **extra), capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == code, done.stderr
    assert message in done.stderr
    assert "canary-secret-456" not in done.stderr + done.stdout


DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance_um_1m_isda"


@pytest.mark.skipif(not (DATA / "LINKUSDT-1m-2026-02.csv.gz").exists(), reason="shared/data is not beside the repo")
def test_replay_feed_trades_real_bars(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_STRATEGY="sma-cross", QT_SYMBOLS="LINKUSDT",
                  QT_FEED=f"replay:{DATA / 'LINKUSDT-1m-2026-02.csv.gz'}")
    done = subprocess.run([str(BIN), "run", "--duration", "8"], env=env, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    assert journal_rows(tmp_path, "select count(*) from positions")[0][0] > 0
    verified = journal_rows(tmp_path, "select count(*) from protection_actions where action = 'verified'")[0][0]
    assert verified >= 2
