"""Per-symbol market state: last (contract) price and mark price, which differ.

Triggers read the price their `workingType` names; P&L and liquidation read the mark. The mark is
either fed explicitly or derived from the last price plus a basis that decays toward zero, so a
feed of last prices alone still yields a mark that lags a sudden move a little, as Binance's does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from ..domain import binance_errors as be
from ..domain.enums import WorkingType
from ..domain.fast_init import fast_init
from ..domain.instrument import Instrument
from ..domain.money import ZERO, Rounding, fmt, on_grid


@fast_init
@dataclass(frozen=True, slots=True)
class PriceUpdate:
    """One market step for one symbol; `mark=None` derives the mark from last and the decayed basis."""

    last: Decimal
    mark: Decimal | None = None

    def check(self, instrument: Instrument, name: str) -> None:
        """-1130 naming `name.last` / `name.mark` unless the step is one Binance's market could take.

        Run on every update of a step before any is applied, so a bad step changes nothing: a last price
        must pass the symbol's PRICE_FILTER (inside min/max, on the tick grid, as every trade is); a
        mark must be inside min/max (Binance's marks carry more decimals than the tick).
        """
        _check_price(instrument, self.last, f"{name}.last", on_tick=True)
        if self.mark is not None:
            _check_price(instrument, self.mark, f"{name}.mark", on_tick=False)


def _check_price(instrument: Instrument, price: Decimal, name: str, *, on_tick: bool) -> None:
    why = _price_problem(instrument, price, on_tick=on_tick)
    if why is not None:
        raise be.invalid_data_because(name, f"{price} {why}")


def _price_problem(instrument: Instrument, price: Decimal, *, on_tick: bool) -> str | None:
    pf = instrument.price_filter
    if not price.is_finite() or price <= 0:
        return "is not a positive finite price"
    if pf.min_price != 0 and price < pf.min_price:
        return f"is below {instrument.symbol}'s minPrice {fmt(pf.min_price)}"
    if pf.max_price != 0 and price > pf.max_price:
        return f"is above {instrument.symbol}'s maxPrice {fmt(pf.max_price)}"
    if on_tick:
        try:
            aligned = on_grid(price, pf.tick_size, pf.min_price)
        except InvalidOperation:  # too many digits to divide: certainly not a price on the grid
            aligned = False
        if not aligned:
            return f"is not a multiple of {instrument.symbol}'s tickSize {fmt(pf.tick_size)}"
    return None


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
