"""Binance USDⓈ-M JSON ⇄ domain types: the one translation every adapter shares.

The ccxt adapter parses the raw bodies Binance (or the simulator server) sends, and both adapters
translate user-data-stream events here; so a field that is wrong for one is wrong for both. The
in-process adapter reads its REST answers straight off the simulator's objects instead
(inprocess_snapshots.py), with a test holding them equal to this parser's reading of the simulator
server's shapes. Numbers arrive as strings and become Decimal without passing through float.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, NoReturn, TypeVar

from ..domain.enums import MarginType, OrderType, Side, WorkingType
from ..domain.exchange_types import (
    FUNDING_FEE,
    TRANSFER_INCOME,
    AccountSnapshot,
    BalanceUpdate,
    ExchangeEvent,
    FillUpdate,
    OrderIntent,
    OrderSnapshot,
    OrderUpdate,
    PositionSnapshot,
    PositionUpdate,
    SnapshotStatus,
    WalletUpdate,
)
from ..domain.money import ZERO, fmt, to_decimal

Json = Mapping[str, Any]

#: Wire status to snapshot status. Keyed by the wire strings; the simulator's OrderStatus/AlgoStatus
#: members are StrEnums, so they find the same entries (exchange/inprocess_snapshots.py relies on it).
CLASSIC_STATUS = {
    "NEW": SnapshotStatus.OPEN, "PARTIALLY_FILLED": SnapshotStatus.OPEN, "FILLED": SnapshotStatus.FILLED,
    "CANCELED": SnapshotStatus.CANCELED, "EXPIRED": SnapshotStatus.EXPIRED,
    "EXPIRED_IN_MATCH": SnapshotStatus.EXPIRED, "REJECTED": SnapshotStatus.REJECTED,
}
ALGO_STATUS = {
    "NEW": SnapshotStatus.OPEN, "TRIGGERING": SnapshotStatus.OPEN, "TRIGGERED": SnapshotStatus.TRIGGERED,
    "FINISHED": SnapshotStatus.TRIGGERED, "CANCELED": SnapshotStatus.CANCELED,
    "EXPIRED": SnapshotStatus.EXPIRED, "REJECTED": SnapshotStatus.REJECTED,
}


#: Wire strings to enum members by dict: `Side(raw["side"])` through Enum.__call__ cost more than the
#: parse around it (tens of thousands per backtest). An unknown string still raises as the enum does.
_SIDES = {m.value: m for m in Side}
_ORDER_TYPES = {m.value: m for m in OrderType}
_WORKING_TYPES = {m.value: m for m in WorkingType}


_E = TypeVar("_E", Side, OrderType, WorkingType)


def _member(table: dict[str, _E], kind: type[_E], value: Any) -> _E:
    found = table.get(value) if isinstance(value, str) else None
    return found if found is not None else kind(value)


def _side(value: Any) -> Side:
    return _member(_SIDES, Side, value)


def _order_type(value: Any) -> OrderType:
    return _member(_ORDER_TYPES, OrderType, value)


def _working_type(value: Any) -> WorkingType:
    return _member(_WORKING_TYPES, WorkingType, value or "CONTRACT_PRICE")


def _bool(value: object) -> str:
    return "true" if value else "false"


def intent_params(intent: OrderIntent) -> dict[str, str]:
    """The request parameters Binance expects: `/fapi/v1/order`, or `/fapi/v1/algoOrder` if conditional."""
    params: dict[str, str] = {"symbol": intent.symbol, "side": intent.side.value, "type": intent.type.value,
                              "newOrderRespType": "RESULT"}
    if intent.quantity is not None:
        params["quantity"] = fmt(intent.quantity)
    if intent.price is not None:
        params["price"] = fmt(intent.price)
    if intent.time_in_force is not None:
        params["timeInForce"] = intent.time_in_force.value
    if intent.reduce_only:
        params["reduceOnly"] = "true"
    if not intent.conditional:
        params["newClientOrderId"] = intent.client_id
        return params
    params.update(algoType="CONDITIONAL", clientAlgoId=intent.client_id, workingType=intent.working_type.value,
                  priceProtect=_bool(intent.price_protect))
    if intent.trigger_price is not None:
        params["triggerPrice"] = fmt(intent.trigger_price)
    if intent.close_position:
        params["closePosition"] = "true"
    return params


def _dec(raw: Json, key: str) -> Decimal:
    return _number(raw.get(key), key)


def _number(value: Any, field: str) -> Decimal:
    """A wire number already read: absent (None) or "" is 0, anything else `to_decimal`, which names
    `field` in the ValueError for a bad value. A clean decimal string, nearly every value, is parsed
    here with to_decimal's own first step, saving a call per field (about 90 fields a trade)."""
    if type(value) is str and value:
        try:
            result = Decimal(value)
        except InvalidOperation:
            pass  # to_decimal below says what is wrong with it
        else:
            if result.is_finite():
                return result
    if value is None or value == "":
        return ZERO
    return to_decimal(value, field)


def _optional_price(raw: Json, key: str) -> Decimal | None:
    return _optional_number(raw.get(key), key)


def _optional_number(value: Any, field: str) -> Decimal | None:
    """Binance writes an unset price as "0" (or leaves it out)."""
    number = _number(value, field)
    return number if number != 0 else None


def _flag(raw: Json, key: str) -> bool:
    return _truthy(raw.get(key, False))


def _truthy(value: Any) -> bool:
    """A JSON boolean, or Binance's "true"/"false" as text (None and anything else: False)."""
    return value if isinstance(value, bool) else str(value).lower() == "true"


def _absent(key: str) -> NoReturn:
    """The KeyError a lookup of a missing required field raises."""
    raise KeyError(key)


def order_from_json(raw: Json) -> OrderSnapshot:
    """A classic order object (POST/GET/DELETE /fapi/v1/order, openOrders)."""
    return OrderSnapshot(
        client_id=str(raw["clientOrderId"]), venue_id=str(raw["orderId"]), symbol=str(raw["symbol"]),
        side=_side(raw["side"]), type=_order_type(raw.get("origType") or raw["type"]),
        status=CLASSIC_STATUS[str(raw["status"])], conditional=False,
        quantity=_dec(raw, "origQty"), filled=_dec(raw, "executedQty"), avg_price=_dec(raw, "avgPrice"),
        trigger_price=_optional_price(raw, "stopPrice"), price=_optional_price(raw, "price"),
        reduce_only=_flag(raw, "reduceOnly"), close_position=_flag(raw, "closePosition"),
        working_type=_working_type(raw.get("workingType")),
        update_time=int(raw.get("updateTime") or raw.get("time") or 0),
    )


def algo_from_json(raw: Json, spawned: Json | None = None) -> OrderSnapshot:
    """An algo order object (/fapi/v1/algoOrder, openAlgoOrders); `spawned` is its triggered child, if read."""
    actual = str(raw.get("actualOrderId") or "") or None
    filled = _dec(spawned, "executedQty") if spawned else ZERO
    avg = _dec(spawned, "avgPrice") if spawned else _dec(raw, "actualPrice")
    status = ALGO_STATUS[str(raw["algoStatus"])]
    if spawned is not None and str(spawned.get("status")) == "FILLED":
        status = SnapshotStatus.FILLED
    return OrderSnapshot(
        client_id=str(raw["clientAlgoId"]), venue_id=str(raw["algoId"]), symbol=str(raw["symbol"]),
        side=_side(raw["side"]), type=_order_type(raw.get("orderType") or raw["type"]), status=status,
        conditional=True, quantity=_dec(raw, "quantity"), filled=filled, avg_price=avg,
        trigger_price=_optional_price(raw, "triggerPrice"), price=_optional_price(raw, "price"),
        reduce_only=_flag(raw, "reduceOnly"), close_position=_flag(raw, "closePosition"),
        working_type=_working_type(raw.get("workingType")),
        update_time=int(raw.get("updateTime") or raw.get("createTime") or 0), triggered_order_id=actual,
    )


def position_from_risk(raw: Json) -> PositionSnapshot:
    """A /fapi/v2/positionRisk row (v2 carries leverage and marginType; v3 does not)."""
    liq = _dec(raw, "liquidationPrice")
    margin = str(raw.get("marginType", "cross")).lower()
    return PositionSnapshot(
        symbol=str(raw["symbol"]), amount=_dec(raw, "positionAmt"), entry=_dec(raw, "entryPrice"),
        mark=_dec(raw, "markPrice"), unrealized=_dec(raw, "unRealizedProfit"),
        leverage=int(raw.get("leverage", 0)),
        margin_type=MarginType.ISOLATED if margin == "isolated" else MarginType.CROSSED,
        liquidation_price=liq if liq > 0 else None,
    )


def dual_side_position(raw: Json) -> bool:
    """GET /fapi/v1/positionSide/dual's answer: True in Hedge Mode. Binance sends a JSON boolean; its text
    spelling is read too. Anything else is a ValueError: guessing One-way Mode would let the bot start on an
    account that refuses its every order."""
    value = raw.get("dualSidePosition")
    if isinstance(value, bool):
        return value
    if str(value).lower() in ("true", "false"):
        return str(value).lower() == "true"
    raise ValueError(f"dualSidePosition={value!r}: not a boolean")


def account_from_json(raw: Json) -> AccountSnapshot:
    """/fapi/v2/account (or v3) totals, which are USDT for a USDT-margined account."""
    return AccountSnapshot(wallet=_dec(raw, "totalWalletBalance"), equity=_dec(raw, "totalMarginBalance"),
                           available=_dec(raw, "availableBalance"))


def order_from_stream(o: Json) -> OrderSnapshot:
    """The `o` body of an ORDER_TRADE_UPDATE user-stream event.

    Exactly `order_from_json` of the REST body these stream keys stand for (a bad `q` is reported as
    origQty, as it always was), read straight from the event: no intermediate dict, about 13 events a
    trade. The required keys are read first, in the order that body's construction read them.
    """
    client, venue, symbol, side, kind, status = o["c"], o["i"], o["s"], o["S"], o["o"], o["X"]
    get = o.get
    return OrderSnapshot(
        client_id=str(client), venue_id=str(venue), symbol=str(symbol), side=_side(side),
        type=_order_type(get("ot") or kind), status=CLASSIC_STATUS[str(status)], conditional=False,
        quantity=_number(get("q"), "origQty"), filled=_number(get("z"), "executedQty"),
        avg_price=_number(get("ap"), "avgPrice"), trigger_price=_optional_number(get("sp"), "stopPrice"),
        price=_optional_number(get("p"), "price"), reduce_only=_truthy(get("R")),
        close_position=_truthy(get("cp")), working_type=_working_type(get("wt")), update_time=int(get("T") or 0),
    )


#: Execution types that carry a fill: a trade, and a liquidation's (`CALCULATED`, on an `autoclose-` order).
FILL_EXECUTIONS = frozenset({"TRADE", "CALCULATED"})


def fill_from_stream(o: Json, event_time: int) -> FillUpdate | None:
    """The fill in an ORDER_TRADE_UPDATE with `x: TRADE`, or `x: CALCULATED` with a quantity (the exchange's
    liquidation of the position: without it the trade would close "manual", at the mark, without the
    liquidation fee); None for any other execution type."""
    execution = o.get("x")
    if execution not in FILL_EXECUTIONS or (execution == "CALCULATED" and _number(o.get("l"), "l") == 0):
        return None
    return FillUpdate(fill_id=f"{o['s']}:{o['t']}", symbol=str(o["s"]), client_id=str(o["c"]), side=_side(o["S"]),
                      quantity=_dec(o, "l"), price=_dec(o, "L"),
                      fee=_dec(o, "n") if "n" in o else None, realized_pnl=_dec(o, "rp"), maker=bool(o.get("m")),
                      time_ms=int(o.get("T") or event_time))


def fill_from_user_trade(raw: Json, client_id: str) -> FillUpdate:
    """One row of GET /fapi/v1/userTrades (which does not carry the order's client id: the caller
    finds it); the fill id is the stream's, `<symbol>:<trade id>`, so a fill seen both ways is one."""
    return FillUpdate(fill_id=f"{raw['symbol']}:{raw['id']}", symbol=str(raw["symbol"]), client_id=client_id,
                      side=Side(raw["side"]), quantity=_dec(raw, "qty"), price=_dec(raw, "price"),
                      fee=_dec(raw, "commission") if "commission" in raw else None,
                      realized_pnl=_dec(raw, "realizedPnl"), maker=bool(raw.get("maker")), time_ms=int(raw["time"]))


def balance_from_income(raw: Json) -> BalanceUpdate | None:
    """One income history row as the wallet change the user stream would have told: a transfer of USDT (the reason
    is its income type) or a funding payment (FUNDING_FEE, with its symbol); None for the other kinds (a fill's
    realised P&L and fee, which userTrades tells) and other assets."""
    kind = raw.get("incomeType")
    if (kind != FUNDING_FEE and kind not in TRANSFER_INCOME) or raw.get("asset", "USDT") != "USDT":
        return None
    change = _dec(raw, "income")
    if change == 0:
        return None
    return BalanceUpdate(change=change, reason=str(raw["incomeType"]), symbol=str(raw.get("symbol") or "") or None,
                         time_ms=int(raw["time"]))


def balance_from_account_update(a: Json, event_time: int) -> BalanceUpdate | None:
    """Wallet changes not caused by a fill (funding, ...) from an ACCOUNT_UPDATE's `B` rows."""
    reason = str(a.get("m", ""))
    if reason == "ORDER":
        return None
    change = sum((_dec(row, "bc") for row in a.get("B", []) if row.get("a", "USDT") == "USDT"), ZERO)
    if change == 0:
        return None
    symbol = a.get("S") or (a["P"][0]["s"] if len(a.get("P", [])) == 1 else None)
    return BalanceUpdate(change=change, reason=reason, symbol=str(symbol) if symbol else None, time_ms=event_time)


def wallet_from_account_update(a: Json, event_time: int) -> WalletUpdate | None:
    """The USDT wallet after an ACCOUNT_UPDATE (its `B` row's `wb`, and `cw` when sent), whatever the reason;
    None without one."""
    row = next((row for row in a.get("B", []) if row.get("a", "USDT") == "USDT" and "wb" in row), None)
    if row is None:
        return None
    return WalletUpdate(wallet=_dec(row, "wb"), time_ms=event_time,
                        cross_wallet=_dec(row, "cw") if "cw" in row else None)


def algo_from_stream(o: Json, event_time: int) -> OrderSnapshot:
    """The `o` body of an ALGO_UPDATE user-stream event (`aq`/`ap`: the spawned order's fill).

    Exactly `algo_from_json` of the REST body these keys stand for, with `aq` (if not 0) as the fill,
    read straight from the event in the same order (so the same bad field is the one reported).
    """
    client, venue, symbol, side, kind, status = o["caid"], o["aid"], o["s"], o["S"], o["o"], o["X"]
    get = o.get
    actual = str(get("ai") or "") or None
    avg = _number(get("ap"), "actualPrice")
    snapshot_status = ALGO_STATUS[str(status)]
    client_id, venue_id, symbol_name, order_side = str(client), str(venue), str(symbol), _side(side)
    order_type = _order_type(kind) if kind else _absent("type")  # the REST body's fallback key
    quantity = _number(get("q"), "quantity")
    trigger, price = _optional_number(get("tp"), "triggerPrice"), _optional_number(get("p"), "price")
    reduce_only, close_position = _truthy(get("R")), _truthy(get("cp"))
    working_type, update_time = _working_type(get("wt")), int(event_time or 0)
    filled = _dec(o, "aq")
    return OrderSnapshot(
        client_id=client_id, venue_id=venue_id, symbol=symbol_name, side=order_side, type=order_type,
        status=snapshot_status, conditional=True, quantity=quantity, filled=filled if filled != 0 else ZERO,
        avg_price=avg, trigger_price=trigger, price=price, reduce_only=reduce_only, close_position=close_position,
        working_type=working_type, update_time=update_time, triggered_order_id=actual,
    )


def position_from_stream(row: Json, *, mark: Decimal, leverage: int, liquidation: Decimal | None) -> PositionSnapshot:
    """An ACCOUNT_UPDATE position row (`pa`, `ep`, `up`, `mt`): the position as of the event, not as of
    now; the stream omits mark, leverage and liquidation price, so the caller supplies its latest."""
    symbol, amount, entry, unrealized = row["s"], row["pa"], row["ep"], row["up"]
    liq = _number(liquidation if liquidation is not None else 0, "liquidationPrice")
    margin = str(row.get("mt", "cross")).lower()
    return PositionSnapshot(  # position_from_risk of the v2 row these keys stand for, without building it
        symbol=str(symbol), amount=_number(amount, "positionAmt"), entry=_number(entry, "entryPrice"),
        mark=_number(mark, "markPrice"), unrealized=_number(unrealized, "unRealizedProfit"), leverage=int(leverage),
        margin_type=MarginType.ISOLATED if margin == "isolated" else MarginType.CROSSED,
        liquidation_price=liq if liq > 0 else None,
    )


def user_events(event: Json, position_at: Callable[[Json], PositionSnapshot]) -> list[ExchangeEvent]:
    """One user-data stream event as the port's events (fill before its order update; an ACCOUNT_UPDATE's balance
    change and wallet before its positions; [] for other kinds).

    `position_at` completes an ACCOUNT_UPDATE position row with what the stream omits (mark, leverage,
    liquidation price) from what the adapter knows. A FUNDING_FEE update moves margin, not the position
    (amount, entry), so it yields only the balance change, as a REST reading would see it.
    """
    kind = event.get("e")
    if kind == "ORDER_TRADE_UPDATE":
        update: ExchangeEvent = OrderUpdate(order_from_stream(event["o"]), str(event["o"]["x"]))
        fill = fill_from_stream(event["o"], int(event["E"]))
        return [update] if fill is None else [fill, update]
    if kind == "ALGO_UPDATE":
        return [OrderUpdate(algo_from_stream(event["o"], int(event["E"])), str(event["o"]["X"]))]
    if kind == "ACCOUNT_UPDATE":
        reason, at = str(event["a"]["m"]), int(event["E"])
        account: list[ExchangeEvent] = [e for e in (balance_from_account_update(event["a"], at),
                                                    wallet_from_account_update(event["a"], at)) if e is not None]
        if reason == FUNDING_FEE:
            return account
        return [*account, *(PositionUpdate(position_at(row), reason) for row in event["a"].get("P", []))]
    return []
