"""Probability calibrators (isotonic, Platt) that serialise to plain JSON.

A boosted model's raw probability is not a frequency: trees fitted on overlapping, noisy labels are
over-confident out of sample. The scanner trades on "confidence ≥ 0.65", so the number must mean
"about 65 % of such trades win". A calibrator maps the raw out-of-fold probability to the observed win
rate. Both kinds are a handful of numbers stored in the model file as JSON (never pickle: a model file
must be safe to load from anywhere).

- Isotonic: a monotone step-wise-linear map fitted by pool-adjacent-violators (scikit-learn), stored as
  its breakpoints (`x`, `y`) and applied with `np.interp` (which clips outside the fitted range, as
  scikit-learn's `out_of_bounds="clip"` does). Flexible; can overfit thin tails.
- Platt: p = sigmoid(a · logit(raw) + b), two numbers fitted by Newton's method on the log loss (our own
  few lines, so the result does not drift with a library's solver defaults). Rigid; cannot overfit.
  Like isotonic it is kept monotone (a ≥ 0): if the data say the model's ranking is backwards, the
  calibrator answers the base rate rather than trusting a reversed model.
- Constant: one number, the training base rate, whatever the booster says. Training ships it for a
  side whose calibrated booster did not beat that constant out of sample (ml/train.py): a model with
  no demonstrated skill must not pretend to rank, and the honest probability is then how often the
  trade has won.

Every fitted number is kept to STORED_DIGITS significant digits, so the same data give the same model
file on any machine. Floating-point sums come out in their last digits differently where the order of
the additions differs, and that order depends on the CPU: OpenBLAS picks its matrix kernels by CPU type,
numpy its SIMD loops. The shipped model's Platt slope came out 0.33895113520757714 on an AVX2 machine
and 0.33895113520757547 on an AVX-512 one, which changed its `model_version`. Ten digits are far beyond
any precision a probability map has (1e-10) and far short of those differences (around 1e-15 relative);
the Platt fit itself sums with numpy's own pairwise sums rather than BLAS products, so its result does not
depend on OpenBLAS's kernels at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
CalibratorKind = Literal["isotonic", "platt", "constant"]
KINDS: tuple[CalibratorKind, ...] = ("isotonic", "platt", "constant")
#: The kinds that map the booster's output (the constant ignores it).
MAPS: tuple[CalibratorKind, ...] = ("isotonic", "platt")
#: Raw probabilities are clipped this far from 0 and 1 before the logit (LightGBM never outputs 0 or 1
#: exactly, but a constant or degenerate model can come close).
_EPS = 1e-6
#: Significant digits a calibrator's fitted numbers are kept to (see the module docstring).
STORED_DIGITS = 10


def stored(value: float) -> float:
    """`value` to STORED_DIGITS significant digits: the number a model file keeps, the same on every machine."""
    return float(f"{value:.{STORED_DIGITS}g}")


class Calibrator(Protocol):
    """Maps raw model probabilities to calibrated ones; a plain-JSON round trip reproduces it exactly."""

    @property
    def kind(self) -> CalibratorKind: ...

    def __call__(self, raw: npt.ArrayLike) -> F64: ...

    def to_json(self) -> dict[str, Any]: ...


def _logit(p: npt.ArrayLike) -> F64:
    q = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1.0 - _EPS)
    return np.asarray(np.log(q) - np.log1p(-q), dtype=np.float64)


def _sigmoid(z: F64) -> F64:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * z)), dtype=np.float64)  # overflow-free logistic


@dataclass(frozen=True)
class IsotonicCalibrator:
    """Monotone piecewise-linear map through the breakpoints (x[i], y[i]); flat beyond the ends."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    kind: CalibratorKind = "isotonic"

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("isotonic calibrator needs as many x as y breakpoints, at least one")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("isotonic calibrator breakpoints x must be non-decreasing")

    def __call__(self, raw: npt.ArrayLike) -> F64:
        values = np.asarray(raw, dtype=np.float64)
        return np.asarray(np.interp(values, self.x, self.y), dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "x": list(self.x), "y": list(self.y)}


@dataclass(frozen=True)
class PlattCalibrator:
    """p = sigmoid(a · logit(raw) + b); a = 1, b = 0 is the identity."""

    a: float
    b: float
    kind: CalibratorKind = "platt"

    def __call__(self, raw: npt.ArrayLike) -> F64:
        return _sigmoid(self.a * _logit(raw) + self.b)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "a": self.a, "b": self.b}


@dataclass(frozen=True)
class ConstantCalibrator:
    """p = the base rate for every row: the booster's output is ignored (a side without skill)."""

    p: float
    kind: CalibratorKind = "constant"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"constant calibrator needs a probability, got {self.p}")

    def __call__(self, raw: npt.ArrayLike) -> F64:
        return np.full(np.shape(raw), self.p, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "p": self.p}


def fit_isotonic(raw: npt.ArrayLike, y: npt.ArrayLike) -> IsotonicCalibrator:
    """Pool-adjacent-violators on (raw, y); keeps only the breakpoints scikit-learn keeps."""
    x_arr, y_arr = _checked(raw, y)
    from sklearn.isotonic import IsotonicRegression  # fitting only: loading a model needs none of sklearn

    model = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    model.fit(x_arr, y_arr)
    xs = np.asarray(model.X_thresholds_, dtype=np.float64)
    ys = np.asarray(model.y_thresholds_, dtype=np.float64)
    return IsotonicCalibrator(tuple(stored(v) for v in xs), tuple(stored(v) for v in ys))


def fit_platt(raw: npt.ArrayLike, y: npt.ArrayLike, *, iterations: int = 50) -> PlattCalibrator:
    """Logistic regression of y on logit(raw) (two parameters, no penalty) by damped Newton steps.

    Newton on a 2-parameter convex log loss converges in a few steps; the step halving guards against
    the rare overshoot when the data are nearly separable. Gradient and Hessian are plain sums and the
    2 × 2 system is solved by hand: no BLAS or LAPACK call, whose summation order varies by CPU.
    """
    x_arr, y_arr = _checked(raw, y)
    z = _logit(x_arr)
    a, b = 1.0, 0.0
    loss = _log_loss(a * z + b, y_arr)
    for _ in range(iterations):
        p = _sigmoid(a * z + b)
        step_a, step_b = _newton_step(z, p - y_arr, p * (1.0 - p))
        scale = 1.0
        while scale > 1e-4:
            trial_a, trial_b = a - scale * step_a, b - scale * step_b
            trial_loss = _log_loss(trial_a * z + trial_b, y_arr)
            if trial_loss <= loss:
                break
            scale *= 0.5
        else:
            break
        converged = abs(loss - trial_loss) < 1e-12 * max(1.0, abs(loss))
        a, b, loss = trial_a, trial_b, trial_loss
        if converged:
            break
    if a < 0.0:  # never reverse the model's ranking: the best monotone map is then a constant
        rate = float(np.clip(y_arr.mean(), _EPS, 1.0 - _EPS))
        return PlattCalibrator(0.0, stored(float(np.log(rate) - np.log1p(-rate))))
    return PlattCalibrator(stored(a), stored(b))


def _newton_step(z: F64, residual: F64, weight: F64) -> tuple[float, float]:
    """Solve [[Σwz², Σwz], [Σwz, Σw]] · step = [Σzr, Σr] (a tiny ridge keeps it solvable)."""
    g_a, g_b = float(np.sum(z * residual)), float(np.sum(residual))
    h_aa, h_ab, h_bb = float(np.sum(weight * z * z)) + 1e-9, float(np.sum(weight * z)), float(np.sum(weight)) + 1e-9
    det = h_aa * h_bb - h_ab * h_ab
    return (h_bb * g_a - h_ab * g_b) / det, (h_aa * g_b - h_ab * g_a) / det


def fit_calibrator(kind: CalibratorKind, raw: npt.ArrayLike, y: npt.ArrayLike) -> Calibrator:
    """Fit a calibrator of the named kind."""
    if kind == "isotonic":
        return fit_isotonic(raw, y)
    if kind == "platt":
        return fit_platt(raw, y)
    if kind == "constant":
        return ConstantCalibrator(stored(float(_checked(raw, y)[1].mean())))
    raise ValueError(f"unknown calibrator kind {kind!r}; expected one of {KINDS}")


def calibrator_from_json(doc: dict[str, Any]) -> Calibrator:
    """Rebuild a calibrator from `to_json()` output; a malformed document raises ValueError."""
    kind = doc.get("kind")
    try:
        if kind == "isotonic":
            return IsotonicCalibrator(tuple(float(v) for v in doc["x"]), tuple(float(v) for v in doc["y"]))
        if kind == "platt":
            return PlattCalibrator(float(doc["a"]), float(doc["b"]))
        if kind == "constant":
            return ConstantCalibrator(float(doc["p"]))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed {kind} calibrator: {exc!r}") from exc
    raise ValueError(f"unknown calibrator kind {kind!r}; expected one of {KINDS}")


def _log_loss(z: F64, y: F64) -> float:
    """Mean binary log loss of logits z against labels y (stable form)."""
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _checked(raw: npt.ArrayLike, y: npt.ArrayLike) -> tuple[F64, F64]:
    x_arr = np.asarray(raw, dtype=np.float64).ravel()
    y_arr = np.asarray(y, dtype=np.float64).ravel()
    if x_arr.shape != y_arr.shape or x_arr.size == 0:
        raise ValueError(f"calibration needs equal, non-empty raw and label arrays, got {x_arr.size} and {y_arr.size}")
    if not np.isfinite(x_arr).all():
        raise ValueError("calibration raw probabilities contain NaN or infinity")
    if not np.isin(y_arr, (0.0, 1.0)).all():
        raise ValueError("calibration labels must be 0 or 1")
    return x_arr, y_arr
