"""Classic matching-engine orders: `/fapi/v1/order`, `openOrders`, `allOrders`, `allOpenOrders` (§6.1).

The simulator itself decides what Binance would reject (a STOP_MARKET here is -4120 since December
2025, a spot-only STOP_LOSS is -1116); these handlers only pick ids out of the request and render the
answer. Regular endpoints never see algo orders, as on Binance.
"""

from __future__ import annotations

from typing import Any

from ..domain import binance_errors as be
from ..domain.orders import Order
from ..sim.shapes import order_json
from .routes_base import Call, RouteTable, ServerState

table = RouteTable()
CANCEL_ALL_DONE = {"code": 200, "msg": "The operation of cancel all open order is done."}


def _ids(call: Call) -> tuple[int | None, str | None]:
    """orderId / origClientOrderId: one of them is mandatory (-1102 names orderId, as Binance does)."""
    order_id, client_id = call.opt_int("orderId"), call.opt("origClientOrderId")
    if order_id is None and client_id is None:
        call.need("orderId")
    return order_id, client_id


@table.route("POST", "/fapi/v1/order")
def new_order(server: ServerState, call: Call) -> Any:
    """RESULT renders the order after any immediate fill; ACK (Binance's default here) as accepted."""
    order = server.sim.new_order(call.params)
    result = (call.opt("newOrderRespType") or "ACK").upper() == "RESULT"
    return order_json(order, resp_type_result=result)


@table.route("GET", "/fapi/v1/order")
def query_order(server: ServerState, call: Call) -> Any:
    order_id, client_id = _ids(call)
    return order_json(server.sim.query_order(call.need("symbol"), order_id, client_id))


@table.route("DELETE", "/fapi/v1/order")
def cancel_order(server: ServerState, call: Call) -> Any:
    symbol = call.need("symbol")
    order_id, client_id = _ids(call)
    return order_json(server.sim.cancel_order(symbol, order_id, client_id))


@table.route("GET", "/fapi/v1/openOrders")
def open_orders(server: ServerState, call: Call) -> Any:
    symbol = call.opt("symbol")
    if symbol is not None:
        server.sim.instrument(symbol)
    return [order_json(o) for o in server.sim.open_orders(symbol)]


@table.route("GET", "/fapi/v1/openOrder")
def query_open_order(server: ServerState, call: Call) -> Any:
    """One open order; a finished one is "Order does not exist." (-2013)."""
    order_id, client_id = _ids(call)
    order = server.sim.query_order(call.need("symbol"), order_id, client_id)
    if not order.is_open:
        raise be.order_does_not_exist()
    return order_json(order)


@table.route("GET", "/fapi/v1/allOrders")
def all_orders(server: ServerState, call: Call) -> Any:
    symbol = call.need("symbol")
    server.sim.instrument(symbol)
    start, end = call.opt_int("startTime"), call.opt_int("endTime")
    from_id, limit = call.opt_int("orderId"), min(call.opt_int("limit") or 500, 1000)

    def wanted(o: Order) -> bool:
        return ((from_id is None or o.order_id >= from_id) and (start is None or o.time >= start)
                and (end is None or o.time <= end))

    rows = sorted((o for o in server.sim.all_orders(symbol) if wanted(o)), key=lambda o: o.order_id)
    return [order_json(o) for o in (rows[:limit] if from_id is not None else rows[-limit:])]


@table.route("DELETE", "/fapi/v1/allOpenOrders")
def cancel_all(server: ServerState, call: Call) -> Any:
    server.sim.cancel_all_orders(call.need("symbol"))
    return CANCEL_ALL_DONE
