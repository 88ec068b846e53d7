"""Features of every symbol at once, from closed bars only: the AI scanner's inputs (issue 11).

The same function serves training (a month of history), dataset streaming (chunks with a carried
tail) and the live scan (`RollingWindow`, the last few hundred bars): every feature has finite
memory (see ml/rolling.py), so a row's value depends only on the `WARMUP_BARS` bars before it and
not on where the window starts. RSI is Cutler's (simple averages) and MACD uses EMAs truncated to
3 × span bars for that reason. Row t uses bars ≤ t only (the bar at t is closed when it is scored).

Returns are log returns; prices are normalised (by price or in log space) so one model fits every
symbol. A row whose bar is missing, or whose window holds a missing bar, is NaN: never a fake value.
Funding is the one feature allowed to be NaN (LightGBM routes NaN down a learned branch).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from quantum_trader.marketdata.bars import F64, I64, BarChunk
from quantum_trader.ml.rolling import ema_weights, fir, last_rows, rolling_mean, rolling_sum, safe_ratio, shift

RETURN_HORIZONS = (1, 5, 15, 60, 240)
VOL_WINDOWS = (15, 60, 240)
ATR_BARS = 14
RSI_BARS = 14
MACD_FAST, MACD_SLOW, MACD_SIGNAL = 12, 26, 9
#: EMA kernels are cut at 3 × span bars (the dropped tail weighs ~0.25 % of the infinite EMA).
EMA_TAPS_PER_SPAN = 3
VOLUME_Z_BARS = 60
MA_WINDOWS = (20, 100)
BETA_BARS = 240
RESIDUAL_HORIZON = 60

FEATURE_NAMES: tuple[str, ...] = (
    *(f"ret_{h}" for h in RETURN_HORIZONS),
    *(f"vol_{n}" for n in VOL_WINDOWS),
    f"atr_{ATR_BARS}_pct",
    f"range_atr_{ATR_BARS}",
    f"rsi_{RSI_BARS}",
    "macd",
    "macd_signal",
    "macd_hist",
    *(f"ma_dist_{n}" for n in MA_WINDOWS),
    f"volume_z_{VOLUME_Z_BARS}",
    "funding_rate",
    "mkt_ret_1",
    f"mkt_ret_{RESIDUAL_HORIZON}",
    f"beta_{BETA_BARS}",
    "resid_ret_1",
    f"resid_ret_{RESIDUAL_HORIZON}",
)
#: Bars of history before a row has every (non-funding) feature: row t is complete when t ≥ WARMUP_BARS,
#: so a window of WARMUP_BARS + 1 bars scores its last bar.
WARMUP_BARS: int = max(
    max(RETURN_HORIZONS), max(VOL_WINDOWS), ATR_BARS, RSI_BARS, VOLUME_Z_BARS - 1, max(MA_WINDOWS) - 1,
    BETA_BARS, RESIDUAL_HORIZON, EMA_TAPS_PER_SPAN * (MACD_SLOW + MACD_SIGNAL) - 2,
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class BarWindow:
    """T × S float64 bars, oldest first (NaN = missing bar), consecutive bar intervals without time gaps.

    `funding` (T × S, NaN allowed) is the last funding rate known at each bar's close, when available.
    """

    open_time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    volume: F64
    funding: F64 | None = None

    def __post_init__(self) -> None:
        shape = self.close.shape
        if len(shape) != 2 or shape[0] != len(self.open_time):
            raise ValueError(f"BarWindow.close has shape {shape}, expected ({len(self.open_time)}, S)")
        for name in ("open", "high", "low", "volume", "funding"):
            value = getattr(self, name)
            if value is not None and value.shape != shape:
                raise ValueError(f"BarWindow.{name} has shape {value.shape}, expected {shape}")

    def __len__(self) -> int:
        return len(self.open_time)

    @classmethod
    def from_chunk(cls, chunk: BarChunk) -> BarWindow:
        """The chunk's arrays as a window (views, no copy; no funding)."""
        return cls(chunk.open_time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume)

    def tail(self, n: int) -> BarWindow:
        """The last n bars (views)."""
        start = max(len(self) - n, 0)
        funding = None if self.funding is None else self.funding[start:]
        return BarWindow(self.open_time[start:], self.open[start:], self.high[start:], self.low[start:],
                         self.close[start:], self.volume[start:], funding)  # fmt: skip


def _log(x: F64) -> F64:
    """Natural log of positive values; NaN for missing or non-positive ones."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, np.log(np.where(x > 0, x, 1.0)), np.nan)


def _price_features(w: BarWindow, lc: F64, r1: F64, rows: int | None) -> list[F64]:
    """Returns, realised volatility, ATR and range, RSI, MACD and distance from moving averages.

    Each feature's last `rows` rows only (all when None): `latest_features` asks for one.
    """
    feats = [last_rows(lc, rows) - shift(lc, h, rows) for h in RETURN_HORIZONS]
    squares = r1 * r1
    feats += [np.sqrt(rolling_mean(squares, n, rows)) for n in VOL_WINDOWS]
    prev_close = shift(w.close, 1)
    true_range = np.fmax(w.high, prev_close) - np.fmin(w.low, prev_close)
    true_range[np.isnan(prev_close) | np.isnan(w.high) | np.isnan(w.low)] = np.nan
    atr = rolling_mean(true_range, ATR_BARS, rows)
    feats += [safe_ratio(atr, last_rows(w.close, rows)), safe_ratio(last_rows(true_range, rows), atr, when_zero=1.0)]
    gains = rolling_sum(np.fmax(r1, 0.0), RSI_BARS, rows)
    losses = rolling_sum(np.fmax(-r1, 0.0), RSI_BARS, rows)
    feats.append(100.0 * safe_ratio(gains, gains + losses, when_zero=0.5))
    feats += _macd(w.close, rows)
    feats += [last_rows(lc, rows) - rolling_mean(lc, n, rows) for n in MA_WINDOWS]
    return feats


def _macd(close: F64, rows: int | None) -> list[F64]:
    """MACD line, signal and histogram, divided by the close so they compare across symbols."""
    line_rows = None if rows is None else rows + EMA_TAPS_PER_SPAN * MACD_SIGNAL - 1
    fast = fir(close, ema_weights(MACD_FAST, EMA_TAPS_PER_SPAN * MACD_FAST), line_rows)
    slow = fir(close, ema_weights(MACD_SLOW, EMA_TAPS_PER_SPAN * MACD_SLOW), line_rows)
    line = safe_ratio(fast - slow, last_rows(close, line_rows))
    signal = fir(line, ema_weights(MACD_SIGNAL, EMA_TAPS_PER_SPAN * MACD_SIGNAL), rows)
    line = last_rows(line, rows)
    return [line, signal, line - signal]


def _volume_z(volume: F64, rows: int | None) -> F64:
    """z-score of log(1 + volume) against its last VOLUME_Z_BARS bars (0 when volume is steady)."""
    lv = np.log1p(np.where(volume >= 0, volume, np.nan))
    mean = rolling_mean(lv, VOLUME_Z_BARS, rows)
    var = np.fmax(rolling_mean(lv * lv, VOLUME_Z_BARS, rows) - mean * mean, 0.0)
    var[np.isnan(mean)] = np.nan
    std = np.sqrt(var)
    # Below 1e-4 (volume steady to 0.01 %) the spread is cumulative-sum rounding, not information.
    return safe_ratio(last_rows(lv, rows) - mean, np.where(std < 1e-4, 0.0, std), when_zero=0.0)


def _market_features(r1: F64, lc: F64, rows: int | None) -> list[F64]:
    """Market factor (equal-weighted mean one-bar return of the symbols present), beta and residuals."""
    present = ~np.isnan(r1)
    count = present.sum(axis=1, keepdims=True)
    market = safe_ratio(np.where(present, r1, 0.0).sum(axis=1, keepdims=True), count.astype(np.float64))
    market_h = rolling_sum(market, RESIDUAL_HORIZON, rows)
    mean_r, mean_m = rolling_mean(r1, BETA_BARS, rows), rolling_mean(market, BETA_BARS, rows)
    cov = rolling_mean(r1 * market, BETA_BARS, rows) - mean_r * mean_m
    var = rolling_mean(market * market, BETA_BARS, rows) - mean_m * mean_m
    beta = safe_ratio(cov, np.where(var < 1e-18, 0.0, var))
    ret_h = last_rows(lc, rows) - shift(lc, RESIDUAL_HORIZON, rows)
    market_now = last_rows(market, rows)
    shape = beta.shape
    return [np.broadcast_to(market_now, shape), np.broadcast_to(market_h, shape), beta,
            last_rows(r1, rows) - beta * market_now, ret_h - beta * market_h]  # fmt: skip


def _features(window: BarWindow, rows: int | None) -> npt.NDArray[np.float32]:
    """The last `rows` rows of compute_features (all when None)."""
    lc = _log(window.close)
    r1 = lc - shift(lc, 1)
    funding = np.full(lc.shape, np.nan) if window.funding is None else window.funding
    feats = [*_price_features(window, lc, r1, rows), _volume_z(window.volume, rows), last_rows(funding, rows),
             *_market_features(r1, lc, rows)]  # fmt: skip
    n_rows = lc.shape[0] if rows is None else rows
    out = np.empty((n_rows, lc.shape[1], len(FEATURE_NAMES)), np.float32)
    for i, feat in enumerate(feats):
        out[:, :, i] = feat
    missing = np.isnan(window.close) | np.isnan(window.high) | np.isnan(window.low) | np.isnan(window.volume)
    out[last_rows(missing.astype(np.float64), rows) != 0] = np.nan
    return out


def compute_features(window: BarWindow) -> npt.NDArray[np.float32]:
    """Features [T, S, F] (in FEATURE_NAMES order); row t uses bars ≤ t only.

    Rows before WARMUP_BARS, rows whose bar is missing and rows with a missing bar in a feature's
    window hold NaN; funding is NaN when the window has none.
    """
    return _features(window, None)


def latest_features(window: BarWindow) -> npt.NDArray[np.float32]:
    """Features [S, F] of the last bar: compute_features(window)[-1], computed for that row only.

    Same code as compute_features, asked for one row: each rolling sum reads only the bars its
    window needs, so a scan of 222 symbols costs a few milliseconds.
    """
    if len(window) == 0:
        raise ValueError("latest_features needs at least one bar")
    last: npt.NDArray[np.float32] = _features(window.tail(WARMUP_BARS + 1), 1)[0]
    return last


class RollingWindow:
    """The last `capacity` bars per symbol, as the live scanner keeps them between closed bars.

    Bars live in a buffer of 2 × capacity rows; when it fills, the last capacity - 1 rows move to the
    front once, so appending costs O(bars) amortised with no per-bar Python loop. Open times must
    increase; bars at or before the last one held are ignored (a repaired bar re-sent), and a gap in
    time becomes rows of NaN so the rows stay one interval apart as `compute_features` assumes.
    Columns are matched by symbol name: a symbol absent from a chunk gets NaN, extra symbols are ignored.
    """

    _FIELDS = ("open", "high", "low", "close", "volume")

    def __init__(self, symbols: tuple[str, ...], capacity: int = WARMUP_BARS + 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.symbols = tuple(symbols)
        self.capacity = capacity
        self._data = np.full((len(self._FIELDS), 2 * capacity, len(self.symbols)), np.nan)
        self._time = np.zeros(2 * capacity, np.int64)
        self._end = 0  # buffer row after the newest bar
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def _columns(self, chunk: BarChunk) -> F64:
        """The chunk's fields as [5, T, S] in this window's symbol order."""
        fields = np.stack([getattr(chunk, name) for name in self._FIELDS])
        if chunk.symbols == self.symbols:
            return fields
        where = {symbol: i for i, symbol in enumerate(chunk.symbols)}
        out = np.full((len(self._FIELDS), len(chunk), len(self.symbols)), np.nan)
        pairs = [(s, where[symbol]) for s, symbol in enumerate(self.symbols) if symbol in where]
        if pairs:
            mine, theirs = (list(x) for x in zip(*pairs, strict=True))
            out[:, :, mine] = fields[:, :, theirs]
        return out

    def append(self, chunk: BarChunk) -> None:
        """Add a chunk of closed bars (any length)."""
        step = chunk.interval_ms
        times = chunk.open_time
        newer = times > self._time[self._end - 1] if self._len else np.ones(len(times), np.bool_)
        if not newer.any():
            return
        times, fields = times[newer], self._columns(chunk)[:, newer]
        origin = int(self._time[self._end - 1]) + step if self._len else int(times[0])
        offsets = (times - origin) // step
        if np.any((times - origin) % step) or np.any(np.diff(offsets) <= 0):
            raise ValueError("RollingWindow.append: open times off the bar grid or not increasing")
        n_new = int(offsets[-1]) + 1
        skip = max(n_new - self.capacity, 0)  # rows that would scroll out at once
        block = np.full((len(self._FIELDS), n_new - skip, len(self.symbols)), np.nan)
        kept = offsets >= skip
        block[:, offsets[kept] - skip] = fields[:, kept]
        self._write(block, origin + step * np.arange(skip, n_new, dtype=np.int64), drop_all=skip > 0)

    def _write(self, block: F64, times: I64, *, drop_all: bool) -> None:
        n = block.shape[1]
        held = 0 if drop_all else min(self._len, self.capacity - n)
        if self._end + n > self._data.shape[1]:
            self._data[:, :held] = self._data[:, self._end - held : self._end]
            self._time[:held] = self._time[self._end - held : self._end]
            self._end = held
        self._data[:, self._end : self._end + n] = block
        self._time[self._end : self._end + n] = times
        self._end += n
        self._len = min(held + n, self.capacity) if drop_all else min(self._len + n, self.capacity)

    def window(self) -> BarWindow:
        """The bars held, oldest first (copies: later appends do not change a window already taken)."""
        rows = slice(self._end - self._len, self._end)
        o, h, lo, c, v = (self._data[i, rows].copy() for i in range(len(self._FIELDS)))
        return BarWindow(self._time[rows].copy(), o, h, lo, c, v)
