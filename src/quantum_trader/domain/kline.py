"""One closed kline as the exchange reports it: what a REST backfill of the live bar feed reads.

Prices stay Decimal at the port, as every price does; the bar feed converts them to the float arrays of
`marketdata.bars.BarChunk`, where prices are only searched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from .money import to_decimal


class Kline(NamedTuple):
    """Binance's kline row: open time (ms), OHLCV, and close time (the bar's last millisecond)."""

    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_ms: int


def kline_from_row(row: Sequence[Any]) -> Kline:
    """A `GET /fapi/v1/klines` row: [open time, o, h, l, c, volume, close time, ...]."""
    return Kline(int(row[0]), to_decimal(row[1], "open"), to_decimal(row[2], "high"), to_decimal(row[3], "low"),
                 to_decimal(row[4], "close"), to_decimal(row[5], "volume"), int(row[6]))


def kline_from_stream(k: Mapping[str, Any]) -> Kline:
    """The `k` object of a `<symbol>@kline_<interval>` stream message."""
    return Kline(int(k["t"]), to_decimal(k["o"], "o"), to_decimal(k["h"], "h"), to_decimal(k["l"], "l"),
                 to_decimal(k["c"], "c"), to_decimal(k["v"], "v"), int(k["T"]))
