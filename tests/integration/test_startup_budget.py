"""A restarted bot reads what its first protection sweep needs at protection priority, whatever the IP has used.

Trial of 2026-12-06, item 1: after `kill -9`, with a position on the exchange without a stop, the user ran
`quantum-trader orders --exchange ...` a few times early in a minute (about 120 weight each), then restarted
the bot. Its start-up reads (exchange info and leverage brackets, position mode, positions, open orders,
account) counted as routine, which the request budget caps at half the limit and paces over the minute: the
bot waited 51 s ("start-up waiting on the exchange ... request budget") before its first sweep placed the stop.
Here the real console script against the simulator server (which enforces Binance's weights per IP): a position
opened by hand, no stop; this test takes the IP's minute past the routine share (55 % of the limit, so any
second of the minute will do) and below protection's 90 %, then starts the bot. The stop must rest within
seconds, without a start-up wait, and the server's count must stay under its limit.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
from test_run_session import BIN, bot_env, wait_for
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server

from quantum_trader.domain.enums import OrderType

LIMIT = 800
#: 24-hour tickers of every symbol weigh 40: 11 of them take the minute to 440, past the routine share (400).
BURST = 11
SYMBOL = "BNBUSDT"


def _used(server: RunningServer) -> int:
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers={"X-MBX-APIKEY": API_KEY}).json()["ips"]
    return max((int(r["usedWeight"]) for r in rows), default=0)


def _early_in_a_minute(latest_s: float = 45.0) -> None:
    """The burst and the whole start-up within one minute of the server's count (the bot starts in a few s)."""
    second = time.time() % 60
    if second > latest_s:
        time.sleep(60.5 - second)


def test_a_restart_protects_a_naked_position_at_once_after_the_ip_used_its_routine_share(tmp_path: Path) -> None:
    with running_server(weight_limit=LIMIT) as server:
        server.call("POST", "/fapi/v1/order", {"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": "0.5"})
        assert server.sim.open_algo_orders(SYMBOL) == []  # the position has no stop
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_FEED="exchange", QT_SPEED="1", QT_SYMBOLS="BTCUSDT,ETHUSDT,BNBUSDT",
                      QT_STARTUP_PATIENCE_S="90")
        _early_in_a_minute()
        with httpx.Client() as client:
            for _ in range(BURST):
                assert client.get(f"{server.url}/fapi/v1/ticker/24hr").status_code == 200
        assert LIMIT // 2 < _used(server) < LIMIT * 0.9 - 100
        started = time.monotonic()
        proc = subprocess.Popen([str(BIN), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            wait_for(lambda: any(a.order_type is OrderType.STOP_MARKET for a in server.sim.open_algo_orders(SYMBOL))
                     or proc.poll() is not None, timeout=75)
            protected_after = time.monotonic() - started
            peak = _used(server)
        finally:
            proc.send_signal(signal.SIGTERM)
            output = proc.communicate(timeout=30)[0]
        assert "start-up waiting on the exchange" not in output, output
        assert "start-up sweep done" in output, output
        assert protected_after < 20, (protected_after, output)  # the old code waited for the minute to turn
        assert peak < LIMIT, peak
