"""Evaluation of a scanner model on labelled rows: is its confidence a frequency, and does it pay?

One function, `evaluate`, returns a JSON-able report per side (long, short):
- AUC (ranking), Brier score, ECE with its reliability table (definition in ml/metrics.py: 10 equal-
  width bins, bin-share-weighted |mean predicted − observed win rate|);
- the signals the bot would trade, those with calibrated probability ≥ `min_confidence`: their count,
  hit rate, and expected value per trade after fees, measured from the labelled net returns (not from
  the model's own estimate, which is reported beside it);
- two naive baselines: the training base rate as a constant probability (calibrated on average and
  useless for ranking), and "always trade" (every row is a signal);
- how sure those numbers are: 95 % intervals for ECE, win rate and Brier from a block bootstrap over
  whole days, and the effective number of independent outcomes (ml/bootstrap.py). Rows overlap
  (12-hour labels on 1-minute rows, correlated symbols), so the row count says little by itself;
- which rows the model was trained on (ml/overlap.py): their count, period and the `--start` that leaves
  them out, with a warning line. When the data mix trained-on and unseen rows, every score is also given
  for the unseen rows alone (`out_of_sample`): those are the numbers a claim about the model rests on, and
  the all-rows numbers stay as they were so a reader can see how much the trained-on rows flatter them.
`reliability_png` draws both sides' reliability diagrams in one figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from . import metrics
from .bootstrap import day_bootstrap
from .model_file import SIDES, ScannerModel, Side
from .overlap import overlap_report
from .train import TrainingData

F64 = npt.NDArray[np.float64]
ECE_DEFINITION = (
    "10 equal-width bins of predicted probability over [0, 1]; ECE = sum over non-empty bins of "
    "(rows in bin / all rows) × |mean predicted − observed win rate|"
)


class EvaluationData(TrainingData, Protocol):
    """What evaluation reads from a dataset: what training reads, and each row's trade return per side."""

    @property
    def ret_long(self) -> F64: ...
    @property
    def ret_short(self) -> F64: ...


def evaluate(model: ScannerModel, data: EvaluationData, *, min_confidence: float) -> dict[str, Any]:
    """Scores of `model` on `data`, both sides, with baselines; plain JSON types only (None for undefined)."""
    if len(data.time_ms) == 0:
        raise ValueError("no labelled rows to evaluate (data too short for the warm-up and the label horizon?)")
    p_long, p_short = model.predict(data.X)
    probs = {"long": p_long, "short": p_short}
    sides = {side: _side_report(model, side, probs[side], data, min_confidence) for side in SIDES}
    trained = model.metadata.get("training", {})
    horizon_ms = model.labels.horizon * int(trained.get("interval_ms") or 60_000)
    seen, overlap = overlap_report(trained, data.time_ms, data.symbol, data.symbols, horizon_ms)
    report: dict[str, Any] = {
        "model_version": model.model_version,
        "model_trained": trained,
        "labels": model.labels.to_json(),
        "data": _span(data),
        "min_confidence": min_confidence,
        "ece_definition": ECE_DEFINITION,
        "ece": max(sides["long"]["ece"], sides["short"]["ece"]),  # the worse side: the bar applies to both
        "sides": sides,
        "overlaps_training": overlap["overlaps_training"],
        "in_sample_rows": overlap["in_sample_rows"],
        "out_of_sample_rows": overlap["out_of_sample_rows"],
        "training_overlap": overlap,
    }  # fmt: skip
    if seen.any() and not seen.all():  # mixed: the honest numbers are those of the unseen rows alone
        unseen = _Subset.of(data, ~seen)
        oos = {side: _side_report(model, side, probs[side][~seen], unseen, min_confidence) for side in SIDES}
        report["out_of_sample"] = {**_span(unseen), "ece": max(oos["long"]["ece"], oos["short"]["ece"]), "sides": oos}
    return dict(metrics.json_safe(report))


def _span(data: TrainingData) -> dict[str, Any]:
    used = np.unique(data.symbol)
    return {"rows": len(data.time_ms), "first_time_ms": int(data.time_ms.min()),
            "last_time_ms": int(data.time_ms.max()), "symbols": [data.symbols[i] for i in used]}  # fmt: skip


@dataclass(frozen=True)
class _Subset:
    """Some rows of an evaluation data set (the out-of-sample ones), with the same fields."""

    X: npt.NDArray[np.float32]
    y_long: npt.NDArray[np.int8]
    y_short: npt.NDArray[np.int8]
    ret_long: F64
    ret_short: F64
    time_ms: npt.NDArray[np.int64]
    symbol: npt.NDArray[np.int32]
    symbols: tuple[str, ...]
    feature_names: tuple[str, ...]

    @classmethod
    def of(cls, data: EvaluationData, mask: npt.NDArray[np.bool_]) -> _Subset:
        return cls(data.X[mask], data.y_long[mask], data.y_short[mask], data.ret_long[mask], data.ret_short[mask],
                   data.time_ms[mask], data.symbol[mask], data.symbols, data.feature_names)  # fmt: skip


def _side_report(model: ScannerModel, side: Side, p: F64, data: EvaluationData, threshold: float) -> dict[str, Any]:
    y = np.asarray(data.y_long if side == "long" else data.y_short, dtype=np.float64)
    ret = np.asarray(data.ret_long if side == "long" else data.ret_short, dtype=np.float64)
    prior = model.metadata.get("oof", {}).get(side, {}).get("train_base_rate")
    prior = float(prior) if prior is not None else float("nan")
    constant = np.full_like(p, prior)
    signal = p >= threshold
    return {
        "rows": len(y), "base_rate": float(y.mean()), "calibrator": model.calibrators[side].kind,
        "auc": metrics.auc(p, y), "brier": metrics.brier(p, y), "ece": metrics.ece(p, y),
        "uncertainty": day_bootstrap(p, y, data.time_ms),
        "reliability": metrics.reliability_table(p, y),
        "signals": {**_signals(y, ret, signal), "threshold": threshold,
                    "predicted_ev_pct": _pct(model.expected_value(p[signal], side).mean()) if signal.any() else None},
        "baseline_constant": {
            "p": prior, "auc": 0.5,
            "brier": metrics.brier(constant, y) if np.isfinite(prior) else None,
            "ece": metrics.ece(constant, y) if np.isfinite(prior) else None,
            "ece_interval": day_bootstrap(constant, y, data.time_ms)["ece"] if np.isfinite(prior) else None,
            "signals": {**_signals(y, ret, constant >= threshold), "threshold": threshold},
        },
        "baseline_always_trade": _signals(y, ret, np.ones_like(signal)),
    }  # fmt: skip


def _signals(y: F64, ret: F64, mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
    """Count, share, hit rate and mean net return (% of notional, after fees) of the rows in mask."""
    n = int(mask.sum())
    return {
        "count": n, "share": n / len(y) if len(y) else None,
        "hit_rate": float(y[mask].mean()) if n else None,
        "ev_per_trade_pct": _pct(ret[mask].mean()) if n else None,
    }  # fmt: skip


def _pct(fraction: Any) -> float:
    return float(fraction) * 100.0


def reliability_png(report: dict[str, Any], path: str | Path, title: str = "") -> Path:
    """Both sides' reliability diagrams side by side (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), sharey=True)
    for ax, side in zip(axes, SIDES, strict=True):
        _draw_side(ax, report["sides"][side], side, report.get("min_confidence"))
    fig.suptitle(title or f"Reliability, model {report['model_version']} ({report['data']['rows']:,} rows per side)")
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return target


def _draw_side(ax: Any, side_report: dict[str, Any], side: str, threshold: float | None) -> None:
    rows = [r for r in side_report["reliability"] if r["count"]]
    pred = [r["mean_predicted"] for r in rows]
    obs = [r["observed_rate"] for r in rows]
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    ax.plot(pred, obs, marker="o", color="tab:blue" if side == "long" else "tab:red", label="model")
    if threshold is not None:
        ax.axvline(threshold, color="tab:green", linewidth=1, linestyle=":", label=f"min confidence {threshold:g}")
    counts = ax.twinx()
    counts.bar(
        [r["lo"] + 0.05 for r in side_report["reliability"]],
        [r["count"] for r in side_report["reliability"]],
        width=0.09,
        alpha=0.15,
        color="black",
    )
    counts.set_yscale("symlog")
    counts.set_ylabel("rows per bin (bars)")
    ece, auc = side_report["ece"], side_report["auc"]
    sure = side_report.get("uncertainty", {}).get("ece")
    spread = f" (95 % {sure['lo']:.3f}–{sure['hi']:.3f})" if sure else ""
    ax.set_title(f"{side}: ECE {ece:.3f}{spread}" + (f", AUC {auc:.3f}" if auc is not None else ""), fontsize=10)
    ax.set_xlabel("mean predicted win probability")
    ax.set_ylabel("observed win rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
