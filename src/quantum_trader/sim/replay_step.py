"""What the bar replayer reports: one suspension of its walk (`ReplayStep`) and its counts (`ReplayStats`).

Their own module so that the replayer (sim/replay.py) keeps to the walk itself; the backtest reads both.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..domain.fast_init import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One suspension of `BarReplayer.steps`: bar t of the chunk was replayed for `symbols`.

    `stopped` is the part of `symbols` the caller asked for with `stops` (empty when only triggers
    brought the replay here); only the symbols listed are at this bar's close.
    """

    t: int  # bar index within the chunk
    open_time_ms: int
    symbols: tuple[str, ...]  # replayed (apply_bar) at this bar, in chunk column order
    stopped: tuple[str, ...]  # the subset requested by `stops` at this bar (may be empty)
    #: A checkpoint the caller asked for (`steps(..., checkpoints=)`, or a close that may put equity at or
    #: below `equity.floor`): nothing was replayed, and every open position stands at bar t's close, so the
    #: account reads as it did at that moment.
    checkpoint: bool = False


@dataclass(slots=True)
class ReplayStats:
    bars: int = 0
    symbol_bars: int = 0
    replayed_bars: int = 0
    chunks: int = 0
