"""How many symbols a replay serves and trades, said as it is.

A user trial replayed 3 symbols with `QT_FEED=replay:.../dl run` and read `session started ... symbols=222`;
a `sim-server --feed replay:...` of 7 symbols without `--symbols` answered `"symbols": 222` in /sim/v1/info
and served 215 symbols that never moved. `run` now trades the replay's symbols (of QT_SYMBOLS when it is
set, and only their bars reach the strategy), and logs that count; `sim-server` without `--symbols` serves the
replay's symbols, and with them says how many of those it serves are replayed (its start line and
/sim/v1/info's `feed.symbols`).
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_replay_companions import CALM, _write
from test_run_session import BIN, bot_env

from quantum_trader.domain.errors import ConfigError
from quantum_trader.runtime.parts import build_parts
from quantum_trader.settings.model import load_settings

REPLAYED = ("BNBUSDT", "ETHUSDT", "XRPUSDT")
KEY = {"X-MBX-APIKEY": "sim-key"}


def _replay(folder: Path) -> Path:
    for symbol in REPLAYED:
        _write(folder / f"{symbol}-1m-2026-01-05.csv", [CALM] * 30)
    return folder


def _parts(tmp_path: Path, **env: str) -> tuple[tuple[str, ...], set[str], set[str]]:
    """What `run` builds: the symbols it trades, the in-process simulator's, and those in the strategy's bars."""
    settings = load_settings(env={"QT_FEED": f"replay:{_replay(tmp_path / 'data')}", "QT_SPEED": "max",
                                  "QT_PAPER_STATE": str(tmp_path / "paper"), **env})

    async def build() -> tuple[tuple[str, ...], set[str], set[str]]:
        parts = await build_parts(settings)
        try:
            assert parts.sim is not None
            chunk = next(iter(parts.feed._chunks()))  # type: ignore[union-attr]
            return parts.symbols, set(parts.sim.state.instruments), set(chunk.symbols)
        finally:
            await parts.exchange.close()

    return asyncio.run(build())


def test_run_trades_the_symbols_the_replay_holds(tmp_path: Path) -> None:
    traded, simulated, in_bars = _parts(tmp_path / "default")
    assert sorted(traded) == list(REPLAYED) and simulated == in_bars == set(REPLAYED)
    traded, simulated, in_bars = _parts(tmp_path / "listed", QT_SYMBOLS="ETHUSDT,BTCUSDT")
    assert traded == ("ETHUSDT",) and simulated == in_bars == {"ETHUSDT"}  # XRP's and BNB's bars stay out
    with pytest.raises(ConfigError) as refused:
        _parts(tmp_path / "none", QT_SYMBOLS="BTCUSDT")
    assert str(refused.value) == (f"QT_SYMBOLS=BTCUSDT: the replay QT_FEED=replay:{tmp_path / 'none' / 'data'} holds "
                                  "none of them (it holds BNBUSDT, ETHUSDT, XRPUSDT); give some of those, or data of "
                                  "these symbols")


def test_run_logs_the_count_it_trades(tmp_path: Path) -> None:
    env = bot_env(tmp_path, QT_FEED=f"replay:{_replay(tmp_path / 'data')}")
    del env["QT_SYMBOLS"]  # the default: 222
    done = subprocess.run([str(BIN), "run", "--duration", "3", "--log-json"], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    [started] = [line for line in done.stdout.splitlines() + done.stderr.splitlines() if "session started" in line]
    assert '"symbols": 3' in started, started


@contextmanager
def sim_server(*args: str) -> Iterator[tuple[str, str]]:
    """`quantum-trader sim-server` on a port it picks: (its start line, its URL)."""
    proc = subprocess.Popen([str(BIN), "sim-server", "--port", "0", *args], stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        banner = ""
        while not banner.startswith("simulator:"):  # after a warning about symbols it does not serve
            banner = proc.stderr.readline().strip()
            assert banner or proc.poll() is None, "the server stopped"
        found = re.search(r"http://127\.0\.0\.1:(\d+)/fapi$", banner)
        assert found, banner
        yield banner, f"http://127.0.0.1:{found.group(1)}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _served(url: str) -> tuple[dict[str, Any], list[str]]:
    info = httpx.get(f"{url}/sim/v1/info", headers=KEY, timeout=10).json()
    listed = [s["symbol"] for s in httpx.get(f"{url}/fapi/v1/exchangeInfo", timeout=10).json()["symbols"]]
    return info, listed


def test_sim_server_replay_without_symbols_serves_the_replayed_ones(tmp_path: Path) -> None:
    feed = f"replay:{_replay(tmp_path / 'data')}"
    with sim_server("--feed", feed, "--speed", "max") as (banner, url):
        info, listed = _served(url)
    assert banner.startswith("simulator: 3 symbols (those the replay holds; --symbols to serve others), 10000 USDT")
    assert info["symbols"] == 3 and info["feed"]["symbols"] == 3 and sorted(listed) == list(REPLAYED)


def test_sim_server_says_how_many_of_the_symbols_it_serves_are_replayed(tmp_path: Path) -> None:
    feed = f"replay:{_replay(tmp_path / 'data')}"
    with sim_server("--feed", feed, "--speed", "max", "--symbols", "5") as (banner, url):
        info, listed = _served(url)
    # The top 5 (BTC, ETH, DOGE, XRP, SUI) hold two of the replay's symbols; BNBUSDT is not served.
    assert banner.startswith("simulator: 5 symbols (2 replayed; the other 3 stay at their start prices), 10000 USDT")
    assert info["symbols"] == 5 and info["feed"]["symbols"] == 2 and len(listed) == 5
