"""The bar replay's view of resting triggers: one "rising" and one "falling" threshold per symbol.

`BarReplayer` only needs to know *which symbols* could see something happen at a bar, not which
order: it replays the whole symbol exactly. So instead of a table of every trigger (and a search plan
rebuilt whenever one moves) it keeps, per symbol, the lowest "P ≥ trigger" level and the highest
"P ≤ trigger" level of its stops, take-profits, resting limits and liquidation prices, loosened by the
prefilter's relative slack (trigger_search.EPS_REL) exactly as `first_trigger_bar` loosens them, so it
finds the same bars. A change on one symbol rewrites two floats; nothing else is rebuilt.

The order part and the liquidation part of a symbol are kept apart because funding moves only the
second (an isolated position's margin changes, its orders do not): after a funding payment only the
liquidation prices are recomputed. A symbol with a resting trailing stop is `always` replayed (its
trigger moves with every bar); a cross position's liquidation price moves with the whole account, so
those symbols are listed in `cross` for the replayer's periodic refresh.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..domain.enums import AlgoStatus, MarginType, OrderType
from .liquidation import liquidation_prices
from .state import SimState
from .trigger_search import EPS_REL

F64 = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
#: Search blocks start at about this many cells (bars × symbols), at least 64 bars, and double up to
#: about 64 times that: few symbols get long blocks (numpy call overhead dominates), many get short ones.
_FIRST_CELLS = 8_192
_FIRST_BLOCK = 64
_MAX_BLOCK = 1024
_NONE: tuple[float, float] = (math.inf, -math.inf)


def _loosen(up: float, dn: float, price: float, direction: int) -> tuple[float, float]:
    """Fold one trigger into (up, dn): loosened by EPS_REL toward firing, as the array prefilter does."""
    thr = price - (EPS_REL * abs(price)) * direction
    return (min(up, thr), dn) if direction > 0 else (up, max(dn, thr))


class SymbolThresholds:
    """Per-symbol folded trigger levels over a fixed symbol list, and the block search over a chunk."""

    def __init__(self, state: SimState, symbols: Sequence[str]) -> None:
        self.state = state
        self.symbols = tuple(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}
        self.up: F64 = np.full(len(self.symbols), np.inf)
        self.dn: F64 = np.full(len(self.symbols), -np.inf)
        self._orders: dict[str, tuple[float, float]] = {}
        self._liquidation: dict[str, tuple[float, float]] = {}
        self.always: set[str] = set()
        self.cross: set[str] = set()

    # --- keeping the levels in step with the simulator ------------------------------------------------
    def refresh(self, symbol: str) -> None:
        """Re-read everything that can trigger on `symbol`: its orders and its liquidation prices."""
        self._orders[symbol] = self._order_levels(symbol)
        self.refresh_liquidation(symbol)

    def refresh_liquidation(self, symbol: str) -> None:
        """Re-read only the liquidation prices (after funding, or a cross refresh): orders did not change."""
        up, dn = _NONE
        self.cross.discard(symbol)
        for lp, pos in liquidation_prices(self.state, symbol):
            # A long is liquidated when mark ≤ LP (a SELL stop), a short when mark ≥ LP.
            up, dn = _loosen(up, dn, float(lp), -1 if pos.amount > 0 else 1)
            if pos.margin_type is MarginType.CROSSED:
                self.cross.add(symbol)
        self._liquidation[symbol] = (up, dn)
        o_up, o_dn = self._orders.get(symbol, _NONE)
        s = self.index[symbol]
        self.up[s], self.dn[s] = min(o_up, up), max(o_dn, dn)

    def _order_levels(self, symbol: str) -> tuple[float, float]:
        up, dn = _NONE
        self.always.discard(symbol)
        for algo in self.state.open_algos(symbol):
            if algo.status is not AlgoStatus.NEW:
                continue
            if algo.order_type is OrderType.TRAILING_STOP_MARKET:
                self.always.add(symbol)
                continue
            sign = algo.side.sign
            direction = sign if algo.order_type.is_stop_family else -sign
            up, dn = _loosen(up, dn, float(algo.trigger_price), direction)
        for order in self.state.open_orders(symbol):
            if order.type is OrderType.LIMIT:
                # A BUY limit fills when price falls to it: the condition of a BUY take-profit.
                up, dn = _loosen(up, dn, float(order.price), -order.side.sign)
        return up, dn

    # --- searching a chunk -----------------------------------------------------------------------------
    def first_hit(self, high: F64, low: F64, start: int, stop: int) -> tuple[int, list[str]] | None:
        """First bar in [start, stop) whose range reaches some symbol's level, and those symbols in order.

        Blocks double (from 64 to 1024 bars for a couple of hundred symbols, longer for fewer), so a hit
        near `start` is found without touching the rest. NaN bars compare false and never hit.
        """
        up, dn = self.up, self.dn
        block = max(_FIRST_BLOCK, _FIRST_CELLS // max(1, len(self.symbols)))
        limit = 64 * block if block > _FIRST_BLOCK else _MAX_BLOCK
        t0 = start
        while t0 < stop:
            t1 = min(stop, t0 + block)
            if len(self.symbols) == 1:  # one column compared as a vector: no reduction across columns (a third)
                rows: Bools = high[t0:t1, 0] >= up[0]
                rows |= low[t0:t1, 0] <= dn[0]
                hit = None
            else:
                hit = high[t0:t1] >= up
                hit |= low[t0:t1] <= dn
                rows = np.logical_or.reduce(hit, axis=1)
            row = int(rows.argmax())  # the first hit row, if any (argmax: no reduction's set-up, as any() has)
            if rows[row]:
                return t0 + row, (list(self.symbols) if hit is None else
                                  [self.symbols[int(c)] for c in hit[row].nonzero()[0]])
            t0, block = t1, min(2 * block, limit)
        return None
