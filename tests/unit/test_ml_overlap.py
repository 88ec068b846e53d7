"""`evaluate` says which rows the model was trained on: a score on them is a fit, not a prediction."""

from __future__ import annotations

import numpy as np
import pytest
from test_ml_train_model_file import FAST, LABELS, MINUTE, Rows, _rows

from quantum_trader.ml.evaluate import evaluate
from quantum_trader.ml.model_file import ScannerModel
from quantum_trader.ml.overlap import in_sample, overlap_report, training_spans
from quantum_trader.ml.train import train_model

H = LABELS.horizon * MINUTE  # 10 bars
DAY = 86_400_000


def _shifted(rows: Rows, by_ms: int) -> Rows:
    return Rows(rows.X, rows.y_long, rows.y_short, rows.ret_long, rows.ret_short, rows.time_ms + by_ms, rows.symbol,
                rows.symbols, rows.feature_names)  # fmt: skip


@pytest.fixture(scope="module")
def trained() -> tuple[ScannerModel, Rows]:
    rows = _shifted(_rows(bars=2_000), 10 * DAY)  # training rows: day 10, 00:00 to 09:19 (2,000 minutes: 33 h)
    return train_model(rows, LABELS, interval_ms=MINUTE, config=FAST, created_ms=1_000), rows


def test_the_model_records_the_spans_it_trained_on(trained: tuple[ScannerModel, Rows]) -> None:
    model, rows = trained
    spans = model.metadata["training"]["spans"]
    first, last = int(rows.time_ms.min()), int(rows.time_ms.max())
    assert spans == {name: [[first, last]] for name in rows.symbols}


def test_a_gap_longer_than_two_horizons_splits_a_span() -> None:
    times = np.array([0, 5, 10, 10 + 2 * 10 + 1, 40], dtype=np.int64) * MINUTE
    spans = training_spans(times, np.zeros(5, dtype=np.int32), ("AUSDT",), H)
    assert spans == {"AUSDT": [[0, 10 * MINUTE], [31 * MINUTE, 40 * MINUTE]]}


def test_a_row_is_in_sample_while_its_horizon_reaches_a_training_rows_outcome() -> None:
    spans = {"AUSDT": [[100 * MINUTE, 200 * MINUTE]]}
    times = np.array([90, 91, 150, 209, 210, 150], dtype=np.int64) * MINUTE
    symbol = np.array([0, 0, 0, 0, 0, 1], dtype=np.int32)
    mine, same = in_sample(spans, times, symbol, ("AUSDT", "BUSDT"), H)
    assert mine.tolist() == [False, True, True, True, False, False]  # 90 + 10 and 200 + 10 only touch
    assert same.tolist() == [False] * 5 + [True]  # BUSDT was not trained on, but it is the same period


def test_evaluating_training_rows_warns_and_reports_counts(trained: tuple[ScannerModel, Rows]) -> None:
    model, rows = trained
    report = evaluate(model, rows, min_confidence=0.65)
    assert report["overlaps_training"] is True
    assert report["in_sample_rows"] == len(rows.time_ms) and report["out_of_sample_rows"] == 0
    warning = report["training_overlap"]["warning"]
    assert warning.startswith("every row (S0USDT, S1USDT, S2USDT, S3USDT, 1970-01-11 00:00 to 1970-01-12 09:19 UTC)")
    assert "--start 1970-01-13" in warning  # the first day after the last training row's horizon
    assert "out_of_sample" not in report  # nothing unseen to score


def test_mixed_data_are_scored_on_the_unseen_rows_alone_too(trained: tuple[ScannerModel, Rows]) -> None:
    model, rows = trained
    later = _shifted(_rows(bars=3_000, seed=9), 11 * DAY + 8 * 3_600_000)  # from day 11, 08:00: past the training
    report = evaluate(model, later, min_confidence=0.65)
    unseen = later.time_ms >= rows.time_ms.max() + H
    assert report["in_sample_rows"] == int((~unseen).sum()) > 0
    assert report["out_of_sample_rows"] == int(unseen.sum()) > 0
    oos = report["out_of_sample"]
    assert oos["rows"] == report["out_of_sample_rows"] and oos["first_time_ms"] == int(later.time_ms[unseen].min())
    p_long, _ = model.predict(later.X[unseen])
    assert oos["sides"]["long"]["brier"] == pytest.approx(np.mean((p_long - later.y_long[unseen]) ** 2))
    assert report["sides"]["long"]["rows"] == len(later.time_ms)  # the all-rows report is unchanged
    assert "the 11,644 out-of-sample rows are scored alone" in report["training_overlap"]["warning"]


def test_unseen_data_get_no_warning(trained: tuple[ScannerModel, Rows]) -> None:
    model, _ = trained
    report = evaluate(model, _shifted(_rows(bars=500, seed=3), 13 * DAY), min_confidence=0.65)
    assert report["overlaps_training"] is False and report["training_overlap"]["warning"] is None
    assert report["in_sample_rows"] == 0 and "out_of_sample" not in report


def test_a_model_without_spans_is_judged_on_its_first_and_last_training_row() -> None:
    training = {"first_time_ms": 0, "last_time_ms": 100 * MINUTE, "symbols": ["AUSDT"], "interval_ms": MINUTE}
    times = np.array([50, 105, 110, 120], dtype=np.int64) * MINUTE
    mine, doc = overlap_report(training, times, np.zeros(4, dtype=np.int32), ("AUSDT",), H)
    assert mine.tolist() == [True, True, False, False]
    assert doc["in_sample_rows"] == 2 and doc["out_of_sample_rows"] == 2 and doc["clean_start"] == "1970-01-02"
