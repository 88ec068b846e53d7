"""The bot on the live path keeps the account's order rate for protection, and shows it in /health.

`quantum-trader run` in paper mode against the simulator server with its ORDERS limit shrunk to 5 new
orders a minute (reported in exchangeInfo, so the bot's budget learns it). One forced entry takes 3
(entry, stop-loss, take-profit); a take-profit cancelled by hand and put back by the monitor is the 4th,
80 % of the minute. A second forced entry is then held back by the budget (never sent: no position, and
the server's count does not move), while a stop-loss cancelled by hand is still put back (the 5th).
/health shows the minute's count, the limit and the entry held back, and stays healthy: no -1015.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from test_order_rate_adapter import fresh_minute
from test_run_session import bot_env, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, RunningServer, running_server

PER_MINUTE = 5


def _health(url: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{url}/health", timeout=10).json()
    return body


def _algo(server: RunningServer, symbol: str, kind: str) -> dict[str, Any] | None:
    rows = server.call("GET", "/fapi/v1/openAlgoOrders", {"symbol": symbol})
    return next((r for r in rows if r["orderType"] == kind), None)


def _cancel_by_hand(server: RunningServer, symbol: str, kind: str) -> str:
    """Cancel the bot's open `kind` order as a user would; wait until the monitor has put one back."""
    order = _algo(server, symbol, kind)
    assert order is not None, kind
    server.call("DELETE", "/fapi/v1/algoOrder", {"clientAlgoId": order["clientAlgoId"]})
    back = wait_for(lambda: _algo(server, symbol, kind), timeout=10)
    assert back["clientAlgoId"] != order["clientAlgoId"]
    return str(back["clientAlgoId"])


def _minute(url: str) -> dict[str, Any]:
    window: dict[str, Any] = _health(url)["request_budget"]["order_rate"]["windows"]["1M"]
    return window


def test_entries_are_held_back_near_the_order_limit_and_protection_still_goes(tmp_path: Path) -> None:
    with running_server(order_limits=(300, PER_MINUTE)) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_FEED="exchange", QT_SYMBOLS="BTCUSDT,ETHUSDT,BNBUSDT", QT_SPEED="1")
        with running_bot(env) as (_proc, url):
            assert _minute(url)["limit"] == PER_MINUTE
            fresh_minute(45.0)  # every order below in one of the server's minutes
            answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"},
                                timeout=30).json()
            assert answer["accepted"] is True, answer
            wait_for(lambda: (h := _health(url))["positions"] == 1 and h["unprotected_positions"] == 0)
            assert _minute(url)["count"] == 3
            _cancel_by_hand(server, "BNBUSDT", "TAKE_PROFIT_MARKET")
            wait_for(lambda: _minute(url)["count"] == 4)

            answer = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "ETHUSDT", "side": "long"},
                                timeout=30).json()
            assert answer["accepted"] is True, answer  # risk approved it; the budget did not send it
            budget = wait_for(lambda: (b := _health(url)["request_budget"])["order_rate"]["entries_held_back"] == 1
                              and b)
            assert budget["order_rate"]["windows"]["1M"]["count"] == 4
            [eth] = server.call("GET", "/fapi/v2/positionRisk", {"symbol": "ETHUSDT"})
            assert float(eth["positionAmt"]) == 0  # the entry never reached the exchange

            _cancel_by_hand(server, "BNBUSDT", "STOP_MARKET")  # the 5th order: protection is never held back
            health = wait_for(lambda: (h := _health(url))["unprotected_positions"] == 0
                              and h["request_budget"]["order_rate"]["windows"]["1M"]["count"] == PER_MINUTE and h)
            assert health["positions"] == 1 and health["status"] == "healthy", health
            budget = health["request_budget"]
            assert budget["order_rate_limited"] == 0 and budget["order_rate"]["sent"] == PER_MINUTE, budget
            metrics = httpx.get(f"{url}/metrics").text
            assert f'qt_order_count{{window="1M"}} {PER_MINUTE}.0' in metrics
            assert "qt_entries_held_back 1.0" in metrics
