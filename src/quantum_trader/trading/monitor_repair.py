"""The monitor's hands: place a protection order and read it back, cancel one and say why.

Every order goes through `Execution` (journaled intent, deterministic client id, published answer),
so a repair is as traceable as an entry. Placement picks closePosition when the direction has no
closePosition order of that type yet, else a reduceOnly order for the whole position: Binance
refuses a second closePosition STOP_MARKET / TAKE_PROFIT_MARKET in one direction with -4130, and a
replacement has to live next to the order it replaces until it is read back (replace before cancel).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import structlog

from ..core.bus import EventBus
from ..core.clock import Clock
from ..domain.enums import OrderType, WorkingType
from ..domain.events import ProtectionAction
from ..domain.exchange_types import OrderIntent, OrderSnapshot, PositionSnapshot
from ..exchange.ids import MAX_ATTEMPT, client_id_for
from .execution import PROTECTION_ATTEMPTS, Execution
from .monitor_rules import SL, Levels, close_position_taken

log = structlog.get_logger(__name__)
WOULD_IMMEDIATELY_TRIGGER = -2021
CLOSE_POSITION_EXISTS = -4130
#: Execution's own protection uses attempts 0..2 of a trade; the monitor's repairs start after them.
FIRST_REPAIR_ATTEMPT = PROTECTION_ATTEMPTS
#: Client ids the monitor remembers having cancelled itself (their CANCELED echo is not news).
OWN_CANCELS_KEPT = 1000


class Outcome(StrEnum):
    PLACED = "placed"
    CROSSED = "crossed"  # -2021: the trigger is already beyond the price
    FAILED = "failed"  # refused or not read back after the bounded attempts


@dataclass(frozen=True, slots=True)
class Placement:
    outcome: Outcome
    intent: OrderIntent | None = None


class Repairer:
    """Places and cancels protection through Execution and publishes a `ProtectionAction` for each."""

    def __init__(self, bus: EventBus, clock: Clock, execution: Execution) -> None:
        self.bus, self.clock, self.execution = bus, clock, execution
        self._next_attempt: dict[tuple[str, str], int] = {}
        self.own_cancels: dict[str, None] = {}  # insertion-ordered set, bounded

    async def place(self, levels: Levels, position: PositionSnapshot, role: str, price: Decimal,
                    orders: Sequence[OrderSnapshot], reason: str) -> Placement:
        """Place and read back one STOP_MARKET / TAKE_PROFIT_MARKET, at most PROTECTION_ATTEMPTS times."""
        kind = OrderType.STOP_MARKET if role == SL else OrderType.TAKE_PROFIT_MARKET
        side = levels.direction.exit_side
        use_close = not close_position_taken(orders, side, kind)
        taken = {o.client_id for o in orders if o.status.is_open}
        for _ in range(PROTECTION_ATTEMPTS):
            intent = OrderIntent(
                client_id=self._client_id(levels.trade_id, role, taken), symbol=position.symbol, side=side,
                type=kind, trigger_price=price, close_position=use_close, reduce_only=not use_close,
                quantity=None if use_close else abs(position.amount), working_type=WorkingType.MARK_PRICE,
                price_protect=True)
            placed = await self.execution.send(intent, levels.trade_id, role, reason=reason)
            if placed is not None and await self.execution.verify(levels.trade_id, intent):
                return Placement(Outcome.PLACED, intent)
            code = self.execution.last_reject_code
            if placed is None and code == WOULD_IMMEDIATELY_TRIGGER:
                return Placement(Outcome.CROSSED, intent)
            if placed is None and code == CLOSE_POSITION_EXISTS:
                use_close = False  # a twin the open-order list did not show yet: cover by quantity instead
                continue
            if placed is None and self.execution.last_rejected_for_good:
                return Placement(Outcome.FAILED, intent)
        return Placement(Outcome.FAILED)

    def _client_id(self, trade_id: str, role: str, taken: set[str]) -> str:
        """The next unused attempt number of (trade, role): a retry never reuses an id still open."""
        key = (trade_id, role)
        attempt = self._next_attempt.get(key, FIRST_REPAIR_ATTEMPT)
        while True:
            client_id = client_id_for(trade_id, role, attempt)
            attempt = attempt + 1 if attempt < MAX_ATTEMPT else FIRST_REPAIR_ATTEMPT
            if client_id not in taken:
                self._next_attempt[key] = attempt
                taken.add(client_id)
                return client_id

    async def cancel(self, order: OrderSnapshot, trade_id: str | None, action: str, reason: str) -> bool:
        """Cancel one order; publish `action` only when the exchange confirms the cancellation."""
        self.own_cancels[order.client_id] = None
        while len(self.own_cancels) > OWN_CANCELS_KEPT:
            del self.own_cancels[next(iter(self.own_cancels))]
        done = await self.execution.cancel(order.symbol, order.client_id, trade_id, reason)
        if done is None:
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
