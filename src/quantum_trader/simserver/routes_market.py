"""Public market data: ping, time, exchangeInfo, klines, tickers, premiumIndex (§6.5-6.8).

Market timestamps (klines, tickers, premiumIndex `time`) are the simulator's clock, which only moves
with `/sim/v1/advance`; `/fapi/v1/time` is the server's wall clock, because that is what clients
sign their `timestamp` against.

Klines are built from the prices the simulator has actually been at: every `/sim/v1/prices` step is
recorded with its simulated time, bucketed by interval into OHLC bars (volume 0: the simulator has
no tape). A symbol never moved has a single bar at its current price.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ..domain import binance_errors as be
from ..domain.money import fmt
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
PUBLIC = Security.NONE

_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
#: 1970-01-01 was a Thursday; Binance's weekly bars open on Monday 00:00 UTC.
_WEEK_OFFSET_MS = 4 * 86_400_000
_INTEREST_RATE = "0.00010000"


@table.route("GET", "/fapi/v1/ping", PUBLIC)
def ping(server: ServerState, call: Call) -> Any:
    return {}


@table.route("GET", "/fapi/v1/time", PUBLIC)
def server_time(server: ServerState, call: Call) -> Any:
    return {"serverTime": server.clock()}


@table.route("GET", "/fapi/v1/exchangeInfo", PUBLIC)
def exchange_info(server: ServerState, call: Call) -> Any:
    """The universe's own exchangeInfo, only the simulator's symbols, with the configured weight limit."""
    info = server.universe.exchange_info(server.clock(), sorted(server.sim.state.instruments))
    for limit in info["rateLimits"]:
        if limit.get("rateLimitType") == "REQUEST_WEIGHT":
            limit["limit"] = server.weights.limit
    return info


def _symbols(server: ServerState, call: Call) -> list[str]:
    symbol = call.opt("symbol")
    if symbol is None:
        return sorted(server.sim.state.instruments)
    server.sim.instrument(symbol)
    return [symbol]


def _one_or_all(call: Call, rows: list[dict[str, Any]]) -> Any:
    return rows[0] if call.opt("symbol") is not None else rows


@table.route("GET", "/fapi/v1/ticker/price", PUBLIC)
@table.route("GET", "/fapi/v2/ticker/price", PUBLIC)
def ticker_price(server: ServerState, call: Call) -> Any:
    sim = server.sim
    rows = [{"symbol": s, "price": fmt(sim.last_price(s)), "time": sim.now_ms} for s in _symbols(server, call)]
    return _one_or_all(call, rows)


@table.route("GET", "/fapi/v1/premiumIndex", PUBLIC)
def premium_index(server: ServerState, call: Call) -> Any:
    sim = server.sim
    state = sim.state
    rows = []
    for s in _symbols(server, call):
        mark = fmt(sim.mark_price(s))
        rows.append({
            "symbol": s, "markPrice": mark, "indexPrice": mark, "estimatedSettlePrice": mark,
            "lastFundingRate": fmt(state.funding_rates.rate(s, sim.now_ms)), "interestRate": _INTEREST_RATE,
            "nextFundingTime": state.funding_schedule.next_funding_time(s, sim.now_ms), "time": sim.now_ms,
        })
    return _one_or_all(call, rows)


def _history(server: ServerState, symbol: str) -> list[tuple[int, Decimal]]:
    """Recorded steps plus the current price at the current time (so there is always one bar)."""
    sim = server.sim
    return [*server.price_history.get(symbol, []), (sim.now_ms, sim.last_price(symbol))]


@table.route("GET", "/fapi/v1/ticker/24hr", PUBLIC)
def ticker_24hr(server: ServerState, call: Call) -> Any:
    """Rolling 24 h statistics from the recorded steps (volumes 0: no tape in the simulator)."""
    sim = server.sim
    rows = []
    for s in _symbols(server, call):
        since = sim.now_ms - 86_400_000
        points = [(t, p) for t, p in _history(server, s) if t >= since]
        prices = [p for _, p in points]
        first, last = prices[0], prices[-1]
        change = last - first
        rows.append({
            "symbol": s, "priceChange": fmt(change),
            "priceChangePercent": fmt((change / first * 100).quantize(Decimal("0.001"))) if first else "0",
            "weightedAvgPrice": fmt(last), "lastPrice": fmt(last), "lastQty": "0", "openPrice": fmt(first),
            "highPrice": fmt(max(prices)), "lowPrice": fmt(min(prices)), "volume": "0", "quoteVolume": "0",
            "openTime": points[0][0], "closeTime": points[-1][0], "firstId": 0, "lastId": 0, "count": 0,
        })
    return _one_or_all(call, rows)


def bar_open(time_ms: int, interval: str) -> int:
    """Open time of the bar holding `time_ms` (UTC calendar months for 1M, Monday weeks for 1w)."""
    if interval == "1M":
        moment = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC)
        return int(dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC).timestamp() * 1000)
    length = interval_ms(interval)
    offset = _WEEK_OFFSET_MS if interval.endswith("w") else 0
    return time_ms - (time_ms - offset) % length


def interval_ms(interval: str) -> int:
    if interval not in INTERVALS:
        raise be.invalid_data("interval")
    if interval == "1M":
        return 31 * 86_400_000
    return int(interval[:-1]) * _UNIT_MS[interval[-1]]


def _bar_close(open_ms: int, interval: str) -> int:
    if interval != "1M":
        return open_ms + interval_ms(interval) - 1
    moment = dt.datetime.fromtimestamp(open_ms / 1000, dt.UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp() * 1000) - 1


@table.route("GET", "/fapi/v1/klines", PUBLIC)
def klines(server: ServerState, call: Call) -> Any:
    symbol = call.need("symbol")
    interval = call.need("interval")
    server.sim.instrument(symbol)
    interval_ms(interval)
    limit = min(max(call.opt_int("limit") or 500, 1), 1500)
    start, end = call.opt_int("startTime"), call.opt_int("endTime")
    bars: dict[int, list[Decimal]] = {}
    for time_ms, price in _history(server, symbol):
        bar = bars.get(bar_open(time_ms, interval))
        if bar is None:
            bars[bar_open(time_ms, interval)] = [price, price, price, price]
        else:
            bar[1], bar[2], bar[3] = max(bar[1], price), min(bar[2], price), price
    opens = sorted(t for t in bars if (start is None or t >= bar_open(start, interval))
                   and (end is None or t <= end))
    opens = opens[:limit] if start is not None else opens[-limit:]
    return [[t, fmt(bars[t][0]), fmt(bars[t][1]), fmt(bars[t][2]), fmt(bars[t][3]), "0",
             _bar_close(t, interval), "0", 0, "0", "0", "0"] for t in opens]
