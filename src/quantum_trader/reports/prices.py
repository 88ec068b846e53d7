"""What the trades-on-price chart draws per symbol: a light line of closes, exact around every trade.

A month of 1-minute bars is 43,000 points per symbol and a year half a million: too many for a file that
must open instantly. So the line keeps at most ~5,000 evenly spaced closes, plus every bar from a little
before each entry to a little after its exit (a long trade keeps its ends exactly), where the reader
zooms. Entry and exit markers are placed on the bar their fill belongs to, and the stop and take-profit
are drawn as segments over each trade's life, broken between trades.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ..domain.events import TradeClosed, TradeOpened
from ..domain.money import fmt

MAX_POINTS = 5_000
#: Bars kept exactly before each entry and after each exit.
PAD_BARS = 15
#: A trade longer than twice this keeps this many bars exactly at each end (the middle is downsampled).
TRADE_END_BARS = 30
Ints = npt.NDArray[np.int64]
#: Short exit labels on the chart (the table below has the full words).
EXIT_LABELS = {"stop_loss": "SL", "take_profit": "TP", "emergency": "EM", "liquidation": "LIQ", "manual": "M",
               "kill_switch": "KILL", "unknown": "?"}


@dataclass(frozen=True)
class TradeSpan:
    """One trade on its symbol's bars: indices into the full series, and what the chart labels."""

    trade: TradeClosed
    take_profit: str | None
    entry_index: int
    exit_index: int


def bar_index(times: Ints, time_ms: int) -> int:
    """The bar an event at `time_ms` belongs to: the last bar opened at or before it."""
    return max(int(np.searchsorted(times, time_ms, side="right")) - 1, 0)


def kept_indices(n: int, spans: Sequence[TradeSpan], max_points: int = MAX_POINTS) -> Ints:
    """Evenly spaced indices (≤ max_points, first and last included) plus the exact bars around each trade."""
    if n == 0:
        return np.zeros(0, np.int64)
    stride = max(1, -(-n // max_points))
    parts = [np.arange(0, n, stride, dtype=np.int64), np.array([n - 1], np.int64)]
    for span in spans:
        lo, hi = max(span.entry_index - PAD_BARS, 0), min(span.exit_index + PAD_BARS, n - 1)
        if hi - lo > 2 * TRADE_END_BARS:
            parts.append(np.arange(lo, lo + TRADE_END_BARS, dtype=np.int64))
            parts.append(np.arange(hi - TRADE_END_BARS, hi + 1, dtype=np.int64))
        else:
            parts.append(np.arange(lo, hi + 1, dtype=np.int64))
    return np.unique(np.concatenate(parts))


def _short(value: float) -> float:
    """A float32 close as the short decimal it was read from (7 significant digits), not its binary tail."""
    return float(f"{value:.7g}")


def _segments(spans: Sequence[TradeSpan], seconds: Ints, kept: Ints, level: str) -> list[list[Any]]:
    """[time, value, gap] at each trade's entry (gap 0) and exit (gap 1). The library's line series draws
    across whitespace (no gaps), but colours each segment as its first point: the script draws a segment
    that starts at an exit transparent, so the line breaks between trades. A trade entered on the bar the
    previous one left ends its predecessor's segment one kept bar earlier (else the two would join)."""
    points: dict[int, tuple[float, int]] = {}
    for span in spans:
        value = span.trade.planned_stop if level == "stop" else span.take_profit
        if value is None:
            continue
        entry = int(seconds[span.entry_index])
        if points.get(entry, (0.0, 0))[1]:
            previous, _ = points.pop(entry)
            before = int(kept[max(int(np.searchsorted(kept, span.entry_index)) - 1, 0)])
            points[int(seconds[before])] = (previous, 1)
        points[entry] = (float(value), 0)
        points[int(seconds[span.exit_index])] = (float(value), 1)
    return [[t, *points[t]] for t in sorted(points)]


def _markers(spans: Sequence[TradeSpan], seconds: Ints) -> list[dict[str, Any]]:
    """An arrow at each entry price and a circle at each exit price, coloured by the trade's result."""
    markers = []
    for span in spans:
        t = span.trade
        long = t.direction.value == "long"
        markers.append({"time": int(seconds[span.entry_index]), "position": "atPriceMiddle",
                        "price": float(t.entry_price), "shape": "arrowUp" if long else "arrowDown",
                        "color": "#88c0d0", "text": f"{'L' if long else 'S'}{t.trade_id.rsplit('_', 1)[-1]}"})
        if t.exit_price is None or t.realized_pnl is None:
            continue  # an unknown exit has no price to mark
        net = t.realized_pnl - t.fees + t.funding
        markers.append({"time": int(seconds[span.exit_index]), "position": "atPriceMiddle",
                        "price": float(t.exit_price), "shape": "circle",
                        "color": "#a3be8c" if net >= 0 else "#bf616a",
                        "text": EXIT_LABELS.get(t.exit_reason.value, "")})
    return sorted(markers, key=lambda m: (m["time"], m["shape"] != "circle"))


def symbol_chart(times: Ints, closes: npt.NDArray[np.float32], trades: Sequence[TradeClosed],
                 take_profits: Mapping[str, str | None]) -> dict[str, Any]:
    """Everything the trades-on-price chart draws for one symbol (times in seconds, as the library wants)."""
    spans = [TradeSpan(t, take_profits.get(t.trade_id), bar_index(times, t.opened_ms), bar_index(times, t.time_ms))
             for t in sorted(trades, key=lambda t: t.opened_ms)] if len(times) else []
    kept = kept_indices(len(times), spans)
    seconds = times // 1000
    return {
        "prices": [[int(seconds[i]), _short(float(closes[i]))] for i in kept],
        "stops": _segments(spans, seconds, kept, "stop"),
        "take_profits": _segments(spans, seconds, kept, "take_profit"),
        "markers": _markers(spans, seconds),
    }


def take_profits(opened: Sequence[TradeOpened]) -> dict[str, str | None]:
    """Each trade's planned take-profit as a Decimal string, by trade id."""
    return {o.trade_id: None if o.planned_take_profit is None else fmt(o.planned_take_profit) for o in opened}
