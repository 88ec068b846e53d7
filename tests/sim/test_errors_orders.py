"""Binance's refusals, one row per (endpoint, rule): exact code, exact message, and no state change.

Sources are the sections of shared/binance_futures.md named in each block. Every row runs on a fresh
`sim` (BNBUSDT last = mark = 600, BTCUSDT 100 000, ETHUSDT 2 500, wallet 10 000, one-way, cross,
leverage 20); `setup` prepares the account and may return extra request parameters (e.g. the id of
an order it placed). The request must raise `ExchangeError(code, msg)` and leave `snapshot(sim)`
exactly as it was after setup.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from typing import Any

import pytest
from conftest import (
    algo,
    limit,
    long,
    market,
    px,
    rejects,
    snapshot,
)

from quantum_trader.domain.errors import ExchangeError
from quantum_trader.sim.engine import ExchangeSimulator

Setup = Callable[[ExchangeSimulator], dict[str, Any] | None]

# --- base requests ----------------------------------------------------------------------------------
MKT = {"symbol": "BNBUSDT", "side": "BUY", "type": "MARKET", "quantity": "1"}
LMT = {"symbol": "BNBUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", "price": "590"}
SM = {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "STOP_MARKET",
      "triggerPrice": "590", "quantity": "1"}
TPM = {**SM, "type": "TAKE_PROFIT_MARKET", "triggerPrice": "610"}
STP = {**SM, "type": "STOP", "price": "589"}
TP = {**SM, "type": "TAKE_PROFIT", "triggerPrice": "610", "price": "611"}
TRL = {"algoType": "CONDITIONAL", "symbol": "BNBUSDT", "side": "SELL", "type": "TRAILING_STOP_MARKET",
       "quantity": "1", "callbackRate": "1"}


def w(base: dict[str, str], **changes: str | None) -> dict[str, str]:
    """`base` with `changes` applied; a None value removes the key."""
    out = {**base, **{k: v for k, v in changes.items() if v is not None}}
    for k, v in changes.items():
        if v is None:
            out.pop(k, None)
    return out


def mandatory(name: str) -> str:
    return f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."


def not_required(name: str) -> str:
    return f"Parameter '{name}' sent when not required."


def min_notional(value: str) -> str:
    return f"Order's notional must be no smaller than {value} (unless you choose reduce only)."


M1111 = "Precision is over the maximum defined for this asset."
M1116 = "Invalid orderType."
M2011 = "Unknown order sent."
M2013 = "Order does not exist."
M2019 = "Margin is insufficient."
M2021 = "Order would immediately trigger."
M2022 = "ReduceOnly Order is rejected."
M4003 = "Quantity less than or equal to zero."
M4014 = "Price not increased by tick size."
M4015 = "Client order id is not valid."
M4061 = "Order's position side does not match user's setting."
M4116 = "ClientOrderId is duplicated."
M4120 = "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."
M4131 = "The counterparty's best price does not meet the PERCENT_PRICE filter limit"
M4130 = "An open stop or take profit order with GTE and closePosition in the direction is existing."


# --- setups -------------------------------------------------------------------------------------------
def no_setup(sim: ExchangeSimulator) -> None:
    return None


def long_bnb(sim: ExchangeSimulator) -> None:
    long(sim, "BNBUSDT", "1", "600")


def long_btc(sim: ExchangeSimulator) -> None:
    long(sim, "BTCUSDT", "0.002", "100000")


def hedge(sim: ExchangeSimulator) -> None:
    sim.set_position_mode(True)


def prices(symbol: str, last: str, mark: str) -> Setup:
    def setup(sim: ExchangeSimulator) -> None:
        px(sim, symbol, last, mark)
    return setup


def resting_limit(client_id: str | None = None) -> Setup:
    def setup(sim: ExchangeSimulator) -> dict[str, Any]:
        o = limit(sim, "BUY", "1", "590", newClientOrderId=client_id)
        return {"order_id": o.order_id, "algo_id": o.order_id}
    return setup


def resting_algo(client_id: str | None = None) -> Setup:
    def setup(sim: ExchangeSimulator) -> dict[str, Any]:
        a = algo(sim, side="SELL", triggerPrice="590", quantity="1", clientAlgoId=client_id)
        return {"order_id": a.algo_id, "algo_id": a.algo_id}
    return setup


def close_position_stop(sim: ExchangeSimulator) -> None:
    long_bnb(sim)
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)


def close_position_tp(sim: ExchangeSimulator) -> None:
    long_bnb(sim)
    algo(sim, type="TAKE_PROFIT_MARKET", side="SELL", triggerPrice="620", closePosition=True)


def filled_market(sim: ExchangeSimulator) -> dict[str, Any]:
    return {"order_id": market(sim, "BUY", "1").order_id}


def canceled_limit(sim: ExchangeSimulator) -> dict[str, Any]:
    o = limit(sim, "BUY", "1", "590")
    sim.cancel_order("BNBUSDT", o.order_id)
    return {"order_id": o.order_id}


def max_algos(sim: ExchangeSimulator) -> None:
    for i in range(sim.instrument("BNBUSDT").max_num_algo_orders):
        algo(sim, side="SELL", triggerPrice=str(590 - i), quantity="1")


def max_orders(sim: ExchangeSimulator) -> None:
    for i in range(sim.instrument("BNBUSDT").max_num_orders):
        limit(sim, "BUY", "0.01", f"{590 - i * 0.01:.2f}")


def hedge_long(sim: ExchangeSimulator) -> None:
    sim.set_position_mode(True)
    market(sim, "BUY", "1", positionSide="LONG")


def algos_and_orders(sim: ExchangeSimulator) -> None:
    """MAX_NUM_ORDERS counts normal and algo orders: 10 algo + 190 limit = 200 open."""
    max_algos(sim)
    for i in range(sim.instrument("BNBUSDT").max_num_orders - sim.instrument("BNBUSDT").max_num_algo_orders):
        limit(sim, "BUY", "0.01", f"{590 - i * 0.01:.2f}")


def isolated(symbol: str) -> Setup:
    def setup(sim: ExchangeSimulator) -> None:
        sim.set_margin_type(symbol, "ISOLATED")
    return setup


# --- endpoints ----------------------------------------------------------------------------------------
ENDPOINTS: dict[str, Callable[[ExchangeSimulator, dict[str, Any]], Any]] = {
    "order": lambda sim, p: sim.new_order(p),
    "algo": lambda sim, p: sim.new_algo_order(p),
    "cancel": lambda sim, p: sim.cancel_order(p["symbol"], p.get("order_id"), p.get("client_order_id")),
    "cancel_algo": lambda sim, p: sim.cancel_algo_order(p.get("algo_id"), p.get("client_algo_id")),
    "query": lambda sim, p: sim.query_order(p["symbol"], p.get("order_id"), p.get("client_order_id")),
    "query_algo": lambda sim, p: sim.query_algo_order(p.get("algo_id"), p.get("client_algo_id")),
    "margin_type": lambda sim, p: sim.set_margin_type(p["symbol"], p["marginType"]),
    "position_mode": lambda sim, p: sim.set_position_mode(p["dualSidePosition"] == "true"),
    "leverage": lambda sim, p: sim.set_leverage(p["symbol"], int(p["leverage"])),
}


def row(endpoint: str, params: dict[str, Any], code: int, msg: str, *, setup: Setup = no_setup,
        id: str, marks: Any = ()) -> Any:
    return pytest.param(endpoint, params, setup, code, msg, id=id, marks=marks)


CONDITIONAL_ON_CLASSIC = {
    "STOP": {**LMT, "type": "STOP", "stopPrice": "610", "price": "611"},
    "STOP_MARKET": {**MKT, "type": "STOP_MARKET", "stopPrice": "610"},
    "TAKE_PROFIT": {**LMT, "type": "TAKE_PROFIT", "stopPrice": "590", "price": "589"},
    "TAKE_PROFIT_MARKET": {**MKT, "type": "TAKE_PROFIT_MARKET", "stopPrice": "590"},
    "TRAILING_STOP_MARKET": {**MKT, "type": "TRAILING_STOP_MARKET", "callbackRate": "1"},
}
SPOT_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER", "BANANA", "OCO")

ROWS = [
    # §1.4: types outside the 7-value futures enum are -1116 on both endpoints, before anything else.
    *[row("order", w(LMT, type=t, stopPrice="610"), -1116, M1116, id=f"1116-order-{t}") for t in SPOT_TYPES],
    *[row("algo", w(SM, type=t, price="589"), -1116, M1116, id=f"1116-algo-{t}") for t in SPOT_TYPES],
    # §1.3: the five conditional types are refused by /fapi/v1/order since 2025-12-09.
    *[row("order", p, -4120, M4120, id=f"4120-{t}") for t, p in CONDITIONAL_ON_CLASSIC.items()],
    # §1.2/§1.3/§4.2: mandatory parameters, named in the message.
    row("order", w(MKT, symbol=None), -1102, mandatory("symbol"), id="1102-order-symbol"),
    row("order", w(MKT, symbol=""), -1102, mandatory("symbol"), id="1102-order-symbol-empty"),
    row("order", w(MKT, side=None), -1102, mandatory("side"), id="1102-order-side"),
    row("order", w(MKT, type=None), -1102, mandatory("type"), id="1102-order-type"),
    row("order", w(MKT, quantity=None), -1102, mandatory("quantity"), id="1102-market-quantity"),
    row("order", w(LMT, quantity=None), -1102, mandatory("quantity"), id="1102-limit-quantity"),
    row("order", w(LMT, price=None), -1102, mandatory("price"), id="1102-limit-price"),
    row("order", w(LMT, timeInForce=None), -1102, mandatory("timeInForce"), id="1102-limit-timeInForce"),
    row("algo", w(SM, algoType=None), -1102, mandatory("algoType"), id="1102-algo-algoType"),
    row("algo", w(SM, symbol=None), -1102, mandatory("symbol"), id="1102-algo-symbol"),
    row("algo", w(SM, side=None), -1102, mandatory("side"), id="1102-algo-side"),
    row("algo", w(SM, type=None), -1102, mandatory("type"), id="1102-algo-type"),
    row("algo", w(SM, triggerPrice=None), -1102, mandatory("triggerPrice"), id="1102-stop-market-triggerPrice"),
    row("algo", w(TPM, triggerPrice=None), -1102, mandatory("triggerPrice"), id="1102-tp-market-triggerPrice"),
    row("algo", w(STP, triggerPrice=None), -1102, mandatory("triggerPrice"), id="1102-stop-triggerPrice"),
    row("algo", w(STP, price=None), -1102, mandatory("price"), id="1102-stop-price"),
    row("algo", w(TP, price=None), -1102, mandatory("price"), id="1102-take-profit-price"),
    row("algo", w(SM, quantity=None), -1102, mandatory("quantity"), id="1102-stop-market-quantity"),
    row("algo", w(TRL, callbackRate=None), -1102, mandatory("callbackRate"), id="1102-trailing-callbackRate"),
    # Enum values (§2.3, §3.5, §4.2).
    row("order", w(MKT, side="HOLD"), -1117, "Invalid side.", id="1117-order-side"),
    row("algo", w(SM, side="LONG"), -1117, "Invalid side.", id="1117-algo-side"),
    row("order", w(LMT, timeInForce="DAY"), -1115, "Invalid timeInForce.", id="1115-order-tif"),
    row("algo", w(STP, timeInForce="GTT"), -1115, "Invalid timeInForce.", id="1115-algo-tif"),
    row("algo", w(SM, workingType="LAST_PRICE"), -4031, "Invalid parameter working type", id="4031-workingType"),
    row("order", w(MKT, symbol="FOOUSDT"), -1121, "Invalid symbol.", id="1121-order"),
    row("algo", w(SM, symbol="FOOUSDT"), -1121, "Invalid symbol.", id="1121-algo"),
    # §4.1 precision first: more decimals than pricePrecision (BNB 3, BTC 2) / quantityPrecision (BNB 2).
    row("order", w(LMT, price="590.0001"), -1111, M1111, id="1111-limit-price"),
    row("order", w(LMT, symbol="BTCUSDT", price="99000.001", quantity="0.002"), -1111, M1111,
        id="1111-btc-price"),
    row("order", w(MKT, quantity="1.001"), -1111, M1111, id="1111-market-qty"),
    row("order", w(LMT, quantity="0.001"), -1111, M1111, id="1111-limit-qty-below-precision"),
    row("algo", w(SM, triggerPrice="590.0001"), -1111, M1111, id="1111-algo-triggerPrice"),
    # §4.1 PRICE_FILTER grid: right precision, off the 0.010 / 0.10 tick.
    row("order", w(LMT, price="590.005"), -4014, M4014, id="4014-bnb-price"),
    row("order", w(LMT, symbol="BTCUSDT", price="99000.05", quantity="0.002"), -4014, M4014, id="4014-btc-price"),
    row("algo", w(SM, triggerPrice="590.005"), -4014, M4014, id="4014-algo-triggerPrice"),
    row("algo", w(STP, price="589.005"), -4014, M4014, id="4014-stop-limit-price"),
    # §4.1 LOT_SIZE grid and range (LOTTESTUSDT: min 0.05, step 0.05; BNB LOT max 100000, MARKET_LOT max 2000).
    row("order", w(LMT, symbol="LOTTESTUSDT", quantity="0.07"), -4023, "Qty not increased by step size.",
        id="4023-limit-qty"),
    row("order", w(MKT, symbol="LOTTESTUSDT", quantity="1.12"), -4023, "Qty not increased by step size.",
        id="4023-market-qty"),
    row("order", w(MKT, quantity="0"), -4003, M4003, id="4003-zero"),
    row("order", w(MKT, quantity="-1"), -1100,  # a sign is outside Binance's pattern: -1100 before -4003
        "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
        id="1100-negative"),
    row("order", w(LMT, quantity="0.00"), -4003, M4003, id="4003-limit-zero"),
    row("algo", w(SM, quantity="0"), -4003, M4003, id="4003-algo-zero"),
    row("order", w(LMT, symbol="LOTTESTUSDT", quantity="0.03"), -4004, "Quantity less than min quantity.",
        id="4004-limit-below-min"),
    row("order", w(MKT, symbol="LOTTESTUSDT", quantity="0.04"), -4004, "Quantity less than min quantity.",
        id="4004-market-below-min"),
    row("order", w(LMT, quantity="100000.01"), -4005, "Quantity greater than max quantity.",
        id="4005-limit-above-LOT_SIZE-max"),
    row("order", w(MKT, quantity="2000.01"), -4005, "Quantity greater than max quantity.",
        id="4005-market-above-MARKET_LOT_SIZE-max"),
    # ...and MARKET_LOT_SIZE does not apply to a LIMIT: 2000.01 passes the filter, then fails margin.
    row("order", w(LMT, quantity="2000.01"), -2019, M2019, id="limit-above-MARKET_LOT_SIZE-is-not-4005"),
    # §4.1 PRICE_FILTER range (BNB 6.600 .. 100000); stop prices have their own codes.
    row("order", w(LMT, price="6.59"), -4013, "Price less than min price.", id="4013-price-below-min"),
    row("order", w(LMT, side="SELL", price="100000.01"), -4002, "Price greater than max price.",
        id="4002-price-above-max"),
    row("algo", w(SM, triggerPrice="6.59"), -4006, "Stop price less than min price.", id="4006-trigger-below-min"),
    row("algo", w(SM, side="BUY", triggerPrice="100000.01"), -4007, "Stop price greater than max price.",
        id="4007-trigger-above-max"),
    # §4.1 MIN_NOTIONAL: LIMIT uses its price, MARKET the mark.
    row("order", w(LMT, quantity="0.01", price="400"), -4164, min_notional("5"), id="4164-bnb-limit"),
    row("order", w(LMT, symbol="BTCUSDT", quantity="0.001", price="99000"), -4164, min_notional("100"),
        id="4164-btc-limit"),
    row("order", w(MKT, symbol="BTCUSDT", quantity="0.001"), -4164, min_notional("100"),
        setup=prices("BTCUSDT", "100500", "99000"), id="4164-btc-market-uses-mark"),
    row("order", w(MKT, side="SELL", symbol="BTCUSDT", quantity="0.001", reduceOnly="false"), -4164,
        min_notional("100"), setup=prices("BTCUSDT", "100500", "99000"), id="4164-reduceOnly-false-not-exempt"),
    # §4.1 PERCENT_PRICE: against the mark (last 620, mark 600: cap 630, floor 570).
    row("order", w(LMT, price="630.01"), -4016, "Price is higher than mark price multiplier cap.",
        setup=prices("BNBUSDT", "620", "600"), id="4016-buy-above-cap"),
    row("order", w(LMT, side="SELL", price="569.99"), -4024, "Price is lower than mark price multiplier floor.",
        setup=prices("BNBUSDT", "560", "600"), id="4024-sell-below-floor"),
    # §4.1/§4.2 PERCENT_PRICE on MARKET orders: the counterparty's price is beyond mark × [down, up].
    row("order", MKT, -4131, M4131, setup=prices("BNBUSDT", "640", "600"), id="4131-market-buy-beyond-cap"),
    row("order", w(MKT, side="SELL"), -4131, M4131, setup=prices("BNBUSDT", "560", "600"),
        id="4131-market-sell-beyond-floor"),
    # §8.4 margin.
    row("order", w(MKT, quantity="1000"), -2019, M2019, id="2019-market"),
    # open loss: 200 × 630 / 20 = 6 300 of initial margin fits, + 200 × (630 − 600) = 6 000 of open loss does not
    row("order", w(LMT, quantity="200", price="630"), -2019, M2019, id="2019-open-loss-of-limit-above-mark"),
    row("order", w(LMT, quantity="400"), -2019, M2019, id="2019-limit"),
    # 338 × 590 / 20 = 9 971 > 10 000 − 29.5 held by the resting 1 @ 590 (accepted without it, see below).
    row("order", w(LMT, quantity="338"), -2019, M2019, setup=resting_limit(), id="2019-limit-counts-open-orders"),
    # §2.2 -2021: a trigger whose condition already holds is refused (last = mark = 600).
    row("algo", w(SM, side="BUY", triggerPrice="599"), -2021, M2021, id="2021-stop-buy-below-last"),
    row("algo", w(SM, side="BUY", triggerPrice="600"), -2021, M2021, id="2021-stop-buy-at-last"),
    row("algo", w(SM, side="SELL", triggerPrice="601"), -2021, M2021, id="2021-stop-sell-above-last"),
    row("algo", w(SM, side="SELL", triggerPrice="600"), -2021, M2021, id="2021-stop-sell-at-last"),
    row("algo", w(TPM, side="BUY", triggerPrice="601"), -2021, M2021, id="2021-tp-buy-above-last"),
    row("algo", w(TPM, side="SELL", triggerPrice="599"), -2021, M2021, id="2021-tp-sell-below-last"),
    row("algo", w(STP, side="BUY", triggerPrice="599", price="599"), -2021, M2021, id="2021-stop-limit-buy"),
    row("algo", w(TP, side="SELL", triggerPrice="599", price="599"), -2021, M2021, id="2021-take-profit-limit-sell"),
    row("algo", w(SM, side="BUY", triggerPrice="610", workingType="MARK_PRICE"), -2021, M2021,
        setup=prices("BNBUSDT", "600", "620"), id="2021-stop-buy-mark-above-trigger"),
    row("algo", w(SM, side="SELL", triggerPrice="590", workingType="MARK_PRICE"), -2021, M2021,
        setup=prices("BNBUSDT", "600", "580"), id="2021-stop-sell-mark-below-trigger"),
    row("algo", w(TPM, side="SELL", triggerPrice="610", workingType="MARK_PRICE"), -2021, M2021,
        setup=prices("BNBUSDT", "600", "615"), id="2021-tp-sell-mark-above-trigger"),
    row("algo", w(SM, side="SELL", triggerPrice="590", workingType="MARK_PRICE"), -2021, M2021,
        setup=prices("BNBUSDT", "600", "590.009"), id="2021-stop-sell-mark-truncated-to-tick"),
    row("algo", w(TRL, side="SELL", activatePrice="599"), -2021, M2021, id="2021-trailing-sell-activation-below"),
    row("algo", w(TRL, side="BUY", activatePrice="601"), -2021, M2021, id="2021-trailing-buy-activation-above"),
    row("algo", w(TRL, side="SELL", activatePrice="610", workingType="MARK_PRICE"), -2021, M2021,
        setup=prices("BNBUSDT", "600", "612"), id="2021-trailing-sell-activation-vs-mark"),
    # §3.2 reduceOnly that would increase exposure.
    row("order", w(MKT, side="SELL", reduceOnly="true"), -2022, M2022, id="2022-no-position"),
    row("order", w(LMT, side="SELL", price="610", reduceOnly="true"), -2022, M2022, id="2022-limit-no-position"),
    row("order", w(MKT, side="BUY", reduceOnly="true"), -2022, M2022, setup=long_bnb, id="2022-same-side-as-long"),
    # §3.1 one closePosition stop per direction; closePosition excludes quantity / reduceOnly / limit types.
    row("algo", w(SM, quantity=None, triggerPrice="580", closePosition="true"), -4130, M4130,
        setup=close_position_stop, id="4130-second-close-position-stop"),
    row("algo", w(TPM, quantity=None, triggerPrice="630", closePosition="true"), -4130, M4130,
        setup=close_position_tp, id="4130-second-close-position-take-profit"),
    row("algo", w(SM, closePosition="true"), -4137, "Quantity must be zero with closePosition equals true",
        setup=long_bnb, id="4137-close-position-with-quantity"),
    row("algo", w(STP, quantity=None, closePosition="true"), -1106, not_required("closePosition"),
        setup=long_bnb, id="1106-close-position-on-STOP"),
    row("algo", w(TP, quantity=None, closePosition="true"), -1106, not_required("closePosition"),
        setup=long_bnb, id="1106-close-position-on-TAKE_PROFIT"),
    row("algo", w(TRL, quantity=None, closePosition="true"), -1106, not_required("closePosition"),
        setup=long_bnb, id="1106-close-position-on-TRAILING"),
    row("algo", w(SM, quantity=None, closePosition="true", reduceOnly="true"), -1106, not_required("reduceOnly"),
        setup=long_bnb, id="1106-close-position-with-reduceOnly"),
    row("order", w(MKT, side="SELL", closePosition="true"), -1106, not_required("closePosition"),
        setup=long_bnb, id="1106-close-position-on-classic-endpoint"),
    # §3.2/§3.3 hedge mode: reduceOnly not allowed, positionSide required.
    row("order", w(MKT, side="SELL", positionSide="LONG", reduceOnly="true"), -1106, not_required("reduceOnly"),
        setup=hedge, id="1106-reduceOnly-in-hedge-mode"),
    row("algo", w(SM, positionSide="LONG", reduceOnly="true"), -1106, not_required("reduceOnly"),
        setup=hedge, id="1106-algo-reduceOnly-in-hedge-mode"),
    row("order", w(MKT, positionSide="LONG"), -4061, M4061, id="4061-LONG-in-one-way"),
    row("order", w(MKT, positionSide="SHORT"), -4061, M4061, id="4061-SHORT-in-one-way"),
    row("order", MKT, -4061, M4061, setup=hedge, id="4061-none-in-hedge"),
    row("order", w(MKT, positionSide="BOTH"), -4061, M4061, setup=hedge, id="4061-BOTH-in-hedge"),
    row("algo", w(SM, positionSide="LONG"), -4061, M4061, id="4061-algo-LONG-in-one-way"),
    row("algo", SM, -4061, M4061, setup=hedge, id="4061-algo-none-in-hedge"),
    row("algo", w(SM, side="BUY", triggerPrice="610", quantity=None, closePosition="true", positionSide="LONG"),
        -1106, not_required("closePosition"), setup=hedge_long, id="1106-close-position-BUY-LONG-in-hedge"),
    # §3.4 client ids.
    row("order", w(LMT, newClientOrderId="x" * 37), -4015, M4015, id="4015-37-chars"),
    row("order", w(LMT, newClientOrderId="bad id"), -4015, M4015, id="4015-space"),
    row("order", w(LMT, newClientOrderId="a#b"), -4015, M4015, id="4015-hash"),
    row("order", w(LMT, newClientOrderId="é"), -4015, M4015, id="4015-non-ascii"),
    row("algo", w(SM, clientAlgoId="y" * 37), -4015, M4015, id="4015-algo-37-chars"),
    row("algo", w(SM, clientAlgoId="sl+1"), -4015, M4015, id="4015-algo-plus"),
    row("order", w(LMT, newClientOrderId="dup-1"), -4116, M4116, setup=resting_limit("dup-1"), id="4116-order"),
    row("algo", w(SM, clientAlgoId="sl-1", triggerPrice="580"), -4116, M4116, setup=resting_algo("sl-1"),
        id="4116-algo"),
    # §3.5 timeInForce FOK / GTX (last 600: best ask just above 600, best bid just below).
    row("order", w(LMT, timeInForce="FOK", price="599"), -5021,
        "Due to the order could not be filled immediately, the FOK order has been rejected.", id="5021-fok-no-cross"),
    row("order", w(LMT, timeInForce="GTX", price="601"), -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.", id="5022-gtx-buy"),
    row("order", w(LMT, side="SELL", timeInForce="GTX", price="599"), -5022,
        "Due to the order could not be executed as maker, the Post Only order will be rejected.", id="5022-gtx-sell"),
    # §4.1 MAX_NUM_ALGO_ORDERS / MAX_NUM_ORDERS.
    row("algo", w(SM, triggerPrice="500"), -4045, "Reach max stop order limit.", setup=max_algos, id="4045"),
    row("order", w(LMT, quantity="0.01", price="500"), -2025, "Reach max open order limit.", setup=max_orders,
        id="2025"),
    row("order", w(LMT, quantity="0.01", price="500"), -2025, "Reach max open order limit.",
        setup=algos_and_orders, id="2025-counts-algo-orders"),
    # §6.1/§6.2 cancel and query.
    row("cancel", {"symbol": "BNBUSDT", "order_id": 123}, -2011, M2011, id="2011-cancel-unknown"),
    row("cancel", {"symbol": "BNBUSDT"}, -2011, M2011, setup=filled_market, id="2011-cancel-filled"),
    row("cancel", {"symbol": "BNBUSDT"}, -2011, M2011, setup=canceled_limit, id="2011-cancel-twice"),
    row("cancel", {"symbol": "ETHUSDT"}, -2011, M2011, setup=resting_limit(), id="2011-cancel-wrong-symbol"),
    row("cancel", {"symbol": "BNBUSDT", "client_order_id": "nope"}, -2011, M2011, id="2011-cancel-unknown-client-id"),
    row("cancel", {"symbol": "BNBUSDT"}, -2011, M2011, setup=resting_algo(), id="2011-cancel-algo-via-order-api"),
    row("cancel_algo", {"algo_id": 42}, -2011, M2011, id="2011-cancel-algo-unknown"),
    row("cancel_algo", {}, -2011, M2011, setup=resting_limit(), id="2011-cancel-order-via-algo-api"),
    row("query", {"symbol": "BNBUSDT", "order_id": 123}, -2013, M2013, id="2013-query-unknown"),
    row("query", {"symbol": "BNBUSDT"}, -2013, M2013, setup=resting_algo(), id="2013-query-algo-via-order-api"),
    row("query_algo", {"algo_id": 42}, -2013, M2013, id="2013-query-algo-unknown"),
    # §6.9 margin type, §3.3 position mode, leverage.
    row("margin_type", {"symbol": "BNBUSDT", "marginType": "CROSSED"}, -4046, "No need to change margin type.",
        id="4046-crossed"),
    row("margin_type", {"symbol": "BNBUSDT", "marginType": "ISOLATED"}, -4046, "No need to change margin type.",
        setup=isolated("BNBUSDT"), id="4046-isolated"),
    row("margin_type", {"symbol": "BNBUSDT", "marginType": "ISOLATED"}, -4047,
        "Margin type cannot be changed if there exists open orders.", setup=resting_limit(), id="4047-open-order"),
    row("margin_type", {"symbol": "BNBUSDT", "marginType": "ISOLATED"}, -4047,
        "Margin type cannot be changed if there exists open orders.", setup=resting_algo(), id="4047-open-algo"),
    row("margin_type", {"symbol": "BNBUSDT", "marginType": "ISOLATED"}, -4048,
        "Margin type cannot be changed if there exists position.", setup=long_bnb, id="4048-position"),
    row("position_mode", {"dualSidePosition": "false"}, -4059, "No need to change position side.", id="4059"),
    row("position_mode", {"dualSidePosition": "true"}, -4067,
        "Position side cannot be changed if there exists open orders.", setup=resting_limit(), id="4067-order"),
    row("position_mode", {"dualSidePosition": "true"}, -4067,
        "Position side cannot be changed if there exists open orders.", setup=resting_algo(), id="4067-algo"),
    row("position_mode", {"dualSidePosition": "true"}, -4068,
        "Position side cannot be changed if there exists position.", setup=long_btc, id="4068-position"),
    row("leverage", {"symbol": "BNBUSDT", "leverage": "0"}, -4028, "Leverage 0 is not valid", id="4028-zero"),
    row("leverage", {"symbol": "BNBUSDT", "leverage": "76"}, -4028, "Leverage 76 is not valid", id="4028-bnb-76"),
    row("leverage", {"symbol": "BTCUSDT", "leverage": "126"}, -4028, "Leverage 126 is not valid", id="4028-btc-126"),
]


@pytest.mark.parametrize(("endpoint", "params", "setup", "code", "msg"), ROWS)
def test_rejected_with_exact_error_and_no_state_change(
    sim: ExchangeSimulator, endpoint: str, params: dict[str, Any], setup: Setup, code: int, msg: str
) -> None:
    extra = setup(sim) or {}
    request = {**params, **{k: v for k, v in extra.items() if k not in params}}
    before = snapshot(sim)
    with pytest.raises(ExchangeError) as info:
        ENDPOINTS[endpoint](sim, request)
    assert (info.value.code, info.value.msg) == (code, msg)
    assert info.value.http_status == 400
    assert snapshot(sim) == before


# --- the accepted side of each boundary --------------------------------------------------------------
def test_close_position_stop_may_be_replaced_by_a_reduce_only_stop_before_cancel(sim: ExchangeSimulator) -> None:
    """§3.1: the replace-before-cancel pattern needs the new stop to be reduceOnly with a quantity."""
    long_bnb(sim)
    old = algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    new = algo(sim, side="SELL", triggerPrice="595", quantity="1", reduceOnly=True)
    assert [a.algo_id for a in sim.open_algo_orders()] == [old.algo_id, new.algo_id]
    sim.cancel_algo_order(old.algo_id)
    assert [a.algo_id for a in sim.open_algo_orders()] == [new.algo_id]


def test_close_position_allowed_again_once_the_first_is_cancelled(sim: ExchangeSimulator) -> None:
    long_bnb(sim)
    first = algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    sim.cancel_algo_order(first.algo_id)
    second = algo(sim, side="SELL", triggerPrice="580", closePosition=True)
    assert second.status.value == "NEW"


def test_close_position_buy_is_a_different_direction_from_sell(sim: ExchangeSimulator) -> None:
    long_bnb(sim)
    algo(sim, side="SELL", triggerPrice="590", closePosition=True)
    algo(sim, side="BUY", triggerPrice="610", closePosition=True)
    assert len(sim.open_algo_orders()) == 2


def test_close_position_stop_loss_and_take_profit_pair_is_accepted(sim: ExchangeSimulator) -> None:
    """§3.1: -4130 refuses a *second* closePosition stop (or take-profit); the position's TP/SL pair is fine."""
    long_bnb(sim)
    sl = algo(sim, side="SELL", type="STOP_MARKET", triggerPrice="590", closePosition=True)
    tp = algo(sim, side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="620", closePosition=True)
    assert [a.algo_id for a in sim.open_algo_orders()] == [sl.algo_id, tp.algo_id]


@pytest.mark.parametrize("client_id", ["x" * 36, "a", "web_.:/-_AZaz09", "x-cvBPrNm9" + "A" * 22])
def test_valid_client_ids_are_kept(sim: ExchangeSimulator, client_id: str) -> None:
    o = limit(sim, "BUY", "1", "590", newClientOrderId=client_id)
    a = algo(sim, side="SELL", triggerPrice="590", quantity="1", clientAlgoId=client_id)
    assert sim.query_order("BNBUSDT", client_order_id=client_id).order_id == o.order_id
    assert sim.query_algo_order(client_algo_id=client_id).algo_id == a.algo_id


def test_client_id_reusable_once_first_order_is_closed(sim: ExchangeSimulator) -> None:
    first = limit(sim, "BUY", "1", "590", newClientOrderId="reuse-me")
    sim.cancel_order("BNBUSDT", first.order_id)
    second = limit(sim, "BUY", "1", "591", newClientOrderId="reuse-me")
    filled = market(sim, "BUY", "1", newClientOrderId="filled-id")
    third = market(sim, "SELL", "1", newClientOrderId="filled-id")
    assert second.client_order_id == "reuse-me" and second.status.value == "NEW"
    assert (filled.status.value, third.status.value) == ("FILLED", "FILLED")
    rejects(lambda: limit(sim, "BUY", "1", "592", newClientOrderId="reuse-me"), -4116, M4116)


def test_client_algo_id_reusable_once_first_is_cancelled(sim: ExchangeSimulator) -> None:
    first = algo(sim, side="SELL", triggerPrice="590", quantity="1", clientAlgoId="sl")
    sim.cancel_algo_order(first.algo_id)
    second = algo(sim, side="SELL", triggerPrice="580", quantity="1", clientAlgoId="sl")
    assert sim.query_algo_order(client_algo_id="sl").algo_id == second.algo_id


def test_market_min_notional_uses_mark_not_last(sim: ExchangeSimulator) -> None:
    """Last 99 000 (notional 99 < 100) but mark 100 500 (100.5): Binance checks the mark, so it passes."""
    px(sim, "BTCUSDT", "99000", "100500")
    assert market(sim, "BUY", "0.001", "BTCUSDT").status.value == "FILLED"


def test_reduce_only_is_exempt_from_min_notional(sim: ExchangeSimulator) -> None:
    long_btc(sim)
    px(sim, "BTCUSDT", "100500", "99000")
    o = market(sim, "SELL", "0.001", "BTCUSDT", reduceOnly=True)
    assert o.status.value == "FILLED"
    assert sim.position("BTCUSDT").amount == D("0.001")


def test_reduce_only_limit_is_exempt_from_min_notional(sim: ExchangeSimulator) -> None:
    long_btc(sim)
    o = limit(sim, "SELL", "0.001", "99900", "BTCUSDT", reduceOnly=True)  # 99.9 < 100
    assert o.status.value == "FILLED"


def test_position_side_both_is_accepted_in_one_way_mode(sim: ExchangeSimulator) -> None:
    assert market(sim, "BUY", "1", positionSide="BOTH").status.value == "FILLED"


def test_min_notional_boundary_is_inclusive(sim: ExchangeSimulator) -> None:
    assert limit(sim, "BUY", "0.001", "100000", "BTCUSDT", timeInForce="GTC").status.value in ("NEW", "FILLED")
    rejects(lambda: limit(sim, "BUY", "0.001", "99999.9", "BTCUSDT"), -4164, min_notional("100"))


def test_percent_price_uses_mark_not_last(sim: ExchangeSimulator) -> None:
    """Last 600, mark 620: cap is 651 (mark × 1.05), not 630 (last × 1.05)."""
    px(sim, "BNBUSDT", "600", "620")
    assert limit(sim, "BUY", "1", "640").status.value == "FILLED"
    rejects(lambda: limit(sim, "BUY", "1", "651.01"), -4016, "Price is higher than mark price multiplier cap.")


def test_percent_price_boundaries_are_inclusive(sim: ExchangeSimulator) -> None:
    assert limit(sim, "SELL", "1", "630", reduceOnly=None, timeInForce="GTC").status.value == "NEW"
    assert limit(sim, "BUY", "1", "570").status.value == "NEW"


def test_stop_on_contract_price_ignores_a_mark_that_crossed(sim: ExchangeSimulator) -> None:
    """Mirror of the MARK_PRICE -2021 rows: with CONTRACT_PRICE (the default) only last counts."""
    px(sim, "BNBUSDT", "600", "620")
    a = algo(sim, side="BUY", triggerPrice="610", quantity="1")
    assert a.status.value == "NEW"
    px(sim, "BNBUSDT", "600", "580")
    assert algo(sim, side="SELL", triggerPrice="590", quantity="1").status.value == "NEW"


@pytest.mark.parametrize(("type_", "side", "trigger"), [
    ("STOP_MARKET", "BUY", "600.01"), ("STOP_MARKET", "SELL", "599.99"),
    ("TAKE_PROFIT_MARKET", "BUY", "599.99"), ("TAKE_PROFIT_MARKET", "SELL", "600.01"),
])
def test_trigger_one_tick_away_is_accepted(sim: ExchangeSimulator, type_: str, side: str, trigger: str) -> None:
    a = algo(sim, type=type_, side=side, triggerPrice=trigger, quantity="1")
    assert a.status.value == "NEW"
    assert sim.events[-1]["e"] == "ALGO_UPDATE"


def test_trailing_activation_on_the_far_side_is_accepted(sim: ExchangeSimulator) -> None:
    assert algo(sim, type="TRAILING_STOP_MARKET", side="SELL", quantity="1", callbackRate="1",
                activatePrice="600.01").status.value == "NEW"
    assert algo(sim, type="TRAILING_STOP_MARKET", side="BUY", quantity="1", callbackRate="1",
                activatePrice="599.99").status.value == "NEW"


def test_conditional_orders_are_invisible_to_the_regular_order_api(sim: ExchangeSimulator) -> None:
    """§6.2: GET /fapi/v1/order → -2013, DELETE → -2011, openOrders → [] for a live algo order."""
    a = algo(sim, side="SELL", triggerPrice="590", quantity="1", clientAlgoId="only-algo")
    assert sim.open_orders() == [] and sim.open_orders("BNBUSDT") == []
    rejects(lambda: sim.query_order("BNBUSDT", a.algo_id), -2013, M2013)
    rejects(lambda: sim.query_order("BNBUSDT", client_order_id="only-algo"), -2013, M2013)
    rejects(lambda: sim.cancel_order("BNBUSDT", client_order_id="only-algo"), -2011, M2011)
    assert [x.algo_id for x in sim.open_algo_orders("BNBUSDT")] == [a.algo_id]
    assert sim.query_algo_order(a.algo_id) is a
    assert sim.query_algo_order(client_algo_id="only-algo") is a
    assert sim.open_algo_orders("BTCUSDT") == []


def test_regular_orders_are_invisible_to_the_algo_api(sim: ExchangeSimulator) -> None:
    o = limit(sim, "BUY", "1", "590", newClientOrderId="only-order")
    assert sim.open_algo_orders() == []
    rejects(lambda: sim.query_algo_order(o.order_id), -2013, M2013)
    rejects(lambda: sim.query_algo_order(client_algo_id="only-order"), -2013, M2013)


def test_lowest_allowed_leverage_and_symbol_maximum_are_accepted(sim: ExchangeSimulator) -> None:
    assert sim.set_leverage("BNBUSDT", 1) == 1
    assert sim.set_leverage("BNBUSDT", 75) == 75
    assert sim.set_leverage("BTCUSDT", 125) == 125


def test_margin_type_change_allowed_once_orders_and_position_are_gone(sim: ExchangeSimulator) -> None:
    o = limit(sim, "BUY", "1", "590")
    sim.cancel_order("BNBUSDT", o.order_id)
    long_bnb(sim)
    market(sim, "SELL", "1")
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    assert sim.position("BNBUSDT").margin_type.value == "ISOLATED"
    rejects(lambda: sim.set_margin_type("BNBUSDT", "ISOLATED"), -4046, "No need to change margin type.")


def test_position_mode_blocked_by_a_position_on_any_symbol(sim: ExchangeSimulator) -> None:
    """§3.3: the mode applies to every symbol, so a position anywhere blocks the switch."""
    long(sim, "ETHUSDT", "0.01", "2500")
    rejects(lambda: sim.set_position_mode(True), -4068, "Position side cannot be changed if there exists position.")
    market(sim, "SELL", "0.01", "ETHUSDT")
    sim.set_position_mode(True)
    assert sim.account.dual_side is True
    rejects(lambda: sim.set_position_mode(True), -4059, "No need to change position side.")


def test_margin_check_accepts_the_same_limit_without_other_open_orders(sim: ExchangeSimulator) -> None:
    """Counterpart of 2019-limit-counts-open-orders: 338 × 590 / 20 = 9 971 ≤ 10 000."""
    o = limit(sim, "BUY", "338", "590")
    assert o.status.value == "NEW"
    assert sim.available_balance() == D("10000") - D("9971")


def test_open_loss_counterpart_is_accepted(sim: ExchangeSimulator) -> None:
    """160 × 630 / 20 + 160 × 30 = 9 840 ≤ 10 000."""
    assert limit(sim, "BUY", "160", "630").status.value == "FILLED"


def test_open_orders_on_another_symbol_do_not_block_a_margin_type_change(sim: ExchangeSimulator) -> None:
    limit(sim, "BUY", "0.01", "2400", "ETHUSDT")
    algo(sim, symbol="ETHUSDT", side="SELL", triggerPrice="2400", quantity="0.01")
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    assert sim.account.margin_type_of("BNBUSDT").value == "ISOLATED"


def test_conditional_orders_get_no_margin_check_at_placement(sim: ExchangeSimulator) -> None:
    """§1.3/§8.4: since 2025-12-09 the margin check of a conditional order happens when it triggers."""
    a = algo(sim, side="BUY", triggerPrice="610", quantity="1000")
    assert a.status.value == "NEW"


@pytest.mark.parametrize("tif", ["FOK", "GTX"])
def test_refused_fok_or_gtx_consumes_no_id(sim: ExchangeSimulator, tif: str) -> None:
    next_id, rng = sim.state.next_order_id, sim.state.rng.getstate()
    price = "599" if tif == "FOK" else "601"
    with pytest.raises(ExchangeError):
        limit(sim, "BUY", "1", price, timeInForce=tif)
    assert (sim.state.next_order_id, sim.state.rng.getstate()) == (next_id, rng)
