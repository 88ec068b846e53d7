"""Walk-forward training of the scanner: one LightGBM classifier per side, calibrated out of fold.

The steps, and why:
1. Rows are cut into K+1 time blocks; fold k trains on the blocks before k (purged: no training label
   looks into block k) and predicts block k. Those out-of-fold (OOF) predictions are the only honest
   picture of how the model scores data it never saw, and the calibrators are fitted on them.
2. For each side, isotonic and Platt calibration and the constant training base rate are compared on
   the OOF predictions *forward*: each OOF fold (from the second on) is calibrated by a calibrator
   fitted on the OOF folds before it, just as the shipped calibrator is fitted on the past and applied
   to the future, and the comparison is not won by the more flexible map merely memorising its own
   data. The map with the lower per-fold ECE wins (the project's acceptance bar, judged one period at
   a time); within 0.001 the simpler Platt map is kept. Unless that map passes the skill test (its
   forward probabilities rank wins better than chance, and beat the constant on Brier score by more
   than the luck of the period: `_decide`), the side ships the constant. The reason is in metadata.
3. The final boosters are fitted on all rows with the same parameters; the final calibrators on all
   OOF predictions (the constant: the base rate of all training rows).

Class balance: wins are the minority (a 4 % take-profit before a 2 % stop is rarer than the reverse).
Nothing is reweighted or resampled: the plain log loss makes the booster estimate the true win rate,
and the calibrator then only corrects over-confidence. Reweighting would shift every probability and
leave the calibrator to undo it.

Determinism: `deterministic=True`, `force_row_wise=True`, a fixed seed and thread count give the same
trees for the same rows; LightGBM's bagging uses its own seeded generator. The calibrators' numbers and
every float of the metadata are kept to 10 significant digits (calibration.py `stored`), so the CPU's
summation order, which moves their last digits, does not move `model_version`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from . import metrics
from .bootstrap import paired_brier_gain
from .calibration import KINDS, Calibrator, CalibratorKind, ConstantCalibrator, fit_calibrator, stored
from .folds import Fold, walk_forward_folds
from .model_file import SIDES, LabelParams, ScannerModel, Side
from .overlap import training_spans

F64 = npt.NDArray[np.float64]
Progress = Callable[[str], None]
#: Below this ECE difference the two calibrators are considered equally good and Platt (2 numbers) wins.
ECE_TIE = 0.001
#: The skill test: the map's Brier must beat the constant's in at least this share of block resamples.
SKILL_CONFIDENCE = 0.95
#: ... over at least this many blocks: fewer make the bootstrap a coarse shuffle of a handful of values.
MIN_SKILL_BLOCKS = 10


class TrainingData(Protocol):
    """What training reads from a dataset (ml/dataset.py `Dataset` has these fields)."""

    @property
    def X(self) -> npt.NDArray[np.float32]: ...  # noqa: N802  (the dataset's field name)
    @property
    def y_long(self) -> npt.NDArray[np.int8]: ...
    @property
    def y_short(self) -> npt.NDArray[np.int8]: ...
    @property
    def time_ms(self) -> npt.NDArray[np.int64]: ...
    @property
    def symbol(self) -> npt.NDArray[np.int32]: ...
    @property
    def symbols(self) -> tuple[str, ...]: ...
    @property
    def feature_names(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class TrainConfig:
    """Folds and LightGBM parameters. Very conservative trees (3 leaves, large leaves, 100 rounds): the
    signal in bar data is weak, neighbouring rows' labels overlap, and a handful of correlated symbols
    make far fewer independent outcomes than rows. Chosen on the shared training data's forward OOF
    Brier score (mean of both sides) against 15- and 7-leaf variants, never on evaluation data;
    `min_data_in_leaf` is capped at 5 % of the rows so small data sets still grow trees."""

    n_folds: int = 4
    window: Literal["expanding", "rolling"] = "expanding"
    rolling_blocks: int = 2
    embargo_bars: int | None = None  # None: the label horizon
    num_boost_round: int = 100
    learning_rate: float = 0.03
    num_leaves: int = 3
    min_data_in_leaf: int = 3000
    feature_fraction: float = 0.5
    bagging_fraction: float = 0.7
    bagging_freq: int = 1
    lambda_l2: float = 10.0
    max_bin: int = 63
    seed: int = 20260202
    num_threads: int = 1

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf, "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction, "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2, "max_bin": self.max_bin, "seed": self.seed,
            "num_threads": self.num_threads, "deterministic": True, "force_row_wise": True, "verbose": -1,
        }  # fmt: skip


def train_model(
    data: TrainingData,
    labels: LabelParams,
    *,
    interval_ms: int,
    config: TrainConfig | None = None,
    fingerprint: str = "",
    created_ms: int = 0,
    extra_metadata: dict[str, Any] | None = None,
    progress: Progress | None = None,
) -> ScannerModel:
    """Folds, OOF predictions, calibrator choice, final fit; returns the model with its metadata."""
    cfg = config or TrainConfig()
    say = progress or (lambda _msg: None)
    if len(data.time_ms) == 0:
        raise ValueError("no labelled rows to train on (data too short for the warm-up and the label horizon?)")
    purge_ms = labels.horizon * interval_ms
    embargo_ms = (cfg.embargo_bars if cfg.embargo_bars is not None else labels.horizon) * interval_ms
    folds = walk_forward_folds(
        data.time_ms,
        n_folds=cfg.n_folds,
        purge_ms=purge_ms,
        embargo_ms=embargo_ms,
        window=cfg.window,
        rolling_blocks=cfg.rolling_blocks,
    )
    texts: dict[Side, str] = {}
    calibrators: dict[Side, Calibrator] = {}
    side_reports: dict[str, Any] = {}
    for side in SIDES:
        y = _labels(data, side)
        oof = _oof_predictions(data.X, y, folds, cfg, data.feature_names, say, side)
        calibrators[side], side_reports[side] = _choose_calibrator(oof, y, folds, data.time_ms, 2 * purge_ms)
        say(f"{side}: final model on {len(y):,} rows")
        texts[side] = _fit(data.X, y, cfg, data.feature_names).model_to_string()
    metadata = {
        "training": _window(data, folds, interval_ms, purge_ms),
        "oof": side_reports,
        "config": asdict(cfg),
        "data_fingerprint": fingerprint,
        "libraries": _versions(),
        **(extra_metadata or {}),
    }
    metadata = _stored_floats(metrics.json_safe(metadata))
    return ScannerModel(texts, calibrators, tuple(data.feature_names), labels, metadata, created_ms)


def _labels(data: TrainingData, side: Side) -> npt.NDArray[np.float64]:
    y = data.y_long if side == "long" else data.y_short
    if not np.isin(y, (0, 1)).all():
        raise ValueError(f"{side} labels must all be 0 or 1 (unknown labels are not training rows)")
    return np.asarray(y, dtype=np.float64)


def _fit(x: npt.NDArray[Any], y: F64, cfg: TrainConfig, names: tuple[str, ...]) -> lgb.Booster:
    params = cfg.lgb_params() | {"min_data_in_leaf": min(cfg.min_data_in_leaf, max(20, len(y) // 20))}
    dataset = lgb.Dataset(
        x, label=y, feature_name=list(names), params={"max_bin": cfg.max_bin, "verbose": -1}, free_raw_data=True
    )
    return lgb.train(params, dataset, num_boost_round=cfg.num_boost_round)


def _oof_predictions(
    x: npt.NDArray[Any], y: F64, folds: list[Fold], cfg: TrainConfig, names: tuple[str, ...], say: Progress, side: Side
) -> F64:
    """Raw probabilities for every test-fold row from a model that never saw it; NaN elsewhere."""
    oof = np.full(len(y), np.nan)
    for fold in folds:
        say(f"{side}: fold {fold.index}/{len(folds)} ({len(fold.train):,} train, {len(fold.test):,} test rows)")
        if len(fold.train) == 0 or np.unique(y[fold.train]).size < 2:
            raise ValueError(
                f"fold {fold.index} has no usable training rows (one class only or empty); "
                "give more data or fewer folds"
            )
        booster = _fit(x[fold.train], y[fold.train], cfg, names)
        oof[fold.test] = booster.predict(x[fold.test], num_threads=cfg.num_threads)
    return oof


def _forward(kind: CalibratorKind, raw: F64, y: F64, fold_of: npt.NDArray[np.int64], prior: dict[int, float]) -> F64:
    """Each OOF fold after the first calibrated by a calibrator fitted on the OOF folds before it.

    This is how the shipped calibrator is used: fitted on the past, applied to what comes next. The
    first OOF fold has no past and stays NaN (it is left out of the comparison). The constant uses
    `prior[k]`, the base rate of fold k's own training rows: what training knew at that time.
    """
    out = np.full_like(raw, np.nan)
    for k in np.unique(fold_of)[1:]:
        past, held = fold_of < k, fold_of == k
        if kind == "constant":
            out[held] = prior[int(k)]
        else:
            out[held] = fit_calibrator(kind, raw[past], y[past])(raw[held])
    return out


def _choose_calibrator(
    oof: F64, y: F64, folds: list[Fold], time_ms: npt.NDArray[np.int64], block_ms: int
) -> tuple[Calibrator, dict[str, Any]]:
    """Judge isotonic, Platt and the constant base rate forward on the OOF folds; fit the one chosen.

    Two questions, in this order, both on forward OOF predictions (folds 2..K, each calibrated on the
    folds before it):
    1. Which map? Isotonic or Platt, by the mean of the per-fold ECEs (rows-weighted). Per fold, not
       pooled: evaluation judges one later period at a time, and pooling folds lets one fold's
       over-prediction cancel another's under-prediction (the short side of the shipped model scored
       a pooled 0.024 but a per-fold 0.116 that way). Within ECE_TIE, Platt (2 numbers) is kept.
    2. Is there skill? `_decide` says; if not, the side ships the constant: "no skill: confidence =
       training base rate", and the metadata says so with the test's numbers (`skill_test`).
    """
    fold_of = np.full(len(y), -1, dtype=np.int64)
    prior: dict[int, float] = {}
    for fold in folds:
        fold_of[fold.test] = fold.index
        prior[fold.index] = float(y[fold.train].mean()) if len(fold.train) else float(y.mean())
    seen = fold_of >= 0
    raw, yy, fo = oof[seen], y[seen], fold_of[seen]
    scores: dict[str, Any] = {"raw_all_oof": _scores(raw, yy)}
    test: dict[str, Any] = {}
    if np.unique(fo).size < 2:
        chosen: CalibratorKind = "constant"
        why = "one OOF fold only: no forward comparison, so no skill can be shown; confidence = training base rate"
    else:
        later = fo > fo.min()
        scores["raw"] = _scores(raw[later], yy[later], fo[later])
        forward = {kind: _forward(kind, raw, yy, fo, prior)[later] for kind in KINDS}
        for kind in KINDS:
            scores[kind] = _scores(forward[kind], yy[later], fo[later])
        best = _better_map(scores)
        test = {"map": best, "auc": scores[best]["auc"], "brier": scores[best]["brier"],
                "constant_brier": scores["constant"]["brier"],
                **paired_brier_gain(forward[best], forward["constant"], yy[later], time_ms[seen][later],
                                    block_ms=block_ms)}  # fmt: skip
        chosen, why = _decide(scores, test)
    report = {
        "rows": int(seen.sum()), "base_rate": float(yy.mean()), "train_base_rate": float(y.mean()),
        "scores": scores, "calibrator": chosen, "skill": chosen != "constant", "why": why, "skill_test": test,
        "by_fold": _by_fold(raw, yy, fo, prior),
    }  # fmt: skip
    final = ConstantCalibrator(stored(float(y.mean()))) if chosen == "constant" else fit_calibrator(chosen, raw, yy)
    return final, report


def _by_fold(raw: F64, y: F64, fold_of: npt.NDArray[np.int64], prior: dict[int, float]) -> list[dict[str, Any]]:
    return [{"fold": int(k), "rows": int((fold_of == k).sum()), "base_rate": float(y[fold_of == k].mean()),
             "train_base_rate": prior[int(k)], "mean_raw": float(raw[fold_of == k].mean()),
             "raw_auc": metrics.auc(raw[fold_of == k], y[fold_of == k])}
            for k in np.unique(fold_of)]  # fmt: skip


def _better_map(scores: dict[str, Any]) -> CalibratorKind:
    """Isotonic only when its forward per-fold ECE is lower than Platt's by more than ECE_TIE."""
    return "isotonic" if scores["isotonic"]["fold_ece"] < scores["platt"]["fold_ece"] - ECE_TIE else "platt"


def _decide(scores: dict[str, Any], test: dict[str, Any]) -> tuple[CalibratorKind, str]:
    """Does the chosen map show skill, forward, on training data only? Both must hold:

    - its forward probabilities rank wins better than chance: AUC > 0.5 over the forward folds pooled,
      as the bot's fixed threshold sees them across periods (a map that ranks the rows of one period
      but moves its level against the next period's win rate ranks worse than chance there, and
      its highest confidences would then be its worst trades);
    - its Brier score beats the constant training base rate by more than the luck of the period: in
      at least SKILL_CONFIDENCE of paired block resamples (ml/bootstrap.py `paired_brier_gain`,
      blocks of two label horizons: rows in blocks apart share none of their trades' future), over
      at least MIN_SKILL_BLOCKS blocks. A bootstrap rather than a fixed margin because how large a
      gain is noise depends on how many independent outcomes the folds hold, which a fixed number
      cannot know: on the shipped model's training, 24 days of 12-hour trades.

    The old rule (any Brier gain at all) gave the shipped long side "skill" on a gain of 0.00017
    with a forward AUC of 0.473.
    """
    best = test["map"]
    iso, platt = scores["isotonic"]["fold_ece"], scores["platt"]["fold_ece"]
    why = (
        f"forward OOF per-fold ECE isotonic {iso:.4f} vs Platt {platt:.4f}: "
        + ("isotonic lower by more than the tie margin" if best == "isotonic"
           else f"Platt kept (lower, or within {ECE_TIE} and simpler)")
    )  # fmt: skip
    auc = test["auc"]
    evidence = (
        f"forward AUC {'n/a' if auc is None else f'{auc:.4f}'}, Brier {test['brier']:.5f} vs the constant base "
        f"rate's {test['constant_brier']:.5f} (gain {test['gain']:+.5f}, better in {test['share_better']:.0%} of "
        f"{test['resamples']} resamples of {test['blocks']} blocks of {_duration(test['block_hours'])})"
    )
    failed = []
    if auc is None or auc <= 0.5:
        failed.append("its forward probabilities rank wins no better than chance")
    if test["blocks"] < MIN_SKILL_BLOCKS:
        failed.append(f"fewer than {MIN_SKILL_BLOCKS} blocks of outcomes to judge its Brier by")
    elif test["share_better"] < SKILL_CONFIDENCE:
        failed.append(f"its Brier beats the constant's in fewer than {SKILL_CONFIDENCE:.0%} of resamples")
    if not failed:
        return best, f"{why}; skill: {evidence}"
    return "constant", f"{why}; no skill: {' and '.join(failed)} ({evidence}), so confidence = training base rate"


def _stored_floats(value: Any) -> Any:
    """Every float of the metadata to the digits a calibrator keeps (calibration.py `stored`): the scores'
    last digits depend on the CPU's summation order, and the metadata is part of what `model_version` hashes."""
    if isinstance(value, dict):
        return {k: _stored_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored_floats(v) for v in value]
    return stored(value) if isinstance(value, float) else value


def _duration(hours: float) -> str:
    return f"{hours:g} h" if hours >= 1 else f"{hours * 60:g} min"


def _scores(p: F64, y: F64, fold_of: npt.NDArray[np.int64] | None = None) -> dict[str, Any]:
    """AUC, Brier and ECE over all rows; with `fold_of`, also each fold's ECE and their rows-weighted mean."""
    out: dict[str, Any] = {"auc": metrics.auc(p, y), "brier": metrics.brier(p, y), "ece": metrics.ece(p, y)}
    if fold_of is not None:
        folds = np.unique(fold_of)
        per = [metrics.ece(p[fold_of == k], y[fold_of == k]) for k in folds]
        out["ece_by_fold"] = per
        out["fold_ece"] = float(np.average(per, weights=[(fold_of == k).sum() for k in folds]))
    return out


def _window(data: TrainingData, folds: list[Fold], interval_ms: int, horizon_ms: int) -> dict[str, Any]:
    """What the model was trained on; `spans` (per symbol, the runs of training rows' times) lets `evaluate`
    tell which evaluated rows the model has seen (ml/overlap.py)."""
    used = np.unique(data.symbol)
    return {
        "first_time_ms": int(data.time_ms.min()), "last_time_ms": int(data.time_ms.max()),
        "rows": len(data.time_ms), "interval_ms": interval_ms,
        "symbols": [data.symbols[i] for i in used],
        "spans": training_spans(data.time_ms, data.symbol, data.symbols, horizon_ms),
        "folds": [{"index": f.index, "train_rows": len(f.train), "test_rows": len(f.test),
                   "test_start_ms": f.test_start_ms, "test_end_ms": f.test_end_ms} for f in folds],
    }  # fmt: skip


def _versions() -> dict[str, str]:
    import sklearn

    return {"lightgbm": lgb.__version__, "scikit-learn": sklearn.__version__, "numpy": np.__version__}
