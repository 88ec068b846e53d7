"""Binance USDⓈ-M REST JSON shapes (shared/binance_futures.md §6) rendered from simulator state.

One pure function per response body, shared by the scenario runner, the CLI and the simulator
server, so every consumer sees the same field names and types Binance sends: decimals as strings
(`fmt`, no exponent), ids and times as ints, flags as JSON booleans. Clients such as ccxt and
python-binance parse these bodies field by field, so a missing field or a number where Binance sends
a string breaks them; extra fields are harmless and kept where Binance still documents them.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..domain.enums import MarginType, OrderStatus, OrderType, PositionSide, Side
from ..domain.fills import Fill
from ..domain.money import ZERO, fmt
from ..domain.orders import AlgoOrder, Order
from ..domain.position import Position
from .liquidation import position_liquidation_price
from .margin import maintenance_margin, max_notional_for_leverage

if TYPE_CHECKING:
    from .engine import ExchangeSimulator

Json = dict[str, Any]

#: Binance's defaults for knobs the simulator does not model (self-trade prevention, price match).
STP_MODE = "EXPIRE_MAKER"
PRICE_MATCH = "NONE"
#: Account alias Binance shows in /fapi/v2/balance (an opaque per-account string).
ACCOUNT_ALIAS = "SgsR"
MARGIN_ASSET = "USDT"


def _num(value: Decimal) -> str:
    """`fmt`, with an unbounded value (no leverage bracket cap) shown as Binance's int64 ceiling."""
    return fmt(value) if value.is_finite() else "9223372036854775807"


# --- orders ---------------------------------------------------------------------------------------
def order_json(order: Order, *, resp_type_result: bool = True) -> Json:
    """§6.1 order object (POST/GET/DELETE /fapi/v1/order, openOrders).

    `resp_type_result=False` renders the ACK answer to a POST: the order as the matching engine
    accepted it (NEW, nothing executed), which is what Binance returns for newOrderRespType=ACK even
    when a MARKET order has already filled.
    """
    executed = order.executed_qty if resp_type_result else ZERO
    body: Json = {
        "orderId": order.order_id,
        "symbol": order.symbol,
        "status": order.status.value if resp_type_result else OrderStatus.NEW.value,
        "clientOrderId": order.client_order_id,
        "price": fmt(order.price),
        "avgPrice": fmt(order.avg_price if resp_type_result else ZERO),
        "origQty": fmt(order.orig_qty),
        "executedQty": fmt(executed),
        "cumQty": fmt(executed),
        "cumQuote": fmt(order.cum_quote if resp_type_result else ZERO),
        "timeInForce": order.time_in_force.value,
        "type": order.type.value,
        "reduceOnly": order.reduce_only,
        "closePosition": order.close_position,
        "side": order.side.value,
        "positionSide": order.position_side.value,
        "stopPrice": fmt(order.stop_price),
        "workingType": order.working_type.value,
        "priceProtect": order.price_protect,
        "origType": order.orig_type.value,
        "priceMatch": PRICE_MATCH,
        "selfTradePreventionMode": STP_MODE,
        "goodTillDate": order.good_till_date,
        "time": order.time,
        "updateTime": order.update_time if resp_type_result else order.time,
    }
    if order.orig_type is OrderType.TRAILING_STOP_MARKET:
        body["activatePrice"] = fmt(order.activate_price or ZERO)
        body["priceRate"] = fmt(order.price_rate or ZERO)
    return body


def spawned_order(algo: AlgoOrder, sim: ExchangeSimulator) -> Order | None:
    """The matching-engine order a triggered algo order placed (`actualOrderId`), if still known."""
    if algo.actual_order_id is None:
        return None
    return sim.state.orders.get(algo.actual_order_id)


def algo_order_json(algo: AlgoOrder, sim: ExchangeSimulator) -> Json:
    """§6.2 algo order: the POST fields plus what GET/openAlgoOrders/allAlgoOrders add.

    `activatePrice`/`callbackRate` are "" for non-trailing orders, as in Binance's POST example;
    `actualPrice` is the spawned order's average fill price ("0" until it fills).
    """
    trailing = algo.order_type is OrderType.TRAILING_STOP_MARKET
    child = spawned_order(algo, sim)
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": algo.order_type.value,
        "symbol": algo.symbol,
        "side": algo.side.value,
        "positionSide": algo.position_side.value,
        "timeInForce": algo.time_in_force.value,
        "quantity": fmt(algo.quantity),
        "algoStatus": algo.status.value,
        "actualOrderId": str(algo.actual_order_id) if algo.actual_order_id is not None else "",
        "actualPrice": fmt(child.avg_price) if child is not None else "0",
        "triggerPrice": fmt(algo.trigger_price),
        "price": fmt(algo.price),
        "icebergQuantity": None,
        "tpTriggerPrice": "0",
        "tpPrice": "0",
        "slTriggerPrice": "0",
        "slPrice": "0",
        "tpOrderType": "",
        "selfTradePreventionMode": STP_MODE,
        "workingType": algo.working_type.value,
        "priceMatch": PRICE_MATCH,
        "closePosition": algo.close_position,
        "priceProtect": algo.price_protect,
        "reduceOnly": algo.reduce_only,
        "activatePrice": fmt(algo.activate_price) if trailing else "",
        "callbackRate": fmt(algo.callback_rate) if trailing else "",
        "createTime": algo.create_time,
        "updateTime": algo.update_time,
        "triggerTime": algo.trigger_time,
        "goodTillDate": algo.good_till_date,
    }


def algo_cancel_json(algo: AlgoOrder) -> Json:
    """§6.2 DELETE /fapi/v1/algoOrder: Binance answers with a status pair, code and msg as strings."""
    return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}


def user_trade_json(fill: Fill) -> Json:
    """§6.10 one row of GET /fapi/v1/userTrades."""
    return {
        "buyer": fill.side is Side.BUY,
        "commission": fmt(fill.commission),
        "commissionAsset": fill.commission_asset,
        "id": fill.trade_id,
        "maker": fill.maker,
        "orderId": fill.order_id,
        "price": fmt(fill.price),
        "qty": fmt(fill.qty),
        "quoteQty": fmt(fill.quote_qty),
        "realizedPnl": fmt(fill.realized_pnl),
        "side": fill.side.value,
        "positionSide": fill.position_side.value,
        "symbol": fill.symbol,
        "time": fill.time,
    }


# --- positions ------------------------------------------------------------------------------------
def _position(sim: ExchangeSimulator, symbol: str, side: PositionSide) -> Position:
    """The account's position, or a flat one with the symbol's settings (never inserted: reads stay pure)."""
    account = sim.account
    found = account.positions.get((symbol, side))
    if found is not None:
        return found
    return Position(symbol, side, leverage=account.leverage_of(symbol), margin_type=account.margin_type_of(symbol))


def _position_sides(sim: ExchangeSimulator) -> tuple[PositionSide, ...]:
    """One-way mode reports one BOTH row per symbol; hedge mode a LONG and a SHORT row."""
    return (PositionSide.LONG, PositionSide.SHORT) if sim.account.dual_side else (PositionSide.BOTH,)


def _position_update_time(sim: ExchangeSimulator, pos: Position) -> int:
    """Time of the position's last fill (Binance: 0 for a symbol never traded)."""
    times = [f.time for f in sim.state.fills if f.symbol == pos.symbol and f.position_side is pos.position_side]
    return max(times, default=pos.update_time)


def _open_order_notional(sim: ExchangeSimulator, symbol: str, side: Side) -> Decimal:
    """Notional of resting orders on one side (Binance's bidNotional / askNotional)."""
    return sum((o.remaining_qty * o.price for o in sim.state.open_orders(symbol) if o.side is side), ZERO)


def _open_order_margin(sim: ExchangeSimulator, symbol: str) -> Decimal:
    """Initial margin held by the symbol's resting exposure-adding LIMIT orders (as the engine counts it)."""
    leverage = Decimal(sim.account.leverage_of(symbol))
    return sum((o.remaining_qty * o.price / leverage for o in sim.state.open_orders(symbol)
                if o.type is OrderType.LIMIT and not o.reduce_only), ZERO)


def _position_figures(sim: ExchangeSimulator, pos: Position) -> Json:
    """The numbers every position shape shares, computed once at the current mark."""
    mark = sim.mark_price(pos.symbol)
    upnl = pos.unrealized_pnl(mark)
    isolated = pos.margin_type is MarginType.ISOLATED
    liq = position_liquidation_price(sim.state, pos) if pos.amount else None
    notional = pos.notional(mark)
    return {
        "mark": mark, "upnl": upnl, "notional": notional, "liq": liq if liq is not None else ZERO,
        "isolated": isolated, "isolated_margin": pos.isolated_wallet + upnl if isolated and pos.amount else ZERO,
        "initial": pos.initial_margin(mark),
        "maint": maintenance_margin(sim.instrument(pos.symbol), abs(notional)) if pos.amount else ZERO,
        "bep": pos.break_even_price(sim.state.fees.rates(pos.symbol).taker),
        "time": _position_update_time(sim, pos),
    }


def position_risk_v2_row(sim: ExchangeSimulator, symbol: str, side: PositionSide = PositionSide.BOTH) -> Json:
    """One row of GET /fapi/v2/positionRisk (§6.3)."""
    pos = _position(sim, symbol, side)
    f = _position_figures(sim, pos)
    leverage = sim.account.leverage_of(symbol)
    return {
        "symbol": symbol,
        "positionAmt": fmt(pos.amount),
        "entryPrice": fmt(pos.entry_price),
        "breakEvenPrice": fmt(f["bep"]),
        "markPrice": fmt(f["mark"]),
        "unRealizedProfit": fmt(f["upnl"]),
        "liquidationPrice": fmt(f["liq"]),
        "leverage": str(leverage),
        "maxNotionalValue": _num(max_notional_for_leverage(sim.instrument(symbol), leverage)),
        "marginType": pos.margin_type.wire_lower,
        "isolatedMargin": fmt(f["isolated_margin"]),
        "isAutoAddMargin": "false",
        "positionSide": side.value,
        "notional": fmt(f["notional"]),
        "isolatedWallet": fmt(pos.isolated_wallet),
        "updateTime": f["time"],
    }


def position_risk_v2(sim: ExchangeSimulator, symbol: str | None = None) -> list[Json]:
    """GET /fapi/v2/positionRisk: every symbol of the instrument table (or the one asked for)."""
    symbols = [symbol] if symbol is not None else sorted(sim.state.instruments)
    return [position_risk_v2_row(sim, s, side) for s in symbols for side in _position_sides(sim)]


def _active_symbols(sim: ExchangeSimulator, symbol: str | None) -> list[str]:
    """Symbols with a position or an open (classic or algo) order: all that v3 endpoints list."""
    state = sim.state
    active = {p.symbol for p in sim.account.open_positions()}
    active |= {o.symbol for o in state.open_orders()} | {a.symbol for a in state.open_algos()}
    return sorted(s for s in active if symbol is None or s == symbol)


def _active_positions(sim: ExchangeSimulator, symbol: str | None) -> Iterator[Position]:
    for s in _active_symbols(sim, symbol):
        for side in _position_sides(sim):
            yield _position(sim, s, side)


def position_risk_v3(sim: ExchangeSimulator, symbol: str | None = None) -> list[Json]:
    """GET /fapi/v3/positionRisk (§6.3): active symbols only, no leverage or marginType fields."""
    rows: list[Json] = []
    for pos in _active_positions(sim, symbol):
        f = _position_figures(sim, pos)
        order_margin = _open_order_margin(sim, pos.symbol)
        rows.append({
            "symbol": pos.symbol,
            "positionSide": pos.position_side.value,
            "positionAmt": fmt(pos.amount),
            "entryPrice": fmt(pos.entry_price),
            "breakEvenPrice": fmt(f["bep"]),
            "markPrice": fmt(f["mark"]),
            "unRealizedProfit": fmt(f["upnl"]),
            "liquidationPrice": fmt(f["liq"]),
            "isolatedMargin": fmt(f["isolated_margin"]),
            "notional": fmt(f["notional"]),
            "marginAsset": MARGIN_ASSET,
            "isolatedWallet": fmt(pos.isolated_wallet),
            "initialMargin": fmt(f["initial"] + order_margin),
            "maintMargin": fmt(f["maint"]),
            "positionInitialMargin": fmt(f["initial"]),
            "openOrderInitialMargin": fmt(order_margin),
            "adl": 0,
            "bidNotional": fmt(_open_order_notional(sim, pos.symbol, Side.BUY)),
            "askNotional": fmt(_open_order_notional(sim, pos.symbol, Side.SELL)),
            "updateTime": f["time"],
        })
    return rows


# --- account and balance --------------------------------------------------------------------------
def _totals(sim: ExchangeSimulator) -> Json:
    """The `total*` block of /fapi/v2/account and v3 (single-asset mode: USDT only, §6.4)."""
    account, state = sim.account, sim.state
    mark_of = state.mark_of
    position_im = account.position_initial_margin(state)
    order_im = state.open_order_margin()
    maint = sum((maintenance_margin(sim.instrument(p.symbol), abs(p.notional(mark_of(p.symbol))))
                 for p in account.open_positions()), ZERO)
    upnl = account.unrealized(state)
    available = sim.available_balance()
    return {
        "totalInitialMargin": fmt(position_im + order_im),
        "totalMaintMargin": fmt(maint),
        "totalWalletBalance": fmt(account.wallet_balance),
        "totalUnrealizedProfit": fmt(upnl),
        "totalMarginBalance": fmt(account.wallet_balance + upnl),
        "totalPositionInitialMargin": fmt(position_im),
        "totalOpenOrderInitialMargin": fmt(order_im),
        "totalCrossWalletBalance": fmt(account.cross_wallet),
        "totalCrossUnPnl": fmt(account.unrealized(state, cross_only=True)),
        "availableBalance": fmt(available),
        "maxWithdrawAmount": fmt(_max_withdraw(sim)),
    }


def _max_withdraw(sim: ExchangeSimulator) -> Decimal:
    return max(min(sim.available_balance(), sim.account.cross_wallet), ZERO)


def _asset(sim: ExchangeSimulator, *, v2: bool) -> Json:
    """The USDT row of `assets[]`; updateTime is never 0 (ccxt skips assets whose updateTime is 0)."""
    totals = _totals(sim)
    body: Json = {
        "asset": MARGIN_ASSET,
        "walletBalance": totals["totalWalletBalance"],
        "unrealizedProfit": totals["totalUnrealizedProfit"],
        "marginBalance": totals["totalMarginBalance"],
        "maintMargin": totals["totalMaintMargin"],
        "initialMargin": totals["totalInitialMargin"],
        "positionInitialMargin": totals["totalPositionInitialMargin"],
        "openOrderInitialMargin": totals["totalOpenOrderInitialMargin"],
        "crossWalletBalance": totals["totalCrossWalletBalance"],
        "crossUnPnl": totals["totalCrossUnPnl"],
        "availableBalance": totals["availableBalance"],
        "maxWithdrawAmount": totals["maxWithdrawAmount"],
        "updateTime": max(sim.now_ms, 1),
    }
    if v2:
        body["marginAvailable"] = True
    return body


def _account_position_v2(sim: ExchangeSimulator, pos: Position) -> Json:
    f = _position_figures(sim, pos)
    leverage = sim.account.leverage_of(pos.symbol)
    order_margin = _open_order_margin(sim, pos.symbol)
    return {
        "symbol": pos.symbol,
        "initialMargin": fmt(f["initial"] + order_margin),
        "maintMargin": fmt(f["maint"]),
        "unrealizedProfit": fmt(f["upnl"]),
        "positionInitialMargin": fmt(f["initial"]),
        "openOrderInitialMargin": fmt(order_margin),
        "leverage": str(leverage),
        "isolated": f["isolated"],
        "entryPrice": fmt(pos.entry_price),
        "maxNotional": _num(max_notional_for_leverage(sim.instrument(pos.symbol), leverage)),
        "bidNotional": fmt(_open_order_notional(sim, pos.symbol, Side.BUY)),
        "askNotional": fmt(_open_order_notional(sim, pos.symbol, Side.SELL)),
        "positionSide": pos.position_side.value,
        "positionAmt": fmt(pos.amount),
        "updateTime": f["time"],
    }


def account_v2(sim: ExchangeSimulator) -> Json:
    """GET /fapi/v2/account (§6.4): flags, totals, the USDT asset and a row for every symbol."""
    positions = [_account_position_v2(sim, _position(sim, s, side))
                 for s in sorted(sim.state.instruments) for side in _position_sides(sim)]
    return {
        "feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True, "canWithdraw": True,
        "updateTime": 0, "multiAssetsMargin": False, "tradeGroupId": -1,
        **_totals(sim),
        "assets": [_asset(sim, v2=True)],
        "positions": positions,
    }


def account_v3(sim: ExchangeSimulator) -> Json:
    """GET /fapi/v3/account (§6.4): totals, assets without marginAvailable, active positions only."""
    positions = []
    for pos in _active_positions(sim, None):
        f = _position_figures(sim, pos)
        positions.append({
            "symbol": pos.symbol, "positionSide": pos.position_side.value, "positionAmt": fmt(pos.amount),
            "unrealizedProfit": fmt(f["upnl"]), "isolatedMargin": fmt(f["isolated_margin"]),
            "notional": fmt(f["notional"]), "isolatedWallet": fmt(pos.isolated_wallet),
            "initialMargin": fmt(f["initial"] + _open_order_margin(sim, pos.symbol)),
            "maintMargin": fmt(f["maint"]), "updateTime": f["time"],
        })
    return {**_totals(sim), "assets": [_asset(sim, v2=False)], "positions": positions}


def balance(sim: ExchangeSimulator) -> list[Json]:
    """GET /fapi/v2/balance and v3 (same shape, §6.4): one row per margin asset (USDT here)."""
    totals = _totals(sim)
    return [{
        "accountAlias": ACCOUNT_ALIAS,
        "asset": MARGIN_ASSET,
        "balance": totals["totalWalletBalance"],
        "crossWalletBalance": totals["totalCrossWalletBalance"],
        "crossUnPnl": totals["totalCrossUnPnl"],
        "availableBalance": totals["availableBalance"],
        "maxWithdrawAmount": totals["maxWithdrawAmount"],
        "marginAvailable": True,
        "updateTime": max(sim.now_ms, 1),
    }]
