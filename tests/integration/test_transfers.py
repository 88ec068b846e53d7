"""Money moved in or out of the futures wallet is no trading result for the daily loss limit.

A tester's report: a wallet 1,000 USDT lighter at a restart fired the daily kill switch ("equity 9000 fell
10.00% from 10000"), and on Binance a transfer out mid-day would flatten every position. The simulator now
moves money as a transfer does (`ExchangeSimulator.transfer`, `POST /sim/v1/transfer`: an ACCOUNT_UPDATE
with reason DEPOSIT or WITHDRAW), and the guard moves the day's reference with it. Transfers while the bot
is away are not seen (README).
"""

from __future__ import annotations

from decimal import Decimal

import httpx
from test_protection_monitor import Rig, run
from test_simserver_support import API_KEY, ccxt_client, running_server

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
