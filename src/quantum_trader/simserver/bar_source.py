"""The one place the simulator server turns its recorded price steps into klines.

`GET /fapi/v1/klines` and the `<symbol>@kline_<interval>` streams both call `bars`, so a closed bar sent
with `"x": true` has exactly the OHLC a client reads back over REST afterwards (a client that backfills
after a reconnect must not see a different bar). The steps are `ServerState.price_history`: every
`/sim/v1/prices` step and every feed bar's open, high, low and close, at the simulated time they
happened. Bars are contiguous as on Binance: a bar the market did not move in is flat at the previous
close, and before the first step a symbol is flat at the price it had when the server started (its
`origin`, recorded by the stream hub). A bar's volume is the sum of the feed bars' volumes inside it
(`ServerState.volume_history`: replayed data's own, or the synthetic market's), so a strategy that reads
volume (the AI scanner's volume z-score) sees over the live path what a backtest of the same data sees;
manual steps and the simulator's own fills add none (it has no tape of other traders). Its quote volume
is the sum of the feed bars' estimates (`routes_base.VolumeStep`). `mark=True` builds the same bars from
the recorded marks instead of the last prices: `GET /fapi/v1/markPriceKlines`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal

from ..domain import binance_errors as be
from .routes_base import PriceStep, ServerState

INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M")
_UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
#: 1970-01-01 was a Thursday; Binance's weekly bars open on Monday 00:00 UTC.
_WEEK_OFFSET_MS = 4 * 86_400_000

#: Nominal lengths (1M: 31 days); a table because streams ask for them for every bar they send.
_LENGTH_MS = {i: 31 * 86_400_000 if i == "1M" else int(i[:-1]) * _UNIT_MS[i[-1]] for i in INTERVALS}

#: (open time ms, open, high, low, close, base-asset volume, quote volume)
Bar = tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]
_NO_VOLUME = Decimal(0)


def interval_ms(interval: str) -> int:
    """Nominal length of an interval (-1130 for one Binance does not have); 1M is 31 days here."""
    length = _LENGTH_MS.get(interval)
    if length is None:
        raise be.invalid_data("interval")
    return length


def bar_open(time_ms: int, interval: str) -> int:
    """Open time of the bar holding `time_ms` (UTC calendar months for 1M, Monday weeks for 1w)."""
    if interval == "1M":
        moment = dt.datetime.fromtimestamp(time_ms / 1000, dt.UTC)
        return int(dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC).timestamp() * 1000)
    length = interval_ms(interval)
    offset = _WEEK_OFFSET_MS if interval.endswith("w") else 0
    return time_ms - (time_ms - offset) % length


def bar_close(open_ms: int, interval: str) -> int:
    """The bar's last millisecond (Binance's kline close time `T`)."""
    if interval != "1M":
        return open_ms + interval_ms(interval) - 1
    moment = dt.datetime.fromtimestamp(open_ms / 1000, dt.UTC)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int(dt.datetime(year, month, 1, tzinfo=dt.UTC).timestamp() * 1000) - 1


def opens_back(last_open: int, first_open: int, interval: str, limit: int) -> list[int]:
    """Up to `limit` bar opens ending at `last_open` and not before `first_open`, oldest first."""
    opens: list[int] = []
    current = last_open
    while current >= first_open and len(opens) < limit:
        opens.append(current)
        current = bar_open(current - 1, interval)
    opens.reverse()
    return opens


def opens_forward(first_open: int, last_open: int, interval: str, limit: int) -> list[int]:
    """Up to `limit` bar opens from `first_open` through `last_open`, oldest first."""
    opens: list[int] = []
    current = first_open
    while current <= last_open and len(opens) < limit:
        opens.append(current)
        current = bar_close(current, interval) + 1
    return opens


def first_open(server: ServerState, symbol: str, interval: str) -> int:
    """The earliest bar the server has for `symbol`: where its origin or its oldest kept step falls.

    Once the bounded history has dropped old steps, the bar holding the oldest kept step may have lost
    some of them, so the first whole bar after it is the earliest one served.
    """
    rows = server.price_history.get(symbol)
    if rows and rows.maxlen is not None and len(rows) >= rows.maxlen:
        return bar_close(bar_open(rows[0][0], interval), interval) + 1
    times = [server.sim.now_ms]
    if rows:
        times.append(rows[0][0])
    origin = _origin(server, symbol)
    if origin is not None:
        times.append(origin[0])
    return bar_open(min(times), interval)


def _origin(server: ServerState, symbol: str) -> PriceStep | None:
    hub = server.streams
    return None if hub is None else hub.origin.get(symbol)


def bars(server: ServerState, symbol: str, interval: str, opens: Sequence[int], *, mark: bool = False) -> list[Bar]:
    """OHLC and volume of the contiguous bars opening at `opens` (ascending), from the recorded steps'
    last prices, or with `mark` their mark prices.

    One backward walk over the steps: those after the last bar are skipped, those inside are bucketed,
    and the first one before the window is the close that fills a bar without steps.
    """
    if not opens:
        return []
    rows = server.price_history.get(symbol, ())
    window_end = bar_close(opens[-1], interval)
    inside: list[tuple[int, Decimal]] = []
    previous: Decimal | None = None
    for time_ms, last, marked in reversed(rows):
        if time_ms > window_end:
            continue
        if time_ms < opens[0]:
            previous = marked if mark else last
            break
        inside.append((time_ms, marked if mark else last))
    inside.reverse()
    if previous is None:
        origin = _origin(server, symbol)
        if origin is not None:
            previous = origin[2] if mark else origin[1]
        elif inside:
            previous = inside[0][1]
        else:
            previous = server.sim.mark_price(symbol) if mark else server.sim.last_price(symbol)
    volumes = _volumes(server, symbol, interval, opens)
    out: list[Bar] = []
    i = 0
    for open_ms, (volume, quote) in zip(opens, volumes, strict=True):
        close_ms = bar_close(open_ms, interval)
        prices: list[Decimal] = []
        while i < len(inside) and inside[i][0] <= close_ms:
            prices.append(inside[i][1])
            i += 1
        if prices:
            out.append((open_ms, prices[0], max(prices), min(prices), prices[-1], volume, quote))
            previous = prices[-1]
        else:
            out.append((open_ms, previous, previous, previous, previous, volume, quote))
    return out


def _volumes(server: ServerState, symbol: str, interval: str, opens: Sequence[int]) -> list[tuple[Decimal, Decimal]]:
    """Each bar's summed feed volume and quote volume (0 where none was recorded), by the same backward walk
    as the prices."""
    rows = server.volume_history.get(symbol)
    if not rows:
        return [(_NO_VOLUME, _NO_VOLUME)] * len(opens)
    totals = dict.fromkeys(opens, _NO_VOLUME)
    quotes = dict.fromkeys(opens, _NO_VOLUME)
    window_end = bar_close(opens[-1], interval)
    for time_ms, volume, quote in reversed(rows):
        if time_ms > window_end:
            continue
        if time_ms < opens[0]:
            break
        key = bar_open(time_ms, interval)
        if key in totals:
            totals[key] += volume
            quotes[key] += quote
    return [(totals[o], quotes[o]) for o in opens]


def rest_window(server: ServerState, symbol: str, interval: str, start: int | None, end: int | None,
                limit: int) -> list[int]:
    """The opens `GET /fapi/v1/klines` answers: from `startTime` forward, else the latest `limit`."""
    current = bar_open(server.sim.now_ms, interval)
    last = current if end is None else min(current, bar_open(end, interval))
    earliest = first_open(server, symbol, interval)
    if start is not None:
        return opens_forward(max(earliest, bar_open(start, interval)), last, interval, limit)
    return opens_back(last, earliest, interval, limit)
