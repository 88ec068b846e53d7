"""ML features: shapes and warm-up, no look-ahead, missing bars, hand-checked values, the rolling window."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.ml.features import (
    FEATURE_NAMES,
    WARMUP_BARS,
    BarWindow,
    RollingWindow,
    compute_features,
    latest_features,
)

SYMBOLS = ("AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT")
NON_FUNDING = [i for i, name in enumerate(FEATURE_NAMES) if name != "funding_rate"]
F32 = npt.NDArray[np.float32]


def market(n_bars: int, seed: int = 7, symbols: tuple[str, ...] = SYMBOLS) -> BarChunk:
    return next(synthetic_bars(symbols, [10.0 * (i + 1) for i in range(len(symbols))], n_bars, seed=seed,
                               chunk_bars=n_bars, jump_prob=0.01))  # fmt: skip


def window_of(chunk: BarChunk) -> BarWindow:
    return BarWindow.from_chunk(chunk)


def with_holes(chunk: BarChunk, seed: int, share: float = 0.01) -> BarWindow:
    """A copy of the chunk with a random share of (bar, symbol) cells missing (all fields NaN)."""
    holes = np.random.default_rng(seed).random(chunk.close.shape) < share
    o, h, lo, c, v = (np.where(holes, np.nan, getattr(chunk, n)) for n in ("open", "high", "low", "close", "volume"))
    return BarWindow(chunk.open_time.copy(), o, h, lo, c, v)


def assert_same(a: F32, b: F32) -> None:
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_array_equal(np.nan_to_num(a), np.nan_to_num(b))


def test_shape_names_and_exact_warmup() -> None:
    feats = compute_features(window_of(market(WARMUP_BARS + 50)))
    assert feats.shape == (WARMUP_BARS + 50, len(SYMBOLS), len(FEATURE_NAMES))
    assert feats.dtype == np.float32
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert not np.isnan(feats[WARMUP_BARS:, :, NON_FUNDING]).any()
    assert np.isnan(feats[WARMUP_BARS - 1, :, NON_FUNDING]).any(), "WARMUP_BARS is larger than needed"
    assert np.isnan(feats[:, :, FEATURE_NAMES.index("funding_rate")]).all()


def test_truncating_the_future_changes_no_feature() -> None:
    """Row t computed on bars[:t+1] equals row t computed on the whole window, bit for bit."""
    full_window = with_holes(market(900, seed=3), seed=4)
    full = compute_features(full_window)
    rng = np.random.default_rng(11)
    for t in [*rng.integers(0, 900, 40), 0, WARMUP_BARS, 899]:
        cut = full_window.tail(900)  # same arrays
        cut = BarWindow(cut.open_time[: t + 1], cut.open[: t + 1], cut.high[: t + 1], cut.low[: t + 1],
                        cut.close[: t + 1], cut.volume[: t + 1])  # fmt: skip
        assert_same(compute_features(cut), full[: t + 1])


def test_changing_the_future_changes_no_past_row() -> None:
    chunk = market(600, seed=5)
    base = compute_features(window_of(chunk))
    moved = window_of(chunk)
    noisy, high = moved.close.copy(), moved.high.copy()
    noisy[400:] *= 1.5
    high[400:] *= 2.0
    changed = compute_features(BarWindow(moved.open_time, moved.open, high, moved.low, noisy, moved.volume))
    assert_same(changed[:400], base[:400])
    assert not np.allclose(changed[400:], base[400:], equal_nan=True)


@pytest.mark.parametrize("n_bars", [1, 30, WARMUP_BARS, WARMUP_BARS + 1, WARMUP_BARS + 2, 3000])
def test_latest_equals_last_row(n_bars: int) -> None:
    w = with_holes(market(n_bars, seed=n_bars), seed=1, share=0.002)
    np.testing.assert_allclose(latest_features(w), compute_features(w)[-1], rtol=1e-5, atol=1e-7, equal_nan=True)
    assert latest_features(w).shape == (len(SYMBOLS), len(FEATURE_NAMES))


def test_missing_bar_never_becomes_a_value() -> None:
    chunk = market(WARMUP_BARS * 3, seed=9)
    hole = WARMUP_BARS + 20
    close = chunk.close.copy()
    close[hole, 1] = np.nan
    w = BarWindow(chunk.open_time, chunk.open, chunk.high, chunk.low, close, chunk.volume)
    feats = compute_features(w)
    assert np.isnan(feats[hole, 1]).all()
    assert np.isnan(feats[hole + 1, 1, FEATURE_NAMES.index("vol_240")])  # the hole is inside its window
    assert np.isnan(feats[hole + 240, 1, FEATURE_NAMES.index("ret_240")])
    assert not np.isnan(feats[hole + WARMUP_BARS + 1 :, 1, NON_FUNDING]).any()  # and it passes
    assert not np.isnan(feats[WARMUP_BARS:, [0, 2, 3]][:, :, NON_FUNDING]).any()  # other symbols unaffected


def test_hand_checked_values() -> None:
    """Two identical rising symbols: log returns, RSI 100, beta 1 and zero residual, constant volume z 0."""
    n = WARMUP_BARS + 5
    steps = 0.001 + 0.0005 * (-1.0) ** np.arange(n)  # 0.0015, 0.0005, ...: always up, but not constant
    price = 100.0 * np.exp(np.cumsum(steps))[:, None].repeat(2, axis=1)
    w = BarWindow(np.arange(n, dtype=np.int64) * 60_000, price, price * 1.001, price * 0.999, price,
                  np.full((n, 2), 5.0))  # fmt: skip
    last = compute_features(w)[-1]
    col = {name: last[:, i] for i, name in enumerate(FEATURE_NAMES)}
    np.testing.assert_allclose(col["ret_1"], steps[-1], rtol=1e-4)
    np.testing.assert_allclose(col["ret_60"], 0.06, rtol=1e-4)
    np.testing.assert_allclose(col["rsi_14"], 100.0)
    np.testing.assert_allclose(col["beta_240"], 1.0, rtol=1e-4)
    np.testing.assert_allclose(col["resid_ret_1"], 0.0, atol=1e-7)
    np.testing.assert_allclose(col["mkt_ret_1"], steps[-1], rtol=1e-4)
    np.testing.assert_allclose(col["volume_z_60"], 0.0)
    np.testing.assert_allclose(col["vol_15"], np.sqrt(np.mean(steps[-15:] ** 2)), rtol=1e-4)
    expected_ma = np.log(price[-1, 0]) - np.log(price[-20:, 0]).mean()  # log price vs mean of the last 20
    np.testing.assert_allclose(col["ma_dist_20"], expected_ma, rtol=1e-4)
    assert (col["macd"] > 0).all() and (col["macd_hist"] > 0).all()


def test_funding_column_is_passed_through() -> None:
    chunk = market(WARMUP_BARS + 3)
    funding = np.full(chunk.close.shape, 0.0001)
    funding[-1, 0] = np.nan
    w = BarWindow(chunk.open_time, chunk.open, chunk.high, chunk.low, chunk.close, chunk.volume, funding)
    got = latest_features(w)[:, FEATURE_NAMES.index("funding_rate")]
    assert np.isnan(got[0]) and np.allclose(got[1:], 0.0001)
    assert not np.isnan(latest_features(w)[0, NON_FUNDING]).any()


def test_rolling_window_matches_the_full_history() -> None:
    chunk = market(1500, seed=21)
    rolling = RollingWindow(SYMBOLS)
    full = compute_features(window_of(chunk))
    rng = np.random.default_rng(2)
    t = 0
    while t < len(chunk):
        n = int(rng.choice([1, 1, 3, 50, 400]))
        rolling.append(chunk.slice(t, min(t + n, len(chunk))))
        t = min(t + n, len(chunk))
        held = rolling.window()
        assert len(rolling) == len(held) == min(t, WARMUP_BARS + 1)
        np.testing.assert_array_equal(held.close, chunk.close[t - len(held) : t])
        np.testing.assert_array_equal(held.open_time, chunk.open_time[t - len(held) : t])
        np.testing.assert_allclose(latest_features(held), full[t - 1], rtol=1e-5, atol=1e-7, equal_nan=True)


def test_rolling_window_gaps_resends_and_symbol_order() -> None:
    chunk = market(20, seed=1)
    rolling = RollingWindow(SYMBOLS, capacity=10)
    rolling.append(chunk.slice(0, 5))
    rolling.append(chunk.slice(3, 6))  # bars 3, 4 re-sent: ignored
    rolling.append(chunk.slice(8, 9))  # bars 6 and 7 never came
    held = rolling.window()
    assert len(held) == 9
    np.testing.assert_array_equal(held.open_time, chunk.open_time[:9])
    assert np.isnan(held.close[6:8]).all() and not np.isnan(held.close[[0, 1, 2, 3, 4, 5, 8]]).any()
    np.testing.assert_array_equal(held.close[:6], chunk.close[:6])
    o, h, lo, c, v = (getattr(chunk, n)[9:10, [3, 2, 1]] for n in ("open", "high", "low", "close", "volume"))
    reordered = BarChunk(SYMBOLS[::-1][:3], chunk.open_time[9:10], o, h, lo, c, v, chunk.interval_ms)
    rolling.append(reordered)
    last = rolling.window().close[-1]
    np.testing.assert_array_equal(last[1:], chunk.close[9, 1:])
    assert np.isnan(last[0])  # AAAUSDT absent from that chunk
    rolling.append(chunk.slice(19, 20))  # a gap longer than the capacity: only NaN and the new bar remain
    held = rolling.window()
    assert len(held) == 10 and held.open_time[-1] == chunk.open_time[19]
    assert np.isnan(held.close[:-1]).all()
