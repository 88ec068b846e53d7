"""The deepest fall of equity from its running peak, at every bar close a replay passes, exact in Decimal.

A backtest that reads its equity only at each UTC day's close misses every trough inside a day: a
LINKUSDT month reported a max drawdown of 18.6 % while its closed trades alone fell 19.3 %, and two days
of a fast cross reported 0 where the wallet had fallen 201 USDT. Between two suspensions of the replay
the positions and the wallet stand still, so the equity at each close there is the wallet plus the equity
watch's sum of open P&L (replay_equity.py), which the daily loss limit already keeps in arrays.

`closes` looks at such a stretch in floats first. Below the standing peak only its lowest close can fall
further (in USDT or in % of that peak), and only if it is lower than every close since the peak; it is kept
unread until something may make a new peak (then read exactly in Decimal), as a lower close would replace
it. A stretch that may make a new peak has its few deciding closes read (the highest, the lowest, and the
peak and trough of the deepest fall inside it in each unit). They go in time order to `add`'s arithmetic,
the report's. Most stretches cost two array reductions. The floats only choose which closes to read:
distinct equities of one account differ by at least a quantity step times a tick, far above the sums'
rounding, so the chosen closes are the true ones.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
#: A close's equity in Decimal, worked out when called (what it needs was taken at the close).
Reading = Callable[[], Decimal]
ZERO = Decimal(0)
HUNDRED = Decimal(100)
#: Relative margin of the float test: a stretch within it of the peak or of the deepest fall is read exactly.
_MARGIN = 1e-9
#: Up to this many closes a stretch is looked at as a Python list (numpy's reductions cost more below it).
_SHORT = 16


class DrawdownWatch:
    """The running peak of equity and the deepest fall from it so far, in USDT and in % of the peak it fell
    from (tracked apart: the larger USDT fall need not be the larger in %), from `start` (the balance, there
    before the first close)."""

    def __init__(self, start: Decimal) -> None:
        self._peak = start
        self._usdt = ZERO
        self._pct = ZERO
        self._floats = (float(start), 0.0, 0.0)  # peak, usdt, pct as floats, for the stretches' test
        #: The lowest close since the peak that may fall further than the deepest fall so far, not read yet:
        #: while the peak stands, a lower close replaces it unread (a falling equity would be read at every stretch).
        self._low: tuple[float, Reading] | None = None

    @property
    def peak(self) -> Decimal:
        self._settle()
        return self._peak

    @property
    def usdt(self) -> Decimal:
        self._settle()
        return self._usdt

    @property
    def pct(self) -> Decimal:
        self._settle()
        return self._pct

    def add(self, equity: Decimal) -> None:
        """One exact reading, later than every reading before it."""
        self._settle()
        self._add(equity)

    def closes(self, wallet: float, open_pnl: F64, reading: Callable[[int], Reading]) -> None:
        """Consecutive closes at which the wallet stands at `wallet` (as a float) and the open positions' P&L is
        `open_pnl` (floats); `reading(i)`: the equity at close i in Decimal, taken now and worked out when
        called. This runs after every step of a backtest: a short stretch is looked at in plain floats."""
        size = open_pnl.size
        if size <= _SHORT:
            if not size:
                return
            pnl = open_pnl.tolist()
            high, low = wallet + max(pnl), wallet + min(pnl)
        else:
            high, low = wallet + float(open_pnl.max()), wallet + float(open_pnl.min())
        peak, usdt, pct = self._floats
        margin = _MARGIN * max(1.0, abs(peak), abs(high))
        if high < peak - margin and peak > 0:  # no new peak: only the lowest close may fall further
            deeper = peak - low >= usdt - margin or (peak - low) / peak * 100 >= pct - _MARGIN * 100
            if deeper and (self._low is None or low < self._low[0]):
                self._low = (low, reading(int(np.argmin(open_pnl))))
            return
        self._settle()
        for i in _deciding(wallet + open_pnl):
            self._add(reading(i)())

    def _settle(self) -> None:
        """The lowest close since the peak, read now: something later may make a new peak."""
        if self._low is not None:
            low, self._low = self._low, None
            self._add(low[1]())

    def _add(self, equity: Decimal) -> None:
        peak, usdt, pct = self._floats
        if equity > self._peak:
            self._peak, peak = equity, float(equity)
        else:
            fall = self._peak - equity
            if fall > self._usdt:
                self._usdt, usdt = fall, float(fall)
            if self._peak > 0 and fall / self._peak * HUNDRED > self._pct:
                self._pct = fall / self._peak * HUNDRED
                pct = float(self._pct)
        self._floats = (peak, usdt, pct)


def _deciding(values: F64) -> list[int]:
    """The closes that decide a stretch, in time order: its highest and lowest (a new peak; the deepest fall
    from an earlier peak) and the peak and trough of its own deepest fall in USDT and in % (from a peak
    inside it)."""
    running = np.maximum.accumulate(values)
    falls = running - values
    chosen = {int(np.argmax(values)), int(np.argmin(values))}
    trough = int(np.argmax(falls))
    chosen.update((trough, int(np.argmax(values[:trough + 1]))))
    if running.min() > 0:
        trough = int(np.argmax(falls / running))
        chosen.update((trough, int(np.argmax(values[:trough + 1]))))
    return sorted(chosen)
