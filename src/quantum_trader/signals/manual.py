"""`manual`: no signals at all; the bot trades only forced entries (`force-entry`), still through risk."""

from __future__ import annotations

from ..marketdata.bars import BarChunk
from .strategy import SignalBatch


class ManualOnly:
    name = "manual"
    #: Why QT_MIN_CONFIDENCE changes none of its trades (a `--param min_confidence` is refused: registry.py).
    NO_CONFIDENCE = "it emits no signals, and a forced entry needs no confidence"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        return SignalBatch.empty(len(chunk), chunk.n_symbols)
