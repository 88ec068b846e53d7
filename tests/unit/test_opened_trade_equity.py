"""A filled, protected entry is recorded as a trade even when the request budget refuses routine reads.

The failure this guards against was seen on the live path: at the start of a wall-clock minute the
budget's paced routine share is small, start-up reads had used it, and the full account read that used
to follow every entry fill was refused. The exception escaped the decision's handler after the position
and its stop were on the exchange, so no TradeOpened was published: the journal had no trade, and the
monitor later adopted the position as one it did not know. The trade's equity at entry is now the equity
risk sized it from, carried on the decision, so recording the trade reads nothing.

The engine is wired as a session wires it, on the in-process simulator and a real SQLite journal. Only
the budget's refusal is doubled: routine full-account reads raise `BudgetRefused` exactly as the ccxt
adapter's budget raises it; reads made inside `urgent()` (risk's sizing reads) pass.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.events import Direction, RiskDecision, Signal, TradeOpened
from quantum_trader.domain.exchange_types import AccountSnapshot
from quantum_trader.exchange.budget import BudgetRefused, Priority, is_urgent
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.journal import Journal, JournalReader
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe

SYMBOL = "BNBUSDT"
NOW = 1_800_000_000_000


class RoutineAccountReadsRefused(InProcessExchange):
    """The in-process exchange with a request budget whose routine share of the minute is used up."""

    def __init__(self, sim: ExchangeSimulator) -> None:
        super().__init__(sim)
        self.account_reads = {"urgent": 0, "refused": 0}

    async def account(self) -> AccountSnapshot:
        if not is_urgent():
            self.account_reads["refused"] += 1
            raise BudgetRefused("request budget: GET /fapi/v2/account (weight 5) would take this minute past "
                                "109 of 800", 50.0, priority=Priority.ROUTINE, blocked=False)
        self.account_reads["urgent"] += 1
        return await super().account()


async def force_one_entry(url: str) -> tuple[ExchangeSimulator, RoutineAccountReadsRefused, list[object]]:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    sim.set_prices({SYMBOL: "600"})
    exchange = RoutineAccountReadsRefused(sim)
    clock = SimulatedClock(NOW)
    seen: list[object] = []
    with Journal.open(url, now_ms=clock.now_ms) as journal:
        journal.start_session("paper", "{}", "test")
        engine = wire_engine(clock, exchange, dict(sim.state.instruments), TradingRules(), journal=journal)
        engine.bus.subscribe(TradeOpened, seen.append)
        engine.bus.subscribe(RiskDecision, seen.append)
        await engine.bus.publish(Signal(symbol=SYMBOL, direction=Direction.LONG, confidence=1.0, source="force",
                                        time_ms=NOW, reason="test"))
        await exchange.close()
    return sim, exchange, seen


def test_a_protected_entry_is_recorded_when_routine_account_reads_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    equity_before = asyncio.run(InProcessExchange(ExchangeSimulator(
        {SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))).account()).equity
    sim, exchange, seen = asyncio.run(force_one_entry(url))

    assert sim.position(SYMBOL).amount > 0
    assert sorted(a.order_type.value for a in sim.open_algo_orders(SYMBOL)) == ["STOP_MARKET", "TAKE_PROFIT_MARKET"]
    [decision] = [e for e in seen if isinstance(e, RiskDecision)]
    [opened] = [e for e in seen if isinstance(e, TradeOpened)]
    assert decision.approved and decision.equity == equity_before
    assert opened.equity == equity_before  # what the size was computed from, not a read after the fill
    # the planned loss is the risk setting's share of that equity (1 %), never more
    share = opened.planned_loss / opened.equity * 100
    assert Decimal("0.9") < share <= TradingRules().risk_per_trade_pct, share
    assert exchange.account_reads == {"urgent": 1, "refused": 0}  # risk's sizing read only
    reader = JournalReader(url)
    try:
        [trade] = reader.trades(10)
    finally:
        reader.close()
    assert trade["trade_id"] == opened.trade_id and Decimal(trade["quantity"]) == sim.position(SYMBOL).amount
