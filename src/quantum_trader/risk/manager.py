"""Risk: every signal becomes a `RiskDecision`, approved with a size and a planned stop, or refused.

The rules run in a fixed order and the first refusal wins, so the reason a user reads is the most
basic one (halted before confidence before capacity before sizing). Positions are counted from what
the exchange reports (`PositionChanged`), including ones opened outside the bot, plus entries in
flight, so two signals in one bar cannot both take the last slot.

Two halts, two lifetimes. A manual kill switch (or any `KillSwitch` not raised by the daily loss guard)
halts until `resume()`: a person pulled it, a person releases it. The daily loss limit halts until the
next UTC midnight (`halted_until_ms`), when the halt lifts by itself at the first signal, equity snapshot
or `blocked_symbols` query at or after it; a manual `resume()` lifts it earlier.

The first live day: with `live_since_ms` set, the position cap is min(QT_MAX_POSITIONS,
QT_LIVE_MAX_POSITIONS) until 24 h after `live_since_ms` (a rolling 24 h rather than "until UTC
midnight", so going live at 23:50 still gets a full day of reduced exposure).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.events import (
    EquitySnapshot,
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
from .daily_loss import DAY_MS, DailyLossGuard, next_midnight_ms
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
    #: QT_DAILY_LOSS_LIMIT_PCT; None = no daily loss guard (backtests and tests that do not want one).
    daily_loss_limit_pct: Decimal | None = None
    #: When live trading began (clock ms); None = not live, no first-day cap.
    live_since_ms: int | None = None
    #: QT_LIVE_MAX_POSITIONS: the cap during the 24 h after `live_since_ms`.
    live_max_positions: int = 2


class RiskManager:
    def __init__(self, bus: EventBus, clock: Clock, instruments: Mapping[str, Instrument], account: AccountView,
                 sizing: SizingRules, limits: RiskLimits) -> None:
        self.bus, self.clock, self.instruments, self.view = bus, clock, instruments, account
        self.sizing, self.limits = sizing, limits
        self.open_symbols: set[str] = set()
        self.cooldown_until: dict[str, int] = {}
        self.halted_reason: str | None = None
        #: Set for a daily-loss halt only: the halt lifts at this time (the next UTC midnight).
        self.halted_until_ms: int | None = None
        self.daily_loss = (DailyLossGuard(bus, limits.daily_loss_limit_pct)
                           if limits.daily_loss_limit_pct is not None else None)
        self.decisions = 0
        self._deciding = asyncio.Lock()  # a forced entry and a feed signal must not both take the last slot

    def attach(self) -> None:
        self.bus.subscribe(Signal, self.on_signal)
        self.bus.subscribe(TradeOpened, self._on_opened)
        self.bus.subscribe(TradeClosed, self._on_closed)
        self.bus.subscribe(PositionChanged, self._on_position)
        self.bus.subscribe(OrderRejectedEvent, self._on_rejected)
        self.bus.subscribe(KillSwitch, self._on_kill)
        self.bus.subscribe(EquitySnapshot, self._on_equity)  # before the guard: a new day lifts, then resets
        if self.daily_loss is not None:
            self.daily_loss.attach()

    @property
    def state(self) -> str:
        return "HALTED" if self._halted(self.clock.now_ms()) else "ACTIVE"

    def _halted(self, now_ms: int) -> str | None:
        """The halt reason in force at `now_ms`, lifting a daily-loss halt whose day has ended."""
        if self.halted_until_ms is not None and now_ms >= self.halted_until_ms:
            self.halted_reason, self.halted_until_ms = None, None
        return self.halted_reason

    def position_cap(self, now_ms: int) -> tuple[int, str]:
        """The open-position cap in force and the setting that sets it (for the refusal's wording)."""
        limits = self.limits
        first_day = limits.live_since_ms is not None and now_ms < limits.live_since_ms + DAY_MS
        if first_day and limits.live_max_positions <= limits.max_positions:
            return limits.live_max_positions, "QT_LIVE_MAX_POSITIONS"
        return limits.max_positions, "QT_MAX_POSITIONS"

    def blocked_symbols(self, symbols: tuple[str, ...]) -> frozenset[str] | tuple[str, ...]:
        """Symbols a signal could not open a position on right now, whatever its price or confidence:
        all of them while halted or while every slot is taken, else those already holding a position.

        The backtest uses it to skip bars where a signal would certainly be refused.
        """
        now = self.clock.now_ms()
        if self._halted(now) or len(self.open_symbols) >= self.position_cap(now)[0]:
            return symbols
        return frozenset(self.open_symbols)

    def resume(self) -> None:
        """Manual reset after a kill switch (manual or daily loss)."""
        self.halted_reason, self.halted_until_ms = None, None

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
        now = self.clock.now_ms()
        if self._halted(now):
            return f"trading halted: {self.halted_reason}{self._until_text()}"
        if signal.symbol not in self.instruments:
            return f"{signal.symbol}: not a tradable symbol"
        if signal.source != "force" and signal.confidence < self.limits.min_confidence:
            return f"confidence {signal.confidence:.2f} below QT_MIN_CONFIDENCE {self.limits.min_confidence:.2f}"
        if signal.symbol in self.open_symbols:
            return f"{signal.symbol}: a position is already open (one per symbol)"
        cap, setting = self.position_cap(now)
        if len(self.open_symbols) >= cap:
            first_day = " during the first live day" if setting == "QT_LIVE_MAX_POSITIONS" else ""
            return f"{len(self.open_symbols)} positions open: {setting} is {cap}{first_day}"
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

    def _until_text(self) -> str:
        if self.halted_until_ms is None:
            return ""  # a manual halt: the reason says it all, and it lasts until resume()
        return f" (until {datetime.fromtimestamp(self.halted_until_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC)"

    def _on_kill(self, event: KillSwitch) -> None:
        daily = self.daily_loss is not None and self.daily_loss.is_own(event)
        if daily and self.halted_reason is not None and self.halted_until_ms is None:
            return  # already halted until a manual resume: a daily halt must not make that one expire
        self.halted_reason = event.reason
        self.halted_until_ms = next_midnight_ms(event.time_ms) if daily else None

    def _on_equity(self, event: EquitySnapshot) -> None:
        self._halted(event.time_ms)
