"""Staging touches nothing: the bot in STAGING_MODE against a simulator server holding a hand-made account.

A person has opened two positions with ccxt, one with a STOP_MARKET they placed themselves and one with
no protection at all. The bot starts in staging on that account. Its monitor must report what it would
place for both (a take-profit for the first, a stop-loss and a take-profit for the second), the manual
kill switch and the daily loss limit must report what they would cancel and close, and afterwards every
position and every order on the exchange is exactly as the person left it, while the journal holds what
would have been sent. This is the failure of the original incident run backwards: a dry run that
cancelled real stops.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
from test_run_session import bot_env, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, RunningServer, ccxt_client, running_server


def _account(server: RunningServer) -> dict[str, Any]:
    """What staging must leave alone: positions (size, entry), classic and algo orders, the wallet."""
    sim = server.sim
    return {
        "positions": {s: (str(sim.position(s).amount), str(sim.position(s).entry_price))
                      for s in ("BNBUSDT", "ETHUSDT", "BTCUSDT")},
        "orders": sorted((o.client_order_id, str(o.status)) for o in sim.open_orders()),
        "algos": sorted((a.client_algo_id, str(a.trigger_price), str(a.status)) for a in sim.open_algo_orders()),
        "wallet": str(sim.state.account.wallet_balance),
    }


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_staging_leaves_a_hand_made_account_untouched_and_journals_what_it_would_do(tmp_path: Path) -> None:
    with running_server() as server:
        hand = ccxt_client(server.url)
        hand.load_markets()
        hand.create_order("BNB/USDT:USDT", "market", "buy", 1)
        stop = hand.create_order("BNB/USDT:USDT", "STOP_MARKET", "sell", None, None,
                                 {"stopPrice": 500, "closePosition": True, "workingType": "MARK_PRICE"})
        hand.create_order("ETH/USDT:USDT", "market", "sell", 1)  # no stop: naked
        before = _account(server)
        hand_stop_id = stop["clientOrderId"]

        env = bot_env(tmp_path, STAGING_MODE="true", QT_EXCHANGE=server.url, QT_API_KEY=API_KEY,
                      QT_API_SECRET=API_SECRET, QT_SYMBOLS="BNBUSDT,ETHUSDT", QT_SPEED="60",
                      QT_MONITOR_INTERVAL="30", QT_DAILY_LOSS_LIMIT_PCT="0.2")
        db = tmp_path / "journal.db"
        with running_bot(env) as (_proc, url):
            assert httpx.get(f"{url}/health").json()["mode"] == "staging"
            would = wait_for(lambda: _rows(db, "select symbol, reason from protection_actions "
                                               "where action = 'would_place' order by symbol, reason")
                             if len(_rows(db, "select 1 from protection_actions where action = 'would_place'")) >= 3
                             else None)
            assert [symbol for symbol, _ in would] == ["BNBUSDT", "ETHUSDT", "ETHUSDT"]
            assert "would place SELL TAKE_PROFIT_MARKET 624.02 closePosition: take-profit missing" in would[0][1]
            assert any(reason.startswith("would place BUY STOP_MARKET 254") and "stop-loss missing" in reason
                       for _, reason in would[1:])

            killed = httpx.post(f"{url}/api/v1/kill-switch", timeout=30).json()
            assert killed["cancelled_orders"] == 0 and killed["closed_positions"] == 0, killed
            assert hand_stop_id in killed["would_cancel"], killed
            assert sorted(item.split()[0] for item in killed["would_close"]) == ["BNBUSDT", "ETHUSDT"]
            assert killed["summary"].startswith("sent nothing (dry run): would cancel"), killed
            exit_rows = ("select symbol, action from protection_actions where action like '%emergency_exit' "
                         "order by symbol")
            exits = wait_for(lambda: _rows(db, exit_rows) if len(_rows(db, exit_rows)) >= 2 else None)
            assert exits == [("BNBUSDT", "would_emergency_exit"), ("ETHUSDT", "would_emergency_exit")]
            assert _account(server) == before

            httpx.post(f"{url}/api/v1/resume", timeout=30)
            server.control("/sim/v1/prices", {"prices": {"BNBUSDT": {"last": "560", "mark": "560"}}})
            wait_for(lambda: any("daily loss limit" in reason for (reason,) in
                                 _rows(db, "select reason from protection_actions where action = 'kill_switch'")),
                     timeout=30)
        after = _account(server)

    assert after["positions"] == before["positions"]
    assert after["orders"] == before["orders"] and after["algos"] == before["algos"]
    assert after["wallet"] == before["wallet"]
    orders = {client_id: (status, dry_run) for client_id, status, dry_run in
              _rows(db, "select client_id, status, dry_run from orders")}
    assert orders.pop(hand_stop_id) == ("OPEN", 0)  # seen on the exchange, recorded as it is
    assert len(orders) >= 5 and set(orders.values()) == {("DRY_RUN", 1)}, orders
    would_cancel = _rows(db, "select client_id from order_events where status = 'WOULD_CANCEL'")
    assert (hand_stop_id,) in would_cancel
