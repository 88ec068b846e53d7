"""The engine's components wired on one bus, the same for backtest, paper, staging and live.

Subscription order is the order of delivery, and it is chosen here once: the journal first (so an
intent is on disk before execution sends it), then the trade tracker (trades close before risk frees
the slot), then risk and execution. Only the clock, the exchange adapter and the feed differ between
modes; they are passed in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.events import PositionChanged
from ..domain.exchange_types import AccountSnapshot
from ..domain.instrument import Instrument
from ..exchange.port import Exchange
from ..risk.manager import RiskLimits, RiskManager
from ..risk.sizing import SizingRules
from ..trading.execution import Execution, ExecutionConfig
from ..trading.trades import TradeTracker


class JournalLike(Protocol):
    write_failures: int

    def attach(self, bus: EventBus) -> None: ...

    def flush(self) -> None: ...


@dataclass(frozen=True, slots=True)
class TradingRules:
    """The settings the engine trades by (a subset of `Settings`, so backtests need no environment)."""

    stop_loss_pct: Decimal = Decimal("2.0")
    take_profit_pct: Decimal = Decimal("4.0")
    risk_per_trade_pct: Decimal = Decimal("1.0")
    leverage: int = 5
    max_positions: int = 4
    min_confidence: float = 0.65
    cooldown_s: float = 0.0
    #: QT_DAILY_LOSS_LIMIT_PCT (None: no daily kill switch).
    daily_loss_limit_pct: Decimal | None = None
    #: Live only: when live trading began, for the first-day cap QT_LIVE_MAX_POSITIONS.
    live_since_ms: int | None = None
    live_max_positions: int = 2


class ExchangeAccountView:
    """Risk's view of the account, read through the exchange port."""

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    async def account(self) -> AccountSnapshot:
        return await self.exchange.account()

    async def price(self, symbol: str) -> Decimal:
        return (await self.exchange.mark_prices([symbol]))[symbol]


@dataclass
class Engine:
    bus: EventBus
    clock: Clock
    exchange: Exchange
    risk: RiskManager
    execution: Execution
    trades: TradeTracker


async def announce_positions(engine: Engine) -> int:
    """Start-up: tell the engine about every position already open on the exchange (risk counts it, the
    trade tracker and the monitor see it), as if each had just changed. Returns how many."""
    positions = await engine.exchange.positions()
    for position in positions:
        await engine.bus.publish(PositionChanged(snapshot=position, reason="STARTUP", time_ms=engine.clock.now_ms()))
    return len(positions)


def wire_engine(clock: Clock, exchange: Exchange, instruments: Mapping[str, Instrument], rules: TradingRules, *,
                journal: JournalLike | None = None, dry_run: bool = False) -> Engine:
    bus = EventBus(clock.now_ms)
    if journal is not None:
        journal.attach(bus)
    trades = TradeTracker(bus)
    trades.attach()
    risk = RiskManager(bus, clock, instruments, ExchangeAccountView(exchange),
                       SizingRules(stop_loss_pct=rules.stop_loss_pct, take_profit_pct=rules.take_profit_pct,
                                   risk_per_trade_pct=rules.risk_per_trade_pct, leverage=rules.leverage),
                       RiskLimits(max_positions=rules.max_positions, min_confidence=rules.min_confidence,
                                  cooldown_s=rules.cooldown_s, daily_loss_limit_pct=rules.daily_loss_limit_pct,
                                  live_since_ms=rules.live_since_ms, live_max_positions=rules.live_max_positions))
    risk.attach()
    execution = Execution(bus, clock, exchange, instruments,
                          ExecutionConfig(stop_loss_pct=rules.stop_loss_pct, take_profit_pct=rules.take_profit_pct,
                                          dry_run=dry_run),
                          journal_failures=(lambda: journal.write_failures) if journal is not None else None)
    execution.attach()
    return Engine(bus=bus, clock=clock, exchange=exchange, risk=risk, execution=execution, trades=trades)
