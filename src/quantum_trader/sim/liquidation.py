"""Liquidation: a position whose mark reaches its liquidation price is closed by the exchange.

The close is an `autoclose-` order reported with execution type CALCULATED, filled at the mark price
at which it was caught (the liquidation price on a continuous move, worse after a gap), charged the
symbol's liquidationFee on the notional. An isolated position never loses more than its isolated
wallet: the insurance fund absorbs the rest, as on Binance.
"""

from __future__ import annotations

from decimal import Decimal

from ..domain.enums import ExecutionType, MarginType, OrderType, Side, TimeInForce, WorkingType
from ..domain.instrument import Instrument
from ..domain.money import ZERO
from ..domain.orders import Order
from ..domain.position import Position
from . import events as ev
from .margin import liquidation_price, maintenance_margin
from .matching import record_fill
from .state import SimState

_CACHE_LIMIT = 4096


def liquidation_prices(state: SimState, symbol: str) -> list[tuple[Decimal, Position]]:
    prices: list[tuple[Decimal, Position]] = []
    for pos in state.account.positions_of(symbol):
        if pos.amount == 0:
            continue
        lp = position_liquidation_price(state, pos)
        if lp is not None:
            prices.append((lp, pos))
    return prices


def position_liquidation_price(state: SimState, pos: Position) -> Decimal | None:
    inst = state.instrument(pos.symbol)
    if pos.margin_type is MarginType.ISOLATED:
        return _isolated_liquidation_price(state, pos, inst)
    others = [p for p in state.account.open_positions()
              if p is not pos and p.margin_type is MarginType.CROSSED]
    other_mm = sum((maintenance_margin(state.instrument(p.symbol), abs(p.notional(state.mark_of(p.symbol))))
                    for p in others), ZERO)
    other_upnl = sum((p.unrealized_pnl(state.mark_of(p.symbol)) for p in others), ZERO)
    return liquidation_price(pos.side_sign, abs(pos.amount), pos.entry_price, state.account.cross_wallet,
                             inst, other_mm, other_upnl)


def _isolated_liquidation_price(state: SimState, pos: Position, inst: Instrument) -> Decimal | None:
    """An isolated LP depends only on its position's amount, entry and wallet: computed once per change.

    Settling asks for it several times per price step, and the bracket solve in Decimal is the cost.
    The cache holds the position itself and compares the very Decimal objects it was computed from
    (Decimals are immutable, so the same objects mean the same values), so it can never serve a
    stale price, and a reused id() cannot alias another position.
    """
    amount, entry, wallet = pos.amount, pos.entry_price, pos.isolated_wallet
    cached = state.liquidation_cache.get(id(pos))
    if cached is not None and cached[0] is pos and cached[1] is amount and cached[2] is entry \
            and cached[3] is wallet and cached[4] is inst:
        return cached[5]  # type: ignore[return-value]
    lp = liquidation_price(pos.side_sign, abs(amount), entry, wallet, inst)
    if len(state.liquidation_cache) > _CACHE_LIMIT:
        state.liquidation_cache.clear()
    state.liquidation_cache[id(pos)] = (pos, amount, entry, wallet, inst, lp)
    return lp


def liquidate_if_crossed(state: SimState, symbol: str) -> bool:
    mark = state.market(symbol).mark
    liquidated = False
    for lp, pos in liquidation_prices(state, symbol):
        crossed = mark <= lp if pos.amount > 0 else mark >= lp
        if crossed:
            liquidate(state, pos, mark, lp)
            liquidated = True
    return liquidated


def liquidate(state: SimState, pos: Position, mark: Decimal, lp: Decimal) -> None:
    """Cancel the symbol's open orders, close the position at the mark, charge the capped liquidation fee."""
    from .cancel import cancel_everything_on_symbol  # late import: cancel also uses matching

    cancel_everything_on_symbol(state, pos.symbol)
    inst = state.instrument(pos.symbol)
    qty = abs(pos.amount)
    side = Side.SELL if pos.amount > 0 else Side.BUY
    order = Order(
        order_id=state.new_order_id(), client_order_id=f"autoclose-{state.now_ms}", symbol=pos.symbol,
        side=side, type=OrderType.MARKET, orig_type=OrderType.MARKET, position_side=pos.position_side,
        time_in_force=TimeInForce.IOC, orig_qty=qty, price=mark, stop_price=ZERO, reduce_only=True,
        close_position=False, working_type=WorkingType.CONTRACT_PRICE, price_protect=False,
        time=state.now_ms, update_time=state.now_ms, price_precision=inst.price_precision,
    )
    state.add_order(order)
    account = state.account
    isolated = pos.margin_type is MarginType.ISOLATED
    cushion = pos.isolated_wallet if isolated else account.cross_wallet
    loss_before_fee = qty * (mark - pos.entry_price) * pos.side_sign
    fee = max(min(qty * mark * inst.liquidation_fee, cushion + loss_before_fee), ZERO)
    # The wallet can lose at most what backed the position: its isolated wallet, or the cross wallet.
    floor = account.wallet_balance - cushion
    record_fill(state, order, qty, mark, maker=False, commission=fee, execution=ExecutionType.CALCULATED)
    _insurance_clear(state, floor)
    state.emit(ev.sim_event("LIQUIDATION", state.now_ms, symbol=pos.symbol, positionSide=pos.position_side.value,
                            qty=str(qty), price=str(mark), liquidationPrice=str(lp), fee=str(fee)))


def _insurance_clear(state: SimState, floor: Decimal) -> None:
    """A liquidated position loses at most what backed it; the insurance fund takes the rest (INSURANCE_CLEAR)."""
    account = state.account
    absorbed = floor - account.wallet_balance
    if absorbed <= 0:
        return
    account.wallet_balance += absorbed
    account.total_realized += absorbed
    state.emit(ev.account_update("INSURANCE_CLEAR", state.now_ms, account.wallet_balance, account.cross_wallet,
                                 absorbed, []))

