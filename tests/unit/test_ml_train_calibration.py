"""Calibrators and the ECE they are judged by, on synthetic data whose true probabilities are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantum_trader.ml import metrics
from quantum_trader.ml.calibration import (
    ConstantCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    calibrator_from_json,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
)


def _known(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities, outcomes drawn from them, and an over-confident model's scores (logit × 3)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, n)
    y = (rng.random(n) < p).astype(np.float64)
    z = np.log(p / (1 - p))
    raw = 1 / (1 + np.exp(-3.0 * z))
    return p, y, raw


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_calibration_repairs_an_over_confident_model_on_fresh_data(kind: str) -> None:
    _, y_fit, raw_fit = _known(40_000, seed=1)
    p_true, y_new, raw_new = _known(40_000, seed=2)
    before = metrics.ece(raw_new, y_new)
    calibrated = fit_calibrator(kind, raw_fit, y_fit)(raw_new)  # type: ignore[arg-type]
    after = metrics.ece(calibrated, y_new)
    assert before > 0.10, before  # the mis-scaled model is badly calibrated ...
    assert after < 0.02, after  # ... and calibration fitted on other data repairs it
    assert np.abs(calibrated - p_true).mean() < 0.03  # close to the true probabilities, not just on average


def test_platt_recovers_the_known_scale() -> None:
    _, y, raw = _known(60_000, seed=3)
    platt = fit_platt(raw, y)
    assert platt.a == pytest.approx(1 / 3, abs=0.02)
    assert platt.b == pytest.approx(0.0, abs=0.03)


def test_isotonic_is_monotone_and_clipped_to_probabilities() -> None:
    _, y, raw = _known(5_000, seed=4)
    iso = fit_isotonic(raw, y)
    grid = np.linspace(-0.5, 1.5, 201)
    out = iso(grid)
    assert (np.diff(out) >= 0).all()
    assert out.min() >= 0.0 and out.max() <= 1.0


@pytest.mark.parametrize("kind", ["isotonic", "platt"])
def test_json_round_trip_is_exact(kind: str) -> None:
    _, y, raw = _known(3_000, seed=5)
    fitted = fit_calibrator(kind, raw, y)  # type: ignore[arg-type]
    text = json.dumps(fitted.to_json(), sort_keys=True)
    again = calibrator_from_json(json.loads(text))
    grid = np.linspace(0, 1, 1001)
    assert np.array_equal(fitted(grid), again(grid))
    assert json.dumps(again.to_json(), sort_keys=True) == text


def test_malformed_calibrator_documents_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown calibrator kind"):
        calibrator_from_json({"kind": "pickle"})
    with pytest.raises(ValueError, match="malformed platt"):
        calibrator_from_json({"kind": "platt", "a": 1.0})
    with pytest.raises(ValueError, match="non-decreasing"):
        IsotonicCalibrator((0.5, 0.2), (0.1, 0.2))


def test_fitting_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="0 or 1"):
        fit_platt([0.2, 0.3], [0.0, 2.0])
    with pytest.raises(ValueError, match="NaN"):
        fit_isotonic([0.2, np.nan], [0.0, 1.0])


def test_identity_platt_leaves_probabilities_alone() -> None:
    grid = np.linspace(0.01, 0.99, 99)
    assert np.allclose(PlattCalibrator(1.0, 0.0)(grid), grid)


def test_ece_and_reliability_table_by_hand() -> None:
    p = np.array([0.05, 0.05, 0.15, 0.95, 1.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    table = metrics.reliability_table(p, y)
    assert [r["count"] for r in table] == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]  # p = 1.0 goes into the last bin
    assert table[0]["mean_predicted"] == pytest.approx(0.05) and table[0]["observed_rate"] == 0.5
    assert table[2]["mean_predicted"] is None
    # ECE = (2/5)·|0.05 − 0.5| + (1/5)·|0.15 − 0| + (2/5)·|0.975 − 1|
    assert metrics.ece(p, y) == pytest.approx(0.4 * 0.45 + 0.2 * 0.15 + 0.4 * 0.025)
    assert metrics.brier(p, y) == pytest.approx(np.mean((p - y) ** 2))
    assert metrics.auc(p, np.ones(5)) is None


def test_platt_never_reverses_the_ranking() -> None:
    _, y, raw = _known(5_000, seed=6)
    platt = fit_platt(1.0 - raw, y)  # a model that ranks backwards
    assert platt.a == 0.0
    assert platt(np.array([0.1, 0.9])) == pytest.approx([y.mean(), y.mean()])


def test_constant_calibrator_fits_round_trips_and_ignores_the_booster() -> None:
    fitted = fit_calibrator("constant", [0.1, 0.9, 0.5, 0.7], [1.0, 0.0, 0.0, 0.0])
    assert fitted.kind == "constant"
    assert np.array_equal(fitted(np.array([0.0, 0.5, 1.0])), np.full(3, 0.25))
    again = calibrator_from_json(json.loads(json.dumps(fitted.to_json())))
    assert again == fitted
    with pytest.raises(ValueError, match="probability"):
        ConstantCalibrator(1.5)
    with pytest.raises(ValueError, match="malformed constant"):
        calibrator_from_json({"kind": "constant"})


@pytest.mark.parametrize("kind", ["isotonic", "platt", "constant"])
def test_fitted_numbers_keep_ten_significant_digits(kind: str) -> None:
    """Their last digits depend on the CPU's summation order; ten digits are the same on every machine."""
    _, y, raw = _known(5_000, seed=7)
    numbers = [v for v in fit_calibrator(kind, raw, y).to_json().values() if not isinstance(v, str)]  # type: ignore[arg-type]
    flat = [float(x) for v in numbers for x in (v if isinstance(v, list) else [v])]
    assert flat and all(x == float(f"{x:.10g}") for x in flat)
