"""Walk-forward folds in time with a purge before each test fold and an embargo after it.

Rows are (bar time, symbol) pairs; every symbol at one bar time lands in the same fold, so no fold
trains on one symbol's present to predict another's. A label looks `horizon` bars ahead, so a training
row within `horizon` bars before a test fold knows prices inside that fold: it is *purged*. Rows just
after a test fold share bars with the test labels (their features look back over them): when a fold
trains on later data they are *embargoed*. Walk-forward training uses only the past (`past_only=True`,
the default and what `train` uses), where the embargo never removes anything; the general case exists
for cross-validation-style use and is tested the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
Window = Literal["expanding", "rolling"]


@dataclass(frozen=True)
class Fold:
    """One split: row indices to train on and to test on, and the test block's first/last bar time."""

    index: int
    train: I64
    test: I64
    test_start_ms: int
    test_end_ms: int


def walk_forward_folds(
    time_ms: npt.ArrayLike,
    *,
    n_folds: int,
    purge_ms: int,
    embargo_ms: int,
    window: Window = "expanding",
    rolling_blocks: int = 2,
    past_only: bool = True,
) -> list[Fold]:
    """Split rows into `n_folds + 1` consecutive time blocks; fold k tests on block k (k = 1..n_folds).

    Training rows for fold k: blocks before k (expanding) or the `rolling_blocks` blocks before k
    (rolling); with `past_only=False` also the blocks after k. Then every row whose label window
    [t, t + purge_ms] reaches the test block's first bar is dropped (purge), and every row within
    `embargo_ms` after the test block's last bar is dropped (embargo).
    """
    times = np.asarray(time_ms, dtype=np.int64)
    if n_folds < 1:
        raise ValueError(f"n_folds must be >= 1, got {n_folds}")
    unique = np.unique(times)
    if unique.size < n_folds + 1:
        raise ValueError(f"{unique.size} distinct bar times cannot make {n_folds} walk-forward folds")
    blocks = np.array_split(unique, n_folds + 1)
    edges = [(int(b[0]), int(b[-1])) for b in blocks]
    block_of = np.searchsorted(np.array([e[0] for e in edges]), times, side="right") - 1
    folds = []
    for k in range(1, n_folds + 1):
        start, end = edges[k]
        allowed = block_of < k if past_only else block_of != k
        if window == "rolling":
            allowed &= block_of >= k - rolling_blocks
        before = times < start
        purged = before & (times + purge_ms >= start)
        embargoed = (times > end) & (times <= end + embargo_ms)
        train = np.flatnonzero(allowed & ~purged & ~embargoed)
        test = np.flatnonzero(block_of == k)
        folds.append(Fold(k, train.astype(np.int64), test.astype(np.int64), start, end))
    return folds
