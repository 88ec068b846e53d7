"""REST JSON shapes (binance_futures.md §6): exact field sets and JSON types per endpoint.

Clients parse these field by field, so each test pins the set of keys and the type of every value:
decimals are strings in plain notation, ids and times are ints, flags are booleans, and the few
exceptions Binance makes (`isAutoAddMargin` "false", `icebergQuantity` null, `actualOrderId` str,
algo cancel `code` "200") are kept. Every `sim` here is the conftest one (BNBUSDT 600, wallet 10 000).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from conftest import algo, limit, market, px

from quantum_trader.sim import shapes
from quantum_trader.sim.engine import ExchangeSimulator

D = Decimal
DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")

ORDER_FIELDS = {
    "orderId", "clientOrderId", "symbol", "status", "type", "origType", "side", "positionSide", "timeInForce",
    "price", "avgPrice", "origQty", "executedQty", "cumQty", "cumQuote", "stopPrice", "reduceOnly",
    "closePosition", "workingType", "priceProtect", "priceMatch", "selfTradePreventionMode", "goodTillDate",
    "time", "updateTime",
}
ORDER_DECIMALS = {"price", "avgPrice", "origQty", "executedQty", "cumQty", "cumQuote", "stopPrice"}
ALGO_FIELDS = {
    "algoId", "clientAlgoId", "algoType", "orderType", "symbol", "side", "positionSide", "timeInForce", "quantity",
    "algoStatus", "triggerPrice", "price", "icebergQuantity", "selfTradePreventionMode", "workingType",
    "priceMatch", "closePosition", "priceProtect", "reduceOnly", "activatePrice", "callbackRate", "createTime",
    "updateTime", "triggerTime", "goodTillDate", "actualOrderId", "actualPrice", "tpTriggerPrice", "tpPrice",
    "slTriggerPrice", "slPrice", "tpOrderType",
}
V2_FIELDS = {
    "symbol", "positionAmt", "entryPrice", "breakEvenPrice", "markPrice", "unRealizedProfit", "liquidationPrice",
    "leverage", "maxNotionalValue", "marginType", "isolatedMargin", "isAutoAddMargin", "positionSide", "notional",
    "isolatedWallet", "updateTime",
}
V3_FIELDS = {
    "symbol", "positionSide", "positionAmt", "entryPrice", "breakEvenPrice", "markPrice", "unRealizedProfit",
    "liquidationPrice", "isolatedMargin", "notional", "marginAsset", "isolatedWallet", "initialMargin",
    "maintMargin", "positionInitialMargin", "openOrderInitialMargin", "adl", "bidNotional", "askNotional",
    "updateTime",
}
TOTALS = {
    "totalInitialMargin", "totalMaintMargin", "totalWalletBalance", "totalUnrealizedProfit", "totalMarginBalance",
    "totalPositionInitialMargin", "totalOpenOrderInitialMargin", "totalCrossWalletBalance", "totalCrossUnPnl",
    "availableBalance", "maxWithdrawAmount",
}
ASSET_FIELDS = {
    "asset", "walletBalance", "unrealizedProfit", "marginBalance", "maintMargin", "initialMargin",
    "positionInitialMargin", "openOrderInitialMargin", "crossWalletBalance", "crossUnPnl", "availableBalance",
    "maxWithdrawAmount", "updateTime",
}
ACCOUNT_V2_POSITION = {
    "symbol", "initialMargin", "maintMargin", "unrealizedProfit", "positionInitialMargin", "openOrderInitialMargin",
    "leverage", "entryPrice", "maxNotional", "bidNotional", "askNotional", "positionAmt", "isolated",
    "positionSide", "updateTime",
}
ACCOUNT_V3_POSITION = {
    "symbol", "positionSide", "positionAmt", "unrealizedProfit", "isolatedMargin", "notional", "isolatedWallet",
    "initialMargin", "maintMargin", "updateTime",
}
BALANCE_FIELDS = {
    "accountAlias", "asset", "balance", "crossWalletBalance", "crossUnPnl", "availableBalance",
    "maxWithdrawAmount", "marginAvailable", "updateTime",
}
TRADE_FIELDS = {
    "id", "orderId", "symbol", "side", "positionSide", "price", "qty", "quoteQty", "realizedPnl", "commission",
    "commissionAsset", "buyer", "maker", "time",
}


def assert_types(body: dict[str, Any], ints: set[str], bools: set[str], decimals: set[str]) -> None:
    """ints are ints (not bools), bools are bools, decimals are plain-notation strings, the rest strings."""
    for key, value in body.items():
        if key in ints:
            assert type(value) is int, (key, value)
        elif key in bools:
            assert type(value) is bool, (key, value)
        else:
            assert isinstance(value, str), (key, value)
            if key in decimals:
                assert DECIMAL.match(value), (key, value)


def short_with_stop(sim: ExchangeSimulator) -> None:
    market(sim, "SELL", "2")
    algo(sim, side="BUY", triggerPrice="612", closePosition="true", workingType="MARK_PRICE")


# --- orders ---------------------------------------------------------------------------------------
def test_filled_market_order_shape(sim: ExchangeSimulator) -> None:
    body = shapes.order_json(market(sim, "BUY", "1.5"))
    assert set(body) == ORDER_FIELDS
    assert_types(body, {"orderId", "goodTillDate", "time", "updateTime"},
                 {"reduceOnly", "closePosition", "priceProtect"}, ORDER_DECIMALS)
    assert (body["status"], body["executedQty"], body["cumQty"], body["stopPrice"]) == ("FILLED", "1.5", "1.5", "0")
    assert D(body["avgPrice"]) * D("1.5") == D(body["cumQuote"])
    assert (body["priceMatch"], body["selfTradePreventionMode"]) == ("NONE", "EXPIRE_MAKER")


def test_ack_response_is_the_order_as_accepted(sim: ExchangeSimulator) -> None:
    body = shapes.order_json(market(sim, "BUY", "1"), resp_type_result=False)
    assert (body["status"], body["executedQty"], body["avgPrice"], body["cumQuote"]) == ("NEW", "0", "0", "0")
    assert body["updateTime"] == body["time"]


def test_resting_limit_order_shape(sim: ExchangeSimulator) -> None:
    body = shapes.order_json(limit(sim, "BUY", "1", "590"))
    assert set(body) == ORDER_FIELDS
    assert (body["status"], body["type"], body["price"], body["timeInForce"]) == ("NEW", "LIMIT", "590", "GTC")


def test_spawned_trailing_order_carries_activate_price_and_price_rate(sim: ExchangeSimulator) -> None:
    market(sim, "BUY", "1")
    trail = algo(sim, type="TRAILING_STOP_MARKET", side="SELL", quantity="1", callbackRate="1", reduceOnly="true")
    px(sim, "BNBUSDT", "610")
    px(sim, "BNBUSDT", "600")
    child = shapes.spawned_order(trail, sim)
    assert child is not None
    body = shapes.order_json(child)
    assert set(body) == ORDER_FIELDS | {"activatePrice", "priceRate"}
    assert body["origType"] == "TRAILING_STOP_MARKET"
    assert body["priceRate"] == "1"


# --- algo orders ----------------------------------------------------------------------------------
def test_new_algo_order_shape(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    stop = sim.open_algo_orders("BNBUSDT")[0]
    body = shapes.algo_order_json(stop, sim)
    assert set(body) == ALGO_FIELDS
    ints = {"algoId", "createTime", "updateTime", "triggerTime", "goodTillDate"}
    bools = {"closePosition", "priceProtect", "reduceOnly"}
    assert_types({k: v for k, v in body.items() if k != "icebergQuantity"}, ints, bools,
                 {"quantity", "triggerPrice", "price", "actualPrice", "tpTriggerPrice", "tpPrice", "slTriggerPrice",
                  "slPrice"})
    assert body["icebergQuantity"] is None
    assert (body["algoType"], body["orderType"], body["algoStatus"]) == ("CONDITIONAL", "STOP_MARKET", "NEW")
    assert (body["actualOrderId"], body["actualPrice"], body["triggerTime"]) == ("", "0", 0)
    assert (body["activatePrice"], body["callbackRate"], body["tpOrderType"]) == ("", "", "")
    assert (body["timeInForce"], body["closePosition"], body["triggerPrice"]) == ("GTE_GTC", True, "612")


def test_triggered_algo_order_links_its_spawned_order(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    stop = sim.open_algo_orders("BNBUSDT")[0]
    px(sim, "BNBUSDT", "615")
    body = shapes.algo_order_json(stop, sim)
    child = shapes.spawned_order(stop, sim)
    assert child is not None
    assert body["algoStatus"] == "FINISHED"
    assert body["triggerTime"] > 0
    assert body["actualOrderId"] == str(child.order_id)
    assert body["actualPrice"] == shapes.order_json(child)["avgPrice"]


def test_algo_cancel_shape(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    stop = sim.open_algo_orders("BNBUSDT")[0]
    body = shapes.algo_cancel_json(sim.cancel_algo_order(stop.algo_id))
    assert body == {"algoId": stop.algo_id, "clientAlgoId": stop.client_algo_id, "code": "200", "msg": "success"}


# --- positions ------------------------------------------------------------------------------------
def test_position_risk_v2_lists_every_symbol_one_way(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    rows = shapes.position_risk_v2(sim)
    assert [r["symbol"] for r in rows] == sorted(sim.state.instruments)
    for row in rows:
        assert set(row) == V2_FIELDS
        assert_types(row, {"updateTime"}, set(), V2_FIELDS - {"symbol", "marginType", "isAutoAddMargin",
                                                              "positionSide", "updateTime"})
        assert (row["positionSide"], row["isAutoAddMargin"], row["marginType"]) == ("BOTH", "false", "cross")
    bnb = shapes.position_risk_v2(sim, "BNBUSDT")
    assert len(bnb) == 1
    assert bnb[0]["positionAmt"] == "-2"
    assert D(bnb[0]["notional"]) < 0
    assert D(bnb[0]["liquidationPrice"]) > 600
    assert bnb[0]["updateTime"] > 0
    assert bnb[0]["leverage"] == "20"
    flat = shapes.position_risk_v2(sim, "ETHUSDT")[0]
    assert (flat["positionAmt"], flat["liquidationPrice"], flat["updateTime"]) == ("0", "0", 0)


def test_position_risk_v2_isolated_margin_is_wallet_plus_pnl(sim: ExchangeSimulator) -> None:
    sim.set_margin_type("BNBUSDT", "ISOLATED")
    market(sim, "BUY", "1")
    px(sim, "BNBUSDT", "590")
    row = shapes.position_risk_v2_row(sim, "BNBUSDT")
    assert row["marginType"] == "isolated"
    assert D(row["isolatedMargin"]) == D(row["isolatedWallet"]) + D(row["unRealizedProfit"])
    assert D(row["unRealizedProfit"]) < 0
    assert D(row["breakEvenPrice"]) > D(row["entryPrice"])


def test_position_risk_v2_hedge_mode_has_long_and_short_rows(sim: ExchangeSimulator) -> None:
    sim.set_position_mode(True)
    rows = shapes.position_risk_v2(sim, "BNBUSDT")
    assert [r["positionSide"] for r in rows] == ["LONG", "SHORT"]


def test_position_risk_v3_lists_only_active_symbols(sim: ExchangeSimulator) -> None:
    assert shapes.position_risk_v3(sim) == []
    short_with_stop(sim)
    limit(sim, "BUY", "1", "590", symbol="ETHUSDT")  # open order, no position: still listed
    rows = shapes.position_risk_v3(sim)
    assert [r["symbol"] for r in rows] == ["BNBUSDT", "ETHUSDT"]
    for row in rows:
        assert set(row) == V3_FIELDS
        assert "leverage" not in row
        assert "marginType" not in row
        assert_types(row, {"adl", "updateTime"}, set(), V3_FIELDS - {"symbol", "positionSide", "marginAsset"})
    eth = rows[1]
    assert (eth["positionAmt"], eth["bidNotional"], eth["openOrderInitialMargin"]) == ("0", "590", "29.5")


# --- account, balance, trades ---------------------------------------------------------------------
def test_account_v2_shape(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    body = shapes.account_v2(sim)
    flags = {"feeBurn", "canTrade", "canDeposit", "canWithdraw", "multiAssetsMargin"}
    assert set(body) == TOTALS | flags | {"feeTier", "updateTime", "tradeGroupId", "assets", "positions"}
    assert_types({k: v for k, v in body.items() if k not in ("assets", "positions")},
                 {"feeTier", "updateTime", "tradeGroupId"}, flags, TOTALS)
    (asset,) = body["assets"]
    assert set(asset) == ASSET_FIELDS | {"marginAvailable"}
    assert asset["updateTime"] > 0
    assert_types(asset, {"updateTime"}, {"marginAvailable"}, ASSET_FIELDS - {"asset", "updateTime"})
    assert len(body["positions"]) == len(sim.state.instruments)
    for row in body["positions"]:
        assert set(row) == ACCOUNT_V2_POSITION
        assert_types(row, {"updateTime"}, {"isolated"}, ACCOUNT_V2_POSITION - {"symbol", "positionSide",
                                                                               "isolated", "updateTime"})
    assert D(body["totalMarginBalance"]) == D(body["totalWalletBalance"]) + D(body["totalUnrealizedProfit"])


def test_account_v3_shape(sim: ExchangeSimulator) -> None:
    short_with_stop(sim)
    body = shapes.account_v3(sim)
    assert set(body) == TOTALS | {"assets", "positions"}
    (asset,) = body["assets"]
    assert set(asset) == ASSET_FIELDS
    (position,) = body["positions"]
    assert set(position) == ACCOUNT_V3_POSITION
    assert position["positionAmt"] == "-2"


def test_balance_shape_has_a_non_zero_update_time(sim: ExchangeSimulator) -> None:
    (row,) = shapes.balance(sim)
    assert set(row) == BALANCE_FIELDS
    assert_types(row, {"updateTime"}, {"marginAvailable"}, BALANCE_FIELDS - {"accountAlias", "asset",
                                                                             "marginAvailable", "updateTime"})
    assert row["updateTime"] > 0
    assert row["balance"] == "10000"
    assert row["asset"] == "USDT"


@pytest.mark.parametrize("side", ["BUY", "SELL"])
def test_user_trade_shape(sim: ExchangeSimulator, side: str) -> None:
    market(sim, side, "1")
    (fill,) = sim.state.fills
    body = shapes.user_trade_json(fill)
    assert set(body) == TRADE_FIELDS
    assert_types(body, {"id", "orderId", "time"}, {"buyer", "maker"},
                 {"price", "qty", "quoteQty", "realizedPnl", "commission"})
    assert body["buyer"] is (side == "BUY")
    assert body["maker"] is False
    assert body["commissionAsset"] == "USDT"
    assert D(body["quoteQty"]) == D(body["price"]) * D(body["qty"])
