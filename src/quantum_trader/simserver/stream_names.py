"""Market stream names as Binance spells them (binance_futures.md §7.6), parsed once per subscription.

Served: `<symbol>@markPrice` (every 3 s), `<symbol>@markPrice@1s`, `!markPrice@arr`, `!markPrice@arr@1s`
and `<symbol>@kline_<interval>`. Symbols are lowercase in stream names, as on Binance: a client that
sends `BTCUSDT@markPrice` gets nothing from Binance, so it is refused here rather than served.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from enum import Enum

from .bar_source import INTERVALS

_MARK_PERIODS = {"markPrice": 3.0, "markPrice@1s": 1.0}
_ALL_MARK_PERIODS = {"!markPrice@arr": 3.0, "!markPrice@arr@1s": 1.0}


class StreamKind(Enum):
    MARK = "mark"
    ALL_MARK = "all_mark"
    KLINE = "kline"


@dataclass(frozen=True)
class StreamSpec:
    """One parsed stream: what to build (`kind`), for which symbol and interval, how often (mark)."""

    name: str
    kind: StreamKind
    symbol: str = ""
    interval: str = ""
    period_s: float = 0.0


def looks_like_stream(name: str) -> bool:
    """A stream name (valid or not) rather than a listenKey or ccxt.pro's connection index (`/ws/0`)."""
    return "@" in name or name.startswith("!")


def parse_stream(name: str, symbols: Container[str]) -> StreamSpec | None:
    """The stream `name` names, or None when this server does not publish it."""
    if name in _ALL_MARK_PERIODS:
        return StreamSpec(name, StreamKind.ALL_MARK, period_s=_ALL_MARK_PERIODS[name])
    symbol_part, _, kind = name.partition("@")
    symbol = symbol_part.upper()
    if not symbol_part or symbol_part != symbol_part.lower() or symbol not in symbols:
        return None
    if kind in _MARK_PERIODS:
        return StreamSpec(name, StreamKind.MARK, symbol, period_s=_MARK_PERIODS[kind])
    if kind.startswith("kline_") and kind[len("kline_"):] in INTERVALS:
        return StreamSpec(name, StreamKind.KLINE, symbol, kind[len("kline_"):])
    return None
