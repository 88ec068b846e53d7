"""Scores of probabilistic predictions: AUC, Brier score, expected calibration error, reliability table.

Kept apart from evaluate.py because training uses the same numbers to choose a calibrator, and the
definition must be one and the same in both places.

ECE (expected calibration error), as used everywhere in this project: predictions are put into 10
equal-width bins over [0, 1] (bin i holds i/10 ≤ p < (i+1)/10; p = 1 goes into the last bin); for every
non-empty bin, |mean predicted − observed win rate| is weighted by the bin's share of all rows; ECE is
the sum. 0 is perfectly calibrated; it is in the same units as the probability (0.05 = 5 points).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from sklearn.metrics import roc_auc_score

F64 = npt.NDArray[np.float64]
ECE_BINS = 10


def brier(p: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Mean squared error of the probability against the 0/1 outcome (lower is better)."""
    p_arr, y_arr = _pair(p, y)
    return float(np.mean((p_arr - y_arr) ** 2)) if p_arr.size else float("nan")


def auc(p: npt.ArrayLike, y: npt.ArrayLike) -> float | None:
    """Area under the ROC curve, or None when only one class is present (it is undefined then)."""
    p_arr, y_arr = _pair(p, y)
    if p_arr.size == 0 or np.unique(y_arr).size < 2:
        return None
    return float(roc_auc_score(y_arr, p_arr))


def reliability_table(p: npt.ArrayLike, y: npt.ArrayLike, bins: int = ECE_BINS) -> list[dict[str, Any]]:
    """One row per equal-width bin: bounds, count, mean predicted probability and observed win rate.

    Empty bins are listed with count 0 and None means, so every table has the same `bins` rows.
    """
    p_arr, y_arr = _pair(p, y)
    index = np.minimum((p_arr * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    sum_p = np.bincount(index, weights=p_arr, minlength=bins)
    sum_y = np.bincount(index, weights=y_arr, minlength=bins)
    rows = []
    for b in range(bins):
        n = int(counts[b])
        rows.append({
            "bin": b, "lo": b / bins, "hi": (b + 1) / bins, "count": n,
            "mean_predicted": float(sum_p[b] / n) if n else None,
            "observed_rate": float(sum_y[b] / n) if n else None,
        })  # fmt: skip
    return rows


def ece(p: npt.ArrayLike, y: npt.ArrayLike, bins: int = ECE_BINS) -> float:
    """Expected calibration error over `bins` equal-width bins (see the module docstring)."""
    p_arr, _ = _pair(p, y)
    if p_arr.size == 0:
        return float("nan")
    total = 0.0
    for row in reliability_table(p, y, bins):
        if row["count"]:
            total += row["count"] * abs(row["mean_predicted"] - row["observed_rate"])
    return total / p_arr.size


def json_safe(value: Any) -> Any:
    """NaN/inf become None and numpy scalars plain numbers, so a report or model file is strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _pair(p: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F64, F64]:
    p_arr = np.asarray(p, dtype=np.float64).ravel()
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    if p_arr.shape != y_arr.shape:
        raise ValueError(f"predictions and labels differ in length: {p_arr.size} vs {y_arr.size}")
    if p_arr.size and (np.nanmin(p_arr) < 0.0 or np.nanmax(p_arr) > 1.0 or np.isnan(p_arr).any()):
        raise ValueError("predictions must be probabilities in [0, 1] without NaN")
    return p_arr, y_arr
