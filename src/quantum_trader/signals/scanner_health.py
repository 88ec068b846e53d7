"""Is the scanner keeping up with the bars? Its counters, as /health's `scanner` object and /metrics.

A scanner that falls behind is worse than a slow one: its signals describe a market that has moved on.
Two ways to fall behind are counted here. *Lag*: the scan of bar t finished after bar t+1 closed (the
session measures it, since only it knows how fast the clock runs; see `note_lag`). *Skipped bars*: the
bars reached the scanner with holes in time (a feed that dropped bars), so some closes were never scored.
Scan times are kept for the last `WINDOW` bars, so p99 describes now, not the start of the session.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

#: Scan times kept for the percentiles (about 4 hours of one-minute bars).
WINDOW = 256
#: The scanner is stale once it has not scored for this many bars of the session's clock, in wall time...
STALE_BARS = 3
#: ...and never sooner than this (the feed's floor too): at `--speed max` a bar takes no wall time.
STALE_MIN_S = 30.0


def stale_after_s(interval_ms: int, speed: float | None) -> float:
    """Wall seconds without a scan after which the scanner is stale: `STALE_BARS` bars at the clock's speed
    against the wall (1.0 for an exchange feed; None for `--speed max`), at least `STALE_MIN_S`. One bar late
    is a slow scan (`lag_bars` says so); three bars with no scan at all is a scanner that stopped: one-minute
    bars at `--speed 1` or live, 180 s; at `--speed 60` or `max`, 30 s."""
    bar_s = 0.0 if speed is None else interval_ms / 1000 / speed
    return max(STALE_BARS * bar_s, STALE_MIN_S)


@dataclass
class ScannerStats:
    """Counters since start and the last bar's figures; `snapshot()` is the /health `scanner` object."""

    model_version: str | None = None
    last_bar_ms: int | None = None
    bars_scored: int = 0
    skipped_bars: int = 0
    #: Bars the last scan finished late (0: before the next bar closed; set by the session).
    lag_bars: int = 0
    max_lag_bars: int = 0
    scored_last_bar: int = 0
    signals_last_bar: int = 0
    confident_last_bar: int = 0
    signals_total: int = 0
    confident_total: int = 0
    scan_ms: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    #: Scans that failed (a model error: no signal for those bars), the last reason, and whether the latest
    #: scan was one of them.
    errors: int = 0
    last_error: str | None = None
    failed_last_bar: bool = False
    #: Symbols scanned, how many of them can be scored on the next closed bar (history held, none missing),
    #: and the bars of history the session gave the scanner before its first live bar (feeds/warmup.py).
    symbols: int = 0
    warm_symbols: int = 0
    history_bars: int = 0
    #: Symbol-bars scored since start and the highest confidence each side reached on them (None: none
    #: scored): why a run whose signals never reach QT_MIN_CONFIDENCE traded nothing.
    scored_total: int = 0
    best_long: float | None = None
    best_short: float | None = None
    #: When the last scan that scored something finished, on the wall clock (epoch ms; None: none yet): a
    #: scanner that stopped scoring shows it, whatever the market's clock says.
    last_scan_ms: int | None = None

    def note_bars(self, open_times: npt.NDArray[np.int64], interval_ms: int) -> None:
        """Bars that reached the scanner, in order: holes in time since the last one are skipped bars
        (a bar at or before the last one seen, a repaired bar sent again, is neither new nor skipped)."""
        times = open_times if self.last_bar_ms is None else open_times[open_times > self.last_bar_ms]
        if not len(times):
            return
        steps = np.diff(times if self.last_bar_ms is None else np.concatenate([[self.last_bar_ms], times]))
        self.skipped_bars += int(np.clip(steps // interval_ms - 1, 0, None).sum())
        self.last_bar_ms = int(times[-1])

    def note_error(self, reason: str) -> None:
        self.errors += 1
        self.last_error, self.failed_last_bar = reason, True
        self.scored_last_bar = self.signals_last_bar = self.confident_last_bar = 0

    def note_scan(self, scan_ms: float, bars: int) -> None:
        """A scan of `bars` bars took `scan_ms` (a backtest chunk: the time per bar is recorded)."""
        self.failed_last_bar = False
        if bars > 0:
            self.bars_scored += bars
            self.scan_ms.append(scan_ms / bars)
            self.last_scan_ms = time.time_ns() // 1_000_000

    def note_bar(self, scored: int, emitted: int, confident_now: int, *, signals: int, confident: int) -> None:
        """The latest bar's counts (symbols scored, signals emitted, of which at or above QT_MIN_CONFIDENCE),
        and the chunk's signals for the totals (a backtest chunk scores many bars at once)."""
        self.scored_last_bar, self.signals_last_bar, self.confident_last_bar = scored, emitted, confident_now
        self.signals_total += signals
        self.confident_total += confident

    def note_scores(self, scored: int, best_long: float, best_short: float) -> None:
        """`scored` symbol-bars scored, whose highest confidences were these."""
        self.scored_total += scored
        self.best_long = best_long if self.best_long is None else max(self.best_long, best_long)
        self.best_short = best_short if self.best_short is None else max(self.best_short, best_short)

    def best(self) -> dict[str, float | None]:
        """The highest confidence each side reached (4 places), None for a side nothing was scored on."""
        return {side: None if value is None else round(value, 4)
                for side, value in (("long", self.best_long), ("short", self.best_short))}

    def note_lag(self, bars: int) -> None:
        self.lag_bars = max(bars, 0)
        self.max_lag_bars = max(self.max_lag_bars, self.lag_bars)

    @property
    def behind(self) -> bool:
        return self.lag_bars > 0

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON values; `last_scan_age_s` is seconds since `last_scan_ms` (None before a scan)."""
        times = np.asarray(self.scan_ms, np.float64)
        p50, p99 = (float(np.percentile(times, q)) if len(times) else None for q in (50, 99))
        age = None if self.last_scan_ms is None else max(time.time_ns() // 1_000_000 - self.last_scan_ms, 0) / 1000
        best = self.best()
        return {"model_version": self.model_version, "last_bar_ms": self.last_bar_ms, "bars_scored": self.bars_scored,
                "lag_bars": self.lag_bars, "max_lag_bars": self.max_lag_bars, "behind": self.behind,
                "skipped_bars": self.skipped_bars,
                "scan_ms_p50": None if p50 is None else round(p50, 3),
                "scan_ms_p99": None if p99 is None else round(p99, 3),
                "scored_last_bar": self.scored_last_bar, "signals_last_bar": self.signals_last_bar,
                "confident_last_bar": self.confident_last_bar, "signals_total": self.signals_total,
                "confident_total": self.confident_total, "errors": self.errors, "last_error": self.last_error,
                "symbols": self.symbols, "warm_symbols": self.warm_symbols, "history_bars": self.history_bars,
                "symbol_bars_scored": self.scored_total, "best_long": best["long"], "best_short": best["short"],
                "last_scan_ms": self.last_scan_ms, "last_scan_age_s": age}
