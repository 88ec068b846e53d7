"""Cancelling: one order, one algo order, or everything on a symbol; unknown or finished ones are -2011."""

from __future__ import annotations

from ..domain import binance_errors as be
from ..domain.enums import AlgoStatus, ExecutionType
from ..domain.orders import AlgoEvent, AlgoOrder, Order, OrderEvent
from . import events as ev
from .matching import finish_spawning_algo
from .state import SimState


def find_order(state: SimState, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
    if order_id is not None:
        order = state.orders.get(order_id)
        return order if order is not None and order.symbol == symbol else None
    if client_id is not None:
        newest = state.newest_open_with_client_id(client_id, algo=False)
        if isinstance(newest, Order) and newest.symbol == symbol:
            return newest
        matches = [o for o in state.orders.values() if o.symbol == symbol and o.client_order_id == client_id]
        open_matches = [o for o in matches if o.is_open]
        candidates = open_matches or matches
        return candidates[-1] if candidates else None
    raise be.mandatory_param("orderId")


def find_algo(state: SimState, algo_id: int | None, client_id: str | None) -> AlgoOrder | None:
    if algo_id is not None:
        return state.algos.get(algo_id)
    if client_id is not None:
        newest = state.newest_open_with_client_id(client_id, algo=True)
        if isinstance(newest, AlgoOrder):
            return newest
        matches = [a for a in state.algos.values() if a.client_algo_id == client_id]
        open_matches = [a for a in matches if a.is_open]
        candidates = open_matches or matches
        return candidates[-1] if candidates else None
    raise be.mandatory_param("algoId")


def cancel_order(state: SimState, order: Order | None) -> Order:
    if order is None or not order.is_open:
        raise be.unknown_order_sent()
    order.apply(OrderEvent.CANCEL, state.now_ms)
    state.emit(ev.order_trade_update(order, ExecutionType.CANCELED, state.now_ms))
    finish_spawning_algo(state, order)
    return order


def cancel_algo(state: SimState, algo: AlgoOrder | None) -> AlgoOrder:
    if algo is None or algo.status is not AlgoStatus.NEW:
        raise be.unknown_order_sent()
    algo.apply(AlgoEvent.CANCEL, state.now_ms)
    state.emit(ev.algo_update(algo, state.now_ms))
    return algo


def cancel_everything_on_symbol(state: SimState, symbol: str) -> tuple[list[Order], list[AlgoOrder]]:
    orders = [cancel_order(state, o) for o in sorted(state.open_orders(symbol), key=lambda o: o.order_id)]
    algos = [cancel_algo(state, a) for a in sorted(state.open_algos(symbol), key=lambda a: a.algo_id)
             if a.status is AlgoStatus.NEW]
    return orders, algos
