"""Fills: taker orders walk the liquidity model; resting limits fill at their price when traded through.

Every fill goes through `record_fill`, which charges the fee, moves the account, emits the stream
events and does the follow-ups Binance does on its own: a position that goes flat expires its
closePosition (GTE_GTC) conditional orders, and a finished spawned order finishes its algo order.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.enums import AlgoStatus, ExecutionType, OrderStatus, PositionSide, Side
from ..domain.fills import Fill
from ..domain.money import ZERO
from ..domain.orders import AlgoEvent, Order, OrderEvent
from . import events as ev
from .state import SimState


def reducible_qty(state: SimState, symbol: str, side: Side, position_side: PositionSide) -> Decimal:
    """How much an order on `side` can reduce: the opposite-signed position (0 if none or same side)."""
    if position_side is PositionSide.BOTH:
        amount = state.account.position(symbol).amount
        return abs(amount) if amount * side.sign < 0 else ZERO
    pos = state.account.position(symbol, position_side)
    closes_long = position_side is PositionSide.LONG and side is Side.SELL
    closes_short = position_side is PositionSide.SHORT and side is Side.BUY
    return abs(pos.amount) if closes_long or closes_short else ZERO


#: Book slices a taker order takes: (price, quantity), best first.
Levels = list[tuple[Decimal, Decimal]]


def taker_levels(state: SimState, symbol: str, side: Side, qty: Decimal, reference: Decimal,
                 limit: Decimal | None) -> Levels:
    """The book slices a taker order would take, cut at its limit price (if any)."""
    inst = state.instrument(symbol)
    vol = state.volatility.volatility(symbol)
    levels = state.liquidity.fill_levels(inst, side.sign, qty, reference, vol)
    if limit is None:
        return levels
    return [(p, q) for p, q in levels if (p <= limit if side is Side.BUY else p >= limit)]


def take_liquidity(state: SimState, order: Order, reference: Decimal, limit: Decimal | None = None,
                   checked: Levels | None = None) -> Decimal:
    """Fill as much of `order` as the book allows at or better than `limit`; return the filled qty. `checked`:
    the slices of the order's whole quantity at `reference`, already worked out (placement's price check), used
    when that is what it takes (a reduce-only order may take less)."""
    qty = order.remaining_qty
    if order.reduce_only:
        qty = min(qty, reducible_qty(state, order.symbol, order.side, order.position_side))
    filled = ZERO
    if qty > 0:
        levels = checked if checked is not None and qty == order.orig_qty and limit is None else \
            taker_levels(state, order.symbol, order.side, qty, reference, limit)
        for price, slice_qty in levels:
            record_fill(state, order, slice_qty, price, maker=False)
            filled += slice_qty
    return filled


def record_fill(state: SimState, order: Order, qty: Decimal, price: Decimal, *, maker: bool,
                commission: Decimal | None = None, execution: ExecutionType = ExecutionType.TRADE) -> Fill:
    account = state.account
    fee = commission if commission is not None else state.fees.commission(order.symbol, price, qty, maker)
    outcome = account.apply_fill(order.symbol, order.position_side, order.side, qty, price, fee, state.now_ms)
    order.apply(OrderEvent.FILL, state.now_ms, qty, price)
    fill = Fill(state.new_trade_id(), order.order_id, order.symbol, order.side, order.position_side,
                price, qty, fee, "USDT", outcome.realized_pnl, maker, state.now_ms,
                liquidation=execution is ExecutionType.CALCULATED)
    state.record_fill(fill)
    pos = account.position(order.symbol, order.position_side)
    mark = state.mark_of(order.symbol)
    state.emit(ev.account_update("ORDER", state.now_ms, account.wallet_balance, account.cross_wallet,
                                 ZERO, [(pos, pos.unrealized_pnl(mark), pos.break_even_price(
                                     state.fees.taker))]))
    state.emit(ev.order_trade_update(order, execution, state.now_ms, fill, realized=outcome.realized_pnl))
    if outcome.position_flat:
        expire_close_position_algos(state, order.symbol, order.position_side)
    finish_spawning_algo(state, order)
    return fill


def expire_order(state: SimState, order: Order) -> None:
    """IOC remainders, reduce-only leftovers and market remainders end EXPIRED, as on Binance."""
    if order.is_open:
        order.apply(OrderEvent.EXPIRE, state.now_ms)
        state.emit(ev.order_trade_update(order, ExecutionType.EXPIRED, state.now_ms))
        finish_spawning_algo(state, order)


def expire_close_position_algos(state: SimState, symbol: str, position_side: PositionSide) -> None:
    """GTE_GTC semantics: closePosition TP/SL are expired by the system once their position is flat."""
    for algo in list(state.open_algos(symbol)):
        if algo.close_position and algo.position_side is position_side and algo.status is AlgoStatus.NEW:
            algo.apply(AlgoEvent.EXPIRE, state.now_ms)
            state.emit(ev.algo_update(algo, state.now_ms))


def finish_spawning_algo(state: SimState, order: Order) -> None:
    """A triggered algo order is FINISHED once the order it spawned is done (filled or cancelled)."""
    if order.algo_id is None or order.is_open:
        return
    algo = state.algos.get(order.algo_id)
    if algo is None or algo.status is not AlgoStatus.TRIGGERED:
        return
    algo.apply(AlgoEvent.FINISH, state.now_ms)
    state.emit(ev.algo_update(algo, state.now_ms, avg_price=order.avg_price, executed=order.executed_qty,
                              actual_type=order.type.value))


def fill_resting_limits(state: SimState, symbol: str) -> bool:
    """Resting LIMIT orders fill at their own price when the last price trades through them."""
    last = state.market(symbol).last
    progressed = False
    for order in sorted(state.open_orders(symbol), key=lambda o: o.order_id):
        if order.status not in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED):
            continue
        crossed = last <= order.price if order.side is Side.BUY else last >= order.price
        if not crossed:
            continue
        qty = order.remaining_qty
        if order.reduce_only:
            qty = min(qty, reducible_qty(state, symbol, order.side, order.position_side))
            if qty == 0:
                expire_order(state, order)
                progressed = True
                continue
        record_fill(state, order, qty, order.price, maker=True)
        if order.is_open and order.reduce_only:
            expire_order(state, order)
        progressed = True
    return progressed
