"""A liquidation reaches the engine as a fill: its trade closes as `liquidation`, at the price it filled, with the
liquidation fee, and the trade's net result is what the wallet lost.

Binance reports the exchange's close of a liquidated position as an ORDER_TRADE_UPDATE with execution type
`CALCULATED` on an `autoclose-` order (shared/binance_futures.md §7.2). Read as "not a trade", the fill never
reached the trade tracker, which then closed the trade "manual" at the mark and without the fee: backtests at
high leverage overstated their result by the fees of every liquidation.
"""

from __future__ import annotations

import asyncio
from decimal import ROUND_DOWN, Decimal

from quantum_trader.core.bus import EventBus
from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import ExitReason, MarginType
from quantum_trader.domain.events import Direction, TradeClosed, TradeOpened
from quantum_trader.domain.exchange_types import FillUpdate
from quantum_trader.exchange import wire
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.pump import publish_all
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.trades import TradeTracker

SYMBOL = "BTCUSDT"
QTY = Decimal("0.050")


def liquidated_long() -> tuple[ExchangeSimulator, InProcessExchange, Decimal, Decimal]:
    """An isolated 50x long on the simulator, then the price just through its liquidation price; (sim, adapter, entry
    price, wallet after the entry)."""
    universe = load_universe()
    sim = ExchangeSimulator({SYMBOL: universe.instrument(SYMBOL)}, SimConfig())
    sim.set_prices({SYMBOL: "100000"})
    sim.set_leverage(SYMBOL, 50)
    sim.set_margin_type(SYMBOL, MarginType.ISOLATED)  # cross, the wallet would carry the position
    exchange = InProcessExchange(sim)
    exchange.drain()  # start recording
    sim.new_order({"symbol": SYMBOL, "side": "BUY", "type": "MARKET", "quantity": str(QTY)})
    entry, wallet = sim.position(SYMBOL).entry_price, sim.wallet_balance
    liquidation = sim.liquidation_price(SYMBOL)
    assert liquidation is not None and liquidation < entry
    # Just through it: what is left of the margin pays the liquidation fee (deeper, the gap would eat it all).
    sim.set_prices({SYMBOL: str(liquidation.quantize(Decimal("0.1"), rounding=ROUND_DOWN) - Decimal("0.1"))})
    assert sim.position(SYMBOL).amount == 0
    return sim, exchange, entry, wallet


def test_the_adapter_reports_the_liquidation_as_a_fill_with_its_fee() -> None:
    sim, exchange, _, wallet_after_entry = liquidated_long()
    fills = [e for e in exchange.drain() if isinstance(e, FillUpdate)]
    closing = [f for f in fills if f.client_id.startswith("autoclose-")]
    assert len(closing) == 1
    (close,) = closing
    assert close.quantity == QTY
    assert close.fee is not None and close.fee > 0  # the liquidation fee, as the simulator charged it
    assert sim.wallet_balance == wallet_after_entry + close.realized_pnl - close.fee


def test_the_trade_closes_as_a_liquidation_at_its_fill_price_with_the_fee() -> None:
    sim, exchange, entry, wallet_after_entry = liquidated_long()
    bus, clock = EventBus(), SimulatedClock(sim.state.now_ms)
    TradeTracker(bus).attach()
    closed: list[TradeClosed] = []
    bus.subscribe(TradeClosed, closed.append)
    events = exchange.drain()
    close = next(e for e in events if isinstance(e, FillUpdate) and e.client_id.startswith("autoclose-"))

    async def replay() -> None:
        await bus.publish(TradeOpened(trade_id="BTCUSDT_1", symbol=SYMBOL, direction=Direction.LONG, quantity=QTY,
                                      entry_price=entry, planned_stop=None, planned_take_profit=None,
                                      planned_loss=None, leverage=50, equity=wallet_after_entry, time_ms=0))
        await publish_all(bus, clock, events)

    asyncio.run(replay())
    (trade,) = closed
    assert trade.exit_reason is ExitReason.LIQUIDATION
    assert trade.exit_price == close.price
    assert close.fee is not None and trade.fees >= close.fee
    assert trade.realized_pnl == close.realized_pnl


def test_a_calculated_event_without_a_quantity_is_no_fill() -> None:
    body = {"s": SYMBOL, "c": "autoclose-1", "S": "SELL", "o": "MARKET", "x": "CALCULATED", "X": "NEW",
            "i": 7, "l": "0", "L": "0", "t": 0, "rp": "0", "q": "0.05", "z": "0"}
    assert wire.fill_from_stream(body, 1) is None
    filled = {**body, "X": "FILLED", "l": "0.05", "L": "98000", "z": "0.05", "t": 3, "n": "0.49", "rp": "-100"}
    assert wire.fill_from_stream(filled, 1) == FillUpdate(
        fill_id=f"{SYMBOL}:3", symbol=SYMBOL, client_id="autoclose-1", side=wire.Side.SELL, quantity=Decimal("0.05"),
        price=Decimal(98000), fee=Decimal("0.49"), realized_pnl=Decimal(-100), maker=False, time_ms=1)
