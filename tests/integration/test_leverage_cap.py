"""QT_LEVERAGE above a symbol's largest leverage: the entry is sized and opened at the symbol's largest.

Sizing already capped the leverage, but the decision carried the setting itself, so execution asked the
exchange for it and every entry on such a symbol was refused (-4028 "Leverage 100 is not valid"): `run` with
QT_LEVERAGE=100 could never trade LINKUSDT (75x at most).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, OrderRejectedEvent, Signal, TradeOpened
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.pump import publish_all
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOL = "LINKUSDT"


def test_a_leverage_above_the_symbols_largest_opens_at_its_largest() -> None:
    inst = load_universe().instrument(SYMBOL)
    assert inst.max_leverage < 100
    sim = ExchangeSimulator({SYMBOL: inst}, SimConfig())
    sim.set_prices({SYMBOL: "20"})
    exchange = InProcessExchange(sim)
    exchange.drain()
    clock = SimulatedClock(sim.state.now_ms)
    # A 0.5 % stop: at 75x the position is liquidated about 0.9 % away (a 2 % stop is refused for that).
    engine = wire_engine(clock, exchange, {SYMBOL: inst},
                         TradingRules(leverage=100, stop_loss_pct=Decimal("0.5"), take_profit_pct=Decimal("1")))
    seen: list[object] = []
    engine.bus.subscribe(object, seen.append)

    async def enter() -> None:
        await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force",
                                        time_ms=clock.now_ms()))
        await publish_all(engine.bus, clock, exchange.drain())

    asyncio.run(enter())
    assert not [e for e in seen if isinstance(e, OrderRejectedEvent)]
    (opened,) = [e for e in seen if isinstance(e, TradeOpened)]
    assert opened.leverage == inst.max_leverage
    assert sim.account.leverage_of(SYMBOL) == inst.max_leverage and sim.position(SYMBOL).amount > 0
