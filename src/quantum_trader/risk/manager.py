"""Risk: every signal becomes a `RiskDecision`, approved with a size and a planned stop, or refused.

The rules run in a fixed order and the first refusal wins, so the reason a user reads is the most
basic one (halted before confidence before capacity before sizing). Positions are counted from what
the exchange reports (`PositionChanged`), including ones opened outside the bot, plus entries in
flight, so two signals in one bar cannot both take the last slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.events import (
    ExitReason,
    KillSwitch,
    OrderRejectedEvent,
    PositionChanged,
    RiskDecision,
    Signal,
    TradeClosed,
    TradeOpened,
)
from ..domain.exchange_types import AccountSnapshot
from ..domain.instrument import Instrument
from .sizing import SizingRefused, SizingRules, size_entry


class AccountView(Protocol):
    """What risk reads from the exchange: the account and a symbol's current price."""

    async def account(self) -> AccountSnapshot: ...

    async def price(self, symbol: str) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_positions: int
    min_confidence: float
    cooldown_s: float = 0.0


class RiskManager:
    def __init__(self, bus: EventBus, clock: Clock, instruments: Mapping[str, Instrument], account: AccountView,
                 sizing: SizingRules, limits: RiskLimits) -> None:
        self.bus, self.clock, self.instruments, self.view = bus, clock, instruments, account
        self.sizing, self.limits = sizing, limits
        self.open_symbols: set[str] = set()
        self.cooldown_until: dict[str, int] = {}
        self.halted_reason: str | None = None
        self.decisions = 0
        self._deciding = asyncio.Lock()  # a forced entry and a feed signal must not both take the last slot

    def attach(self) -> None:
        self.bus.subscribe(Signal, self.on_signal)
        self.bus.subscribe(TradeOpened, self._on_opened)
        self.bus.subscribe(TradeClosed, self._on_closed)
        self.bus.subscribe(PositionChanged, self._on_position)
        self.bus.subscribe(OrderRejectedEvent, self._on_rejected)
        self.bus.subscribe(KillSwitch, self._on_kill)

    @property
    def state(self) -> str:
        return "HALTED" if self.halted_reason else "ACTIVE"

    def blocked_symbols(self, symbols: tuple[str, ...]) -> frozenset[str] | tuple[str, ...]:
        """Symbols a signal could not open a position on right now, whatever its price or confidence:
        all of them while halted or while every slot is taken, else those already holding a position.

        The backtest uses it to skip bars where a signal would certainly be refused.
        """
        if self.halted_reason or len(self.open_symbols) >= self.limits.max_positions:
            return symbols
        return frozenset(self.open_symbols)

    def resume(self) -> None:
        """Manual reset after a kill switch."""
        self.halted_reason = None

    async def on_signal(self, signal: Signal) -> None:
        async with self._deciding:
            decision = await self._decide(signal)
        await self.bus.publish(decision)

    async def _decide(self, signal: Signal) -> RiskDecision:
        self.decisions += 1
        refusal = self._refusal(signal)
        if refusal is None:
            decision = await self._sized(signal)
        else:
            decision = RiskDecision(signal=signal, approved=False, reason=refusal, time_ms=self.clock.now_ms())
        if decision.approved:
            self.open_symbols.add(signal.symbol)
        return decision

    def _refusal(self, signal: Signal) -> str | None:
        if self.halted_reason:
            return f"trading halted: {self.halted_reason}"
        if signal.symbol not in self.instruments:
            return f"{signal.symbol}: not a tradable symbol"
        if signal.source != "force" and signal.confidence < self.limits.min_confidence:
            return f"confidence {signal.confidence:.2f} below QT_MIN_CONFIDENCE {self.limits.min_confidence:.2f}"
        if signal.symbol in self.open_symbols:
            return f"{signal.symbol}: a position is already open (one per symbol)"
        if len(self.open_symbols) >= self.limits.max_positions:
            return f"{len(self.open_symbols)} positions open: QT_MAX_POSITIONS is {self.limits.max_positions}"
        until = self.cooldown_until.get(signal.symbol, 0)
        if until > signal.time_ms:
            return f"{signal.symbol}: cooling down after a stop-out for {(until - signal.time_ms) / 1000:.0f} s more"
        return None

    async def _sized(self, signal: Signal) -> RiskDecision:
        now = self.clock.now_ms()
        inst = self.instruments[signal.symbol]
        try:
            account = await self.view.account()
            price = await self.view.price(signal.symbol)
            sized = size_entry(inst, signal.direction, price, account.equity, account.available, self.sizing)
        except SizingRefused as refused:
            return RiskDecision(signal=signal, approved=False, reason=str(refused), time_ms=now)
        trade_id = f"{signal.symbol}_{signal.time_ms // 1000}"  # readable inside client ids (no "-")
        return RiskDecision(signal=signal, approved=True, reason="sized by planned loss", time_ms=now,
                            trade_id=trade_id, quantity=sized.quantity, planned_stop=sized.stop,
                            planned_take_profit=sized.take_profit, planned_loss=sized.planned_loss,
                            leverage=self.sizing.leverage)

    def _on_opened(self, event: TradeOpened) -> None:
        self.open_symbols.add(event.symbol)

    def _on_closed(self, event: TradeClosed) -> None:
        self.open_symbols.discard(event.symbol)
        if event.exit_reason in (ExitReason.STOP_LOSS, ExitReason.EMERGENCY, ExitReason.LIQUIDATION):
            self.cooldown_until[event.symbol] = event.time_ms + round(self.limits.cooldown_s * 1000)

    def _on_position(self, event: PositionChanged) -> None:
        if event.snapshot.amount != 0:
            self.open_symbols.add(event.snapshot.symbol)
        else:
            self.open_symbols.discard(event.snapshot.symbol)

    def _on_rejected(self, event: OrderRejectedEvent) -> None:
        if event.purpose == "entry":
            self.open_symbols.discard(event.intent.symbol)

    def _on_kill(self, event: KillSwitch) -> None:
        self.halted_reason = event.reason
