"""Placing orders: every check Binance makes, in Binance's order, before anything changes.

A rejected order raises before the first mutation, so "a rejected order changes no state" holds by
construction: all checks come first, creation and execution after.
"""

from __future__ import annotations

import re
from decimal import Decimal

from ..domain import binance_errors as be
from ..domain.enums import ExecutionType, OrderType, PositionSide, Side, TimeInForce
from ..domain.instrument import Instrument
from ..domain.money import ZERO
from ..domain.orders import AlgoOrder, Order
from . import events as ev
from .margin import assumed_market_price, check_leverage, initial_margin, open_loss
from .matching import Levels, expire_order, reducible_qty, take_liquidity, taker_levels
from .params import OrderRequest
from .state import SimState
from .triggers import TriggerKind, stop_triggered

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")


# --- checks shared by both endpoints --------------------------------------------------------------
def resolve_position_side(state: SimState, request: OrderRequest) -> PositionSide:
    """One-way mode takes BOTH (or nothing); hedge mode needs LONG/SHORT and refuses reduceOnly."""
    wanted = request.position_side
    if state.account.dual_side:
        if wanted not in (PositionSide.LONG, PositionSide.SHORT):
            raise be.position_side_mismatch()
        if request.reduce_only:
            raise be.param_not_required("reduceOnly")
        if request.close_position and (wanted is PositionSide.LONG) == (request.side is Side.BUY):
            raise be.param_not_required("closePosition")
        return wanted
    if wanted not in (None, PositionSide.BOTH):
        raise be.position_side_mismatch()
    return PositionSide.BOTH


def check_client_id(state: SimState, client_id: str | None, *, algo: bool) -> None:
    if client_id is None:
        return
    if not CLIENT_ID_RE.match(client_id):
        raise be.client_id_invalid()
    if state.open_client_id_taken(client_id, algo=algo):
        raise be.client_id_duplicated()


def check_capacity(state: SimState, inst: Instrument, *, algo: bool) -> None:
    open_algos = len(state.open_algos(inst.symbol))
    if len(state.open_orders(inst.symbol)) + open_algos >= inst.max_num_orders:
        raise be.max_open_orders()
    if algo and open_algos >= inst.max_num_algo_orders:
        raise be.max_algo_orders()


def increases_exposure(state: SimState, request: OrderRequest, pside: PositionSide, qty: Decimal) -> Decimal:
    """The part of `qty` that opens or adds to a position (what needs margin)."""
    return max(qty - reducible_qty(state, request.symbol, request.side, pside), ZERO)


def check_margin(state: SimState, inst: Instrument, request: OrderRequest, pside: PositionSide,
                 qty: Decimal, price: Decimal | None) -> None:
    """-2019 when initial margin plus open loss of the exposure-adding part exceeds what is available."""
    adding = increases_exposure(state, request, pside, qty)
    if adding == 0:
        return
    market = state.market(inst.symbol)
    sign = request.side.sign
    order_price = price if price is not None else assumed_market_price(sign, market.last, market.mark)
    leverage = state.account.leverage_of(inst.symbol)
    cost = initial_margin(adding * order_price, leverage) + open_loss(sign, adding, market.mark, order_price)
    available = state.account.available_balance(state, state.open_order_margin())
    if cost > available:
        raise be.margin_insufficient()
    position = state.account.position(inst.symbol, pside)
    new_notional = abs(position.amount + sign * qty) * market.mark
    check_leverage(inst, leverage, new_notional)


def check_reduce_only(state: SimState, request: OrderRequest, pside: PositionSide) -> None:
    if request.reduce_only and reducible_qty(state, request.symbol, request.side, pside) == 0:
        raise be.reduce_only_rejected()


# --- classic endpoint -----------------------------------------------------------------------------
def place_classic(state: SimState, request: OrderRequest) -> Order:
    inst = state.instrument(request.symbol)
    pside = resolve_position_side(state, request)
    qty = request.quantity or ZERO
    market = state.market(inst.symbol)
    is_market = request.type is OrderType.MARKET
    if request.price is not None and not is_market:
        inst.check_price(request.price)
    inst.check_qty(qty, market=is_market)
    check_client_id(state, request.client_id, algo=False)
    check_capacity(state, inst, algo=False)
    if request.type is OrderType.LIMIT and request.price is not None:
        inst.check_percent_price(request.side is Side.BUY, request.price, market.mark)
    if not request.reduce_only:
        inst.check_min_notional(qty, request.price if request.price is not None else market.mark)
    check_reduce_only(state, request, pside)
    check_margin(state, inst, request, pside, qty, request.price)
    taken: Levels | None = None
    if request.type is OrderType.LIMIT:
        _precheck_limit_tif(state, request, qty)
    else:
        taken = _check_market_percent_price(state, inst, request, qty)
    order = _new_order(state, request, pside, qty)
    state.add_order(order)
    state.account.touched.add(order.symbol)
    state.emit(ev.order_trade_update(order, ExecutionType.NEW, state.now_ms))
    execute_new_order(state, order, taken)
    return order


def _new_order(state: SimState, request: OrderRequest, pside: PositionSide, qty: Decimal) -> Order:
    tif = request.time_in_force or TimeInForce.GTC
    return Order(
        order_id=state.new_order_id(), client_order_id=request.client_id or state.generated_client_id(),
        symbol=request.symbol, side=request.side, type=request.type, orig_type=request.type,
        position_side=pside, time_in_force=tif, orig_qty=qty, price=request.price or ZERO,
        stop_price=ZERO, reduce_only=request.reduce_only, close_position=False,
        working_type=request.working_type, price_protect=request.price_protect,
        time=state.now_ms, update_time=state.now_ms, good_till_date=request.good_till_date,
        price_precision=state.instrument(request.symbol).price_precision,
    )


def _precheck_limit_tif(state: SimState, request: OrderRequest, qty: Decimal) -> None:
    """GTX must not take liquidity (-5022); FOK must fill completely at once (-5021). Checked before any id is used."""
    reference = state.market(request.symbol).last
    tif = request.time_in_force
    if tif not in (TimeInForce.GTX, TimeInForce.FOK):
        return
    levels = taker_levels(state, request.symbol, request.side, qty, reference, request.price)
    if tif is TimeInForce.GTX and levels:
        raise be.gtx_rejected()
    if tif is TimeInForce.FOK and sum((q for _, q in levels), ZERO) < qty:
        raise be.fok_rejected()


def _check_market_percent_price(state: SimState, inst: Instrument, request: OrderRequest, qty: Decimal) -> Levels:
    """-4131: a MARKET order whose best counterparty price lies beyond mark × [down, up] (§4.1). Returns the
    book slices it looked at, which the order then takes (nothing moves between the check and the fill)."""
    market = state.market(inst.symbol)
    levels = taker_levels(state, inst.symbol, request.side, qty, market.last, None)
    if not levels:
        return levels
    best = levels[0][0]
    pp = inst.percent_price
    if request.side is Side.BUY and pp.multiplier_up and best > market.mark * pp.multiplier_up:
        raise be.market_percent_price()
    if request.side is Side.SELL and pp.multiplier_down and best < market.mark * pp.multiplier_down:
        raise be.market_percent_price()
    return levels


RESTING_TIFS = (TimeInForce.GTC, TimeInForce.GTX, TimeInForce.GTD)


def execute_new_order(state: SimState, order: Order, checked: Levels | None = None) -> None:
    """Market orders take the book now; limits take what is marketable and rest (GTC) or expire (IOC).
    `checked`: the slices the price check worked out for the order's whole quantity, if it did."""
    reference = state.market(order.symbol).last
    limit = None if order.type is OrderType.MARKET else order.price
    take_liquidity(state, order, reference, limit, checked)
    if not order.is_open:
        return
    rests = order.type is OrderType.LIMIT and order.time_in_force in RESTING_TIFS
    if not rests or (order.reduce_only and not _reducible(state, order)):
        expire_order(state, order)


def _reducible(state: SimState, order: Order) -> bool:
    return reducible_qty(state, order.symbol, order.side, order.position_side) > 0


# --- algo endpoint --------------------------------------------------------------------------------
def place_algo(state: SimState, request: OrderRequest) -> AlgoOrder:
    inst = state.instrument(request.symbol)
    pside = resolve_position_side(state, request)
    _check_algo_prices(state, inst, request)
    qty = request.quantity or ZERO
    if not request.close_position:
        inst.check_qty(qty, market=not request.type.becomes_limit)
    check_client_id(state, request.client_id, algo=True)
    check_capacity(state, inst, algo=True)
    if request.close_position and _close_position_twin(state, request, pside):
        raise be.close_position_stop_exists()
    if not (request.reduce_only or request.close_position):
        inst.check_min_notional(qty, request.price or request.stop_price or state.market(inst.symbol).mark)
    check_reduce_only(state, request, pside)
    _check_not_immediately_triggered(state, request)
    algo = _new_algo(state, request, pside, qty)
    state.add_algo(algo)
    state.account.touched.add(algo.symbol)
    state.emit(ev.algo_update(algo, state.now_ms))
    return algo


def _close_position_twin(state: SimState, request: OrderRequest, pside: PositionSide) -> bool:
    """-4130: one closePosition STOP_MARKET and one TAKE_PROFIT_MARKET per direction, not two of a type."""
    return any(a.close_position and a.order_type is request.type and a.side is request.side
               and a.position_side is pside for a in state.open_algos(request.symbol))


def _check_algo_prices(state: SimState, inst: Instrument, request: OrderRequest) -> None:
    if request.stop_price is not None:
        inst.check_stop_price(request.stop_price)
    if request.price is not None and request.type.becomes_limit:
        inst.check_price(request.price)
    if request.type is OrderType.TRAILING_STOP_MARKET:
        rate = request.callback_rate or ZERO
        if not state.config.callback_rate_min <= rate <= state.config.callback_rate_max:
            raise be.invalid_data("callbackRate")
        if request.activate_price is not None:
            inst.check_stop_price(request.activate_price)


def _check_not_immediately_triggered(state: SimState, request: OrderRequest) -> None:
    """-2021: Binance refuses a trigger whose condition already holds; it never fills it at once."""
    price = state.market(request.symbol).trigger_price(request.working_type)
    if request.type is OrderType.TRAILING_STOP_MARKET:
        activation = request.activate_price
        if activation is not None and (activation >= price if request.side is Side.BUY else activation <= price):
            raise be.would_immediately_trigger()
        return
    kind = TriggerKind.STOP if request.type.is_stop_family else TriggerKind.TAKE_PROFIT
    assert request.stop_price is not None
    if stop_triggered(kind, request.side.sign, price, request.stop_price):
        raise be.would_immediately_trigger()


def _new_algo(state: SimState, request: OrderRequest, pside: PositionSide, qty: Decimal) -> AlgoOrder:
    trailing = request.type is OrderType.TRAILING_STOP_MARKET
    current = state.market(request.symbol).trigger_price(request.working_type)
    algo = AlgoOrder(
        algo_id=state.new_algo_id(), client_algo_id=request.client_id or state.generated_client_id(),
        symbol=request.symbol, side=request.side, order_type=request.type, position_side=pside,
        time_in_force=TimeInForce.GTE_GTC if request.close_position else request.time_in_force or TimeInForce.GTC,
        quantity=ZERO if request.close_position else qty, trigger_price=request.stop_price or ZERO,
        price=request.price or ZERO, working_type=request.working_type,
        close_position=request.close_position, reduce_only=request.reduce_only or request.close_position,
        price_protect=request.price_protect, create_time=state.now_ms, update_time=state.now_ms,
        activate_price=request.activate_price or ZERO, callback_rate=request.callback_rate or ZERO,
        good_till_date=request.good_till_date,
    )
    if trailing and request.activate_price is None:
        algo.trail_activated, algo.trail_extreme = True, current
    return algo
