"""`ai-scanner`: the calibrated model scores the whole universe on every closed bar.

On each chunk (live: one bar; backtest: thousands) the scanner adds the bars to the history it keeps,
computes every symbol's features at each new closed bar (signals/scanner_features.py: closed bars only,
the same values for one-bar and many-bar chunks), and asks the model (ml/model_file.py) for the
calibrated probability that the bot's long trade wins and that its short trade wins. Per symbol, the
better side is the signal's direction and its probability the confidence: "0.70" means that of such
signals about 70 % reached the take-profit before the stop on data the model never saw. Each signal also
carries its expected value per trade after fees, the model's version and the features that moved the
score most (`SignalDetail`). Which scored symbols are emitted: signals/scanner_select.py.

No trade without a trustworthy model and complete inputs: a missing or refused model (features that
differ, other SL/TP settings, too old) leaves the scanner silent with the reason in `status` (shown in
/health, logged once); a symbol without enough history or with a missing input is not scored. Risk keeps
the one rule on confidence (below QT_MIN_CONFIDENCE nothing trades).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import structlog

from ..marketdata.bars import BarChunk
from ..ml.features import WARMUP_BARS
from ..ml.model_file import LabelParams, ScannerModel
from .scanner_features import F32, I64, ScanWindow, complete
from .scanner_health import ScannerStats
from .scanner_model import DEFAULT_MODEL, bot_labels, load_scanner_model
from .scanner_select import REASONS, TOP_PER_BAR, Bools, details, pick
from .strategy import F64, SignalBatch

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ScannerConfig:
    """QT_MODEL, QT_MIN_CONFIDENCE, the trade the labels must describe, and how much to emit per bar."""

    model: str = DEFAULT_MODEL
    min_confidence: float = 0.65
    labels: LabelParams | None = None  # None: the settings' defaults (bot_labels())
    max_age_days: float | None = None
    top_per_bar: int = TOP_PER_BAR
    reasons: int = REASONS


class AiScanner:
    name = "ai-scanner"

    def __init__(self, config: ScannerConfig | None = None, *, model: ScannerModel | None = None,
                 now_ms: Callable[[], int] | None = None) -> None:
        """`model` given: run it as it is (tests, benchmarks); else load `config.model` and check it."""
        self.config = config or ScannerConfig()
        self.stats = ScannerStats()
        self.refused = ""
        if model is None:
            wall_ms = now_ms() if now_ms is not None else time.time_ns() // 1_000_000
            loaded = load_scanner_model(self.config.model, self.config.labels or bot_labels(),
                                        max_age_days=self.config.max_age_days, now_ms=wall_ms)
            model, self.refused = loaded.model, loaded.refused
            if model is None:
                log.warning("ai-scanner emits no signals", reason=self.refused)
            else:
                log.info("ai-scanner model loaded", path=str(loaded.path), model_version=model.model_version)
        self.model = model
        self.stats.model_version = None if model is None else model.model_version
        self._window: ScanWindow | None = None

    @property
    def status(self) -> str:
        """One line for /health: why there are no signals, or what the scanner is doing."""
        if self.model is None:
            return f"no signals: {self.refused}"
        stats = self.stats
        if stats.failed_last_bar:
            return f"no signals on the last bar: {stats.last_error} (errors since start: {stats.errors})"
        if stats.behind:
            return (f"behind the bars: the scan of the bar at {stats.last_bar_ms} finished {stats.lag_bars} bar(s) "
                    f"late (model {self.model.model_version})")
        if stats.bars_scored == 0:
            return f"warming up: scores from bar {WARMUP_BARS + 1} on (model {self.model.model_version})"
        return f"scanning: model {self.model.model_version}, threshold {self.config.min_confidence:.2f}"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        started = time.perf_counter()
        batch = SignalBatch.empty(len(chunk), chunk.n_symbols)
        if self.model is None or len(chunk) == 0:
            return batch
        if self._window is None or self._window.symbols != chunk.symbols:
            self._window = ScanWindow(chunk.symbols)
        self.stats.note_bars(chunk.open_time, chunk.interval_ms)
        try:
            rows, x = self._window.features(chunk)
            scored = complete(x)  # [bars, S]
            warm = scored.any(axis=1)  # bars in the warm-up score no symbol
            rows, x, scored = rows[warm], x[warm], scored[warm]
            if len(rows):
                batch = self._score(batch, rows, x, scored)
        except Exception as exc:  # bad bars or a model error: "no signal" for these bars, never a dead feed
            return self._failed(chunk, exc)
        if len(rows):
            self.stats.note_scan((time.perf_counter() - started) * 1000.0, len(rows))
        return batch

    def _failed(self, chunk: BarChunk, exc: Exception) -> SignalBatch:
        """No signal for the chunk; the reason goes to `status` and /health, and to the log once per reason."""
        reason = f"scan error: {type(exc).__name__}: {exc}"
        if reason != self.stats.last_error:
            log.error("ai-scanner emits no signals for this bar", reason=reason, bar_ms=int(chunk.open_time[-1]))
        self.stats.note_error(reason)
        return SignalBatch.empty(len(chunk), chunk.n_symbols)

    def _score(self, batch: SignalBatch, rows: I64, x: F32, scored: Bools) -> SignalBatch:
        """Both sides' calibrated probabilities for every complete row, the better side per symbol, then
        the bar's signals (scanner_select.pick) with their details."""
        model, cfg = self.model, self.config
        assert model is not None
        bar_i, sym_i = np.nonzero(scored)
        if len(bar_i):
            xs = x[bar_i, sym_i]
            # model.predict, with the raw scores kept: a calibration plateau gives many symbols the same
            # confidence, and the raw score still orders them (the booster's view, before calibration).
            raw_long, raw_short = model.predict_raw(xs, "long"), model.predict_raw(xs, "short")
            p_long, p_short = model.calibrators["long"](raw_long), model.calibrators["short"](raw_short)
            long: Bools = p_long >= p_short
            confidence: F64 = np.where(long, p_long, p_short)
            keep = np.flatnonzero(pick(confidence, bar_i.astype(np.int64), sym_i.astype(np.int64),
                                       min_confidence=cfg.min_confidence, top=cfg.top_per_bar,
                                       tiebreak=np.where(long, raw_long, raw_short)))
            t, s = rows[bar_i[keep]], sym_i[keep]
            batch.direction[t, s] = np.where(long[keep], 1, -1)
            batch.confidence[t, s] = confidence[keep]
            info = details(model, xs[keep], long[keep], confidence[keep], cfg.reasons)
            batch = SignalBatch(batch.direction, batch.confidence,
                                {(int(a), int(b)): d for a, b, d in zip(t, s, info, strict=True)})
        self._count_last_bar(batch, rows, scored)
        return batch

    def _count_last_bar(self, batch: SignalBatch, rows: I64, scored: Bools) -> None:
        """The last bar's counts for /health, and every scored bar's signals for the totals."""
        emitted = batch.direction[rows] != 0
        confident = emitted & (batch.confidence[rows] >= self.config.min_confidence)
        self.stats.note_bar(int(scored[-1].sum()), int(emitted[-1].sum()), int(confident[-1].sum()),
                            signals=int(emitted.sum()), confident=int(confident.sum()))
