"""Public market data: ping, time, exchangeInfo, klines, markPriceKlines, fundingRate, tickers, premiumIndex
(§6.5-6.8).

Market timestamps (klines, tickers, premiumIndex `time`) are the simulator's clock, which moves with a paced
feed's clock (each bar played at its close, simserver/feed_pace.py), with the server's clock where there is no
feed (`--feed manual`), and with `/sim/v1/advance`;
`/fapi/v1/time` is the server's wall clock, because that is what clients sign their `timestamp` against.

Klines are built from the prices the simulator has actually been at (`bar_source`: every step and feed
bar recorded with its simulated time, bucketed by interval, contiguous, with the feed bars' volume), the
same bars the kline streams send; mark-price klines from the marks it has been at. The 24 h ticker's
volume is the feed bars' own; its quote volume (and so `weightedAvgPrice`) an estimate
(`routes_base.VolumeStep`), enough to rank symbols by it as `download --symbols N` does on Binance.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..domain.money import Rounding, fmt, round_to_grid
from .bar_source import bar_close, bar_open, bars, first_open, interval_ms, rest_window
from .routes_base import Call, RouteTable, Security, ServerState

table = RouteTable()
PUBLIC = Security.NONE

_INTEREST_RATE = "0.00010000"


@table.route("GET", "/fapi/v1/ping", PUBLIC)
def ping(server: ServerState, call: Call) -> Any:
    return {}


@table.route("GET", "/fapi/v1/time", PUBLIC)
def server_time(server: ServerState, call: Call) -> Any:
    return {"serverTime": server.clock()}


@table.route("GET", "/fapi/v1/exchangeInfo", PUBLIC)
def exchange_info(server: ServerState, call: Call) -> Any:
    """The universe's own exchangeInfo, only the simulator's symbols, with the configured weight and order
    limits (an ORDERS row's window is named as in `X-MBX-ORDER-COUNT-<n><unit>`: 10 SECOND is "10S")."""
    info = server.universe.exchange_info(server.clock(), sorted(server.sim.state.instruments))
    for row in info["symbols"]:  # a minimum price the replay lowered to its data's (sim/traded_prices.py)
        floor = server.sim.state.instruments[row["symbol"]].price_filter.min_price
        for found in row["filters"]:
            if found.get("filterType") == "PRICE_FILTER" and Decimal(str(found.get("minPrice"))) != floor:
                found["minPrice"] = fmt(floor)
    orders = {name: limit for name, _, limit in server.orders.windows}
    for limit in info["rateLimits"]:
        if limit.get("rateLimitType") == "REQUEST_WEIGHT":
            limit["limit"] = server.weights.limit
        elif limit.get("rateLimitType") == "ORDERS":
            name = f"{limit.get('intervalNum', 1)}{str(limit.get('interval', ''))[:1]}"
            limit["limit"] = orders.get(name, limit["limit"])
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
    """Recorded last prices plus the current one at the current time (so there is always one bar)."""
    sim = server.sim
    return [*((t, last) for t, last, _ in server.price_history.get(symbol, ())), (sim.now_ms, sim.last_price(symbol))]


@table.route("GET", "/fapi/v1/ticker/24hr", PUBLIC)
def ticker_24hr(server: ServerState, call: Call) -> Any:
    """Rolling 24 h statistics from the recorded steps and feed volumes (no trade ids or count: no tape)."""
    sim = server.sim
    rows = []
    for s in _symbols(server, call):
        since = sim.now_ms - 86_400_000
        points = [(t, p) for t, p in _history(server, s) if t >= since]
        prices = [p for _, p in points]
        first, last = prices[0], prices[-1]
        change = last - first
        volume, quote = _volume_since(server, s, since)
        tick = sim.instrument(s).tick_size
        average = round_to_grid(quote / volume, tick, Rounding.NEAREST) if volume else last
        rows.append({
            "symbol": s, "priceChange": fmt(change),
            "priceChangePercent": fmt((change / first * 100).quantize(Decimal("0.001"))) if first else "0",
            "weightedAvgPrice": fmt(average), "lastPrice": fmt(last), "lastQty": "0", "openPrice": fmt(first),
            "highPrice": fmt(max(prices)), "lowPrice": fmt(min(prices)), "volume": fmt(volume),
            "quoteVolume": fmt(quote), "openTime": points[0][0], "closeTime": points[-1][0], "firstId": 0,
            "lastId": 0, "count": 0,
        })
    return _one_or_all(call, rows)


def _volume_since(server: ServerState, symbol: str, since: int) -> tuple[Decimal, Decimal]:
    """The base and (estimated) quote volume of the feed bars opened at or after `since`."""
    volume = quote = Decimal(0)
    for time_ms, base, quoted in reversed(server.volume_history.get(symbol, ())):
        if time_ms < since:
            break
        volume += base
        quote += quoted
    return volume, quote


@table.route("GET", "/fapi/v1/klines", PUBLIC)
def klines(server: ServerState, call: Call) -> Any:
    """Built by `bar_source`, as the kline streams are: a closed streamed bar reads back identically."""
    return _kline_rows(server, call)


@table.route("GET", "/fapi/v1/markPriceKlines", PUBLIC)
def mark_price_klines(server: ServerState, call: Call) -> Any:
    """Mark-price klines, paged exactly as klines, built from the marks the simulator has been at: the last
    price where the mark moved with it, a replay's recorded marks (markPriceKlines/ beside its klines) and
    the mark a manual step set, so a MARK_PRICE stop's trigger can be checked against them. Volume-like
    columns are "0" and the count 0, as in Binance's markPriceKlines rows."""
    return _kline_rows(server, call, mark=True)


def _kline_rows(server: ServerState, call: Call, *, mark: bool = False) -> list[list[Any]]:
    """The 12-column rows: the base volume and the quote volume's estimate are known; the trade count and
    the taker split are not (the simulator has no tape), so those stay 0 and "0"."""
    symbol = call.need("symbol")
    interval = call.need("interval")
    server.sim.instrument(symbol)
    interval_ms(interval)
    limit = min(max(call.opt_int("limit") or 500, 1), 1500)
    opens = rest_window(server, symbol, interval, call.opt_int("startTime"), call.opt_int("endTime"), limit)
    if mark:
        return [[t, fmt(o), fmt(h), fmt(lo), fmt(c), "0", bar_close(t, interval), "0", 0, "0", "0", "0"]
                for t, o, h, lo, c, _, _ in bars(server, symbol, interval, opens, mark=True)]
    return [[t, fmt(o), fmt(h), fmt(lo), fmt(c), fmt(v), bar_close(t, interval), fmt(q), 0, "0", "0", "0"]
            for t, o, h, lo, c, v, q in bars(server, symbol, interval, opens)]


#: Binance's `fundingRate`: 100 rows by default, at most 1,000.
FUNDING_DEFAULT_LIMIT, FUNDING_MAX_LIMIT = 100, 1000


@table.route("GET", "/fapi/v1/fundingRate", PUBLIC)
def funding_rate(server: ServerState, call: Call) -> Any:
    """Funding history: the funding instants of the simulator's schedule since its earliest bar (through
    now), each with the rate its funding rates give and the mark (the mark bar's close) at that time; oldest first,
    from `startTime` forward, else the latest `limit` rows, as Binance answers (symbol required here)."""
    symbol = call.need("symbol")
    server.sim.instrument(symbol)
    limit = min(max(call.opt_int("limit") or FUNDING_DEFAULT_LIMIT, 1), FUNDING_MAX_LIMIT)
    sim = server.sim
    state = sim.state
    start, end = call.opt_int("startTime"), call.opt_int("endTime")
    earliest = first_open(server, symbol, "1m")
    last = sim.now_ms if end is None else min(end, sim.now_ms)
    times = state.funding_schedule.funding_times_between(symbol, max(earliest, start or earliest) - 1, last)
    times = times[:limit] if start is not None else times[-limit:]
    rows = []
    for t in times:
        opens = [bar_open(t - 1, "1m")]
        # The close before the funding instant; at the server's first bar, that bar's open (its price then).
        close = bars(server, symbol, "1m", opens, mark=True)[0][4] if opens[0] >= earliest else \
            bars(server, symbol, "1m", [earliest], mark=True)[0][1]
        rows.append({"symbol": symbol, "fundingTime": t, "fundingRate": fmt(state.funding_rates.rate(symbol, t)),
                     "markPrice": fmt(close)})
    return rows
