"""The Algo Order API for conditional orders (§1.3, §6.2): where STOP_MARKET/TAKE_PROFIT_MARKET live.

Lookups go by `algoId` or `clientAlgoId` without a symbol, as on Binance; the simulator validates
the order itself (closePosition rules, -2021 immediate trigger, -4130 duplicates).
"""

from __future__ import annotations

from typing import Any

from ..sim.shapes import algo_cancel_json, algo_order_json
from .routes_base import Call, RouteTable, ServerState
from .routes_orders import CANCEL_ALL_DONE

table = RouteTable()


def _ids(call: Call) -> tuple[int | None, str | None]:
    algo_id, client_id = call.opt_int("algoId"), call.opt("clientAlgoId")
    if algo_id is None and client_id is None:
        call.need("algoId")
    return algo_id, client_id


@table.route("POST", "/fapi/v1/algoOrder")
def new_algo_order(server: ServerState, call: Call) -> Any:
    return algo_order_json(server.sim.new_algo_order(call.params), server.sim)


@table.route("GET", "/fapi/v1/algoOrder")
def query_algo_order(server: ServerState, call: Call) -> Any:
    return algo_order_json(server.sim.query_algo_order(*_ids(call)), server.sim)


@table.route("DELETE", "/fapi/v1/algoOrder")
def cancel_algo_order(server: ServerState, call: Call) -> Any:
    return algo_cancel_json(server.sim.cancel_algo_order(*_ids(call)))


@table.route("GET", "/fapi/v1/openAlgoOrders")
def open_algo_orders(server: ServerState, call: Call) -> Any:
    symbol, algo_id = call.opt("symbol"), call.opt_int("algoId")
    if symbol is not None:
        server.sim.instrument(symbol)
    sim = server.sim
    return [algo_order_json(a, sim) for a in sim.open_algo_orders(symbol) if algo_id in (None, a.algo_id)]


@table.route("GET", "/fapi/v1/allAlgoOrders")
def all_algo_orders(server: ServerState, call: Call) -> Any:
    symbol = call.opt("symbol")
    if symbol is not None:
        server.sim.instrument(symbol)
    start, end = call.opt_int("startTime"), call.opt_int("endTime")
    limit = min(call.opt_int("limit") or 500, 1000)
    sim = server.sim
    rows = sorted((a for a in sim.all_algo_orders(symbol)
                   if (start is None or a.create_time >= start) and (end is None or a.create_time <= end)),
                  key=lambda a: a.algo_id)
    return [algo_order_json(a, sim) for a in rows[-limit:]]


@table.route("DELETE", "/fapi/v1/algoOpenOrders")
def cancel_all_algo(server: ServerState, call: Call) -> Any:
    server.sim.cancel_all_algo_orders(call.need("symbol"))
    return CANCEL_ALL_DONE
