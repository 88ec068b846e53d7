"""Orders as small state machines: state changes only through `apply`, checked by a transition table.

Two kinds exist because Binance has two: classic matching-engine orders (`Order`, LIMIT/MARKET, and
the order a triggered conditional spawns) and conditional algo orders (`AlgoOrder`) that wait for a
trigger on the Algo Order API.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from .enums import AlgoStatus, OrderStatus, OrderType, PositionSide, Side, TimeInForce, WorkingType
from .errors import QuantumTraderError
from .money import ZERO, average_price


class IllegalTransition(QuantumTraderError):
    """An event arrived that the order's current state does not allow: a bug, never a market event."""


class OrderEvent(StrEnum):
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REJECT = "reject"


ORDER_TRANSITIONS: dict[tuple[OrderStatus, OrderEvent], OrderStatus] = {
    (OrderStatus.NEW, OrderEvent.PARTIAL_FILL): OrderStatus.PARTIALLY_FILLED,
    (OrderStatus.NEW, OrderEvent.FILL): OrderStatus.FILLED,
    (OrderStatus.NEW, OrderEvent.CANCEL): OrderStatus.CANCELED,
    (OrderStatus.NEW, OrderEvent.EXPIRE): OrderStatus.EXPIRED,
    (OrderStatus.NEW, OrderEvent.REJECT): OrderStatus.REJECTED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.PARTIAL_FILL): OrderStatus.PARTIALLY_FILLED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.FILL): OrderStatus.FILLED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.CANCEL): OrderStatus.CANCELED,
    (OrderStatus.PARTIALLY_FILLED, OrderEvent.EXPIRE): OrderStatus.EXPIRED,
}


@dataclass(slots=True)
class Order:
    """A matching-engine order in Binance's vocabulary (fields mirror the REST order object)."""

    order_id: int
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    orig_type: OrderType
    position_side: PositionSide
    time_in_force: TimeInForce
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    reduce_only: bool
    close_position: bool
    working_type: WorkingType
    price_protect: bool
    time: int
    update_time: int
    status: OrderStatus = OrderStatus.NEW
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    good_till_date: int = 0
    activate_price: Decimal | None = None
    price_rate: Decimal | None = None
    #: The algo order this one was spawned by, if any (Binance's `actualOrderId` link, reversed).
    algo_id: int | None = None
    #: The symbol's `pricePrecision`: `avg_price` is reported to 3 more decimals, as Binance does.
    price_precision: int | None = None

    @property
    def avg_price(self) -> Decimal:
        """Binance's `avgPrice`: cumQuote / executedQty rounded to pricePrecision + 3 decimals, 0 before a fill."""
        return average_price(self.cum_quote, self.executed_qty, self.price_precision)

    @property
    def remaining_qty(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def apply(self, event: OrderEvent, time: int, qty: Decimal = ZERO, price: Decimal = ZERO) -> OrderStatus:
        """Move to the next state; fills carry qty and price. Raises IllegalTransition otherwise."""
        if event in (OrderEvent.PARTIAL_FILL, OrderEvent.FILL):
            if qty <= 0 or qty > self.remaining_qty:
                raise IllegalTransition(f"fill of {qty} on order {self.order_id} with {self.remaining_qty} left")
            event = OrderEvent.FILL if qty == self.remaining_qty else OrderEvent.PARTIAL_FILL
        key = (self.status, event)
        if key not in ORDER_TRANSITIONS:
            raise IllegalTransition(f"order {self.order_id}: {event.value} not allowed in {self.status.value}")
        if qty:
            self.executed_qty += qty
            self.cum_quote += qty * price
        self.status = ORDER_TRANSITIONS[key]
        self.update_time = time
        return self.status


class AlgoEvent(StrEnum):
    TRIGGER = "trigger"
    PLACE = "place"
    FINISH = "finish"
    CANCEL = "cancel"
    EXPIRE = "expire"
    REJECT = "reject"


ALGO_TRANSITIONS: dict[tuple[AlgoStatus, AlgoEvent], AlgoStatus] = {
    (AlgoStatus.NEW, AlgoEvent.TRIGGER): AlgoStatus.TRIGGERING,
    (AlgoStatus.NEW, AlgoEvent.CANCEL): AlgoStatus.CANCELED,
    (AlgoStatus.NEW, AlgoEvent.EXPIRE): AlgoStatus.EXPIRED,
    (AlgoStatus.TRIGGERING, AlgoEvent.PLACE): AlgoStatus.TRIGGERED,
    (AlgoStatus.TRIGGERING, AlgoEvent.REJECT): AlgoStatus.REJECTED,
    (AlgoStatus.TRIGGERING, AlgoEvent.EXPIRE): AlgoStatus.EXPIRED,
    (AlgoStatus.TRIGGERED, AlgoEvent.FINISH): AlgoStatus.FINISHED,
}


@dataclass(slots=True)
class AlgoOrder:
    """A conditional order waiting on the Algo Order API (STOP/STOP_MARKET/TAKE_PROFIT*/TRAILING)."""

    algo_id: int
    client_algo_id: str
    symbol: str
    side: Side
    order_type: OrderType
    position_side: PositionSide
    time_in_force: TimeInForce
    quantity: Decimal
    trigger_price: Decimal
    price: Decimal
    working_type: WorkingType
    close_position: bool
    reduce_only: bool
    price_protect: bool
    create_time: int
    update_time: int
    activate_price: Decimal = ZERO
    callback_rate: Decimal = ZERO
    good_till_date: int = 0
    status: AlgoStatus = AlgoStatus.NEW
    trigger_time: int = 0
    actual_order_id: int | None = None
    reject_reason: str = ""
    #: Trailing stops: the best price seen since placement (highest for SELL, lowest for BUY).
    trail_extreme: Decimal | None = None
    trail_activated: bool = False

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    def apply(self, event: AlgoEvent, time: int) -> AlgoStatus:
        key = (self.status, event)
        if key not in ALGO_TRANSITIONS:
            raise IllegalTransition(f"algo {self.algo_id}: {event.value} not allowed in {self.status.value}")
        self.status = ALGO_TRANSITIONS[key]
        self.update_time = time
        if event is AlgoEvent.TRIGGER:
            self.trigger_time = time
        return self.status
