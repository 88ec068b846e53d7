"""Account, positions and settings (§6.3, §6.4, §6.9-6.11) and the listenKey lifecycle (§7.1).

Shapes come from `sim.shapes`, shared with the scenario runner, so the server cannot drift from what
the rest of the project believes Binance sends.
"""

from __future__ import annotations

import secrets
from typing import Any

from ..domain import binance_errors as be
from ..domain.fills import Fill
from ..domain.money import fmt
from ..sim import shapes
from ..sim.income import income_json, select_income
from ..sim.margin import max_notional_for_leverage
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
SUCCESS = {"code": 200, "msg": "success"}
LISTEN_KEY_LIFETIME_MS = 60 * 60_000
_INT64_MAX = "9223372036854775807"


def _symbol_or_none(server: ServerState, call: Call) -> str | None:
    symbol = call.opt("symbol")
    if symbol is not None:
        server.sim.instrument(symbol)
    return symbol


@table.route("GET", "/fapi/v2/positionRisk")
def position_risk_v2(server: ServerState, call: Call) -> Any:
    return shapes.position_risk_v2(server.sim, _symbol_or_none(server, call))


@table.route("GET", "/fapi/v3/positionRisk")
def position_risk_v3(server: ServerState, call: Call) -> Any:
    return shapes.position_risk_v3(server.sim, _symbol_or_none(server, call))


@table.route("GET", "/fapi/v2/account")
def account_v2(server: ServerState, call: Call) -> Any:
    return shapes.account_v2(server.sim)


@table.route("GET", "/fapi/v3/account")
def account_v3(server: ServerState, call: Call) -> Any:
    return shapes.account_v3(server.sim)


@table.route("GET", "/fapi/v2/balance")
@table.route("GET", "/fapi/v3/balance")
def balance(server: ServerState, call: Call) -> Any:
    return shapes.balance(server.sim)


@table.route("GET", "/fapi/v1/leverageBracket")
def leverage_bracket(server: ServerState, call: Call) -> Any:
    """All the simulator's symbols (an array), or the one asked for (still an array: ccxt accepts both)."""
    symbol = _symbol_or_none(server, call)
    symbols = [symbol] if symbol is not None else sorted(server.sim.state.instruments)
    return [row for s in symbols for row in server.universe.leverage_brackets(s)]


@table.route("POST", "/fapi/v1/leverage")
def change_leverage(server: ServerState, call: Call) -> Any:
    symbol, raw = call.need("symbol"), call.need("leverage")
    try:
        leverage = int(raw)
    except ValueError:
        raise be.invalid_leverage(raw) from None
    server.sim.set_leverage(symbol, leverage)
    cap = max_notional_for_leverage(server.sim.instrument(symbol), leverage)
    return {"leverage": leverage, "maxNotionalValue": fmt(cap) if cap.is_finite() else _INT64_MAX,
            "symbol": symbol}


@table.route("POST", "/fapi/v1/marginType")
def change_margin_type(server: ServerState, call: Call) -> Any:
    symbol, margin_type = call.need("symbol"), call.need("marginType").upper()
    if margin_type not in ("ISOLATED", "CROSSED"):
        raise be.invalid_data("marginType")
    server.sim.set_margin_type(symbol, margin_type)
    return SUCCESS


@table.route("GET", "/fapi/v1/positionSide/dual")
def position_mode(server: ServerState, call: Call) -> Any:
    return {"dualSidePosition": server.sim.account.dual_side}


@table.route("POST", "/fapi/v1/positionSide/dual")
def change_position_mode(server: ServerState, call: Call) -> Any:
    value = call.need("dualSidePosition").lower()
    if value not in ("true", "false"):
        raise be.invalid_data("dualSidePosition")
    server.sim.set_position_mode(value == "true")
    return SUCCESS


@table.route("GET", "/fapi/v1/multiAssetsMargin")
def multi_assets_mode(server: ServerState, call: Call) -> Any:
    """Single-asset mode only: the simulator models USDT margin."""
    return {"multiAssetsMargin": False}


@table.route("GET", "/fapi/v1/userTrades")
def user_trades(server: ServerState, call: Call) -> Any:
    symbol = call.need("symbol")
    server.sim.instrument(symbol)
    order_id, from_id = call.opt_int("orderId"), call.opt_int("fromId")
    start, end = call.opt_int("startTime"), call.opt_int("endTime")
    limit = min(call.opt_int("limit") or 500, 1000)

    def wanted(f: Fill) -> bool:
        return (f.symbol == symbol and order_id in (None, f.order_id) and (from_id is None or f.trade_id >= from_id)
                and (start is None or f.time >= start) and (end is None or f.time <= end))

    rows = [f for f in server.sim.state.fills if wanted(f)]
    rows = rows[:limit] if from_id is not None or start is not None else rows[-limit:]
    return [shapes.user_trade_json(f) for f in rows]


@table.route("GET", "/fapi/v1/income")
def income(server: ServerState, call: Call) -> Any:
    """The income history (sim/income.py: transfers, funding, and the fill log's realised P&L and fees), filtered
    and paged as Binance does (`limit` default 100, at most 1000; `page` from 1, a page below 1 read as the first:
    Binance documents no answer for it)."""
    symbol = _symbol_or_none(server, call)
    state = server.sim.state
    rows = select_income(state.income, state.fills, now_ms=state.now_ms, income_type=call.opt("incomeType"),
                         symbol=symbol, start_ms=call.opt_int("startTime"), end_ms=call.opt_int("endTime"),
                         limit=min(call.opt_int("limit") or 100, 1000), page=call.opt_int("page") or 1)
    return [income_json(row) for row in rows]


@table.route("GET", "/fapi/v1/commissionRate")
def commission_rate(server: ServerState, call: Call) -> Any:
    symbol = call.need("symbol")
    server.sim.instrument(symbol)
    rates = server.sim.state.fees.rates(symbol)
    return {"symbol": symbol, "makerCommissionRate": fmt(rates.maker), "takerCommissionRate": fmt(rates.taker)}


# --- user data stream keys (API key only, no signature) -------------------------------------------
@table.route("POST", "/fapi/v1/listenKey", Security.API_KEY)
def start_stream(server: ServerState, call: Call) -> Any:
    """The active key is returned again (and extended), as Binance does."""
    now = server.clock()
    if server.listen_key is None or now >= server.listen_key_expires_ms:
        server.listen_key = secrets.token_urlsafe(48)[:64]
    server.listen_key_expires_ms = now + LISTEN_KEY_LIFETIME_MS
    return {"listenKey": server.listen_key}


@table.route("PUT", "/fapi/v1/listenKey", Security.API_KEY)
def keepalive_stream(server: ServerState, call: Call) -> Any:
    """Extends the active key (60 minutes from now); -1125 when there is none or it names another."""
    now = server.clock()
    named = call.opt("listenKey")
    if server.listen_key is None or now >= server.listen_key_expires_ms or named not in (None, server.listen_key):
        raise be.listen_key_missing()
    server.listen_key_expires_ms = now + LISTEN_KEY_LIFETIME_MS
    return {"listenKey": server.listen_key}


@table.route("DELETE", "/fapi/v1/listenKey", Security.API_KEY)
def close_stream(server: ServerState, call: Call) -> Any:
    server.listen_key, server.listen_key_expires_ms = None, 0
    return {}
