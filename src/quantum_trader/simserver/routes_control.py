"""Simulator control, not part of Binance: read what the server is, move the market, move the clock.

Same API key header as trading, so a test harness and a bot cannot be confused about which account
they drive. Bodies are JSON (`{"prices": {...}}`, `{"seconds": 3600}`); answers carry the events the
step caused, in Binance's user-data-stream shapes.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..domain import binance_errors as be
from ..domain.money import fmt
from ..sim.market import PriceUpdate
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
CONTROL = Security.API_KEY


@table.route("GET", "/sim/v1/info", CONTROL)
def info(server: ServerState, call: Call) -> Any:
    sim = server.sim
    return {
        "simulator": True,
        "simTime": sim.now_ms,
        "serverTime": server.clock(),
        "symbols": len(sim.state.instruments),
        "walletBalance": fmt(sim.wallet_balance),
        "equity": fmt(sim.equity),
        "events": len(sim.events),
        "weightLimit": server.weights.limit,
    }


def _decimal(value: Any, name: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise be.invalid_data(name) from None
    if not result.is_finite() or result <= 0:
        raise be.invalid_data(name)
    return result


def parse_prices(body: Any) -> dict[str, PriceUpdate]:
    """`{"prices": {"S": {"last": .., "mark": ..}}}`, `{"prices": {"S": "920"}}` or `{"S": "920"}`."""
    if not isinstance(body, dict):
        raise be.mandatory_param("prices")
    prices = body.get("prices", body)
    if not isinstance(prices, dict) or not prices:
        raise be.mandatory_param("prices")
    updates: dict[str, PriceUpdate] = {}
    for symbol, value in prices.items():
        if isinstance(value, dict):
            if "last" not in value:
                raise be.mandatory_param(f"prices.{symbol}.last")
            last = _decimal(value["last"], f"prices.{symbol}.last")
            mark = _decimal(value["mark"], f"prices.{symbol}.mark") if value.get("mark") is not None else last
            updates[str(symbol)] = PriceUpdate(last, mark)
        else:
            price = _decimal(value, f"prices.{symbol}")
            updates[str(symbol)] = PriceUpdate(price, price)
    return updates


@table.route("POST", "/sim/v1/prices", CONTROL)
def set_prices(server: ServerState, call: Call) -> Any:
    """One market step: triggers and fills run; the step is recorded for klines."""
    updates = parse_prices(call.json)
    for symbol in updates:  # all or nothing: an unknown symbol (-1121) must not leave half a step applied
        server.sim.instrument(symbol)
    events = server.sim.set_prices(updates)
    server.record_prices(updates)
    return {"events": events}


@table.route("POST", "/sim/v1/advance", CONTROL)
def advance(server: ServerState, call: Call) -> Any:
    body = call.json if isinstance(call.json, dict) else {}
    if "seconds" not in body:
        raise be.mandatory_param("seconds")
    try:
        seconds = Decimal(str(body["seconds"]))
    except InvalidOperation:
        raise be.invalid_data("seconds") from None
    if not seconds.is_finite() or seconds < 0:
        raise be.invalid_data("seconds")
    events = server.sim.advance(seconds)
    return {"events": events, "simTime": server.sim.now_ms}
