"""The day-block bootstrap: intervals that widen when rows within a day are dependent, and are repeatable."""

from __future__ import annotations

import numpy as np
import pytest

from quantum_trader.ml import metrics
from quantum_trader.ml.bootstrap import DAY_MS, day_bootstrap, paired_brier_gain

ROWS_PER_DAY = 200


def _days(n_days: int, *, same_within_day: bool, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Constant prediction 0.3, outcomes drawn at 0.3: per row, or one draw shared by a whole day."""
    rng = np.random.default_rng(seed)
    n = n_days * ROWS_PER_DAY
    if same_within_day:
        y = np.repeat((rng.random(n_days) < 0.3).astype(np.float64), ROWS_PER_DAY)
    else:
        y = (rng.random(n) < 0.3).astype(np.float64)
    times = np.repeat(np.arange(n_days, dtype=np.int64) * DAY_MS, ROWS_PER_DAY) + np.tile(
        np.arange(ROWS_PER_DAY, dtype=np.int64) * 60_000, n_days
    )
    return np.full(n, 0.3), y, times


def test_effective_outcomes_count_days_when_a_day_is_one_outcome() -> None:
    p, y, t = _days(60, same_within_day=True, seed=1)
    report = day_bootstrap(p, y, t)
    assert report["days"] == 60
    assert 35 < report["effective_outcomes"] < 100  # about 60 independent outcomes, not 12,000 rows


def test_effective_outcomes_count_rows_when_rows_are_independent() -> None:
    p, y, t = _days(60, same_within_day=False, seed=2)
    report = day_bootstrap(p, y, t)
    assert report["effective_outcomes"] > 5_000  # of 12,000 rows


def test_dependent_days_give_a_wide_ece_interval_around_the_point_value() -> None:
    p, y, t = _days(20, same_within_day=True, seed=3)
    report = day_bootstrap(p, y, t)
    point = metrics.ece(p, y)
    assert report["ece"]["lo"] <= point <= report["ece"]["hi"]
    assert report["ece"]["hi"] - report["ece"]["lo"] > 0.1  # 20 coin flips cannot pin a rate of 0.3
    assert report["win_rate"]["lo"] <= y.mean() <= report["win_rate"]["hi"]
    assert 0.0 <= report["ece_share_at_or_below_bar"] <= 1.0


def test_same_rows_and_seed_give_the_same_intervals_and_another_seed_does_not() -> None:
    p, y, t = _days(15, same_within_day=True, seed=4)
    assert day_bootstrap(p, y, t) == day_bootstrap(p, y, t)
    assert day_bootstrap(p, y, t, seed=1)["ece"] != day_bootstrap(p, y, t, seed=2)["ece"]


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="equal, non-empty"):
        day_bootstrap([0.2], [1.0, 0.0], [0, 1])
    with pytest.raises(ValueError, match="equal, non-empty"):
        day_bootstrap([], [], [])


def test_paired_brier_gain_is_sure_only_of_a_real_gain() -> None:
    rng = np.random.default_rng(4)
    n_days = 30
    times = np.repeat(np.arange(n_days, dtype=np.int64) * DAY_MS, ROWS_PER_DAY)
    truth = rng.uniform(0.1, 0.5, n_days * ROWS_PER_DAY)
    y = (rng.random(truth.size) < truth).astype(np.float64)
    base = np.full(truth.size, y.mean())
    sure = paired_brier_gain(truth, base, y, times)
    assert sure["gain"] > 0 and sure["share_better"] == 1.0 and sure["blocks"] == n_days
    same = paired_brier_gain(base, base, y, times)
    assert same["gain"] == 0.0 and same["share_better"] == 0.0  # no gain is not a gain
    noise = np.clip(base + rng.normal(0, 0.001, truth.size), 0, 1)
    assert 0.0 < paired_brier_gain(noise, base, y, times)["share_better"] < 0.95
    assert paired_brier_gain(truth, base, y, times) == sure  # seeded: the same rows, the same answer
