"""OrderSnapshot straight from the simulator's `Order` / `AlgoOrder`: the in-process adapter's fast path.

The JSON path (sim/shapes.py renders a Binance body, exchange/wire.py parses it back) is what the
ccxt adapter and the simulator server see, and it stays the definition: every function here returns
exactly the snapshot `wire.order_from_json(shapes.order_json(o))` (or the algo equivalent) returns,
Decimal representation included, and tests/sim/test_inprocess_snapshots.py drives a real simulator
through every order state to prove it. What is skipped is only the detour: a 25-field dict per order,
then a dict lookup, a string test and a parse per field, three places and two read-backs a trade.

A number through the JSON path is `to_decimal(fmt(x))`: normalised (trailing zeros dropped, rounded
to the context precision as `fmt` does) and written without exponent, so 10 comes back as Decimal("10"),
never Decimal("1E+1"). `wire_decimal` reproduces that without building the string, except for the
integral values where the two differ, which take the string path itself.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.enums import OrderStatus
from ..domain.exchange_types import OrderSnapshot, SnapshotStatus
from ..domain.money import ZERO, fmt, to_decimal
from ..domain.orders import AlgoOrder, Order
from .wire import ALGO_STATUS, CLASSIC_STATUS


def wire_decimal(value: Decimal, field: str) -> Decimal:
    """`to_decimal(fmt(value), field)`, the value a Binance body carries once parsed, without the string."""
    if not value.is_finite():
        return to_decimal(fmt(value), field)  # raises ValueError naming the field, as the JSON path does
    if not value:
        return ZERO  # fmt writes every zero (0E-8, -0) as "0"
    normal = value.normalize()
    if normal == normal.to_integral_value():
        # Integral: normalize() gives 1E+1 for 10, which fmt writes (and Decimal reads back) as "10".
        return Decimal(format(normal, "f"))
    return normal  # a fraction: fmt writes the normalised digits exactly, and they parse back unchanged


def wire_price(value: Decimal, field: str) -> Decimal | None:
    """wire's `_optional_price`: Binance writes an unset price as "0"."""
    parsed = wire_decimal(value, field)
    return parsed if parsed != 0 else None


def order_snapshot(order: Order) -> OrderSnapshot:
    """`wire.order_from_json(shapes.order_json(order))` (a RESULT answer), read off the object."""
    return OrderSnapshot(
        client_id=str(order.client_order_id), venue_id=str(order.order_id), symbol=str(order.symbol),
        side=order.side, type=order.orig_type, status=CLASSIC_STATUS[order.status], conditional=False,
        quantity=wire_decimal(order.orig_qty, "origQty"), filled=wire_decimal(order.executed_qty, "executedQty"),
        avg_price=wire_decimal(order.avg_price, "avgPrice"),
        trigger_price=wire_price(order.stop_price, "stopPrice"), price=wire_price(order.price, "price"),
        reduce_only=order.reduce_only, close_position=order.close_position, working_type=order.working_type,
        update_time=int(order.update_time or order.time or 0),
    )


def algo_snapshot(algo: AlgoOrder, child: Order | None) -> OrderSnapshot:
    """`wire.algo_from_json(shapes.algo_order_json(algo, sim), child JSON)`; `child` is the spawned order
    (`shapes.spawned_order`), whose fill is the algo order's fill."""
    status = ALGO_STATUS[algo.status]
    if child is None:
        filled, avg = ZERO, ZERO
    else:
        filled = wire_decimal(child.executed_qty, "executedQty")
        avg = wire_decimal(child.avg_price, "avgPrice")
        if child.status is OrderStatus.FILLED:
            status = SnapshotStatus.FILLED
    actual = algo.actual_order_id
    return OrderSnapshot(
        client_id=str(algo.client_algo_id), venue_id=str(algo.algo_id), symbol=str(algo.symbol),
        side=algo.side, type=algo.order_type, status=status, conditional=True,
        quantity=wire_decimal(algo.quantity, "quantity"), filled=filled, avg_price=avg,
        trigger_price=wire_price(algo.trigger_price, "triggerPrice"), price=wire_price(algo.price, "price"),
        reduce_only=algo.reduce_only, close_position=algo.close_position, working_type=algo.working_type,
        update_time=int(algo.update_time or algo.create_time or 0),
        triggered_order_id=str(actual) if actual is not None else None,
    )
