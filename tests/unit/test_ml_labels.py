"""Triple-barrier labels: hand-made paths, fees, unknowns, no dependence on later bars, a naive reference."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.marketdata.bars import synthetic_bars
from quantum_trader.ml.features import BarWindow
from quantum_trader.ml.labels import DEFAULT_HORIZON, Labels, label_stats, triple_barrier
from quantum_trader.sim.fees import FeeModel

FEE = float(FeeModel().taker)  # 0.0005: the simulator's taker rate
NAN = float("nan")


def path(bars: list[tuple[float, float, float, float]]) -> BarWindow:
    """One symbol from (open, high, low, close) rows."""
    a = np.array(bars, np.float64)
    o, h, lo, c = (a[:, i : i + 1] for i in range(4))
    return BarWindow(np.arange(len(bars), dtype=np.int64) * 60_000, o, h, lo, c, np.ones((len(bars), 1)))


def label(bars: list[tuple[float, float, float, float]], horizon: int = 3, sl: float = 2.0, tp: float = 4.0,
          fee: float = FEE) -> Labels:  # fmt: skip
    return triple_barrier(path(bars), sl_pct=sl, tp_pct=tp, fee_rate=fee, horizon=horizon)


ENTRY = (100.0, 100.0, 100.0, 100.0)


def test_take_profit_first_is_a_win_net_of_fees() -> None:
    got = label([ENTRY, (100, 101, 99.5, 100.5), (100.5, 104.5, 100, 104), (104, 104, 90, 91)])
    assert got.win_long[0, 0] == 1 and not got.timeout_long[0, 0]
    assert got.ret_long[0, 0] == pytest.approx(0.04 - FEE * 2.04)
    assert got.win_short[0, 0] == 0  # short: its stop (102) is hit at bar 2
    assert got.ret_short[0, 0] == pytest.approx(-0.02 - FEE * 2.02)


def test_stop_first_is_a_loss() -> None:
    got = label([ENTRY, (100, 100.5, 97.9, 98.5), (98.5, 105, 98, 104), (104, 104, 103, 103)])
    assert got.win_long[0, 0] == 0 and not got.timeout_long[0, 0]
    assert got.ret_long[0, 0] == pytest.approx(-0.02 - FEE * 1.98)


def test_both_barriers_in_one_bar_count_as_the_stop() -> None:
    got = label([ENTRY, (100, 105, 97, 100), (100, 100, 100, 100), (100, 100, 100, 100)])
    assert got.win_long[0, 0] == 0 and got.win_short[0, 0] == 0
    assert got.ret_long[0, 0] == pytest.approx(-0.02 - FEE * 1.98)
    assert got.ret_short[0, 0] == pytest.approx(-0.02 - FEE * 2.02)


def test_timeout_is_not_a_win_and_is_marked_to_market() -> None:
    got = label([ENTRY, (100, 101, 99, 100.5), (100.5, 103, 100, 102.5), (102.5, 103.9, 101, 103)])
    assert got.win_long[0, 0] == 0 and got.timeout_long[0, 0]
    assert got.ret_long[0, 0] == pytest.approx(0.03 - FEE * 2.03)  # positive, still not a win
    assert got.win_short[0, 0] == 0 and not got.timeout_short[0, 0]  # the short's stop (102) was hit


def test_gap_through_the_stop_fills_at_the_open() -> None:
    got = label([ENTRY, (95, 96, 94, 95.5), (95.5, 96, 95, 95.5), (95.5, 96, 95, 95.5)])
    assert got.win_long[0, 0] == 0
    assert got.ret_long[0, 0] == pytest.approx(-0.05 - FEE * 1.95)
    assert got.win_short[0, 0] == 1  # the short's take-profit (96) gapped through: filled at the open, 95
    assert got.ret_short[0, 0] == pytest.approx(0.05 - FEE * 1.95)


def test_fees_turn_a_tiny_take_profit_into_a_loss() -> None:
    bars = [ENTRY, (100, 100.06, 99.99, 100.05), (100, 100, 100, 100), (100, 100, 100, 100)]
    got = label(bars, tp=0.05, sl=2.0)
    assert got.win_long[0, 0] == 0 and not got.timeout_long[0, 0]
    assert got.ret_long[0, 0] < 0
    assert label(bars, tp=0.05, sl=2.0, fee=0.0).win_long[0, 0] == 1  # the same trade without fees wins


def test_unknown_at_the_end_and_through_missing_bars() -> None:
    bars = [ENTRY, (100, 101, 99, 100), (NAN, NAN, NAN, NAN), (100, 100, 100, 100), (100, 100, 100, 100),
            (100, 105, 100, 104)]  # fmt: skip
    got = label(bars, horizon=3)
    assert (got.win_long[:, 0] == [-1, -1, -1, -1, -1, -1]).all()  # rows 0-1 run into the hole; 3-5: no future
    assert np.isnan(got.ret_long[:, 0]).all()
    bars[1] = (100, 100, 97, 98)  # now row 0 resolves (stop) before the hole
    got = label(bars, horizon=3)
    assert got.win_long[0, 0] == 0 and got.win_long[1, 0] == -1


def test_no_dependence_on_bars_after_the_horizon() -> None:
    chunk = next(synthetic_bars(["A", "B", "C"], [10.0, 20.0, 30.0], 1200, seed=3, chunk_bars=1200, vol=0.004))
    w = BarWindow.from_chunk(chunk)
    horizon = 50
    base = triple_barrier(w, sl_pct=2, tp_pct=4, fee_rate=FEE, horizon=horizon)
    rng = np.random.default_rng(0)
    for t in rng.integers(0, 1100, 10):
        o, h, lo, c = (a.copy() for a in (w.open, w.high, w.low, w.close))
        for a in (o, h, lo, c):
            a[t + horizon + 1 :] *= rng.uniform(0.5, 1.5, a[t + horizon + 1 :].shape)
        moved = triple_barrier(BarWindow(w.open_time, o, h, lo, c, w.volume), sl_pct=2, tp_pct=4, fee_rate=FEE,
                               horizon=horizon)  # fmt: skip
        np.testing.assert_array_equal(moved.win_long[: t + 1], base.win_long[: t + 1])
        np.testing.assert_array_equal(moved.ret_short[: t + 1], base.ret_short[: t + 1])


def reference(w: BarWindow, long: bool, sl: float, tp: float, fee: float, horizon: int) -> tuple[int, float]:
    """Bar-by-bar label of the trade at row 0, symbol 0: the rules written out plainly."""
    entry = w.close[0, 0]
    stop, take = (entry * (1 - sl), entry * (1 + tp)) if long else (entry * (1 + sl), entry * (1 - tp))
    for k in range(1, horizon + 1):
        o, h, lo = w.open[k, 0], w.high[k, 0], w.low[k, 0]
        if np.isnan(h) or np.isnan(lo):
            return -1, NAN
        if (lo <= stop) if long else (h >= stop):
            exit_price, took_profit = (min(stop, o) if long else max(stop, o)), False
        elif (h >= take) if long else (lo <= take):
            exit_price, took_profit = (max(take, o) if long else min(take, o)), True
        else:
            continue
        r = exit_price / entry
        net = (r - 1 if long else 1 - r) - fee * (1 + r)
        return int(took_profit and net > 0), net
    r = w.close[horizon, 0] / entry
    return 0, (r - 1 if long else 1 - r) - fee * (1 + r)


@pytest.mark.parametrize("horizon", [1, 5, 31, 32, 33, 100])
def test_block_search_matches_a_plain_reference(horizon: int) -> None:
    chunk = next(synthetic_bars(["A", "B"], [10.0, 20.0], 600, seed=horizon, chunk_bars=600, vol=0.005,
                                jump_prob=0.02, jump_vol=0.03))  # fmt: skip
    holes = np.random.default_rng(horizon).random(chunk.close.shape) < 0.003
    o, h, lo, c, v = (np.where(holes, NAN, getattr(chunk, n)) for n in ("open", "high", "low", "close", "volume"))
    w = BarWindow(chunk.open_time, o, h, lo, c, v)
    got = triple_barrier(w, sl_pct=2, tp_pct=4, fee_rate=FEE, horizon=horizon)
    for t in range(0, 600 - horizon):
        for s in range(2):
            o1, h1, l1, c1, v1 = (a[t:, s : s + 1] for a in (w.open, w.high, w.low, w.close, w.volume))
            one = BarWindow(w.open_time[t:], o1, h1, l1, c1, v1)
            for long, win, ret in ((True, got.win_long, got.ret_long), (False, got.win_short, got.ret_short)):
                want = (-1, NAN) if np.isnan(w.close[t, s]) else reference(one, long, 0.02, 0.04, FEE, horizon)
                assert (win[t, s], ret[t, s]) == pytest.approx(want, nan_ok=True), (t, s, long)
    assert (got.win_long[600 - horizon :] == -1).all()


def test_stats_and_defaults() -> None:
    assert DEFAULT_HORIZON == 720
    got = label([ENTRY, (100, 101, 99.5, 100.5), (100.5, 104.5, 100, 104), (104, 104, 90, 91)], horizon=3)
    stats = label_stats(got)
    assert stats.known == 1 and stats.win_long == 1.0 and stats.win_short == 0.0 and stats.timeout_long == 0.0
    with pytest.raises(ValueError, match="bad barrier"):
        label([ENTRY, ENTRY], horizon=0)
