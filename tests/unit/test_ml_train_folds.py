"""Walk-forward folds: no training row's label window reaches into its test fold (purge), none sits
right after it (embargo), and every fold trains on the past only by default."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from quantum_trader.ml.folds import walk_forward_folds

MINUTE = 60_000
HORIZON = 30  # bars a label looks ahead


def _times(bars: int, symbols: int, seed: int) -> np.ndarray:
    """Row times for `symbols` symbols over `bars` minutes, a few bars missing, rows shuffled."""
    rng = np.random.default_rng(seed)
    times = np.repeat(np.arange(bars, dtype=np.int64) * MINUTE, symbols)
    keep = rng.random(times.size) > 0.05
    return np.asarray(rng.permutation(times[keep]))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("window", ["expanding", "rolling"])
def test_no_training_label_window_overlaps_the_test_fold(seed: int, window: str) -> None:
    times = _times(2_000, 3, seed)
    folds = walk_forward_folds(times, n_folds=4, purge_ms=HORIZON * MINUTE, embargo_ms=HORIZON * MINUTE, window=window)  # type: ignore[arg-type]
    assert len(folds) == 4
    for fold in folds:
        train_t, test_t = times[fold.train], times[fold.test]
        assert test_t.min() == fold.test_start_ms and test_t.max() == fold.test_end_ms
        # a label at t uses bars t+1 .. t+HORIZON: all of them before the first test bar
        assert (train_t + HORIZON * MINUTE < fold.test_start_ms).all()
        assert np.intersect1d(fold.train, fold.test).size == 0
        # the purge removed exactly the rows whose label would have seen the test fold
        purged = (times < fold.test_start_ms) & (times + HORIZON * MINUTE >= fold.test_start_ms)
        assert purged.any() and not np.isin(np.flatnonzero(purged), fold.train).any()


def test_test_folds_are_consecutive_time_blocks_with_all_symbols() -> None:
    times = _times(1_000, 4, seed=9)
    folds = walk_forward_folds(times, n_folds=3, purge_ms=0, embargo_ms=0)
    for before, after in itertools.pairwise(folds):
        assert before.test_end_ms < after.test_start_ms
    for fold in folds:  # every row of a test block's time span is in the test fold, whatever its symbol
        inside = (times >= fold.test_start_ms) & (times <= fold.test_end_ms)
        assert set(np.flatnonzero(inside)) == set(fold.test)
    # expanding: each fold trains on at least as many rows as the one before
    assert [len(f.train) for f in folds] == sorted(len(f.train) for f in folds)


def test_rolling_window_forgets_old_blocks() -> None:
    times = _times(3_000, 2, seed=3)
    expanding = walk_forward_folds(times, n_folds=5, purge_ms=0, embargo_ms=0)
    rolling = walk_forward_folds(times, n_folds=5, purge_ms=0, embargo_ms=0, window="rolling", rolling_blocks=1)
    assert times[rolling[-1].train].min() > times[expanding[-1].train].min()
    assert times[rolling[-1].train].max() == times[expanding[-1].train].max()


def test_embargo_after_the_test_fold_when_training_on_both_sides() -> None:
    times = _times(2_000, 3, seed=4)
    embargo = 50 * MINUTE
    folds = walk_forward_folds(times, n_folds=3, purge_ms=HORIZON * MINUTE, embargo_ms=embargo, past_only=False)
    middle = folds[1]
    train_t = times[middle.train]
    after = train_t[train_t > middle.test_end_ms]
    assert after.size > 0  # the general case does train on later rows ...
    assert (after > middle.test_end_ms + embargo).all()  # ... but none within the embargo
    before = train_t[train_t < middle.test_start_ms]
    assert (before + HORIZON * MINUTE < middle.test_start_ms).all()


def test_too_little_data_is_an_error_not_empty_folds() -> None:
    with pytest.raises(ValueError, match="cannot make 4 walk-forward folds"):
        walk_forward_folds(np.arange(3, dtype=np.int64), n_folds=4, purge_ms=0, embargo_ms=0)
