"""Rolling-window primitives over [T, S] float arrays, vectorised along time and symbols.

Every primitive has *finite memory*: row t depends on rows t-n+1..t only. That is what makes the
features of a row identical whether they are computed on a month of history (training), on a chunk
with a carried-over tail (dataset streaming) or on the few hundred bars the live scanner keeps
(`RollingWindow`): an infinite-memory EMA or Wilder RSI would make those three disagree.

A window containing a NaN (a missing bar) yields NaN: a missing input never becomes a fake value.
Sums use cumulative sums (O(T) per window length); the cumulative sum of rows ≤ t is computed the
same way whatever follows row t, so truncating the future changes no value bit for bit.
"""

from __future__ import annotations

import numpy as np

from quantum_trader.marketdata.bars import F64


def last_rows(x: F64, rows: int | None) -> F64:
    """The last `rows` rows of x (all when None), NaN-padded on top when x is shorter."""
    if rows is None or rows == x.shape[0]:
        return x
    if rows <= x.shape[0]:
        return x[x.shape[0] - rows :]
    pad = np.full((rows - x.shape[0], *x.shape[1:]), np.nan)
    return np.concatenate([pad, x])


def _input(x: F64, rows: int | None, history: int) -> F64:
    """The rows of x that the last `rows` outputs of a window of `history` + 1 rows read."""
    if rows is None:
        return x
    return x[max(x.shape[0] - rows - history, 0) :]


def shift(x: F64, n: int, rows: int | None = None) -> F64:
    """Row t holds x[t-n] (n ≥ 1); NaN where t-n < 0. `rows`: only the last rows (as for all below)."""
    out = np.full(x.shape, np.nan)
    if n < x.shape[0]:
        out[n:] = x[:-n]
    return last_rows(out, rows)


def rolling_sum(x: F64, n: int, rows: int | None = None) -> F64:
    """Sum of rows t-n+1..t at each row t; NaN if any of them is NaN or fewer than n rows exist."""
    x = _input(x, rows, n - 1)
    out = np.full(x.shape, np.nan)
    if x.shape[0] < n:
        return last_rows(out, rows)
    bad = np.isnan(x)
    any_bad = bool(bad.any())
    sums = np.cumsum(np.where(bad, 0.0, x) if any_bad else x, axis=0)
    out[n - 1 :] = sums[n - 1 :]
    out[n:] -= sums[:-n]
    if any_bad:
        bads = np.cumsum(bad, axis=0, dtype=np.int32)
        missing = bads[n - 1 :].copy()
        missing[1:] -= bads[:-n]
        out[n - 1 :][missing > 0] = np.nan
    return last_rows(out, rows)


def rolling_mean(x: F64, n: int, rows: int | None = None) -> F64:
    """Mean of rows t-n+1..t (see `rolling_sum` for NaN handling)."""
    return rolling_sum(x, n, rows) / n


def ema_weights(span: int, taps: int) -> F64:
    """Exponential weights (alpha = 2 / (span + 1)) truncated to `taps` bars and normalised to sum 1."""
    decay = 1.0 - 2.0 / (span + 1.0)
    weights: F64 = np.power(decay, np.arange(taps, dtype=np.float64))
    normalised: F64 = weights / weights.sum()
    return normalised


def fir(x: F64, weights: F64, rows: int | None = None) -> F64:
    """Row t = Σ_k weights[k] · x[t-k]: a finite-memory EMA when `weights` come from `ema_weights`.

    The loop runs over the kernel taps (tens), each step vectorised over all bars and symbols.
    """
    x = _input(x, rows, len(weights) - 1)
    taps, n_rows = len(weights), x.shape[0]
    out = np.full(x.shape, np.nan)
    if n_rows < taps:
        return last_rows(out, rows)
    acc = weights[0] * x[taps - 1 :]
    for k in range(1, taps):
        acc += weights[k] * x[taps - 1 - k : n_rows - k]
    out[taps - 1 :] = acc
    return last_rows(out, rows)


def safe_ratio(num: F64, den: F64, *, when_zero: float = np.nan) -> F64:
    """num / den; `when_zero` where den is 0 (or tiny), NaN wherever either input is NaN."""
    tiny = np.abs(den) <= 1e-300
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = np.where(tiny, when_zero, num / np.where(tiny, 1.0, den))
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out
