"""On the live path, an entry made while routine reads are refused is still recorded as a trade.

The bot runs `quantum-trader run` in paper mode against the simulator server (Binance's weights per IP,
limit shrunk to 800) with the real ccxt adapter and its request budget. This test, from the same IP,
spends weight until the server's count for the minute is past the budget's routine share (50 % of the
limit: 400) but short of what protection reads may use (90 %: 720). Then it forces an entry.

Risk's sizing reads, the orders and the stop's read-back all have priority over routine reads, so the entry
fills and is protected. The trade must also be recorded: before the fix, a routine full-account read
after the fill was refused (`BudgetRefused`), no TradeOpened was published, and the journal and
`/api/v1/trades` stayed empty while the position stood on the exchange. CI met that failure at random
(only early in a wall-clock minute is the paced share small enough); here it is made certain.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from test_run_session import bot_env, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server

LIMIT = 800
ROUTINE_CAP = LIMIT // 2
PROTECTION_CAP = LIMIT * 9 // 10
#: The weight this test spends, and what the bot may still use, must stay within one wall-clock minute.
NEEDED_S = 25


def _used(server: RunningServer) -> int:
    rows = httpx.get(f"{server.url}/sim/v1/limits", headers={"X-MBX-APIKEY": API_KEY}).json()["ips"]
    return max((int(r["usedWeight"]) for r in rows), default=0)


def _spend_past_the_routine_share(server: RunningServer) -> int:
    """24h tickers of every symbol (weight 40 each) until the minute's count is past the routine share."""
    with httpx.Client() as client:
        while (used := _used(server)) <= ROUTINE_CAP + 40:
            assert client.get(f"{server.url}/fapi/v1/ticker/24hr").status_code == 200
    return used


def _wait_for_a_fresh_minute() -> None:
    """So that the server's count is not reset half-way through the test."""
    into = time.time() % 60
    if into > 60 - NEEDED_S:
        time.sleep(60 - into + 0.5)


def test_an_entry_is_recorded_while_the_routine_share_of_the_minute_is_spent(tmp_path: Path) -> None:
    with running_server(weight_limit=LIMIT) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT,BTCUSDT,ETHUSDT", QT_SPEED="1", QT_MONITOR_INTERVAL="1.0")
        with running_bot(env) as (_proc, url):
            _wait_for_a_fresh_minute()
            spent = _spend_past_the_routine_share(server)
            assert ROUTINE_CAP < spent < PROTECTION_CAP - 60, spent
            answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"},
                                timeout=30).json()
            assert answer["accepted"] is True, answer
            trades = wait_for(lambda: httpx.get(f"{url}/api/v1/trades", timeout=10).json()["trades"], timeout=10)
            health = httpx.get(f"{url}/health", timeout=10).json()
            used_after = _used(server)
    assert used_after < PROTECTION_CAP, used_after  # still the same minute: the routine share stayed spent
    assert [t["trade_id"] for t in trades] == [answer["trade_id"]]
    protection = [(o.order_type.value, o.client_algo_id) for o in server.sim.open_algo_orders("BNBUSDT")]
    assert [kind for kind, _ in protection] == ["STOP_MARKET", "TAKE_PROFIT_MARKET"], protection
    # the bot's own budget knew the routine share was spent (so the test ran in the condition it is about)
    assert health["request_budget"]["used_weight"] > ROUTINE_CAP, health["request_budget"]
    assert server.sim.position("BNBUSDT").amount > 0  # (the monitor's REST count waits for the next minute)
