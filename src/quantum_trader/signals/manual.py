"""`manual`: no signals at all; the bot trades only forced entries (`force-entry`), still through risk."""

from __future__ import annotations

from ..marketdata.bars import BarChunk
from .strategy import SignalBatch


class ManualOnly:
    name = "manual"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        return SignalBatch.empty(len(chunk), chunk.n_symbols)
