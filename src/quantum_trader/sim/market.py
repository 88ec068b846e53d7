"""Per-symbol market state: last (contract) price and mark price, which differ.

Triggers read the price their `workingType` names; P&L and liquidation read the mark. The mark is
either fed explicitly or derived from the last price plus a basis that decays toward zero, so a
feed of last prices alone still yields a mark that lags a sudden move a little, as Binance's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..domain.enums import WorkingType
from ..domain.instrument import Instrument
from ..domain.money import ZERO, Rounding


@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """One market step for one symbol; `mark=None` derives the mark from last and the decayed basis."""

    last: Decimal
    mark: Decimal | None = None


@dataclass(slots=True)
class MarketState:
    instrument: Instrument
    last: Decimal
    mark: Decimal
    #: Share of the previous basis (mark - last) kept on a step without an explicit mark; 0 → mark = last.
    basis_decay: Decimal = ZERO
    #: The mark object `_truncated` was computed from (mark is reassigned, never mutated: Decimal).
    _truncated_of: Decimal | None = field(default=None, init=False, repr=False, compare=False)
    _truncated: Decimal = field(default=ZERO, init=False, repr=False, compare=False)

    def apply(self, update: PriceUpdate) -> None:
        if update.mark is not None:
            self.last, self.mark = update.last, update.mark
            return
        basis = (self.mark - self.last) * self.basis_decay
        self.last = update.last
        self.mark = self.instrument.round_price(update.last + basis, Rounding.NEAREST) if basis else update.last

    def trigger_price(self, working_type: WorkingType) -> Decimal:
        """The price a trigger compares with: last, or the mark truncated to the tick (Binance FAQ)."""
        if working_type is WorkingType.MARK_PRICE:
            mark = self.mark
            if mark is not self._truncated_of:  # settle asks once per order per round: truncate once
                self._truncated, self._truncated_of = self.instrument.truncate_to_tick(mark), mark
            return self._truncated
        return self.last
