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
/health, logged once); a symbol without enough history or with a missing input is not scored. Why it is
silent is also `silence` (a refused model, a scan that raised, symbols that lost an input), which the
session journals once per change as a `ScannerSilent` event. Risk keeps the one rule on confidence (below
QT_MIN_CONFIDENCE nothing trades).

History: `warm_up` takes the bars before the session's first live bar (feeds/warmup.py: the synthetic
market's own past, or the exchange's REST klines), so the first closed bar is scored at once instead of
WARMUP_BARS minutes later. History is held, never scored: no signal, hence no order, can come from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.loggers import get_logger
from ..marketdata.bars import BarChunk
from ..ml.features import WARMUP_BARS
from ..ml.model_file import LabelParams, ScannerModel
from .scanner_features import F32, I64, ScanWindow, complete
from .scanner_health import ScannerStats
from .scanner_model import DEFAULT_MODEL, bot_labels, load_scanner_model
from .scanner_select import REASONS, TOP_PER_BAR, Bools, details, pick
from .strategy import F64, NO_MODEL, SignalBatch, Silence

log = get_logger(__name__)


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
        #: Symbols scored on some bar so far (one lost later is "missing data"), and those lost on the last bar.
        self._ever_scored: Bools | None = None
        self._missing: tuple[str, ...] = ()

    #: Bars of history wanted before the first live bar (signals/strategy.py `WarmsUp`): the features'
    #: warm-up and the bar before it, as the live window holds.
    history_bars = WARMUP_BARS + 1

    def warm_up(self, history: BarChunk) -> None:
        """Hold the bars before the session's start; nothing is scored, so nothing is emitted."""
        if len(history) == 0:
            return
        if self._window is None or self._window.symbols != history.symbols:
            self._window = ScanWindow(history.symbols)
        self._window.warm(history)
        self.stats.history_bars += len(history)
        self._note_warm()

    def _note_warm(self) -> None:
        window = self._window
        self.stats.symbols = 0 if window is None else len(window.symbols)
        self.stats.warm_symbols = 0 if window is None else window.warm_symbols()

    @property
    def silence(self) -> Silence | None:
        """Why the scanner emits nothing now, if it is for a reason other than "nothing qualifies"."""
        if self.model is None:
            return Silence(NO_MODEL, f"no signals: {self.refused}")
        if self.stats.failed_last_bar:
            return Silence("scan_error", f"no signals on the last bar: {self.stats.last_error}")
        if self._missing:
            shown = ", ".join(self._missing[:5]) + (", ..." if len(self._missing) > 5 else "")
            return Silence("missing_data", f"no signals for {len(self._missing)} symbol(s) with a missing input "
                                           f"on the last bar: {shown}", self._missing)
        return None

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
            return (f"warming up: {stats.warm_symbols} of {stats.symbols} symbols hold the {WARMUP_BARS} bars "
                    f"needed to score the next bar (model {self.model.model_version})")
        return f"scanning: model {self.model.model_version}, threshold {self.config.min_confidence:.2f}"

    def tally(self) -> dict[str, Any]:
        """What the scanner scored and the highest confidence each side reached, against the threshold below
        which risk trades nothing: `backtest` says from it why a run made no trade (readmodels/refusals.py)."""
        stats, best = self.stats, self.stats.best()
        return {"strategy": self.name, "model": None if self.model is None else self.model.model_version,
                "warm_up_bars": WARMUP_BARS, "bars_scored": stats.bars_scored, "symbol_bars_scored": stats.scored_total,
                "best_long": best["long"], "best_short": best["short"], "min_confidence": self.config.min_confidence,
                "emitted": stats.signals_total, "at_or_above_min_confidence": stats.confident_total}

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
            self._note_warm()
            scored = complete(x)  # [bars, S]
            last_empty = bool(len(rows)) and not scored[-1].any()
            warm = scored.any(axis=1)  # bars in the warm-up score no symbol
            rows, x, scored = rows[warm], x[warm], scored[warm]
            if len(rows):
                batch = self._score(batch, rows, x, scored)
            if last_empty and self._ever_scored is not None:  # the last bar had no input at all: all missing
                self._missing = tuple(np.asarray(self._window.symbols)[self._ever_scored].tolist())
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
            self.stats.note_scores(len(bar_i), float(p_long.max()), float(p_short.max()))
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
        """The last bar's counts for /health, and every scored bar's signals for the totals; symbols scored
        before but not on the last bar are `silence`'s missing data."""
        now: Bools = np.asarray(scored.any(axis=0), np.bool_)
        ever: Bools = now if self._ever_scored is None else np.asarray(self._ever_scored | now, np.bool_)
        self._ever_scored = ever
        assert self._window is not None
        self._missing = tuple(self._window.symbols[i] for i in np.flatnonzero(ever & ~scored[-1]))
        emitted = batch.direction[rows] != 0
        confident = emitted & (batch.confidence[rows] >= self.config.min_confidence)
        self.stats.note_bar(int(scored[-1].sum()), int(emitted[-1].sum()), int(confident[-1].sum()),
                            signals=int(emitted.sum()), confident=int(confident.sum()))
