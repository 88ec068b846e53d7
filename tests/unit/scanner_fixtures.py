"""A small scanner model trained in seconds, for tests that must not depend on the shipped model.

Rows are real features of a seeded synthetic market (ml/features.py), labelled by a known rule (the long
trade wins more often after a fall over the last hour, the short after a rise), so the model's scores
vary with the market and some reach a test threshold. Rows are spaced a day apart in time: the fold
purge of the label horizon (720 bars) then removes nothing and three folds train on a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from quantum_trader.marketdata.bars import BarChunk, synthetic_bars
from quantum_trader.ml.features import FEATURE_NAMES, BarWindow, compute_features
from quantum_trader.ml.model_file import LabelParams, ScannerModel
from quantum_trader.ml.train import TrainConfig, train_model
from quantum_trader.signals.scanner_model import bot_labels

DAY_MS = 86_400_000
SYMBOLS = tuple(f"S{i:02d}USDT" for i in range(12))
FAST = TrainConfig(n_folds=3, num_boost_round=25, num_leaves=7, min_data_in_leaf=50, learning_rate=0.1)


@dataclass(frozen=True)
class Rows:
    X: npt.NDArray[np.float32]
    y_long: npt.NDArray[np.int8]
    y_short: npt.NDArray[np.int8]
    time_ms: npt.NDArray[np.int64]
    symbol: npt.NDArray[np.int32]
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]


def market(n_bars: int, *, seed: int = 3, symbols: tuple[str, ...] = SYMBOLS, chunk_bars: int = 10_000) -> BarChunk:
    """One chunk of a seeded synthetic market (volatile enough for the features to vary)."""
    chunks = list(synthetic_bars(list(symbols), [100.0 + i for i in range(len(symbols))], n_bars, seed=seed,
                                 chunk_bars=chunk_bars, vol=0.003))
    assert len(chunks) == 1
    return chunks[0]


def _rows(names: tuple[str, ...]) -> Rows:
    feats = compute_features(BarWindow.from_chunk(market(1_200, seed=11)))
    t_idx, s_idx = np.nonzero(~np.isnan(feats[:, :, [n != "funding_rate" for n in FEATURE_NAMES]]).any(axis=2))
    x = feats[t_idx, s_idx]
    rng = np.random.default_rng(5)
    z = x[:, FEATURE_NAMES.index("ret_60")] / np.nanstd(x[:, FEATURE_NAMES.index("ret_60")])
    y_long = (rng.random(len(z)) < 1 / (1 + np.exp(-(-0.3 - 2.0 * z)))).astype(np.int8)
    y_short = (rng.random(len(z)) < 1 / (1 + np.exp(-(-0.3 + 2.0 * z)))).astype(np.int8)
    return Rows(x, y_long, y_short, (t_idx.astype(np.int64) * DAY_MS), s_idx.astype(np.int32), SYMBOLS, names)


@cache
def tiny_model(names: tuple[str, ...] = FEATURE_NAMES, labels: LabelParams | None = None) -> ScannerModel:
    """Trained once per process (deterministic: same rows, same seed, same trees)."""
    return train_model(_rows(names), labels or bot_labels(), interval_ms=60_000, config=FAST, created_ms=1_000)


def saved(model: ScannerModel, folder: Path, name: str = "model.json") -> Path:
    path = folder / name
    model.save(path)
    return path
