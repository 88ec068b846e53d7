"""`ai-scanner`: the slot for the calibrated model that scores the whole universe.

The model, its training and its evaluation are their own piece of work and are not built yet. Until
they are, this strategy is honest about it: it emits no signal (a model that is missing is "no
signal", never a trade, as DESIGN.md requires) and says so in `status`, which `/health` and the
start-up log show.
"""

from __future__ import annotations

from ..marketdata.bars import BarChunk
from .strategy import SignalBatch


class AiScanner:
    name = "ai-scanner"
    status = "no model yet: the AI scanner emits no signals until its model lands"

    def on_chunk(self, chunk: BarChunk) -> SignalBatch:
        return SignalBatch.empty(len(chunk), chunk.n_symbols)
