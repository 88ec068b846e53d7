"""Binance forgets old orders, and so does the simulator.

GET /fapi/v1/order and /fapi/v1/allOrders no longer find an order whose final status is CANCELED or EXPIRED
without any fill once 3 days have passed since it was made, nor any order made 90 days ago
(binance_futures.md §6.1, "Order lookups"; Binance's Query Order page). The simulator kept every order of a
paper session for as long as it ran: a bot restarted after a long weekend was shown a cancelled stop of
Friday's trade that Binance would answer -2013 for, and a session of months held every order in memory, with
a query by client id scanning all of them. So, once an hour of simulated time, the orders Binance would no
longer find are dropped (an open order never is). Algo orders are kept: Binance documents no such rule for the
Algo Order API.
"""

from __future__ import annotations

from ..domain.enums import OrderStatus
from ..domain.orders import Order
from .state import SimState

DAY_MS = 86_400_000
#: A cancelled or expired order that never filled is not found once it is this old...
UNFILLED_KEPT_MS = 3 * DAY_MS
#: ...and no finished order once it is this old.
ANY_KEPT_MS = 90 * DAY_MS
#: How often (in simulated time) the simulator looks for orders to forget.
FORGET_EVERY_MS = 3_600_000
_UNFILLED_ENDS = frozenset({OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH})


def forgotten(order: Order, now_ms: int) -> bool:
    """True when Binance would no longer find `order` at `now_ms`."""
    if order.status.is_open:
        return False
    age = now_ms - order.time
    return age > ANY_KEPT_MS or (age > UNFILLED_KEPT_MS and order.status in _UNFILLED_ENDS
                                 and order.executed_qty == 0)


def forget_old_orders(state: SimState, now_ms: int) -> int:
    """Drop the classic orders Binance would no longer find (at most once per `FORGET_EVERY_MS` of simulated
    time: the caller may ask at every step); how many were dropped.

    A look that cannot find one is skipped: a pass remembers the earliest moment any order it kept (or one
    made after it) could be forgotten, so the hourly looks between are free and drop what they always did
    (a paper session keeps 90 days of filled orders, a backtest a chunk's; the hourly pass over them was 3 % of
    the peers' one-symbol backtest).
    """
    if now_ms < state.forget_due_ms:
        return 0
    state.forget_due_ms = now_ms + FORGET_EVERY_MS
    if now_ms <= state.forget_none_until_ms:
        return 0
    old: list[int] = []
    earliest = now_ms + UNFILLED_KEPT_MS  # an order made from now on is kept at least this long
    for order_id, order in state.orders.items():
        if forgotten(order, now_ms):
            old.append(order_id)
        else:
            earliest = min(earliest, order.time + _kept_at_least(order))
    for order_id in old:
        order = state.orders.pop(order_id)
        state.forget_client_id(order)
    state.forget_none_until_ms = earliest
    return len(old)


def _kept_at_least(order: Order) -> int:
    """How long after it was made `order` is found at least, whatever happens to it from now on (an open order
    may still end cancelled without a fill)."""
    if order.status.is_open or (order.status in _UNFILLED_ENDS and order.executed_qty == 0):
        return UNFILLED_KEPT_MS
    return ANY_KEPT_MS
