"""The AI scanner strategy: what it emits, that live and backtest chunks agree, and that it stays silent, saying
why, without a model it can trust or without complete inputs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scanner_fixtures import SYMBOLS, market, saved, tiny_model

from quantum_trader.domain.events import Direction
from quantum_trader.marketdata.bars import BarChunk
from quantum_trader.ml.calibration import ConstantCalibrator
from quantum_trader.ml.features import FEATURE_NAMES, WARMUP_BARS, BarWindow, latest_features
from quantum_trader.ml.model_file import ScannerModel
from quantum_trader.runtime.bar_publisher import scan_lag_bars
from quantum_trader.settings.model import load_settings
from quantum_trader.signals.ai_scanner import AiScanner, ScannerConfig
from quantum_trader.signals.registry import build_strategy
from quantum_trader.signals.scanner_model import bot_labels
from quantum_trader.signals.scanner_select import details, pick
from quantum_trader.signals.strategy import SignalBatch, signal_event

#: High enough that a bar holds both confident signals and the top few below the threshold.
THRESHOLD = 0.9
CONFIG = ScannerConfig(min_confidence=THRESHOLD)


def scanner(config: ScannerConfig = CONFIG) -> AiScanner:
    return AiScanner(config, model=tiny_model())


def one_bar_at_a_time(strategy: AiScanner, chunk: BarChunk) -> SignalBatch:
    """The live path: the same bars, one chunk per bar; the batches stacked back into one."""
    batches = [strategy.on_chunk(chunk.slice(t, t + 1)) for t in range(len(chunk))]
    details = {(t, s): d for t, b in enumerate(batches) for (_, s), d in (b.details or {}).items()}
    return SignalBatch(np.vstack([b.direction for b in batches]), np.vstack([b.confidence for b in batches]), details)


def test_every_warm_bar_carries_its_confident_signals_and_at_least_its_top_three() -> None:
    chunk = market(400)
    batch = scanner().on_chunk(chunk)
    model = tiny_model()
    assert not batch.mask[:WARMUP_BARS].any()  # the warm-up scores nothing
    for t in range(WARMUP_BARS, len(chunk)):
        p_long, p_short = model.predict(_features_at(chunk, t))
        best = np.maximum(p_long, p_short)
        assert batch.mask[t].sum() == max(3, int((best >= THRESHOLD).sum()))
        if not batch.mask[t].all():
            assert best[batch.mask[t]].min() >= best[~batch.mask[t]].max()
    assert (batch.mask & (batch.confidence >= THRESHOLD)).any() and (batch.mask & (batch.confidence < THRESHOLD)).any()
    assert set(batch.details or {}) == set(zip(*np.nonzero(batch.mask), strict=True))


def test_a_signal_carries_its_side_confidence_expected_value_version_and_reasons() -> None:
    chunk = market(300)
    model = tiny_model()
    batch = scanner().on_chunk(chunk)
    t, s = (int(i[0]) for i in np.nonzero(batch.mask))
    p_long, p_short = model.predict(_features_at(chunk, t)[s])
    want_long = p_long[0] >= p_short[0]
    assert batch.direction[t, s] == (1 if want_long else -1)
    assert batch.confidence[t, s] == pytest.approx(max(p_long[0], p_short[0]), abs=1e-9)
    event = signal_event(batch, chunk, t, s, source="ai-scanner", time_ms=123)
    assert event.direction is (Direction.LONG if want_long else Direction.SHORT)
    assert event.model_version == model.model_version and len(event.reasons) == 3
    assert all(name in FEATURE_NAMES for name, _ in event.reasons)
    assert event.expected_value == pytest.approx(float(model.expected_value(event.confidence, "long")))
    assert event.reason.startswith("ev ") and event.reasons[0][0] in event.reason


def _features_at(chunk: BarChunk, t: int) -> np.ndarray:
    return latest_features(BarWindow.from_chunk(chunk.slice(0, t + 1)))


def test_same_bars_and_model_give_the_same_signals() -> None:
    chunk = market(350)
    first, second = scanner().on_chunk(chunk), scanner().on_chunk(chunk)
    assert np.array_equal(first.direction, second.direction)
    assert np.array_equal(first.confidence, second.confidence)
    assert first.details == second.details


def test_one_bar_chunks_and_one_big_chunk_give_the_same_signals() -> None:
    chunk = market(420)
    big = scanner().on_chunk(chunk)
    live = one_bar_at_a_time(scanner(), chunk)
    in_pieces = [scanner_in_chunks(chunk, 97)]
    assert big.mask.sum() > 0
    for other in (live, *in_pieces):
        assert np.array_equal(big.direction, other.direction)
        np.testing.assert_allclose(big.confidence, other.confidence, rtol=0, atol=1e-12)
        assert set(big.details or {}) == set(other.details or {})
        for key, detail in (big.details or {}).items():
            mine = (other.details or {})[key]
            assert [n for n, _ in detail.reasons] == [n for n, _ in mine.reasons]
            assert detail.expected_value == pytest.approx(mine.expected_value, abs=1e-12)


def scanner_in_chunks(chunk: BarChunk, size: int) -> SignalBatch:
    strategy = scanner()
    parts = [strategy.on_chunk(chunk.slice(t, min(t + size, len(chunk)))) for t in range(0, len(chunk), size)]
    details = {(t0 + t, s): d for t0, b in zip(range(0, len(chunk), size), parts, strict=True)
               for (t, s), d in (b.details or {}).items()}
    return SignalBatch(np.vstack([b.direction for b in parts]), np.vstack([b.confidence for b in parts]), details)


def test_without_a_model_nothing_is_emitted_and_the_status_says_why(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.json"
    strategy = AiScanner(replace(CONFIG, model=str(missing)))
    assert strategy.model is None
    assert strategy.status == f"no signals: no model: QT_MODEL {missing} does not exist"
    batch = strategy.on_chunk(market(300))
    assert not batch.mask.any() and strategy.stats.bars_scored == 0


def test_a_model_with_other_features_is_refused_with_the_difference(tmp_path: Path) -> None:
    names = (*FEATURE_NAMES[:-1], "moon_phase")
    path = saved(tiny_model(names), tmp_path)
    strategy = AiScanner(replace(CONFIG, model=str(path)))
    assert strategy.model is None
    assert strategy.status.startswith("no signals: model refused: model features do not match")
    assert f"missing from the model: {FEATURE_NAMES[-1]}" in strategy.status and "moon_phase" in strategy.status
    assert not strategy.on_chunk(market(300)).mask.any()


def test_a_model_trained_for_another_stop_is_refused(tmp_path: Path) -> None:
    path = saved(tiny_model(), tmp_path)
    settings = load_settings({"model": str(path), "stop_loss_pct": "1.5"}, env={})
    strategy = build_strategy("ai-scanner", settings)
    assert isinstance(strategy, AiScanner) and strategy.model is None
    assert "sl_pct model=2.0 settings=1.5" in strategy.status
    accepted = build_strategy("ai-scanner", load_settings({"model": str(path)}, env={}))
    assert isinstance(accepted, AiScanner) and accepted.model is not None
    assert accepted.config.labels == bot_labels() and accepted.config.min_confidence == 0.65


def test_a_too_old_model_is_refused(tmp_path: Path) -> None:
    path = saved(tiny_model(), tmp_path)  # created_ms = 1000: the first second of 1970
    strategy = AiScanner(replace(CONFIG, model=str(path), max_age_days=30), now_ms=lambda: 40 * 86_400_000)
    assert "older than the limit of 30 days" in strategy.status and strategy.model is None


def test_a_symbol_with_a_missing_bar_in_its_window_is_not_scored() -> None:
    chunk = market(320)
    close = chunk.close.copy()
    close[200, 4] = np.nan  # inside the window of every feature of the last bars
    holed = BarChunk(chunk.symbols, chunk.open_time, chunk.open, chunk.high, chunk.low, close, chunk.volume,
                     chunk.interval_ms)
    strategy = scanner(replace(CONFIG, min_confidence=0.0))  # everything scored is emitted
    batch = strategy.on_chunk(holed)
    assert not batch.mask[:, 4].any()
    assert batch.mask[WARMUP_BARS:, [s for s in range(len(SYMBOLS)) if s != 4]].all()
    assert strategy.stats.scored_last_bar == len(SYMBOLS) - 1


def test_pick_keeps_all_confident_rows_and_the_top_rest_per_bar_ties_to_the_lower_symbol() -> None:
    conf = np.array([0.7, 0.2, 0.5, 0.5, 0.66, 0.1, 0.3, 0.3, 0.05, 0.8, 0.9, 0.75, 0.7])
    bar = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    sym = np.array([0, 1, 2, 3, 4, 0, 2, 1, 3, 0, 1, 2, 3])
    chosen = pick(conf, bar, sym, min_confidence=0.65, top=3)
    # bar 0: 0.7 and 0.66 rank 0 and 1; rank 2 is the 0.5 of symbol 2, not of symbol 3 (a tie)
    # bar 1: nothing confident, the best three; bar 2: all four are confident
    assert chosen.tolist() == [True, False, True, False, True, True, True, True, False, True, True, True, True]
    assert pick(conf, bar, sym, min_confidence=0.65, top=0).tolist() == [c >= 0.65 for c in conf]


def test_holes_in_time_are_counted_as_skipped_bars() -> None:
    chunk = market(300)
    strategy = scanner()
    strategy.on_chunk(chunk.slice(0, 250))
    strategy.on_chunk(chunk.slice(253, 300))  # three bars never reached the scanner
    assert strategy.stats.skipped_bars == 3 and strategy.stats.last_bar_ms == int(chunk.open_time[-1])


def test_a_scan_that_ends_after_the_next_close_is_lag() -> None:
    chunk = market(1)
    close = int(chunk.open_time[0]) + 60_000
    assert scan_lag_bars(chunk, close, 0.030, None) == 0  # --speed max: the feed waits for the scan
    assert scan_lag_bars(chunk, close, 0.030, 1.0) == 0
    assert scan_lag_bars(chunk, close, 0.030, 3000.0) == 1  # 30 ms at 3000x is 90 s of market time
    assert scan_lag_bars(chunk, close + 125_000, 0.0, 1.0) == 2  # the bar itself arrived two bars late
    strategy = scanner()
    strategy.stats.note_lag(2)
    assert strategy.status.startswith("behind the bars") and strategy.stats.snapshot()["behind"] is True


def test_a_model_error_is_no_signal_for_that_bar_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = market(300)
    strategy = scanner()
    strategy.on_chunk(chunk.slice(0, 280))

    def broken(self: ScannerModel, x: object, side: str) -> object:
        raise ValueError("booster exploded")

    monkeypatch.setattr(ScannerModel, "predict_raw", broken)
    assert not strategy.on_chunk(chunk.slice(280, 281)).mask.any()
    assert strategy.status == ("no signals on the last bar: scan error: ValueError: booster exploded "
                               "(errors since start: 1)")
    assert strategy.stats.snapshot()["errors"] == 1 and strategy.stats.signals_last_bar == 0
    monkeypatch.undo()
    assert strategy.on_chunk(chunk.slice(281, 282)).mask.any()  # the next bar is scored again
    assert strategy.status.startswith("scanning")


def test_equal_confidences_rank_by_the_raw_score_then_the_symbol() -> None:
    conf = np.array([0.5, 0.5, 0.5, 0.5])
    bar = np.zeros(4, np.int64)
    sym = np.arange(4, dtype=np.int64)
    assert pick(conf, bar, sym, min_confidence=0.65, top=2, tiebreak=np.array([0.1, 0.3, 0.2, 0.3])).tolist() == [
        False, True, False, True]


def test_a_side_without_skill_gives_no_feature_reasons_and_says_so() -> None:
    """The shipped model's short side ships its base rate: listing LightGBM contributions for it would claim
    the features explain a number they do not move."""
    skilled = tiny_model()
    model = ScannerModel(dict(skilled.booster_texts), {**skilled.calibrators, "short": ConstantCalibrator(0.3)},
                         skilled.feature_names, skilled.labels, dict(skilled.metadata), skilled.created_ms)
    x = np.stack([_features_at(market(300), t)[0] for t in range(250, 254)]).astype(np.float32)
    long = np.array([True, False, True, False])
    out = details(model, x, long, np.array([0.7, 0.3, 0.6, 0.3]))
    assert [len(d.reasons) for d in out] == [3, 0, 3, 0]
    assert [d.no_skill for d in out] == [False, True, False, True]
    assert out[1].text().endswith("no skill: confidence is the training base rate")
    assert out[1].expected_value is not None
    assert "no skill" not in out[0].text()
