"""The levels the monitor repairs a position to: the trade's own, or fixed defaults for a position without one.

A repair must put back the stop the trade was opened with, not one recomputed from wherever the price is
now, and every repair of a position found without a trade must go out under one trade id (the journal
and the audit group its orders by it). Execution is the engine's own, on the in-process simulator.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from quantum_trader.core.clock import SimulatedClock
from quantum_trader.domain.enums import ExitReason, MarginType
from quantum_trader.domain.events import Direction, TradeClosed, TradeOpened
from quantum_trader.domain.exchange_types import PositionSnapshot
from quantum_trader.exchange.inprocess import InProcessExchange
from quantum_trader.runtime.wiring import TradingRules, wire_engine
from quantum_trader.sim.engine import ExchangeSimulator
from quantum_trader.sim.state import SimConfig
from quantum_trader.sim.universe import load_universe
from quantum_trader.trading.monitor_levels import PlannedLevels

SYMBOL = "ETHUSDT"
NOW = 1_800_000_000_000


def planned_levels() -> tuple[PlannedLevels, list[str]]:
    sim = ExchangeSimulator({SYMBOL: load_universe().instrument(SYMBOL)}, SimConfig(start_time_ms=NOW))
    engine = wire_engine(SimulatedClock(NOW), InProcessExchange(sim), sim.state.instruments,
                         TradingRules(stop_loss_pct=Decimal("2"), take_profit_pct=Decimal("4")))
    numbers = count(1)
    named: list[str] = []

    def new_trade_id(symbol: str) -> str:
        named.append(f"{symbol}_found_{next(numbers)}")
        return named[-1]

    return PlannedLevels(engine.execution, new_trade_id), named


def position(amount: str, entry: str = "3000") -> PositionSnapshot:
    return PositionSnapshot(symbol=SYMBOL, amount=Decimal(amount), entry=Decimal(entry), mark=Decimal(entry),
                            unrealized=Decimal(0), leverage=5, margin_type=MarginType.ISOLATED,
                            liquidation_price=None)


def opened(trade_id: str, stop: str | None, take: str | None, direction: Direction = Direction.LONG) -> TradeOpened:
    return TradeOpened(trade_id=trade_id, symbol=SYMBOL, direction=direction, quantity=Decimal("0.1"),
                       entry_price=Decimal("3000"), planned_stop=None if stop is None else Decimal(stop),
                       planned_take_profit=None if take is None else Decimal(take), planned_loss=None,
                       leverage=5, equity=Decimal(10_000), time_ms=NOW)


def closed(trade_id: str) -> TradeClosed:
    return TradeClosed(trade_id=trade_id, symbol=SYMBOL, direction=Direction.LONG, quantity=Decimal("0.1"),
                       entry_price=Decimal("3000"), exit_price=Decimal("2940"), exit_reason=ExitReason.STOP_LOSS,
                       realized_pnl=Decimal(-6), fees=Decimal(0), funding=Decimal(0), planned_stop=None,
                       planned_loss=None, leverage=5, equity_at_entry=Decimal(10_000), opened_ms=NOW, time_ms=NOW)


def test_a_position_found_without_a_trade_keeps_one_trade_id_and_its_first_levels() -> None:
    levels, named = planned_levels()
    first = levels.for_position(position("0.5", entry="3000"))
    assert (first.trade_id, first.direction, first.known) == ("ETHUSDT_found_1", Direction.LONG, False)
    assert (first.stop, first.take) == (Decimal("2940.00"), Decimal("3120.00"))  # 2 % and 4 % of the entry
    again = levels.for_position(position("0.5", entry="3100"))  # a later reading: same position, other figures
    assert again == first
    assert named == ["ETHUSDT_found_1"]
    assert levels.symbols == {SYMBOL}


def test_a_position_of_the_other_side_is_a_new_one() -> None:
    levels, _ = planned_levels()
    levels.for_position(position("0.5"))
    short = levels.for_position(position("-0.5", entry="3000"))
    assert (short.trade_id, short.direction) == ("ETHUSDT_found_2", Direction.SHORT)
    assert (short.stop, short.take) == (Decimal("3060.00"), Decimal("2880.00"))


def test_the_bots_trade_brings_its_planned_levels_until_that_trade_closes() -> None:
    levels, named = planned_levels()
    levels.adopt(opened("ETHUSDT_1_1", stop="2950.5", take="3111.1"))
    mine = levels.for_position(position("0.1", entry="3200"))
    assert (mine.trade_id, mine.stop, mine.take, mine.known) == ("ETHUSDT_1_1", Decimal("2950.5"), Decimal("3111.1"),
                                                                 True)
    levels.forget(closed("ETHUSDT_1_0"))  # another trade's close: nothing changes
    assert levels.for_position(position("0.1")) == mine
    levels.forget(closed("ETHUSDT_1_1"))
    assert levels.symbols == frozenset()
    assert levels.for_position(position("0.1")).trade_id == "ETHUSDT_found_1"
    assert named == ["ETHUSDT_found_1"]


def test_a_trade_without_planned_levels_gets_the_settings_distances_from_its_entry() -> None:
    levels, _ = planned_levels()
    levels.adopt(opened("ETHUSDT_1_7", stop=None, take=None, direction=Direction.SHORT))
    mine = levels.for_position(position("-0.1", entry="2000"))
    assert (mine.trade_id, mine.stop, mine.take) == ("ETHUSDT_1_7", Decimal("3060.00"), Decimal("2880.00"))
