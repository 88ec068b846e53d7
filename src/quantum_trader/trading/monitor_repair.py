"""The monitor's hands: place a protection order and read it back, cancel one and say why.

Every order goes through `Execution` (journaled intent, deterministic client id, published answer),
so a repair is as traceable as an entry. Placement picks closePosition when the direction has no
closePosition order of that type yet, else a reduceOnly order for the whole position: Binance
refuses a second closePosition STOP_MARKET / TAKE_PROFIT_MARKET in one direction with -4130, and a
replacement has to live next to the order it replaces until it is read back (replace before cancel).

When the gateway sends nothing (staging), a repair is reported once as what the monitor *would* do
("would place STOP_MARKET 870 closePosition") and not asked again while the plan stays the same, so
the journal shows the work without a new would-be order every sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from ..core.bus import EventBus
from ..core.clock import Clock
from ..core.loggers import get_logger
from ..domain.enums import OrderType, WorkingType
from ..domain.events import ProtectionAction
from ..domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot
from ..domain.money import fmt
from ..exchange.retry import CLOSE_POSITION_EXISTS
from .execution import Execution
from .monitor_rules import SL, Levels, close_position_taken
from .protection_outage import PROTECTION_ATTEMPTS, Fallback, Plan, StopDeadline
from .protection_state import ProtectionBook
from .sending import SendResult

log = get_logger(__name__)
WOULD_IMMEDIATELY_TRIGGER = -2021
#: Client ids the monitor remembers having cancelled itself (their CANCELED echo is not news).
OWN_CANCELS_KEPT = 1000


class Outcome(StrEnum):
    PLACED = "placed"
    CROSSED = "crossed"  # -2021: the trigger is already beyond the price
    FAILED = "failed"  # refused or not read back after the bounded attempts
    NOT_SENT = "not_sent"  # the gateway sends nothing (staging): reported as what would be done


@dataclass(frozen=True, slots=True)
class Placement:
    outcome: Outcome
    intent: OrderIntent | None = None


class Repairer:
    """Places and cancels protection through Execution and publishes a `ProtectionAction` for each."""

    def __init__(self, bus: EventBus, clock: Clock, execution: Execution, book: ProtectionBook) -> None:
        self.bus, self.clock, self.execution, self.book = bus, clock, execution, book
        self.own_cancels: dict[str, None] = {}  # insertion-ordered set, bounded

    async def place(self, levels: Levels, position: PositionSnapshot, role: str, price: Decimal,
                    orders: Sequence[OrderSnapshot], reason: str, fallback: Fallback | None = None) -> Placement:
        """Place and read back one STOP_MARKET / TAKE_PROFIT_MARKET, at most PROTECTION_ATTEMPTS times. `fallback`:
        what the caller does if it fails for good, for the failures' log lines (by default: a stop-loss's
        emergency exit, a take-profit's next sweep)."""
        kind = OrderType.STOP_MARKET if role == SL else OrderType.TAKE_PROFIT_MARKET
        side = levels.direction.exit_side
        use_close = not close_position_taken(orders, side, kind)
        plan = ("place", kind, price, use_close, position.amount)
        if plan in self.book[position.symbol].would:
            return Placement(Outcome.NOT_SENT)
        taken = {o.client_id for o in orders if o.status.is_open}
        fallback = fallback or (Fallback.EXIT if role == SL else Fallback.NEXT_SWEEP)
        # A stop whose failure means the emergency exit gets there by the deadline (protection_outage.py).
        deadline = StopDeadline.start(self.execution.stop_deadline_s) if fallback is Fallback.EXIT else None
        for send in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(
                client_id=self.execution.ids.next_id(levels.trade_id, role, taken=taken), symbol=position.symbol,
                side=side, type=kind, trigger_price=price, close_position=use_close, reduce_only=not use_close,
                quantity=None if use_close else abs(position.amount), working_type=WorkingType.MARK_PRICE,
                price_protect=True)
            taken.add(intent.client_id)
            self.execution.outage.sending(intent, Plan(levels.trade_id, role, send, PROTECTION_ATTEMPTS, fallback,
                                                       deadline))
            result = await self.execution.send(intent, levels.trade_id, role, reason=reason, deadline=deadline)
            if result.accepted and await self.execution.verify(levels.trade_id, intent, deadline):
                return Placement(Outcome.PLACED, intent)
            if result.not_sent:
                await self._would_do(position.symbol, plan, "would_place", f"would place {_describe(intent)}: "
                                     f"{reason}", levels.trade_id, price)
                return Placement(Outcome.NOT_SENT, intent)
            late = deadline is not None and deadline.passed
            outcome = _given_up(result, last=send == PROTECTION_ATTEMPTS - 1 or late)
            await self.execution.outage.failed(intent, result, final=outcome is not None)
            if outcome is not None:
                return Placement(outcome, intent)
            if result.code == CLOSE_POSITION_EXISTS:
                use_close = False  # a twin the open-order list did not show yet: cover by quantity instead
        return Placement(Outcome.FAILED)

    async def _would_do(self, symbol: str, plan: tuple[object, ...], action: str, reason: str,
                        trade_id: str | None, price: Decimal | None = None) -> None:
        self.book[symbol].would.add(plan)
        await self.action(symbol, action, reason, trade_id, price=price)

    async def cancel(self, order: OrderSnapshot, trade_id: str | None, action: str, reason: str) -> bool:
        """Cancel one order; publish `action` only when the exchange confirms the cancellation."""
        plan = ("cancel", order.client_id)
        if plan in self.book[order.symbol].would:
            return False
        self.own_cancels[order.client_id] = None
        while len(self.own_cancels) > OWN_CANCELS_KEPT:
            del self.own_cancels[next(iter(self.own_cancels))]
        result = await self.execution.cancel(order.symbol, order.client_id, trade_id, reason)
        if result.not_sent:
            await self._would_do(order.symbol, plan, "would_cancel",
                                 f"would cancel {order.type.value} {order.client_id}: {reason}", trade_id)
            return False
        if not result.accepted:
            return False
        await self.action(order.symbol, action, reason, trade_id, order)
        return True

    async def action(self, symbol: str, action: str, reason: str, trade_id: str | None,
                     order: OrderSnapshot | None = None, price: Decimal | None = None) -> None:
        log.info("protection " + action.replace("_", " "), symbol=symbol, reason=reason, trade_id=trade_id,
                 client_id=order.client_id if order else None, type=order.type.value if order else None,
                 trigger_price=str(price or (order.trigger_price if order else None)))
        await self.bus.publish(ProtectionAction(
            symbol=symbol, action=action, reason=reason, time_ms=self.clock.now_ms(), trade_id=trade_id,
            client_id=order.client_id if order else None, order_type=order.type.value if order else None,
            price=price if price is not None else (order.trigger_price if order else None)))


def _given_up(result: SendResult, *, last: bool) -> Outcome | None:
    """What a failed send ends in (None: send again). -2021: the stop is already crossed; -4130: a twin the
    open-order list did not show yet, so the next send covers by quantity instead."""
    if result.code == WOULD_IMMEDIATELY_TRIGGER:
        return Outcome.CROSSED
    if (result.code != CLOSE_POSITION_EXISTS and result.refused_for_good) or last:
        return Outcome.FAILED
    return None


def _describe(intent: OrderIntent) -> str:
    """`STOP_MARKET 870 closePosition` / `TAKE_PROFIT_MARKET 930 reduceOnly 1.5`: what a person would check."""
    size = "closePosition" if intent.close_position else f"reduceOnly {fmt(intent.quantity or Decimal(0))}"
    return f"{intent.side.value} {intent.type.value} {fmt(intent.trigger_price or Decimal(0))} {size}"
