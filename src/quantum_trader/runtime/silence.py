"""A strategy that says nothing for a reason: caught, reported once per change, journaled, never traded.

Issue 11: "a model error or missing data becomes a 'no signal' event with the reason, never a trade". The
AI scanner already turns its own errors into an empty batch and says why in `silence` (signals/ai_scanner.py);
this module is the session's side of it:

- `scan_safely`: a strategy that raises on a bar gives no signal for that bar instead of killing the feed task
  (the supervisor would restart it a few times, then give up: a bot without bars);
- `SilenceReporter`: turns the strategy's `silence` (or the exception) into a `ScannerSilent` bus event when
  the reason changes, not on every bar: a scanner without its model is silent on every bar, and one event
  says so; a recovery followed by the same failure is a change, so it is reported again. The journal records
  the event in its errors table (details kind `no_signal`), which /api/v1/signals serves under `no_signal`.
"""

from __future__ import annotations

from ..core.loggers import get_logger
from ..domain.events import ScannerSilent
from ..marketdata.bars import BarChunk
from ..signals.strategy import SignalBatch, Silence, Strategy

log = get_logger(__name__)


def scan_safely(strategy: Strategy, chunk: BarChunk) -> tuple[SignalBatch, Silence | None]:
    """The strategy's signals for the chunk; if it raises, none, and why (`strategy_error`)."""
    try:
        return strategy.on_chunk(chunk), None
    except Exception as exc:  # a strategy's bug must not stop the bars: no signal for this chunk
        log.exception("strategy failed on a bar: no signal for it", strategy=strategy.name,
                      bar_ms=int(chunk.open_time[-1]) if len(chunk) else None)
        return SignalBatch.empty(len(chunk), chunk.n_symbols), Silence("strategy_error",
                                                                      f"{type(exc).__name__}: {exc}")


class SilenceReporter:
    """Remembers the last reason reported, so each reason becomes one event until it changes."""

    def __init__(self) -> None:
        self._last: tuple[str, str, tuple[str, ...]] | None = None

    def event(self, strategy: Strategy, raised: Silence | None, time_ms: int) -> ScannerSilent | None:
        """The event to publish after a bar (None: nothing new). Missing data is keyed by its symbols, not its
        text, and an error by its text: a new exception message is news, another bar with the same one is not."""
        silence = raised if raised is not None else getattr(strategy, "silence", None)
        if not isinstance(silence, Silence):
            self._last = None
            return None
        key = (silence.kind, "" if silence.kind == "missing_data" else silence.reason, silence.symbols)
        if key == self._last:
            return None
        self._last = key
        return ScannerSilent(source=strategy.name, kind=silence.kind, reason=silence.reason, time_ms=time_ms,
                             symbols=silence.symbols)
