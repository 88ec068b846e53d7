"""What happens when a conditional order's trigger condition is met (Binance algo era, §2.5, §7.4).

ALGO_UPDATE TRIGGERING → (price protection, the deferred margin check, closePosition sizing) →
TRIGGERED with the id of a new matching-engine order → that order's own ORDER_TRADE_UPDATE events →
FINISHED with its average price and filled quantity. A stop-limit's spawned order is a LIMIT that
simply rests when the market is already beyond its price: that is how a STOP fails to protect.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.enums import AlgoStatus, ExecutionType, OrderType, TimeInForce
from ..domain.money import ZERO
from ..domain.orders import AlgoEvent, AlgoOrder, Order
from . import events as ev
from .margin import assumed_market_price, initial_margin
from .matching import expire_order, reducible_qty, take_liquidity
from .state import SimState


def trigger_algo(state: SimState, algo: AlgoOrder) -> bool:
    """Fire `algo` at the current price; return True when its state changed."""
    if algo.price_protect and _protection_blocks(state, algo):
        return False
    algo.apply(AlgoEvent.TRIGGER, state.now_ms)
    state.emit(ev.algo_update(algo, state.now_ms))
    qty = _size_at_trigger(state, algo)
    if qty == 0:
        algo.apply(AlgoEvent.EXPIRE, state.now_ms)
        state.emit(ev.algo_update(algo, state.now_ms))
        return True
    if not (algo.reduce_only or algo.close_position) and not _margin_ok(state, algo, qty):
        algo.reject_reason = "Margin is insufficient."
        algo.apply(AlgoEvent.REJECT, state.now_ms)
        state.emit(ev.algo_update(algo, state.now_ms))
        return True
    order = _spawn_order(state, algo, qty)
    algo.actual_order_id = order.order_id
    algo.apply(AlgoEvent.PLACE, state.now_ms)
    state.emit(ev.algo_update(algo, state.now_ms, actual_type=order.type.value))
    state.add_order(order)
    state.emit(ev.order_trade_update(order, ExecutionType.NEW, state.now_ms))
    _execute_spawned(state, order)
    return True


def _protection_blocks(state: SimState, algo: AlgoOrder) -> bool:
    """priceProtect: do not fire while |mark − last| / mark exceeds the symbol's triggerProtect.

    Binance does not document whether a blocked order waits or expires; it waits here, and each
    blocked check is logged so a scenario can show why a protected stop did not fire.
    """
    market = state.market(algo.symbol)
    if market.mark == 0:
        return False
    gap = abs(market.mark - market.last) / market.mark
    if gap <= state.instrument(algo.symbol).trigger_protect:
        return False
    state.emit(ev.sim_event("PRICE_PROTECT_BLOCKED", state.now_ms, algoId=algo.algo_id, symbol=algo.symbol,
                            last=str(market.last), mark=str(market.mark)))
    return True


def _size_at_trigger(state: SimState, algo: AlgoOrder) -> Decimal:
    """closePosition takes the whole position now; reduce-only is capped by it; 0 means nothing to do."""
    reducible = reducible_qty(state, algo.symbol, algo.side, algo.position_side)
    if algo.close_position:
        return reducible
    if algo.reduce_only:
        return min(algo.quantity, reducible)
    return algo.quantity


def _margin_ok(state: SimState, algo: AlgoOrder, qty: Decimal) -> bool:
    """The margin check Binance defers to trigger time for conditional orders since 2025-12-09."""
    adding = max(qty - reducible_qty(state, algo.symbol, algo.side, algo.position_side), ZERO)
    if adding == 0:
        return True
    market = state.market(algo.symbol)
    price = algo.price if algo.order_type.becomes_limit else assumed_market_price(
        algo.side.sign, market.last, market.mark)
    cost = initial_margin(adding * price, state.account.leverage_of(algo.symbol))
    return cost <= state.account.available_balance(state, state.open_order_margin())


def _spawn_order(state: SimState, algo: AlgoOrder, qty: Decimal) -> Order:
    limit = algo.order_type.becomes_limit
    tif = algo.time_in_force if algo.time_in_force is not TimeInForce.GTE_GTC else TimeInForce.GTC
    return Order(
        order_id=state.new_order_id(), client_order_id=algo.client_algo_id, symbol=algo.symbol,
        side=algo.side, type=OrderType.LIMIT if limit else OrderType.MARKET, orig_type=algo.order_type,
        position_side=algo.position_side, time_in_force=tif, orig_qty=qty,
        price=algo.price if limit else ZERO, stop_price=algo.trigger_price,
        reduce_only=algo.reduce_only or algo.close_position, close_position=algo.close_position,
        working_type=algo.working_type, price_protect=algo.price_protect, time=state.now_ms,
        update_time=state.now_ms, algo_id=algo.algo_id,
        activate_price=algo.activate_price if algo.order_type is OrderType.TRAILING_STOP_MARKET else None,
        price_rate=algo.callback_rate if algo.order_type is OrderType.TRAILING_STOP_MARKET else None,
        price_precision=state.instrument(algo.symbol).price_precision,
    )


def _execute_spawned(state: SimState, order: Order) -> None:
    """Stop-market: take the book at the current last price. Stop-limit: take what its limit allows, rest."""
    reference = state.market(order.symbol).last
    if order.type is OrderType.MARKET:
        take_liquidity(state, order, reference)
        if order.is_open:
            expire_order(state, order)
        return
    take_liquidity(state, order, reference, order.price)
    algo = state.algos.get(order.algo_id or -1)
    if order.is_open and algo is not None and algo.status is AlgoStatus.TRIGGERED:
        state.emit(ev.sim_event("STOP_LIMIT_RESTING", state.now_ms, symbol=order.symbol, orderId=order.order_id,
                                price=str(order.price), last=str(reference)))
