"""A paced monitor (the live path's) reads the account at the first reading after a position opened or closed.

Without the stream's wallet (REST polling, or an update lost in a reconnect), the view's wallet is the last
account reading, up to 30 s old: the equity point at a stop-out held the pre-loss wallet, and the daily loss
limit learned of the loss a minute late. A reading after the number of open positions changed now reads the
account too. The monitor on the in-process simulator, with the exchange's reading pace set as the Binance
adapter's is, and no wallet events delivered.
"""

from __future__ import annotations

from decimal import Decimal

from test_protection_monitor import Rig, run

from quantum_trader.domain.events import EquitySnapshot
from quantum_trader.domain.exchange_types import AccountSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange


class _PacedExchange(InProcessExchange):
    """The Binance adapter's pacing (a full reading at most every 30 s) on the simulator; counts account reads."""

    accounts = 0

    def reading_pace_s(self) -> float:
        return 30.0

    async def account(self) -> AccountSnapshot:
        type(self).accounts += 1
        return await super().account()


def test_the_first_reading_after_a_close_reads_the_account_and_its_equity_point_holds_the_loss() -> None:
    async def body() -> None:
        rig = Rig()
        paced = _PacedExchange(rig.sim)
        paced.drain()
        rig.monitor.exchange = paced
        await rig.monitor.sweep(reading=True)  # the start-up reading reads the account: 10,000, flat
        await rig.open_long()
        await rig.monitor.sweep(reading=True)  # a position opened: the account is read again
        assert _PacedExchange.accounts == 2
        await rig.monitor.sweep(reading=True)  # nothing changed, 30 s not passed: no account reading
        assert _PacedExchange.accounts == 2
        rig.sim.new_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.010",
                           "reduceOnly": "true"})
        rig.exchange.drain()  # the close's events are lost (a reconnect): the view never hears of them
        await rig.monitor.sweep(reading=True)
        assert _PacedExchange.accounts == 3  # was 2: the equity point below read the wallet of before the close
        point = [e for e in rig.events if isinstance(e, EquitySnapshot)][-1]
        assert point.open_positions == 0 and point.equity == rig.sim.equity < Decimal(10000)

    _PacedExchange.accounts = 0
    run(body)
