"""Execution: the single writer of orders. An approved entry becomes entry → stop-loss → take-profit.

Each order is first published as `OrderIntentRecorded` (the journal commits it before this module
goes on: the bus delivers depth-first), then sent, then its answer published as `OrderChanged`, so
a crash at any point leaves a journal that says what may be on the exchange. Client ids derive from
(trade, purpose, attempt), so a retry after a timeout asks for the same id instead of doubling.

Protection follows the entry fill at once: STOP_MARKET with closePosition on MARK_PRICE with
priceProtect (through the Algo Order API: the adapter routes conditional types there), then
TAKE_PROFIT_MARKET, each read back from the exchange before it counts. A stop the exchange refuses
because its price is already crossed (-2021) or that cannot be placed after bounded attempts is
replaced by an emergency market exit with reduceOnly: no position is left without a stop.
The continuous monitor that repairs protection later (missing, cancelled by hand, wrong type) is
trading/monitor.py's job.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import MarginType, OrderType, Side, WorkingType
from ..domain.errors import ExchangeError
from ..domain.events import (
    Direction,
    OrderChanged,
    OrderIntentRecorded,
    OrderRejectedEvent,
    ProtectionAction,
    RiskDecision,
    TradeOpened,
)
from ..domain.exchange_types import OrderIntent, OrderSnapshot, SnapshotStatus
from ..domain.instrument import Instrument
from ..domain.money import fmt
from ..domain.stops import protection_prices
from ..exchange.ids import client_id_for
from ..exchange.port import Exchange

log = structlog.get_logger(__name__)
PROTECTION_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class ExecutionConfig:
    stop_loss_pct: Decimal
    take_profit_pct: Decimal
    margin_type: MarginType = MarginType.ISOLATED
    #: Staging: intents are journaled and nothing is sent.
    dry_run: bool = False


class Execution:
    def __init__(self, bus: EventBus, clock: Clock, exchange: Exchange, instruments: Mapping[str, Instrument],
                 config: ExecutionConfig, *, journal_failures: Callable[[], int] | None = None) -> None:
        self.bus, self.clock, self.exchange, self.instruments, self.config = bus, clock, exchange, instruments, config
        #: The journal's count of failed writes: an intent that did not reach the journal is not sent.
        self._journal_failures = journal_failures or (lambda: 0)
        self._configured: dict[str, int] = {}  # symbol → leverage already set (with the margin type)
        self.orders_sent = 0

    def attach(self) -> None:
        self.bus.subscribe(RiskDecision, self.on_decision)

    async def on_decision(self, decision: RiskDecision) -> None:
        if not decision.approved or decision.quantity is None or decision.trade_id is None:
            return
        signal = decision.signal
        await self._prepare_symbol(signal.symbol, decision.leverage or 1)
        entry = await self.send(OrderIntent(client_id=client_id_for(decision.trade_id, "entry"),
                                            symbol=signal.symbol, side=signal.direction.entry_side,
                                            type=OrderType.MARKET, quantity=decision.quantity),
                                decision.trade_id, "entry")
        if entry is None or entry.filled <= 0:
            return
        filled_ms = self.clock.now_ms()  # the trade's time is its entry fill: readiness measures protection from it
        await self.protect(decision.trade_id, signal.symbol, signal.direction, entry.avg_price)
        account = await self.exchange.account()
        stop, take = protection_prices(self.instruments[signal.symbol], signal.direction, entry.avg_price,
                                       self.config.stop_loss_pct, self.config.take_profit_pct)
        planned = _planned_loss(decision, entry)
        await self.bus.publish(TradeOpened(
            trade_id=decision.trade_id, symbol=signal.symbol, direction=signal.direction, quantity=entry.filled,
            entry_price=entry.avg_price, planned_stop=stop, planned_take_profit=take, planned_loss=planned,
            leverage=decision.leverage or 1, equity=account.equity, time_ms=filled_ms, confidence=signal.confidence))

    async def _prepare_symbol(self, symbol: str, leverage: int) -> None:
        if self._configured.get(symbol) == leverage or self.config.dry_run:
            return
        await self.exchange.set_margin_type(symbol, self.config.margin_type)
        await self.exchange.set_leverage(symbol, leverage)
        self._configured[symbol] = leverage

    # --- protection -------------------------------------------------------------------------------
    async def protect(self, trade_id: str, symbol: str, direction: Direction, fill_price: Decimal) -> bool:
        """Stop-loss then take-profit; an unplaceable stop ends in an emergency exit. True if protected."""
        stop, take = protection_prices(self.instruments[symbol], direction, fill_price,
                                       self.config.stop_loss_pct, self.config.take_profit_pct)
        placed = await self._place_protection(trade_id, symbol, direction, "sl", OrderType.STOP_MARKET, stop)
        if not placed:
            await self.emergency_exit(trade_id, symbol, "the stop-loss could not be placed")
            return False
        await self._place_protection(trade_id, symbol, direction, "tp", OrderType.TAKE_PROFIT_MARKET, take)
        return True

    async def _place_protection(self, trade_id: str, symbol: str, direction: Direction, purpose: str,
                                kind: OrderType, trigger: Decimal) -> bool:
        for attempt in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(client_id=client_id_for(trade_id, purpose, attempt), symbol=symbol,
                                 side=direction.exit_side, type=kind, trigger_price=trigger, close_position=True,
                                 working_type=WorkingType.MARK_PRICE, price_protect=True)
            placed = await self.send(intent, trade_id, purpose)
            if placed is not None and await self._verified(trade_id, intent):
                return True
            if self._last_rejected_for_good:
                return False  # the exchange refused these parameters (-2021 crossed, -4006, ...): retrying cannot help
        return False

    async def _verified(self, trade_id: str, intent: OrderIntent) -> bool:
        """Read the order back: it counts only if the exchange shows it working (or already fired)."""
        if self.config.dry_run:
            return True
        found = await self.exchange.query(intent.symbol, intent.client_id)
        ok = found is not None and found.status in (SnapshotStatus.OPEN, SnapshotStatus.TRIGGERED,
                                                    SnapshotStatus.FILLED)
        await self.bus.publish(ProtectionAction(
            symbol=intent.symbol, action="verified" if ok else "verify_failed",
            reason=f"read back {found.status.value if found else 'nothing'}", time_ms=self.clock.now_ms(),
            trade_id=trade_id, client_id=intent.client_id, order_type=intent.type.value, price=intent.trigger_price))
        return ok

    async def verify(self, trade_id: str, intent: OrderIntent) -> bool:
        """Public read-back for the monitor: the same rule as after an entry (published as verified/verify_failed)."""
        return await self._verified(trade_id, intent)

    @property
    def last_reject_code(self) -> int | None:
        """Binance's code for the last `send` the exchange refused (-2021: trigger already crossed)."""
        return self._last_reject_code

    @property
    def last_rejected_for_good(self) -> bool:
        return self._last_rejected_for_good

    async def cancel(self, symbol: str, client_id: str, trade_id: str | None, reason: str) -> OrderSnapshot | None:
        """Cancel one open order (classic or conditional) and publish the answer, so the journal records it.

        None when the exchange refuses (already filled, cancelled or unknown): the caller re-reads the
        exchange rather than trusting its own picture.
        """
        if self.config.dry_run:
            return None
        try:
            snapshot = await self.exchange.cancel(symbol, client_id)
        except ExchangeError as exc:
            log.warning("cancel refused", symbol=symbol, client_id=client_id, code=exc.code, reason=reason)
            return None
        log.info("order cancelled", symbol=symbol, client_id=client_id, type=snapshot.type.value,
                 trigger_price=_fmt(snapshot.trigger_price), trade_id=trade_id, reason=reason)
        await self.bus.publish(OrderChanged(snapshot=snapshot, reason="CANCELED", time_ms=self.clock.now_ms()))
        return snapshot

    async def emergency_exit(self, trade_id: str, symbol: str, why: str, purpose: str = "em",
                             action: str = "emergency_exit") -> None:
        """Close at market with reduceOnly, for the whole position the exchange reports."""
        position = next(iter(await self.exchange.positions(symbol)), None)
        if position is None or position.amount == 0:
            return
        side = Side.SELL if position.amount > 0 else Side.BUY
        log.warning("emergency exit", symbol=symbol, amount=str(position.amount), reason=why, purpose=purpose)
        await self.bus.publish(ProtectionAction(symbol=symbol, action=action, reason=why,
                                                time_ms=self.clock.now_ms(), trade_id=trade_id))
        for attempt in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(client_id=client_id_for(trade_id, purpose, attempt), symbol=symbol, side=side,
                                 type=OrderType.MARKET, quantity=abs(position.amount), reduce_only=True)
            if await self.send(intent, trade_id, purpose) is not None:
                return

    # --- sending ----------------------------------------------------------------------------------
    _last_reject_code: int | None = None
    _last_rejected_for_good = False

    async def send(self, intent: OrderIntent, trade_id: str, purpose: str,
                   reason: str | None = None) -> OrderSnapshot | None:
        """Journal the intent, send it, publish the answer; None when refused (the refusal is published).

        `reason` is what the `placed` protection action says (the monitor's repairs say why they place).
        """
        self._last_reject_code = None
        self._last_rejected_for_good = False
        failures = self._journal_failures()
        await self.bus.publish(OrderIntentRecorded(intent=intent, trade_id=trade_id, purpose=purpose,
                                                   time_ms=self.clock.now_ms(), dry_run=self.config.dry_run))
        if self.config.dry_run:
            return None
        if self._journal_failures() != failures:
            await self.bus.publish(OrderRejectedEvent(
                intent=intent, trade_id=trade_id, purpose=purpose, code=None, time_ms=self.clock.now_ms(),
                message="not sent: the journal could not record the intent (write-ahead)"))
            return None
        self.orders_sent += 1
        try:
            snapshot = await self.exchange.place(intent)
        except ExchangeError as exc:
            self._last_reject_code = exc.code
            self._last_rejected_for_good = not exc.retryable
            await self.bus.publish(OrderRejectedEvent(intent=intent, trade_id=trade_id, purpose=purpose,
                                                      code=exc.code, message=exc.msg, time_ms=self.clock.now_ms()))
            return None
        await self.bus.publish(OrderChanged(snapshot=snapshot, reason="PLACED", time_ms=self.clock.now_ms()))
        if intent.type.is_conditional:
            log.info("protection placed", symbol=intent.symbol, type=intent.type.value, side=intent.side.value,
                     trigger_price=_fmt(intent.trigger_price), quantity=_fmt(intent.quantity),
                     working_type=intent.working_type.value,
                     close_position=intent.close_position, purpose=purpose, client_id=intent.client_id)
            await self.bus.publish(ProtectionAction(
                symbol=intent.symbol, action="placed", reason=reason or f"{purpose} after entry fill",
                time_ms=self.clock.now_ms(), trade_id=trade_id, client_id=intent.client_id,
                order_type=intent.type.value, price=intent.trigger_price))
        return snapshot


def _fmt(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def _planned_loss(decision: RiskDecision, entry: OrderSnapshot) -> Decimal | None:
    """Risk planned for the ordered size; a partial fill plans proportionally less."""
    if decision.planned_loss is None or decision.quantity is None or decision.quantity == 0:
        return None
    return decision.planned_loss * entry.filled / decision.quantity
