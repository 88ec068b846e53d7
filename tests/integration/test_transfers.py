"""Money moved in or out of the futures wallet is no trading result for the daily loss limit.

A tester's report: a wallet 1,000 USDT lighter at a restart fired the daily kill switch ("equity 9000 fell
10.00% from 10000"), and on Binance a transfer out mid-day would flatten every position. The simulator now
moves money as a transfer does (`ExchangeSimulator.transfer`, `POST /sim/v1/transfer`: an ACCOUNT_UPDATE
with reason DEPOSIT or WITHDRAW), and the guard moves the day's reference with it. A transfer made while the
bot was stopped reaches no stream: a restart reads the income history after the restored reference
(`GET /fapi/v1/income`, `count_transfers_while_away`).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from test_protection_monitor import Rig, run
from test_run_session import bot_env, running_bot, wait_for
from test_simserver_support import API_KEY, API_SECRET, ccxt_client, running_server

from quantum_trader.domain.events import DAILY_REFERENCE, KillSwitch, ProtectionAction
from quantum_trader.risk.daily_loss import DailyLossGuard

D = Decimal


def test_a_withdrawal_moves_the_days_reference_and_trips_nothing() -> None:
    async def body() -> None:
        rig = Rig()
        guard = DailyLossGuard(rig.bus, D("5"))
        guard.attach()
        await rig.monitor.sweep()  # the day's first point: 10,000
        assert guard.start_equity == D("10000")
        rig.sim.transfer(D("-1000"))  # to the spot wallet
        await rig.pump()
        rig.clock.advance(60.0)
        await rig.monitor.sweep()  # equity 9,000: 10 % below the day's first point, nothing lost trading
        assert not [e for e in rig.events if isinstance(e, KillSwitch)]  # was: the daily kill switch
        assert guard.start_equity == D("9000") and guard.floor() == D("8550")
        moved = [e for e in rig.events if isinstance(e, ProtectionAction) and e.action == DAILY_REFERENCE]
        assert [e.price for e in moved] == [D("10000"), D("9000")]  # journaled: a restart keeps it
        rig.sim.transfer(D("500"))  # and a deposit is no allowance to lose
        await rig.pump()
        assert guard.start_equity == D("9500")

    run(body)


def test_the_simulator_server_moves_money_like_a_transfer_and_refuses_more_than_is_free() -> None:
    with running_server() as server:
        assert server.control("/sim/v1/transfer", {"amount": "-250.5"})["wallet"] == "9749.5"
        ex = ccxt_client(server.url)
        assert ex.fetch_balance()["USDT"]["total"] == 9749.5
        too_much = httpx.post(f"{server.url}/sim/v1/transfer", json={"amount": "-1000000"},
                              headers={"X-MBX-APIKEY": API_KEY})
        assert too_much.status_code == 400 and too_much.json()["code"] == -2019
        missing = httpx.post(f"{server.url}/sim/v1/transfer", json={}, headers={"X-MBX-APIKEY": API_KEY})
        assert missing.status_code == 400 and "amount" in missing.json()["msg"]
        assert server.sim.wallet_balance == D("9749.5")


def test_the_income_history_lists_transfers_as_binance_does_and_weighs_30() -> None:
    with running_server(follow_clock=True) as server:
        server.control("/sim/v1/transfer", {"amount": "-250.5"})
        server.control("/sim/v1/transfer", {"amount": "40"})
        ex = ccxt_client(server.url)
        rows = ex.fapiPrivateGetIncome({})  # neither startTime nor endTime: the last 7 days
        assert [(r["incomeType"], r["income"], r["asset"], r["symbol"]) for r in rows] == [
            ("TRANSFER", "-250.5", "USDT", ""), ("TRANSFER", "40", "USDT", "")]
        assert int(rows[0]["tranId"]) < int(rows[1]["tranId"]) and int(rows[0]["time"]) <= int(rows[1]["time"])
        assert [r["income"] for r in ex.fapiPrivateGetIncome({"incomeType": "TRANSFER", "limit": "1"})] == ["-250.5"]
        weight = int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"])
        ex.fapiPrivateGetIncome({"incomeType": "TRANSFER"})
        assert int(ex.last_response_headers["X-MBX-USED-WEIGHT-1M"]) in (weight + 30, 30)  # 30: a new minute
        assert ex.fapiPrivateGetIncome({"incomeType": "FUNDING_FEE"}) == []  # no position held: no funding
        later = int(rows[1]["time"]) + 1
        assert ex.fapiPrivateGetIncome({"startTime": str(later)}) == []


def test_a_transfer_made_while_the_bot_was_stopped_is_no_loss_at_the_restart(tmp_path: Path) -> None:
    """Noticed at the last stop: 1,500 USDT moved to spot while the bot was stopped, and the restart measured the
    day from the old 10,000 (restored from the journal), so equity 15 % below it fired the daily kill switch and
    flattened the position; the dashboard's "today" counted every transfer as profit or loss. The real bot on
    ccxt against the simulator server (its clock following the wall clock, as `sim-server --feed manual` does
    and Binance's is), one SQLite journal."""
    with running_server(follow_clock=True) as server:
        env = bot_env(tmp_path, QT_EXCHANGE=server.url, QT_API_KEY=API_KEY, QT_API_SECRET=API_SECRET,
                      QT_SYMBOLS="BNBUSDT", QT_SPEED="1", QT_DAILY_LOSS_LIMIT_PCT="5")
        with running_bot(env) as (_proc, url):
            opened = httpx.post(f"{url}/api/v1/force-entry", json={"symbol": "BNBUSDT", "side": "long"}, timeout=30)
            assert opened.status_code == 200, opened.text
            first = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] is not None))
            server.control("/sim/v1/transfer", {"amount": "500"})  # a deposit while it runs: the stream tells it
            wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] == "10500"))
            today = wait_for(lambda: _today(url, "10500"))
        assert first["day_start_equity"] == "10000"
        assert Decimal(today["usdt"]) < 10  # the entry's fee and spread, not +500
        server.control("/sim/v1/transfer", {"amount": "-2000"})  # to the spot wallet, while the bot is stopped
        with running_bot(env) as (_proc, url):
            after = wait_for(lambda: _daily_loss(url, lambda d: d["day_start_equity"] != "10500"), timeout=15)
            health = httpx.get(f"{url}/health").json()
            today = wait_for(lambda: _today(url, "8500"))
        assert after["day_start_equity"] == "8500" and after["floor"] == "8075", after  # was: 10500 and 9975
        assert health["positions"] == 1 and health["halt"] is None, health  # was: flattened, entries halted
        assert server.sim.position("BNBUSDT").amount != 0
        assert Decimal(today["usdt"]) < 10  # was: -2,000 and more


def _today(url: str, since: str) -> dict[str, Any] | None:
    """Today's P&L once measured from `since` and from an equity reading that holds the transfer (the view's
    equity is the monitor's last reading, a sweep behind the stream)."""
    found: dict[str, Any] = httpx.get(f"{url}/api/v1/live").json()["pnl_today"]
    return found if found["since_equity"] == since and Decimal(found["usdt"]) > -10 else None


def _daily_loss(url: str, ready: Any) -> dict[str, Any] | None:
    found: dict[str, Any] = httpx.get(f"{url}/health").json()["daily_loss"]
    return found if ready(found) else None
