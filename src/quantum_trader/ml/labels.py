"""Triple-barrier labels: would the bot's trade, entered at a bar's close, have won? (issue 11).

The label is exactly the trade the bot takes, so the model's probability is the chance that trade
wins: entry at the close of bar t, a stop-loss `sl_pct` and a take-profit `tp_pct` away (percent of
entry, as QT_STOP_LOSS_PCT / QT_TAKE_PROFIT_PCT), then bars t+1..t+horizon searched with their
high/low. Conventions, all chosen to never flatter the model:
- a bar touching both barriers counts as the stop (the bot's stop is a STOP_MARKET on MARK price and
  fills first in a crash; which came first inside a bar is unknowable from OHLC);
- a bar opening beyond a barrier fills at its open (a stop gapped through fills worse than its price);
- not resolved within `horizon` bars is not a win (marked to market at the close of bar t+horizon);
- a round-trip taker fee (entry and exit notional × `fee_rate`) is charged: a take-profit that does
  not cover the fees is a loss;
- unknown (-1 / NaN) for the last `horizon` bars (not enough future) and for trades that run into a
  missing bar before resolving, so no label depends on bars after t+horizon or on invented prices.
Funding paid while the trade is open is ignored (≤ 2 settlements in 12 h, ~0.01 % each typically).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from quantum_trader.marketdata.bars import F64, I64
from quantum_trader.ml.features import BarWindow

#: 720 one-minute bars (12 h): long enough that most 2 %/4 % trades resolve (about a third time out on
#: the shared 2026-02 and 2023-02 data, against ~70 % at 4 h), short enough to be the trade the bot means
#: (it holds a position for hours, not days) and to keep the purge between walk-forward folds small.
DEFAULT_HORIZON = 720
_WIN, _LOSS, _TIMEOUT, _UNKNOWN = 1, 0, 2, -1


@dataclass(frozen=True, eq=False)
class Labels:
    """Per bar and symbol [T, S]: outcome (1 win, 0 loss or timeout, -1 unknown) and net return per side."""

    win_long: npt.NDArray[np.int8]
    win_short: npt.NDArray[np.int8]
    ret_long: F64  # net return as a fraction of entry after fees; NaN = unknown
    ret_short: F64
    timeout_long: npt.NDArray[np.bool_]
    timeout_short: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class LabelStats:
    """Base rates over the known labels: what a model has to beat, and how many trades never resolved."""

    known: int
    win_long: float
    win_short: float
    timeout_long: float
    timeout_short: float
    mean_ret_long: float
    mean_ret_short: float


def _net_return(exit_ratio: F64, long: bool, fee_rate: float) -> F64:
    """Net return of a trade exiting at exit_ratio × entry: price move minus entry and exit taker fees."""
    gross = exit_ratio - 1.0 if long else 1.0 - exit_ratio
    return gross - fee_rate * (1.0 + exit_ratio)


#: Bars per block of the barrier search: trades whose block's low/high stays between the barriers skip
#: the block in one comparison; only the few that touch a barrier are searched bar by bar.
_BLOCK = 32


@dataclass
class _Open:
    """Trades still open: flat [t·S + s] index, entry price and barrier prices."""

    idx: I64
    entry: F64
    stop: F64
    take: F64

    def take_rows(self, keep: npt.NDArray[np.bool_]) -> _Open:
        return _Open(self.idx[keep], self.entry[keep], self.stop[keep], self.take[keep])

    def join(self, other: _Open) -> _Open:
        return _Open(*(np.concatenate([a, b]) for a, b in
                       ((self.idx, other.idx), (self.entry, other.entry), (self.stop, other.stop),
                        (self.take, other.take))))  # fmt: skip


def _scan(w: BarWindow, trades: _Open, steps: range, long: bool, out: tuple[I64, F64]) -> _Open:
    """Search bars t+k (k in steps) one at a time, recording every trade that resolves; return the rest."""
    outcome, exit_ratio = out
    n_sym = w.close.shape[1]
    high, low, opens = w.high.reshape(-1), w.low.reshape(-1), w.open.reshape(-1)
    for k in steps:
        if trades.idx.size == 0:
            break
        at = trades.idx + k * n_sym
        h, lo, o = high[at], low[at], opens[at]
        missing = np.isnan(h) | np.isnan(lo)
        hit_sl = ~missing & ((lo <= trades.stop) if long else (h >= trades.stop))
        hit_tp = ~missing & ~hit_sl & ((h >= trades.take) if long else (lo <= trades.take))
        fill_sl = np.fmin(trades.stop, o) if long else np.fmax(trades.stop, o)  # fmin/fmax: NaN open = no gap
        fill_tp = np.fmax(trades.take, o) if long else np.fmin(trades.take, o)
        outcome[trades.idx[hit_sl]] = _LOSS
        exit_ratio[trades.idx[hit_sl]] = fill_sl[hit_sl] / trades.entry[hit_sl]
        outcome[trades.idx[hit_tp]] = _WIN
        exit_ratio[trades.idx[hit_tp]] = fill_tp[hit_tp] / trades.entry[hit_tp]
        trades = trades.take_rows(~(missing | hit_sl | hit_tp))
    return trades


def _side(w: BarWindow, long: bool, sl: float, tp: float, horizon: int) -> tuple[I64, F64]:
    """Outcome codes (1 TP, 0 SL, 2 timeout, -1 unknown) and exit/entry price ratio per [t, s], flattened.

    The horizon is searched in blocks of _BLOCK bars: a block's rolling low/high (NaN if a bar is
    missing) tells in one vectorised comparison which open trades may resolve in it; those are then
    scanned bar by bar (`_scan`), the others skip the block. No per-bar loop over all trades.
    """
    rows, n_sym = w.close.shape
    outcome = np.full(rows * n_sym, _UNKNOWN, np.int64)
    exit_ratio = np.full(rows * n_sym, np.nan)
    entry = w.close.reshape(-1)[: max(rows - horizon, 0) * n_sym]
    idx = np.flatnonzero(~np.isnan(entry) & (entry > 0))
    trades = _Open(idx, entry[idx], entry[idx] * (1.0 - sl if long else 1.0 + sl),
                   entry[idx] * (1.0 + tp if long else 1.0 - tp))  # fmt: skip
    block = min(_BLOCK, horizon)
    if trades.idx.size and rows >= block:
        block_low = sliding_window_view(w.low, block, axis=0).min(axis=-1).reshape(-1)
        block_high = sliding_window_view(w.high, block, axis=0).max(axis=-1).reshape(-1)
    for first in range(1, horizon + 1, block):
        steps = range(first, min(first + block, horizon + 1))
        if len(steps) < block or trades.idx.size == 0:
            trades = _scan(w, trades, steps, long, (outcome, exit_ratio))
            continue
        at = trades.idx + first * n_sym
        lo, hi = block_low[at], block_high[at]
        quiet = (lo > trades.stop) & (hi < trades.take) if long else (hi < trades.stop) & (lo > trades.take)
        rest = _scan(w, trades.take_rows(~quiet), steps, long, (outcome, exit_ratio))
        trades = trades.take_rows(quiet).join(rest)
    outcome[trades.idx] = _TIMEOUT
    exit_ratio[trades.idx] = w.close.reshape(-1)[trades.idx + horizon * n_sym] / trades.entry
    return outcome, exit_ratio


def triple_barrier(window: BarWindow, *, sl_pct: float, tp_pct: float, fee_rate: float, horizon: int) -> Labels:
    """Label both sides of a trade entered at every bar's close (see the module docstring for the rules).

    `sl_pct` and `tp_pct` are percent of entry (2.0 = 2 %); `fee_rate` is the taker rate as a fraction
    (0.0005 = 0.05 %, sim/fees.py's default).
    """
    if horizon < 1 or not 0 < sl_pct < 100 or tp_pct <= 0 or fee_rate < 0:
        raise ValueError(f"bad barrier: sl_pct={sl_pct} tp_pct={tp_pct} fee_rate={fee_rate} horizon={horizon}")
    shape = window.close.shape
    sides = []
    for long in (True, False):
        outcome, exit_ratio = _side(window, long, sl_pct / 100.0, tp_pct / 100.0, horizon)
        net = _net_return(exit_ratio, long, fee_rate)
        win = np.where(outcome < 0, _UNKNOWN, (outcome == _WIN) & (net > 0)).astype(np.int8)
        sides.append((win.reshape(shape), net.reshape(shape), (outcome == _TIMEOUT).reshape(shape)))
    (win_l, ret_l, out_l), (win_s, ret_s, out_s) = sides
    return Labels(win_l, win_s, ret_l, ret_s, out_l, out_s)


def label_stats(labels: Labels) -> LabelStats:
    """Win shares, timeout shares and mean net returns over the bars where both sides are known."""
    known = (labels.win_long >= 0) & (labels.win_short >= 0)
    n = int(known.sum())
    if n == 0:
        return LabelStats(0, *([float("nan")] * 6))

    def share(x: npt.NDArray[np.generic]) -> float:
        return float(np.count_nonzero(x[known]) / n)

    return LabelStats(n, share(labels.win_long == 1), share(labels.win_short == 1), share(labels.timeout_long),
                      share(labels.timeout_short), float(labels.ret_long[known].mean()),
                      float(labels.ret_short[known].mean()))  # fmt: skip
