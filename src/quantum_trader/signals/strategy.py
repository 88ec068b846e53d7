"""The strategy plug-in interface: signals for a whole chunk of bars, all symbols at once.

A strategy sees bars as columns (`marketdata.bars.BarChunk`: T bars × S symbols) and answers, for
every bar and symbol, a direction (+1 long, -1 short, 0 nothing) and a confidence in [0, 1]. A live
session feeds it chunks of one bar; a backtest feeds it thousands at a time. The strategy keeps
whatever history it needs between chunks itself, so both paths give the same signals bar for bar,
and the backtest can jump straight to the bars that carry one.

A model-based strategy may add `details`: for some signals, the expected value, the model's version
and the reasons behind the score (`SignalDetail`). Publishers build the bus event with `signal_event`,
so a live session and a backtest put the same fields on the same signal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..domain.events import Direction, Signal
from ..domain.money import from_float
from ..marketdata.bars import BarChunk

I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]


#: The reason a signal gives when its side's model has no demonstrated skill.
NO_SKILL_REASON = "no skill: confidence is the training base rate"


@dataclass(frozen=True, slots=True)
class SignalDetail:
    """What a model says about one signal besides its side and confidence (CONTRACT §4: a scanner signal
    carries `model_version` and its reasons). `expected_value` is the net return per trade after fees, as a
    fraction of notional; `reasons` are the top (feature, contribution) pairs, largest effect first."""

    expected_value: float | None = None
    model_version: str | None = None
    reasons: tuple[tuple[str, float], ...] = ()
    #: The side's model showed no skill out of sample: its confidence is the training base rate.
    no_skill: bool = False

    def text(self) -> str:
        """One line for logs and the journal's `reason` column: `ev +0.31%; rsi_14 +0.120, ...`."""
        parts = [] if self.expected_value is None else [f"ev {self.expected_value * 100:+.2f}%"]
        parts += [f"{name} {value:+.3f}" for name, value in self.reasons]
        if self.no_skill:
            parts.append(NO_SKILL_REASON)
        return "; ".join(parts)


@dataclass(frozen=True, eq=False)
class SignalBatch:
    """Signals for one chunk: `direction[t, s]` in {-1, 0, +1}, `confidence[t, s]` in [0, 1].

    `details[(t, s)]`, when a strategy gives it, describes the signal at bar t of symbol s."""

    direction: I8
    confidence: F64
    details: Mapping[tuple[int, int], SignalDetail] | None = None

    @classmethod
    def empty(cls, n_bars: int, n_symbols: int) -> SignalBatch:
        return cls(np.zeros((n_bars, n_symbols), np.int8), np.zeros((n_bars, n_symbols), np.float64))

    @property
    def mask(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.direction != 0, np.bool_)

    def detail(self, t: int, s: int) -> SignalDetail | None:
        return None if self.details is None else self.details.get((t, s))


def signal_event(batch: SignalBatch, chunk: BarChunk, t: int, s: int, *, source: str, time_ms: int,
                 reference_price: Decimal | None = None) -> Signal:
    """The bus event of the signal at bar t of symbol s (a non-zero direction), with its details if any:
    the one place a live session and a backtest turn a batch into `Signal`s. `reference_price`: the price
    the market traded at that close when the bar's close is not it (a backtest's data off the tick grid);
    by default the close."""
    detail = batch.detail(t, s) or SignalDetail()
    price = from_float(chunk.close[t, s]) if reference_price is None else reference_price
    return Signal(symbol=chunk.symbols[s], direction=Direction.LONG if batch.direction[t, s] > 0 else Direction.SHORT,
                  confidence=float(batch.confidence[t, s]), source=source, time_ms=time_ms,
                  reference_price=price, reason=detail.text(),
                  expected_value=detail.expected_value, model_version=detail.model_version, reasons=detail.reasons)


#: The `Silence` kind of a strategy that can never trade as it stands (the AI scanner without a model it may use).
NO_MODEL = "no_model"


@dataclass(frozen=True, slots=True)
class Silence:
    """Why a strategy emits no signal now (issue 11: a model error or missing data is a "no signal" event
    with its reason, never a trade). `kind`: `no_model`, `scan_error`, `missing_data` or `strategy_error`;
    `symbols`: those concerned (empty: all). The session publishes it once per change (runtime/silence.py)."""

    kind: str
    reason: str
    symbols: tuple[str, ...] = ()


@runtime_checkable
class Strategy(Protocol):
    #: The name used by QT_STRATEGY and the journal.
    name: str

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        """Signals for every bar of the chunk, decided at each bar's close."""
        ...


@runtime_checkable
class Tallies(Protocol):
    """A strategy that can say what it looked at (optional): the AI scanner's symbol-bars scored and the
    highest confidence each side reached, so a run that made no trade can say why (readmodels/refusals.py)."""

    def tally(self) -> dict[str, Any]:
        """Counts and extremes since the strategy was built, as JSON values."""
        ...


@runtime_checkable
class WarmsUp(Protocol):
    """A strategy that can take history before the session's first bar (optional: a strategy without it
    simply starts cold). Why: the AI scanner needs WARMUP_BARS closed bars per symbol before it can score,
    four hours of silence at `--speed 1` if it had to wait for them live. The session hands it the bars
    before its start once (feeds/warmup.py); history is only remembered, never scored, so it can never
    produce a signal, let alone an order."""

    #: Closed bars per symbol the strategy wants before the first live bar (0: none).
    history_bars: int

    def warm_up(self, history: BarChunk) -> None:
        """Remember `history` (bars before the first live bar, oldest first) as if its chunks had been seen."""
        ...


def history_bars(strategy: object) -> int:
    """How many bars of history `strategy` wants at start: 0 for a strategy that does not warm up."""
    return max(int(strategy.history_bars), 0) if isinstance(strategy, WarmsUp) else 0


def warm_up(strategy: object, history: BarChunk) -> bool:
    """Give `strategy` its history, if it takes any (False: it does not, or the history is empty)."""
    if not isinstance(strategy, WarmsUp) or len(history) == 0:
        return False
    strategy.warm_up(history)
    return True
